import { describe, expect, it } from 'vitest';
import type { Consumer } from '../../../src/core/consumer.js';
import { PermanentError, RetryableError } from '../../../src/core/errors.js';
import type { TraceBatch } from '../../../src/core/model.js';
import { fanout } from '../../../src/service/fanout.js';
import { makeBatch, spanNames } from './fakes.js';

/** A consumer that records what it got and, when `mutates`, renames every span it sees. */
function consumer(mutates: boolean, refuse?: Error) {
  const got: TraceBatch[] = [];
  const namesSeen: string[][] = [];
  const c: Consumer<TraceBatch> = {
    mutatesData: mutates,
    consume(batch) {
      if (mutates) for (const rs of batch.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) s.name = 'changed';
      got.push(batch);
      namesSeen.push(spanNames(batch));
      return refuse ? Promise.reject(refuse) : Promise.resolve();
    },
  };
  return { c, got, namesSeen };
}

describe('fanout', () => {
  it('hands a single consumer the original data, with no wrapper', () => {
    const a = consumer(true);
    expect(fanout('traces', [a.c])).toBe(a.c);
  });

  it('gives a mutating consumer its own copy, so a read-only one sees the unmodified batch', async () => {
    const mutating = consumer(true);
    const reader = consumer(false);
    const batch = makeBatch(3);
    const f = fanout('traces', [mutating.c, reader.c]);
    expect(f.mutatesData).toBe(false);
    await f.consume(batch);
    expect(reader.got[0]).toBe(batch);
    expect(mutating.got[0]).not.toBe(batch);
    expect(spanNames(batch)).toEqual(['s-0', 's-1', 's-2']);
    expect(mutating.namesSeen[0]).toEqual(['changed', 'changed', 'changed']);
  });

  it('copies for every mutating consumer but the last when all mutate, and says it mutates', async () => {
    const a = consumer(true);
    const b = consumer(true);
    const batch = makeBatch(2);
    const f = fanout('traces', [a.c, b.c]);
    expect(f.mutatesData).toBe(true);
    await f.consume(batch);
    expect(a.got[0]).not.toBe(batch);
    expect(b.got[0]).toBe(batch);
    // a's copy was made before b changed the original
    expect(a.namesSeen[0]).toEqual(['changed', 'changed']);
    expect(spanNames(a.got[0]!)).toEqual(['changed', 'changed']);
  });

  it('attempts every consumer and rejects with the one refusal', async () => {
    const refusal = new RetryableError('PULSE_ERR_QUEUE_FULL', 'queue full', { resourceExhausted: true, retryAfterMs: 500 });
    const a = consumer(false, refusal);
    const b = consumer(false);
    await expect(fanout('traces', [a.c, b.c]).consume(makeBatch(1))).rejects.toBe(refusal);
    expect(b.got).toHaveLength(1);
  });

  it('rejects retryable when any of several refusals is retryable, keeping the largest retry hint', async () => {
    const a = consumer(false, new PermanentError('PULSE_ERR_BAD', 'bad data'));
    const b = consumer(false, new RetryableError('PULSE_ERR_DOWN', 'down', { retryAfterMs: 2000 }));
    const c = consumer(false, new RetryableError('PULSE_ERR_FULL', 'full', { resourceExhausted: true, retryAfterMs: 100 }));
    const err = await fanout('traces', [a.c, b.c, c.c])
      .consume(makeBatch(1))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(RetryableError);
    const r = err as RetryableError;
    expect(r.code).toBe('PULSE_ERR_DOWN');
    expect(r.retryAfterMs).toBe(2000);
    expect(r.resourceExhausted).toBe(true);
    expect(r.message).toContain('3 of 3 consumers refused');
  });

  it('treats a plain Error as retryable and rejects permanent only when every refusal is permanent', async () => {
    const plain = fanout('traces', [consumer(false, new PermanentError('PULSE_ERR_BAD', 'bad')).c, consumer(false, new Error('bug')).c]);
    await expect(plain.consume(makeBatch(1))).rejects.toBeInstanceOf(RetryableError);
    const permanent = fanout('traces', [consumer(false, new PermanentError('PULSE_ERR_BAD', 'a')).c, consumer(false, new PermanentError('PULSE_ERR_BAD', 'b')).c]);
    await expect(permanent.consume(makeBatch(1))).rejects.toBeInstanceOf(PermanentError);
  });

  it('still attempts the others when a consumer throws synchronously', async () => {
    const thrower: Consumer<TraceBatch> = {
      mutatesData: false,
      consume() {
        throw new Error('sync bug');
      },
    };
    const b = consumer(false);
    await expect(fanout('traces', [thrower, b.c]).consume(makeBatch(1))).rejects.toThrow('sync bug');
    expect(b.got).toHaveLength(1);
  });
});
