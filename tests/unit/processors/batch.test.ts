import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import type { CreateSettings } from '../../../src/core/component.js';
import type { Consumer } from '../../../src/core/consumer.js';
import { PermanentError, RetryableError } from '../../../src/core/errors.js';
import type { TraceBatch } from '../../../src/core/model.js';
import { MetricsRegistry } from '../../../src/core/telemetry.js';
import { batchConfigSchema, type BatchConfig } from '../../../src/processors/batch/config.js';
import { batchProcessorFactory } from '../../../src/processors/batch/factory.js';
import { deferred, makeBatch, silentLogger, spanNames } from '../service/fakes.js';

/** A downstream whose answers the test controls: each consume() waits for `answer()` unless `autoAccept`. */
function downstream(autoAccept = false) {
  const sent: TraceBatch[] = [];
  const answers: Array<ReturnType<typeof deferred<void>>> = [];
  const next: Consumer<TraceBatch> = {
    mutatesData: false,
    consume(batch) {
      sent.push(batch);
      if (autoAccept) return Promise.resolve();
      const d = deferred<void>();
      answers.push(d);
      return d.promise;
    },
  };
  return { next, sent, answers };
}

function makeBatcher(config: Partial<Record<keyof BatchConfig, number | string | boolean>>, next: Consumer<TraceBatch>, logger = silentLogger()) {
  const metrics = new MetricsRegistry();
  const settings: CreateSettings = { id: 'batch', kind: 'processor', logger, metrics, dataDir: '/tmp/x' };
  const processor = batchProcessorFactory.create.traces!(settings, batchConfigSchema.parse(config), next);
  return { processor, metrics };
}

