/**
 * The few statistics SLO evaluation needs, written out so their behaviour at the edges (zero counts, tiny
 * samples) is explicit. All tests are one-sided: an alert asks "is this WORSE", never "is this different".
 */

/**
 * P(X ≥ k) for X ~ Binomial(n, q), summed from k up in log space until the terms stop counting. For k at or below
 * the mean it returns 1 without summing: that is no evidence of "more", and every caller compares with a small
 * alpha.
 */
export function binomialUpperTail(k: number, n: number, q: number): number {
  if (k <= 0) return 1;
  if (k > n || q <= 0) return 0;
  if (q >= 1 || k <= n * q) return 1;
  let term = binomialPmf(k, n, q);
  const odds = q / (1 - q);
  let sum = 0;
  for (let x = k; x <= n; x++) {
    sum += term;
    if (term <= sum * 1e-15) break;
    term *= ((n - x) / (x + 1)) * odds;
  }
  return Math.min(1, sum);
}

/** P(X = k) for X ~ Binomial(n, q), in log space. */
export function binomialPmf(k: number, n: number, q: number): number {
  if (k < 0 || k > n) return 0;
  if (q <= 0) return k === 0 ? 1 : 0;
  if (q >= 1) return k === n ? 1 : 0;
  return Math.exp(logFactorial(n) - logFactorial(k) - logFactorial(n - k) + k * Math.log(q) + (n - k) * Math.log1p(-q));
}

/**
 * How likely chance alone makes group 1 (`f1` failures of `n1` attempts, a sliding window) look this much worse
 * than group 2 (`f2` of `n2`) at least once while it is judged continuously for `looks` window lengths of time.
 *
 * Given the `f1 + f2` failures, each falls in group 1 with q = n1 / (n1 + n2) if the groups fail alike (the exact
 * conditional test for two rare-event rates: exact at small counts, where a normal approximation understates the
 * tail; conservative for large failure ratios). A sliding window's count reaches f1 either at the start (the tail
 * P(X ≥ f1)) or by a failure arriving while it holds f1 − 1, about λ·P(X = f1 − 1) times per window length, λ the
 * failures expected in it: the bound is the tail plus `looks` times that. Evaluated every few seconds, a window
 * that is unusual once in a hundred is met again and again; this counts those chances. 1 when either group is
 * empty or group 1 is not worse.
 */
export function chanceOfLookingWorse(f1: number, n1: number, f2: number, n2: number, looks: number): number {
  if (n1 <= 0 || n2 <= 0 || f1 <= 0 || f1 / n1 <= f2 / n2) return 1;
  const failures = f1 + f2;
  const q = n1 / (n1 + n2);
  return Math.min(1, binomialUpperTail(f1, failures, q) + looks * failures * q * binomialPmf(f1 - 1, failures, q));
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
