/**
 * Exponential backoff with jitter, and an abortable sleep. Jitter spreads the retries of many exporters (or many
 * consumers of one exporter) that failed at the same moment, so a recovering destination is not hit in lockstep.
 */

export interface BackoffPolicy {
  initial_interval: number;
  max_interval: number;
  multiplier: number;
  randomization_factor: number;
}

/** The un-jittered wait before retry number `retry` (0-based): initial × multiplier^retry, capped at max_interval. */
export function baseInterval(policy: BackoffPolicy, retry: number): number {
  return Math.min(policy.initial_interval * Math.pow(policy.multiplier, retry), policy.max_interval);
}

/** The wait before retry number `retry`, drawn uniformly from [base × (1 − f), base × (1 + f)]. */
export function jitteredInterval(policy: BackoffPolicy, retry: number, random: () => number = Math.random): number {
  const base = baseInterval(policy, retry);
  const f = policy.randomization_factor;
  return base * (1 - f + 2 * f * random());
}

/**
 * Resolves after `ms`, or early (without rejecting) when `signal` aborts; returns whether the full time passed.
 * The timer is unref'd: a pending retry never keeps the process alive.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    timer.unref();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
