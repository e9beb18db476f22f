/**
 * The few statistics SLO evaluation needs, written out so their behaviour at the edges (zero counts, tiny
 * samples) is explicit. All tests are one-sided: an alert asks "is this WORSE", never "is this different".
 */

/** Standard normal CDF, via the Abramowitz–Stegun 7.1.26 approximation of erf (absolute error < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** The z with `normalCdf(z) = p` (0 < p < 1), by bisection: run once per rule compile, not per evaluation. */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile: p must lie in (0, 1), got ${p}`);
  let lo = -40;
  let hi = 40;
  for (let i = 0; i < 200 && hi - lo > 1e-10; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * One-sided two-proportion z statistic with Yates' continuity correction: how many standard errors the failure
 * ratio of group 1 (`f1` of `n1`) lies ABOVE that of group 2. The correction makes the test conservative for
 * small samples, where the plain z-test over-states significance (one failure in a trickle). Returns 0 when
 * either group is empty or group 1 is not worse.
 */
export function twoProportionZ(f1: number, n1: number, f2: number, n2: number): number {
  if (n1 <= 0 || n2 <= 0) return 0;
  const p1 = f1 / n1;
  const p2 = f2 / n2;
  if (p1 <= p2) return 0;
  const pooled = (f1 + f2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (se === 0) return 0;
  const diff = p1 - p2 - 0.5 * (1 / n1 + 1 / n2);
  return diff <= 0 ? 0 : diff / se;
}

/** `f1/n1` is significantly above `f2/n2` at one-sided critical value `zCritical`. */
export function significantlyWorse(f1: number, n1: number, f2: number, n2: number, zCritical: number): boolean {
  return twoProportionZ(f1, n1, f2, n2) > zCritical;
}

const LOG_FACTORIAL_CACHE: number[] = [0];
/** Above this, ln k! comes from Stirling's series (error < 1e-12 there) instead of a table that grows with k. */
const LOG_FACTORIAL_TABLE_MAX = 1024;
function logFactorial(k: number): number {
  if (k > LOG_FACTORIAL_TABLE_MAX) return k * Math.log(k) - k + 0.5 * Math.log(2 * Math.PI * k) + 1 / (12 * k) - 1 / (360 * k * k * k);
  for (let i = LOG_FACTORIAL_CACHE.length; i <= k; i++) LOG_FACTORIAL_CACHE.push(LOG_FACTORIAL_CACHE[i - 1]! + Math.log(i));
  return LOG_FACTORIAL_CACHE[k]!;
}

/** P(X = k) for X ~ Poisson(lambda), computed in log space. */
export function poissonPmf(k: number, lambda: number): number {
  if (k < 0 || !Number.isInteger(k)) return 0;
  if (lambda <= 0) return k === 0 ? 1 : 0;
  return Math.exp(-lambda + k * Math.log(lambda) - logFactorial(k));
}

/**
 * P(X ≤ k) for X ~ Poisson(lambda): the chance of seeing at most `k` successes when `lambda` are expected. Summed
 * in log space (e^-lambda underflows for busy journeys); beyond 10,000 terms the normal approximation is used.
 */
export function poissonCdf(k: number, lambda: number): number {
  if (lambda <= 0) return 1;
  if (k < 0) return 0;
  const n = Math.floor(k);
  if (n > 10_000) return normalCdf((n + 0.5 - lambda) / Math.sqrt(lambda));
  const logLambda = Math.log(lambda);
  let maxLog = -Infinity;
  const logs: number[] = [];
  for (let i = 0; i <= n; i++) {
    const l = -lambda + i * logLambda - logFactorial(i);
    logs.push(l);
    if (l > maxLog) maxLog = l;
  }
  let sum = 0;
  for (const l of logs) sum += Math.exp(l - maxLog);
  return Math.min(1, Math.exp(maxLog) * sum);
}