/** Whether a promise has settled, after letting every pending callback run (one macrotask; real timers only). */
async function state(p: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let result: 'pending' | 'resolved' | 'rejected' = 'pending';
  p.then(
    () => (result = 'resolved'),
    () => (result = 'rejected'),
  );
  await new Promise((r) => setImmediate(r));
  return result;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('batch processor', () => {
  it('has the documented defaults and refuses contradictory sizes', () => {
    expect(batchConfigSchema.parse({})).toEqual({
      send_batch_size: 8192,
      send_batch_max_size: 0,
      timeout: 200,
      max_pending_spans: 81920,
      wait_for_result: false,
    });
    expect(batchConfigSchema.safeParse({ send_batch_size: 100, send_batch_max_size: 50 }).success).toBe(false);
    expect(batchConfigSchema.safeParse({ send_batch_size: 100, max_pending_spans: 50 }).success).toBe(false);
  });

  it('sends one merged batch once send_batch_size spans are pending, in arrival order', async () => {
    const down = downstream();
    const { processor } = makeBatcher({ send_batch_size: 10, wait_for_result: true }, down.next);
    const a = processor.consume(makeBatch(4, 'a'));
    const b = processor.consume(makeBatch(4, 'b', 2));
    expect(down.sent).toHaveLength(0);
    const c = processor.consume(makeBatch(4, 'c'));
    expect(down.sent).toHaveLength(1);
    expect(down.sent[0]!.spanCount).toBe(12);
    expect(down.sent[0]!.resourceSpans).toHaveLength(4);
    expect(spanNames(down.sent[0]!)).toEqual(['a-0', 'a-1', 'a-2', 'a-3', 'b-0', 'b-1', 'b-2', 'b-3', 'c-0', 'c-1', 'c-2', 'c-3']);
    // with wait_for_result, nobody is answered before downstream answers
    expect(await state(a)).toBe('pending');
    down.answers[0]!.resolve();
    await Promise.all([a, b, c]);
  });

  it('sends what is pending when the timeout after the first span passes', async () => {
    vi.useFakeTimers();
    const down = downstream(true);
    const { processor, metrics } = makeBatcher({ send_batch_size: 100, timeout: '200ms' }, down.next);
    const a = processor.consume(makeBatch(3, 'a'));
    vi.advanceTimersByTime(150);
    const b = processor.consume(makeBatch(2, 'b'));
    vi.advanceTimersByTime(49);
    expect(down.sent).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(down.sent).toHaveLength(1);
    expect(down.sent[0]!.spanCount).toBe(5);
    await Promise.all([a, b]);
    expect(metrics.find('pulse_processor_batch_sends_total')!.get({ processor: 'batch', trigger: 'timeout' })).toBe(1);
  });

  it('splits batches larger than send_batch_max_size, keeping order and counts exact', async () => {
    vi.useFakeTimers();
    const down = downstream(true);
    const { processor } = makeBatcher({ send_batch_size: 10, send_batch_max_size: 10 }, down.next);
    const big = makeBatch(25, 'x', 2); // resources of 13 and 12 spans
    const done = processor.consume(big);
    expect(down.sent.map((b) => b.spanCount)).toEqual([10, 10]);
    vi.advanceTimersByTime(200);
    expect(down.sent.map((b) => b.spanCount)).toEqual([10, 10, 5]);
    for (const b of down.sent) expect(spanNames(b)).toHaveLength(b.spanCount);
    expect(down.sent.flatMap(spanNames)).toEqual(spanNames(big));
    await done;
    // the input batch itself was not changed
    expect(big.resourceSpans[0]!.scopeSpans[0]!.spans).toHaveLength(13);
    // a resource split across two sends has its own attribute list in each
    const first = down.sent[1]!.resourceSpans.at(-1)!;
    const second = down.sent[2]!.resourceSpans[0]!;
    expect(second.resource.attributes).toEqual(first.resource.attributes);
    expect(second.resource.attributes).not.toBe(first.resource.attributes);
  });

  it('passes on the requests of whole batches it merged, concatenated, and none for a batch it split', async () => {
    vi.useFakeTimers();
    const down = downstream(true);
    const { processor } = makeBatcher({ send_batch_size: 20, send_batch_max_size: 20 }, down.next);
    /** A batch of `n` spans as the decoder leaves it: with the bytes it came as (tiny stand-ins here). */
    const received = (n: number, name: string, tag: number) => {
      const b = makeBatch(n, name);
      b.received = { protobuf: Uint8Array.of(tag, tag), gzip: Uint8Array.of(tag + 100) };
      return b;
    };
    // 8 + 8 whole, then 8 more: 20 are sent with the third split 4 + 4, so that send has no request ...
    const a = processor.consume(received(8, 'a', 1));
    const b = processor.consume(received(8, 'b', 2));
    const c = processor.consume(received(8, 'c', 3));
    expect(down.sent.map((x) => x.spanCount)).toEqual([20]);
    expect(down.sent[0]!.received).toBeUndefined();
    // ... nor the next, which holds the rest of c
    const d = processor.consume(received(4, 'd', 4));
    vi.advanceTimersByTime(200);
    expect(down.sent.map((x) => x.spanCount)).toEqual([20, 8]);
    expect(down.sent[1]!.received).toBeUndefined();
    await Promise.all([a, b, c, d]);

    // Whole batches only: their requests one after the other, each form joined when read.
    const e = processor.consume(received(5, 'e', 5));
    const f = processor.consume(received(6, 'f', 6));
    vi.advanceTimersByTime(200);
    const merged = down.sent[2]!;
    expect(merged.spanCount).toBe(11);
    expect([...merged.received!.protobuf]).toEqual([5, 5, 6, 6]);
    expect([...merged.received!.gzip!]).toEqual([105, 106]);
    // One batch that was changed (no request): the merge has none either.
    const g = processor.consume(received(5, 'g', 7));
    const h = processor.consume(makeBatch(5, 'h'));
    vi.advanceTimersByTime(200);
    expect(down.sent[3]!.received).toBeUndefined();
    // A batch sent alone and whole keeps its own request.
    const i = processor.consume(received(5, 'i', 8));
    vi.advanceTimersByTime(200);
    expect([...down.sent[4]!.received!.protobuf]).toEqual([8, 8]);
    await Promise.all([e, f, g, h, i]);
  });

  it('with wait_for_result, rejects every contributor of a merged batch that downstream refused', async () => {
    const down = downstream();
    const { processor } = makeBatcher({ send_batch_size: 6, wait_for_result: true }, down.next);
    const a = processor.consume(makeBatch(3, 'a'));
    const b = processor.consume(makeBatch(3, 'b'));
    const refusal = new RetryableError('PULSE_ERR_QUEUE_FULL', 'exporter queue full', { resourceExhausted: true });
    down.answers[0]!.reject(refusal);
    await expect(a).rejects.toBe(refusal);
    await expect(b).rejects.toBe(refusal);
  });

  it('with wait_for_result, rejects a contributor split over two sends when either send is refused, and only after both answered', async () => {
    const down = downstream();
    const { processor } = makeBatcher({ send_batch_size: 4, send_batch_max_size: 4, wait_for_result: true }, down.next);
    const p = processor.consume(makeBatch(8));
    expect(down.sent).toHaveLength(2);
    down.answers[1]!.reject(new Error('connection reset'));
    expect(await state(p)).toBe('pending');
    down.answers[0]!.resolve();
    await expect(p).rejects.toThrow('connection reset');
  });

  it('flushes what is pending on shutdown, waits for it, and refuses data afterwards', async () => {
    const down = downstream();
    const { processor, metrics } = makeBatcher({ send_batch_size: 100, wait_for_result: true }, down.next);
    const a = processor.consume(makeBatch(3));
    const stopped = processor.shutdown();
    expect(down.sent.map((b) => b.spanCount)).toEqual([3]);
    expect(await state(stopped)).toBe('pending');
    down.answers[0]!.resolve();
    await stopped;
    await a;
    expect(metrics.find('pulse_processor_batch_sends_total')!.get({ processor: 'batch', trigger: 'shutdown' })).toBe(1);
    await expect(processor.consume(makeBatch(1))).rejects.toMatchObject({ code: 'PULSE_ERR_SHUTTING_DOWN' });
    expect(processor.shutdown()).toBe(stopped);
  });

  it('refuses with a resource-exhausted RetryableError beyond max_pending_spans, and accepts again once sends settle', async () => {
    const down = downstream();
    const { processor, metrics } = makeBatcher({ send_batch_size: 5, max_pending_spans: 10, wait_for_result: true }, down.next);
    const a = processor.consume(makeBatch(5));
    const b = processor.consume(makeBatch(5));
    const refused = processor.consume(makeBatch(1));
    await expect(refused).rejects.toBeInstanceOf(RetryableError);
    await expect(refused).rejects.toMatchObject({ code: 'PULSE_ERR_BATCH_FULL', resourceExhausted: true });
    expect(metrics.find('pulse_processor_batch_refused_spans_total')!.get({ processor: 'batch' })).toBe(1);
    expect(metrics.find('pulse_processor_batch_pending_spans')!.get({ processor: 'batch' })).toBe(10);
    down.answers[0]!.resolve();
    await a;
    const c = processor.consume(makeBatch(5));
    expect(down.sent).toHaveLength(3);
    down.answers[1]!.resolve();
    down.answers[2]!.resolve();
    await Promise.all([b, c]);
    expect(metrics.find('pulse_processor_batch_pending_spans')!.get({ processor: 'batch' })).toBe(0);
  });

  it('admits one batch larger than max_pending_spans when nothing is held', async () => {
    const down = downstream(true);
    const { processor } = makeBatcher({ send_batch_size: 5, max_pending_spans: 10 }, down.next);
    await processor.consume(makeBatch(30));
    expect(down.sent.map((b) => b.spanCount)).toEqual([30]);
  });

  describe('by default (wait_for_result: false)', () => {
    const held = (metrics: MetricsRegistry) => metrics.find('pulse_processor_batch_pending_spans')!.get({ processor: 'batch' });
    const dropped = (metrics: MetricsRegistry, reason: string) =>
      metrics.find('pulse_processor_batch_dropped_spans_total')!.get({ processor: 'batch', reason });

    it('answers a serial sender as soon as its spans are buffered, so it is not held to one request per timeout', async () => {
      vi.useFakeTimers();
      const down = downstream();
      const { processor } = makeBatcher({ send_batch_size: 100, timeout: '200ms' }, down.next);
      // ten requests one after the other, each awaited before the next, all within one timeout
      for (let i = 0; i < 10; i++) await processor.consume(makeBatch(5, `r${i}`));
      expect(down.sent).toHaveLength(0);
      vi.advanceTimersByTime(200);
      expect(down.sent.map((b) => b.spanCount)).toEqual([50]);
      expect(spanNames(down.sent[0]!).slice(0, 6)).toEqual(['r0-0', 'r0-1', 'r0-2', 'r0-3', 'r0-4', 'r1-0']);
    });

    it('keeps a merged batch that downstream refused, holds it against max_pending_spans, and sends it again with backoff', async () => {
      vi.useFakeTimers();
      const down = downstream();
      const { processor, metrics } = makeBatcher({ send_batch_size: 6, max_pending_spans: 10 }, down.next);
      await processor.consume(makeBatch(3, 'a'));
      await processor.consume(makeBatch(3, 'b'));
      expect(down.sent).toHaveLength(1);
      down.answers[0]!.reject(new RetryableError('PULSE_ERR_QUEUE_FULL', 'exporter queue full', { resourceExhausted: true }));
      await vi.advanceTimersByTimeAsync(0);
      // still held: new data beyond the bound is pushed back to the sender
      expect(held(metrics)).toBe(6);
      await expect(processor.consume(makeBatch(5, 'c'))).rejects.toMatchObject({ code: 'PULSE_ERR_BATCH_FULL' });
      // the first retry comes within 200 ms × 1.5 (jitter), with the same spans
      await vi.advanceTimersByTimeAsync(300);
      expect(down.sent).toHaveLength(2);
      expect(spanNames(down.sent[1]!)).toEqual(spanNames(down.sent[0]!));
      expect(metrics.find('pulse_processor_batch_retries_total')!.get({ processor: 'batch' })).toBe(1);
      down.answers[1]!.resolve();
      await vi.advanceTimersByTimeAsync(0);
      expect(held(metrics)).toBe(0);
      expect(dropped(metrics, 'permanent') + dropped(metrics, 'shutdown')).toBe(0);
    });

    it('when full because downstream is failing, refuses as unavailable (no load shedding), and as resource-exhausted once downstream is only slow', async () => {
      vi.useFakeTimers();
      const down = downstream();
      const { processor } = makeBatcher({ send_batch_size: 6, max_pending_spans: 10 }, down.next);
      await processor.consume(makeBatch(6, 'a'));
      down.answers[0]!.reject(new RetryableError('PULSE_ERR_EXPORT', 'destination unreachable: ECONNREFUSED'));
      await vi.advanceTimersByTimeAsync(0);
      const failing = await processor.consume(makeBatch(5, 'b')).catch((e: unknown) => e);
      expect(failing).toMatchObject({ code: 'PULSE_ERR_BATCH_FULL', resourceExhausted: false });
      expect((failing as Error).message).toContain('downstream is failing');

      // the retry is accepted; the next merged batch waits unanswered (a slow downstream) and holds the processor full
      await vi.advanceTimersByTimeAsync(300);
      down.answers[1]!.resolve();
      await vi.advanceTimersByTimeAsync(0);
      await processor.consume(makeBatch(6, 'c'));
      await expect(processor.consume(makeBatch(5, 'd'))).rejects.toMatchObject({ code: 'PULSE_ERR_BATCH_FULL', resourceExhausted: true });
    });

    it('logs a streak of refusals when it starts and when it ends, not at every retry', async () => {
      vi.useFakeTimers();
      const lines: Array<{ level: number; msg: string }> = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
      const down = downstream();
      const { processor } = makeBatcher({ send_batch_size: 2 }, down.next, logger);
      await processor.consume(makeBatch(2, 'a'));
      await processor.consume(makeBatch(2, 'b'));
      const full = () => new RetryableError('PULSE_ERR_QUEUE_FULL', 'exporter queue full', { resourceExhausted: true });
      down.answers[0]!.reject(full());
      down.answers[1]!.reject(full());
      // each batch is refused three times in all, backoff 200 → 400 ms (× 1.5 at most)
      for (let round = 0; round < 2; round++) {
        await vi.advanceTimersByTimeAsync(700);
        down.answers.at(-2)!.reject(full());
        down.answers.at(-1)!.reject(full());
      }
      await vi.advanceTimersByTimeAsync(1300);
      expect(down.sent).toHaveLength(8);
      down.answers.at(-2)!.resolve();
      down.answers.at(-1)!.resolve();
      await vi.advanceTimersByTimeAsync(0);
      expect(lines.map((l) => l.msg)).toEqual([
        'downstream refused 2 span(s) (exporter queue full); keeping them and retrying with backoff',
        'no refused batch is waiting for a retry any more',
      ]);
    });

    it('waits at least as long as the refusal asks (retryAfterMs)', async () => {
      vi.useFakeTimers();
      const down = downstream();
      const { processor } = makeBatcher({ send_batch_size: 2 }, down.next);
      await processor.consume(makeBatch(2));
      down.answers[0]!.reject(new RetryableError('PULSE_ERR_MEMORY_LIMIT', 'memory limit', { retryAfterMs: 3000 }));
      await vi.advanceTimersByTimeAsync(2999);
      expect(down.sent).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(down.sent).toHaveLength(2);
    });

    it('drops and counts a merged batch refused permanently, without retrying it', async () => {
      vi.useFakeTimers();
      const down = downstream();
      const { processor, metrics } = makeBatcher({ send_batch_size: 4 }, down.next);
      await processor.consume(makeBatch(4));
      down.answers[0]!.reject(new PermanentError('PULSE_ERR_INVALID', 'destination refused the data'));
      await vi.advanceTimersByTimeAsync(60_000);
      expect(down.sent).toHaveLength(1);
      expect(dropped(metrics, 'permanent')).toBe(4);
      expect(held(metrics)).toBe(0);
    });

    it('on shutdown gives a refused batch its last attempt at once, then drops and counts what is still refused', async () => {
      const down = downstream();
      const { processor, metrics } = makeBatcher({ send_batch_size: 4 }, down.next);
      await processor.consume(makeBatch(4, 'a'));
      down.answers[0]!.reject(new Error('connection reset'));
      await state(Promise.resolve());
      // waiting for its retry (≥ 100 ms away) when shutdown starts; another batch is still buffered
      await processor.consume(makeBatch(2, 'b'));
      const stopped = processor.shutdown();
      expect(down.sent.map((b) => b.spanCount)).toEqual([4, 2, 4]);
      expect(await state(stopped)).toBe('pending');
      down.answers[1]!.resolve();
      down.answers[2]!.reject(new Error('still down'));
      await stopped;
      expect(dropped(metrics, 'shutdown')).toBe(4);
      expect(held(metrics)).toBe(0);
    });
  });
});
