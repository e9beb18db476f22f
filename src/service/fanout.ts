/**
 * Fan-out: one producer, several consumers (a receiver listed by several pipelines, a pipeline with several
 * exporters).
 *
 * Copy rule (as the OpenTelemetry Collector does it): consumers that do not mutate data share the original;
 * each consumer with `mutatesData` gets its own `cloneBatch` copy — except that when no read-only consumer
 * exists, the last mutating consumer takes the original, since nothing else reads it. All copies are made
 * before any consumer is called, because a consumer may change the data synchronously inside `consume()`.
 * The fan-out itself mutates its input only in that last case, which is when every consumer mutates; it
 * reports `mutatesData` accordingly so that an upstream fan-out copies for it.
 *
 * Error rule: every consumer is attempted, even when one refuses. When one or more refuse, the fan-out rejects
 * after all have settled: with the refusal itself when only one refused, otherwise with a `RetryableError`
 * when any refusal is retryable (anything not a `PermanentError` counts as retryable) and a `PermanentError`
 * when all are permanent. A retryable refusal by one consumer therefore makes the sender resend the data to
 * *all* consumers: delivery is at-least-once, and the consumers that accepted the first attempt see the data
 * twice. That is the price of never losing data silently.
 *
 * A sender that can keep what it sends (a connector's bounded sender, connectors/shared/bounded-sender.ts) avoids
 * that: `fanoutBranches` gives it the consumers behind a fan-out, and it keeps a queue for each, so a refusal is
 * retried to the consumer that refused and no other.
 */
import type { Consumer, Signal, SignalData } from '../core/consumer.js';
import { PermanentError, RetryableError, errorMessage } from '../core/errors.js';
import { cloneBatch } from '../core/model.js';

const cloneData: { [S in Signal]: (data: SignalData[S]) => SignalData[S] } = {
  traces: cloneBatch,
  // Attempt records and SLI rows are immutable once produced; a consumer that mutates gets its own array.
  attempts: (records) => records.slice(),
  journey_metrics: (rows) => rows.slice(),
  alerts: (events) => events.slice(),
};

export function fanout<S extends Signal>(signal: S, consumers: readonly Consumer<SignalData[S]>[]): Consumer<SignalData[S]> {
  if (consumers.length === 0) throw new Error('fanout needs at least one consumer');
  // One consumer: no copies and no result merging are needed, so the producer calls it directly.
  if (consumers.length === 1) return consumers[0]!;
  return new Fanout(cloneData[signal], consumers);
}

class Fanout<T> implements Consumer<T> {
  readonly mutatesData: boolean;
  /** Index of the consumer that takes the original when it mutates (-1: every mutating consumer gets a copy). */
  private readonly originalTo: number;

  constructor(
    private readonly clone: (data: T) => T,
    readonly consumers: readonly Consumer<T>[],
  ) {
    const allMutate = consumers.every((c) => c.mutatesData);
    this.mutatesData = allMutate;
    this.originalTo = allMutate ? consumers.length - 1 : -1;
  }

  async consume(data: T): Promise<void> {
    const n = this.consumers.length;
    const inputs: T[] = new Array<T>(n);
    for (let i = 0; i < n; i++) inputs[i] = this.consumers[i]!.mutatesData && i !== this.originalTo ? this.clone(data) : data;
    const pending: Promise<void>[] = new Array<Promise<void>>(n);
    for (let i = 0; i < n; i++) pending[i] = callSafely(this.consumers[i]!, inputs[i]!);
    const results = await Promise.allSettled(pending);
    let failures: unknown[] | undefined;
    for (const r of results) if (r.status === 'rejected') (failures ??= []).push(r.reason);
    if (failures) throw combineRefusals(failures, n);
  }
}

/**
 * The consumers a fan-out hands data to, those of nested fan-outs in their place (a connector output feeding two
 * pipelines of two exporters each gives four); any other consumer is its one branch. Handing data to each branch
 * yourself is what the fan-out does, copy rule aside: give a branch that `mutatesData` an array of its own.
 */
export function fanoutBranches<T>(consumer: Consumer<T>): readonly Consumer<T>[] {
  return consumer instanceof Fanout ? (consumer.consumers as readonly Consumer<T>[]).flatMap((c) => fanoutBranches(c)) : [consumer];
}

/** A consumer that throws synchronously (a bug) must not stop the others from being attempted. */
function callSafely<T>(consumer: Consumer<T>, data: T): Promise<void> {
  try {
    return consumer.consume(data);
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

function combineRefusals(failures: unknown[], total: number): Error {
  if (failures.length === 1) {
    const only = failures[0];
    return only instanceof Error ? only : new Error(String(only));
  }
  const message = `${failures.length} of ${total} consumers refused the data: ${failures.map(errorMessage).join('; ')}`;
  const cause = new AggregateError(failures, message);
  const retryable = failures.filter((f) => !(f instanceof PermanentError));
  if (retryable.length === 0) return new PermanentError((failures[0] as PermanentError).code, message, { cause });
  let retryAfterMs: number | undefined;
  let resourceExhausted = false;
  let code = 'PULSE_ERR_FANOUT';
  for (const f of retryable) {
    if (!(f instanceof RetryableError)) continue;
    if (code === 'PULSE_ERR_FANOUT') code = f.code;
    if (f.resourceExhausted) resourceExhausted = true;
    if (f.retryAfterMs !== undefined) retryAfterMs = Math.max(retryAfterMs ?? 0, f.retryAfterMs);
  }
  return new RetryableError(code, message, retryAfterMs === undefined ? { cause, resourceExhausted } : { cause, resourceExhausted, retryAfterMs });
}
