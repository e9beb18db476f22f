import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PermanentError, RetryableError } from '../../../src/core/errors.js';
import { Handover } from '../../../src/core/handover.js';
import {
  HANDOVER_GRACE_MS,
  createQueuedExporter,
  drainUntil,
  exporterHelperFields,
  validateExporterHelper,
  type ExporterHelperConfig,
  type QueuedExporter,
  type QueuedExporterOptions,
} from '../../../src/exporters/exporterhelper/index.js';
import { delay, host, makeSettings, metric, tempDir, until, type TestSettings } from './settings.js';

interface Item {
  id: number;
  n: number;
}

const schema = z.object(exporterHelperFields()).superRefine(validateExporterHelper);

/** Short intervals so retries happen within milliseconds; one consumer so order is observable. */
function config(over: Record<string, Record<string, unknown> | string> = {}): ExporterHelperConfig {
  const base: Record<string, Record<string, unknown> | string> = {
    retry_on_failure: { initial_interval: '10ms', max_interval: '40ms', randomization_factor: 0 },
    sending_queue: { num_consumers: 1 },
  };
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = base[k];
    merged[k] = typeof v === 'object' && typeof b === 'object' ? { ...b, ...v } : v;
  }
  return schema.parse(merged);
}

type Step = 'ok' | 'hang' | Error | { rejected: number };

/** A scripted destination: each send takes the next step (default ok) and is recorded. */
class FakeDestination {
  readonly calls: Array<{ id: number; at: number; outcome: string }> = [];
  readonly delivered: Item[] = [];
  script: Step[] = [];
  /** Used when the script is empty. */
  fallback: Step = 'ok';

  send = (item: Item, signal: AbortSignal): Promise<{ rejectedItems?: number } | void> => {
    const step = this.script.shift() ?? this.fallback;
    const at = Date.now();
    if (step === 'hang') {
      this.calls.push({ id: item.id, at, outcome: 'hang' });
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
    }
    if (step instanceof Error) {
      this.calls.push({ id: item.id, at, outcome: step.name });
      return Promise.reject(step);
    }
    this.calls.push({ id: item.id, at, outcome: 'ok' });
    this.delivered.push(item);
    return Promise.resolve(step === 'ok' ? undefined : { rejectedItems: step.rejected });
  };
}

const itemCodec = {
  encode: (i: Item) => new TextEncoder().encode(JSON.stringify(i)),
  decode: (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as Item,
};

let dir: Awaited<ReturnType<typeof tempDir>>;
let settings: TestSettings;
let dest: FakeDestination;
const exporters: Array<QueuedExporter<Item>> = [];

function make(cfg: ExporterHelperConfig, extra: Partial<QueuedExporterOptions<Item>> = {}, s: TestSettings = settings): QueuedExporter<Item> {
  const e = createQueuedExporter<Item>({
    settings: s,
    config: cfg,
    send: dest.send,
    itemCount: (i) => i.n,
    sizeOf: (i) => i.n * 100,
    codec: itemCodec,
    merge: (items) => ({ id: items[0]!.id, n: items.reduce((a, i) => a + i.n, 0) }),
    ...extra,
  });
  exporters.push(e);
  return e;
}

const M = {
  sent: 'pulse_exporter_sent_items_total',
  failed: 'pulse_exporter_send_failed_items_total',
  enqueueFailed: 'pulse_exporter_enqueue_failed_items_total',
  retries: 'pulse_exporter_retries_total',
  size: 'pulse_exporter_queue_size',
  capacity: 'pulse_exporter_queue_capacity',
  corrupt: 'pulse_exporter_queue_corrupt_files_total',
};
const ex = { exporter: 'test-exporter' };

beforeEach(async () => {
  dir = await tempDir();
  settings = makeSettings(dir.path);
  dest = new FakeDestination();
});

afterEach(async () => {
  await Promise.all(exporters.splice(0).map((e) => e.shutdown(Date.now() + 200)));
  await dir.remove();
});

describe('config fragment', () => {
  it('parses to the Collector-like defaults', () => {
    const c = schema.parse({});
    expect(c.timeout).toBe(5000);
    expect(c.retry_on_failure).toEqual({
      enabled: true,
      initial_interval: 5000,
      max_interval: 30_000,
      max_elapsed_time: 300_000,
      multiplier: 1.5,
      randomization_factor: 0.5,
    });
    expect(c.sending_queue).toMatchObject({ enabled: true, num_consumers: 4, queue_size: 1000, when_full: 'block', persistent: false });
    expect(c.sending_queue.max_bytes).toBe(256 * 1024 * 1024);
    expect(c.batch).toMatchObject({ enabled: false, flush_timeout: 200 });
    expect(c.shutdown_drain).toBe(10_000);
  });

  it('lets a factory make the queue persistent by default, and storage.directory implies it', () => {
    const persistentByDefault = z.object(exporterHelperFields({ persistentQueue: true }));
    expect(persistentByDefault.parse({}).sending_queue.persistent).toBe(true);
    expect(persistentByDefault.parse({ sending_queue: { persistent: false } }).sending_queue.persistent).toBe(false);
    expect(schema.parse({ sending_queue: { storage: { directory: '/var/lib/q' } } }).sending_queue.persistent).toBe(true);
  });

  it('rejects contradictory settings with the path of the offending field', () => {
    const r = schema.safeParse({ sending_queue: { enabled: false, persistent: true } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['sending_queue', 'persistent']);
    const b = schema.safeParse({ batch: { min_size: 100, max_size: 10 } });
    expect(b.error?.issues[0]?.path).toEqual(['batch', 'max_size']);
    expect(schema.safeParse({ timeout: 'soon' }).success).toBe(false);
  });
});

describe('drainUntil', () => {
  it('drains for shutdown_drain without a deadline, and until shortly before the service deadline with one', () => {
    const now = 1_000_000;
    expect(drainUntil(undefined, 10_000, now)).toBe(now + 10_000);
    // The service's deadline wins over shutdown_drain, whether it is later or earlier.
    expect(drainUntil(now + 20_000, 10_000, now)).toBe(now + 20_000 - 250);
    expect(drainUntil(now + 300, 10_000, now)).toBe(now + 300 - 30);
    expect(drainUntil(now - 5, 10_000, now)).toBe(now - 5);
  });
});

describe('in-memory queue', () => {
  it('resolves consume() at once and delivers every item in order', async () => {
    const e = make(config());
    await e.start(host);
    for (let i = 1; i <= 5; i++) await e.consume({ id: i, n: 2 });
    await until(() => dest.delivered.length === 5);
    expect(dest.delivered.map((i) => i.id)).toEqual([1, 2, 3, 4, 5]);
    expect(metric(settings, M.sent, ex)).toBe(10);
    expect(metric(settings, M.capacity, ex)).toBe(1000);
  });

  it('retries a retryable failure and delivers exactly once', async () => {
    dest.script = [new RetryableError('X', 'down'), new Error('unclassified')];
    const e = make(config());
    await e.start(host);
    await e.consume({ id: 1, n: 3 });
    await until(() => dest.delivered.length === 1);
    await delay(50);
    expect(dest.calls.map((c) => c.outcome)).toEqual(['RetryableError', 'Error', 'ok']);
    expect(dest.delivered).toHaveLength(1);
    expect(metric(settings, M.retries, ex)).toBe(2);
    expect(metric(settings, M.sent, ex)).toBe(3);
  });

  it('waits at least retryAfterMs when the destination asks for it, even when the backoff is shorter', async () => {
    dest.script = [new RetryableError('X', 'slow down', { retryAfterMs: 150 })];
    const e = make(config());
    await e.start(host);
    await e.consume({ id: 1, n: 1 });
    await until(() => dest.delivered.length === 1);
    expect(dest.calls[1]!.at - dest.calls[0]!.at).toBeGreaterThanOrEqual(145);
  });

  it('a wait asked for beyond max_elapsed_time becomes one last try at the end, instead of the batch dropped at once', async () => {
    // The destination asks for 400 s; 300 ms are allowed: the retry comes when the 300 ms are up, and succeeds.
    dest.script = [new RetryableError('X', 'come back in 400 s', { retryAfterMs: 400_000 })];
    const e = make(config({ retry_on_failure: { max_elapsed_time: '300ms' } }));
    await e.start(host);
    await e.consume({ id: 1, n: 1 });
    await until(() => dest.delivered.length === 1, 3000);
    const waited = dest.calls[1]!.at - dest.calls[0]!.at;
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(2000);
    expect(metric(settings, M.sent, ex)).toBe(1);
  });

  it('never waits less than asked because the wait overflows a timer (a hot loop against a server asking to wait)', async () => {
    // 2,200,000 s is over setTimeout's 2^31 − 1 ms: Node would fire at once, again and again.
    dest.script = [new RetryableError('X', 'come back much later', { retryAfterMs: 2_200_000_000 })];
    const e = make(config({ retry_on_failure: { max_elapsed_time: '0s' } }));
    await e.start(host);
    await e.consume({ id: 1, n: 1 });
    await delay(300);
    expect(dest.calls).toHaveLength(1);
    await e.shutdown(Date.now() + 50);
  });

  it('drops a permanent failure without retrying and counts it', async () => {
    dest.script = [new PermanentError('PULSE_ERR_BAD', 'malformed')];
    const e = make(config());
    await e.start(host);
    await e.consume({ id: 1, n: 4 });
    await e.consume({ id: 2, n: 1 });
    await until(() => dest.delivered.length === 1);
    expect(dest.calls.map((c) => c.id)).toEqual([1, 2]);
    expect(metric(settings, M.failed, { ...ex, reason: 'permanent' })).toBe(4);
    expect(metric(settings, M.retries, ex)).toBe(0);
    expect(settings.logs.some((l) => l.level === 50 && l.code === 'PULSE_ERR_BAD')).toBe(true);
  });

  it('gives up after max_elapsed_time and counts the items as retries_exhausted', async () => {
    dest.fallback = new RetryableError('X', 'down');
    const e = make(config({ retry_on_failure: { max_elapsed_time: '60ms' } }));
    await e.start(host);
    await e.consume({ id: 1, n: 7 });
    await until(() => metric(settings, M.failed, { ...ex, reason: 'retries_exhausted' }) === 7);
    expect(dest.calls.length).toBeGreaterThan(1);
    expect(e.queueSize).toBe(0);
  });

  it('aborts an attempt that exceeds timeout and retries it', async () => {
    dest.script = ['hang'];
    const e = make(config({ timeout: '50ms' }));
    await e.start(host);
    await e.consume({ id: 1, n: 1 });
    await until(() => dest.delivered.length === 1);
    expect(dest.calls.map((c) => c.outcome)).toEqual(['hang', 'ok']);
    expect(settings.logs.some((l) => l.code === 'PULSE_ERR_EXPORT_TIMEOUT')).toBe(true);
  });

  it('counts items the destination rejected in a partial success', async () => {
    dest.script = [{ rejected: 2 }];
    const e = make(config());
    await e.start(host);
    await e.consume({ id: 1, n: 5 });
    await until(() => dest.delivered.length === 1);
    expect(metric(settings, M.sent, ex)).toBe(3);
    expect(metric(settings, M.failed, { ...ex, reason: 'rejected_by_destination' })).toBe(2);
  });

  it('refuses with a resource-exhausted RetryableError when full (when_full: block)', async () => {
    dest.fallback = 'hang';
    const e = make(config({ sending_queue: { queue_size: 2 }, timeout: '10s' }));
    await e.start(host);
    await e.consume({ id: 1, n: 1 }); // taken by the consumer, hangs
    await e.consume({ id: 2, n: 1 }); // waits
    const err = await e.consume({ id: 3, n: 6 }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).code).toBe('PULSE_ERR_QUEUE_FULL');
    expect((err as RetryableError).resourceExhausted).toBe(true);
    expect((err as RetryableError).retryAfterMs).toBeGreaterThan(0);
    expect(metric(settings, M.enqueueFailed, ex)).toBe(6);
    expect(settings.metrics.render()).toContain('pulse_exporter_queue_size{exporter="test-exporter"} 2');
  });

  it('refuses as unavailable, not resource-exhausted, when full because the destination is failing, until a send succeeds', async () => {
    dest.fallback = new Error('connect ECONNREFUSED');
    const e = make(config({ sending_queue: { queue_size: 2 }, retry_on_failure: { initial_interval: '20ms', max_interval: '20ms' } }));
    await e.start(host);
    await e.consume({ id: 1, n: 1 }); // taken by the consumer, fails and is retried
    await e.consume({ id: 2, n: 1 }); // waits
    await until(() => dest.calls.length >= 2);
    const down = await e.consume({ id: 3, n: 1 }).catch((x: unknown) => x);
    expect(down).toMatchObject({ code: 'PULSE_ERR_QUEUE_FULL', resourceExhausted: false });
    expect((down as RetryableError).message).toContain('destination is failing');
    expect((down as RetryableError).retryAfterMs).toBeGreaterThan(0);

    // the destination comes back, but answers slowly: a full queue is the input outrunning it again
    dest.script = ['ok'];
    dest.fallback = 'hang';
    await until(() => dest.delivered.length === 1);
    await e.consume({ id: 4, n: 1 });
    const slow = await e.consume({ id: 5, n: 1 }).catch((x: unknown) => x);
    expect(slow).toMatchObject({ code: 'PULSE_ERR_QUEUE_FULL', resourceExhausted: true });
  });

  it('bounds the queue by bytes too', async () => {
    dest.fallback = 'hang';
    const e = make(config({ sending_queue: { max_bytes: 1000 }, timeout: '10s' }));
    await e.start(host);
    await e.consume({ id: 1, n: 6 }); // 600 bytes
    await expect(e.consume({ id: 2, n: 6 })).rejects.toMatchObject({ code: 'PULSE_ERR_QUEUE_FULL' });
    await e.consume({ id: 3, n: 3 }); // 900 bytes: fits
  });

  it('drops and counts the newest batch when full with when_full: drop_newest', async () => {
    dest.fallback = 'hang';
    const e = make(config({ sending_queue: { queue_size: 1, when_full: 'drop_newest' }, timeout: '10s' }));
    await e.start(host);
    await e.consume({ id: 1, n: 1 });
    await expect(e.consume({ id: 2, n: 5 })).resolves.toBeUndefined();
    expect(metric(settings, M.enqueueFailed, ex)).toBe(5);
    expect(settings.logs.some((l) => l.msg.includes('drop_newest'))).toBe(true);
  });

  it('merges queued items when batch is enabled', async () => {
    dest.script = ['hang'];
    const e = make(config({ batch: { enabled: true, min_size: 6, flush_timeout: '50ms' }, timeout: '100ms' }));
    await e.start(host);
    // Sent alone after flush_timeout, then hangs until its attempt times out; meanwhile three more queue up.
    await e.consume({ id: 1, n: 1 });
    await until(() => dest.calls.length === 1);
    for (let i = 2; i <= 4; i++) await e.consume({ id: i, n: 2 });
    await until(() => metric(settings, M.sent, ex) === 7);
    expect(dest.delivered).toEqual([{ id: 1, n: 1 }, { id: 2, n: 6 }]);
  });

  it('shuts down within the deadline, aborting a hung send, and counts the rest as dropped', async () => {
    dest.fallback = 'hang';
    const e = make(config({ timeout: '10s' }));
    await e.start(host);
    await e.consume({ id: 1, n: 2 });
    await e.consume({ id: 2, n: 3 });
    await until(() => dest.calls.length === 1);
    const t0 = Date.now();
    await e.shutdown(Date.now() + 100);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(metric(settings, M.failed, { ...ex, reason: 'shutdown' })).toBe(5);
    expect(settings.logs.some((l) => l.droppedItems === 5 && l.droppedBatches === 2)).toBe(true);
    await expect(e.consume({ id: 3, n: 1 })).rejects.toMatchObject({ code: 'PULSE_ERR_SHUTTING_DOWN' });
    await e.shutdown(); // idempotent
  });

  it('drains what is queued during shutdown when the destination keeps up', async () => {
    const e = make(config());
    await e.start(host);
    for (let i = 1; i <= 20; i++) await e.consume({ id: i, n: 1 });
    await e.shutdown(Date.now() + 5000);
    expect(dest.delivered).toHaveLength(20);
    expect(metric(settings, M.failed, { ...ex, reason: 'shutdown' })).toBe(0);
  });
});

describe('without a queue', () => {
  it('sends inside consume() and propagates a permanent error', async () => {
    const e = make(config({ sending_queue: { enabled: false } }));
    await e.start(host);
    await e.consume({ id: 1, n: 1 });
    expect(dest.delivered).toHaveLength(1);
    dest.script = [new PermanentError('PULSE_ERR_BAD', 'bad')];
    await expect(e.consume({ id: 2, n: 1 })).rejects.toBeInstanceOf(PermanentError);
  });

  it('retries inside consume() and rejects with a RetryableError once retries are exhausted', async () => {
    const e = make(config({ sending_queue: { enabled: false }, retry_on_failure: { max_elapsed_time: '50ms' } }));
    await e.start(host);
    dest.script = [new RetryableError('X', 'blip')];
    await e.consume({ id: 1, n: 1 });
    expect(dest.calls).toHaveLength(2);
    dest.fallback = new Error('down');
    await expect(e.consume({ id: 2, n: 1 })).rejects.toMatchObject({ code: 'PULSE_ERR_EXPORT_FAILED' });
  });
});

describe('persistent queue', () => {
  const persistent = (over: Record<string, unknown> = {}): ExporterHelperConfig =>
    config({ sending_queue: { persistent: true, ...over } });

  it('keeps undelivered items on disk across a restart and sends each exactly once, in order', async () => {
    dest.fallback = new RetryableError('X', 'down');
    const first = make(persistent());
    await first.start(host);
    for (let i = 1; i <= 10; i++) await first.consume({ id: i, n: 1 });
    await first.shutdown(Date.now() + 100);
    expect((await readdir(dir.path)).filter((f) => f.endsWith('.batch'))).toHaveLength(10);
    expect(metric(settings, M.failed, { ...ex, reason: 'shutdown' })).toBe(0);

    dest.fallback = 'ok';
    const s2 = makeSettings(dir.path);
    const second = make(persistent(), {}, s2);
    await second.start(host);
    await second.consume({ id: 11, n: 1 });
    await until(() => dest.delivered.length === 11);
    await delay(30);
    expect(dest.delivered.map((i) => i.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    await second.shutdown();
    expect((await readdir(dir.path)).filter((f) => f.endsWith('.batch'))).toHaveLength(0);
  });

  it('stops at once on shutdown while the destination is down, leaving everything on disk', async () => {
    dest.fallback = new RetryableError('X', 'down');
    const e = make(config({ sending_queue: { persistent: true, num_consumers: 2 }, retry_on_failure: { initial_interval: '5s', max_interval: '5s' } }));
    await e.start(host);
    for (let i = 1; i <= 4; i++) await e.consume({ id: i, n: 1 });
    await until(() => dest.calls.length >= 2);
    const t0 = Date.now();
    await e.shutdown(); // default shutdown_drain: 10s
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await readdir(dir.path)).filter((f) => f.endsWith('.batch'))).toHaveLength(4);
    expect(settings.logs.some((l) => l.batchesOnDisk === 4)).toBe(true);
  });

  it('skips a corrupt file with a count and a log line, and sends the rest', async () => {
    dest.fallback = new RetryableError('X', 'down');
    const first = make(persistent());
    await first.start(host);
    for (let i = 1; i <= 3; i++) await first.consume({ id: i, n: 1 });
    await first.shutdown(Date.now() + 50);
    const files = (await readdir(dir.path)).filter((f) => f.endsWith('.batch')).sort();
    await writeFile(join(dir.path, files[1]!), 'garbage');
    await writeFile(join(dir.path, 'half-written.batch.tmp'), 'x');

    dest.fallback = 'ok';
    const s2 = makeSettings(dir.path);
    const second = make(persistent(), {}, s2);
    await second.start(host);
    await until(() => dest.delivered.length === 2);
    expect(dest.delivered.map((i) => i.id)).toEqual([1, 3]);
    expect(metric(s2, M.corrupt, ex)).toBe(1);
    expect(s2.logs.some((l) => l.level === 50 && String(l.file).endsWith(files[1]!))).toBe(true);
    expect(await readdir(dir.path)).not.toContain('half-written.batch.tmp');
  });

  it('bounds the files on disk by queue_size', async () => {
    dest.fallback = new RetryableError('X', 'down');
    const e = make(persistent({ queue_size: 3 }));
    await e.start(host);
    for (let i = 1; i <= 3; i++) await e.consume({ id: i, n: 1 });
    await expect(e.consume({ id: 4, n: 1 })).rejects.toMatchObject({ code: 'PULSE_ERR_QUEUE_FULL' });
  });

  it('refuses a second instance on the same directory', async () => {
    const a = make(persistent());
    await a.start(host);
    const b = make(persistent(), {}, makeSettings(dir.path, 'other'));
    await expect(b.start(host)).rejects.toMatchObject({ code: 'PULSE_ERR_QUEUE_LOCKED' });
  });

  it('writes an item encoded as pieces as one file, read back whole after a restart; its checksum covers every piece', async () => {
    // Pieces as the ClickHouse codec gives them: a small header, then a large body, plus an empty piece.
    const pieces = {
      encode: (i: Item) => {
        const json = new TextEncoder().encode(JSON.stringify(i));
        const pad = new Uint8Array(200_000).fill(0x20); // JSON allows trailing whitespace
        return [json.subarray(0, 3), new Uint8Array(0), json.subarray(3), pad];
      },
      decode: itemCodec.decode,
    };
    dest.fallback = new RetryableError('X', 'down');
    const first = make(persistent(), { codec: pieces });
    await first.start(host);
    for (let i = 1; i <= 3; i++) await first.consume({ id: i, n: 2 });
    await first.shutdown(Date.now() + 50);
    const files = (await readdir(dir.path)).filter((f) => f.endsWith('.batch')).sort();
    expect(files).toHaveLength(3);
    // Flip one byte deep in the last piece of the second file: the checksum must catch it.
    const path = join(dir.path, files[1]!);
    const bytes = await readFile(path);
    expect(bytes.length).toBe(20 + JSON.stringify({ id: 2, n: 2 }).length + 200_000);
    bytes[bytes.length - 10] = 0x21;
    await writeFile(path, bytes);

    dest.fallback = 'ok';
    const s2 = makeSettings(dir.path);
    const second = make(persistent(), { codec: pieces }, s2);
    await second.start(host);
    await until(() => dest.delivered.length === 2);
    expect(dest.delivered).toEqual([
      { id: 1, n: 2 },
      { id: 3, n: 2 },
    ]);
    expect(metric(s2, M.corrupt, ex)).toBe(1);
  });

  it('writes each item before consume() resolves', async () => {
    dest.fallback = 'hang';
    const e = make(persistent({ storage: { fsync: true } }), {}, settings);
    await e.start(host);
    await e.consume({ id: 1, n: 1 });
    await e.consume({ id: 2, n: 1 });
    const files = (await readdir(dir.path)).filter((f) => f.endsWith('.batch'));
    expect(files).toHaveLength(2);
  });
});

describe('handing the in-memory queue over on a reload', () => {
  const key = 'exporter/test-exporter@traces:test';

  /** The settings of one exporter instance of the old or the new graph, sharing `handover`'s slot for `key`. */
  function withSlot(handover: Handover, s: TestSettings = settings): TestSettings {
    return { ...s, handover: handover.slot(key) };
  }

  it('stops at once with its destination not answering, and the next config’s exporter sends every batch, oldest first', async () => {
    const handover = new Handover();
    dest.fallback = 'hang';
    const old = make(config({ timeout: '30s' }), { handover: true }, withSlot(handover));
    await old.start(host);
    for (let i = 1; i <= 4; i++) await old.consume({ id: i, n: 2 });
    await until(() => dest.calls.length === 1); // batch 1 in flight, 2–4 waiting
    handover.expect(new Set([key]));
    const t0 = Date.now();
    await old.shutdown(Date.now() + 30_000);
    const stoppedMs = Date.now() - t0;
    // Not the 30 s deadline: the in-flight send gets HANDOVER_GRACE_MS, then goes along too.
    expect(stoppedMs).toBeGreaterThanOrEqual(HANDOVER_GRACE_MS - 50);
    expect(stoppedMs).toBeLessThan(HANDOVER_GRACE_MS + 2000);
    expect(metric(settings, M.failed, { ...ex, reason: 'shutdown' })).toBe(0);
    expect(settings.logs.some((l) => l.handedOverBatches === 4 && l.items === 8)).toBe(true);

    dest.fallback = 'ok';
    const next = make(config(), { handover: true }, withSlot(handover));
    await next.start(host);
    handover.settle(settings.logger);
    await next.consume({ id: 5, n: 1 });
    await until(() => dest.delivered.length === 5);
    expect(dest.delivered.map((i) => i.id)).toEqual([1, 2, 3, 4, 5]);
    expect(metric(settings, M.failed, { ...ex, reason: 'shutdown' })).toBe(0);
  });

  it('lets a send that answers within the grace finish, so that batch is not sent twice', async () => {
    const handover = new Handover();
    let answer: (() => void) | undefined;
    const slow = (item: Item): Promise<void> =>
      new Promise((resolve) => {
        dest.calls.push({ id: item.id, at: Date.now(), outcome: 'slow' });
        answer = () => {
          dest.delivered.push(item);
          resolve();
        };
      });
    const old = make(config({ timeout: '30s' }), { handover: true, send: slow }, withSlot(handover));
    await old.start(host);
    await old.consume({ id: 1, n: 1 });
    await old.consume({ id: 2, n: 1 });
    await until(() => answer !== undefined);
    handover.expect(new Set([key]));
    const stopping = old.shutdown(Date.now() + 30_000);
    await delay(100);
    answer!();
    await stopping;
    const next = make(config(), { handover: true }, withSlot(handover));
    await next.start(host);
    await until(() => dest.delivered.length === 2);
    await delay(50);
    expect(dest.delivered.map((i) => i.id)).toEqual([1, 2]);
  });

  it('drains as before when the next config has no such exporter (or at shutdown)', async () => {
    const handover = new Handover();
    dest.fallback = 'hang';
    const old = make(config({ timeout: '30s' }), { handover: true }, withSlot(handover));
    await old.start(host);
    await old.consume({ id: 1, n: 2 });
    await old.consume({ id: 2, n: 3 });
    await until(() => dest.calls.length === 1);
    handover.expect(new Set(['exporter/other@traces:test']));
    await old.shutdown(Date.now() + 100);
    expect(metric(settings, M.failed, { ...ex, reason: 'shutdown' })).toBe(5);
    expect(handover.slot(key).take()).toBeUndefined();
  });

  it('does not hand over unless the exporter says its items fit any config of its type', async () => {
    const handover = new Handover();
    dest.fallback = 'hang';
    const old = make(config({ timeout: '30s' }), {}, withSlot(handover));
    await old.start(host);
    await old.consume({ id: 1, n: 2 });
    await until(() => dest.calls.length === 1);
    handover.expect(new Set([key]));
    await old.shutdown(Date.now() + 100);
    expect(metric(settings, M.failed, { ...ex, reason: 'shutdown' })).toBe(2);
    expect(handover.slot(key).take()).toBeUndefined();
  });

  it('counts as dropped what nobody took, and what the new, smaller queue cannot hold', async () => {
    dest.fallback = 'hang';
    const handover = new Handover();
    const old = make(config({ timeout: '30s', sending_queue: { queue_size: 10 } }), { handover: true }, withSlot(handover));
    await old.start(host);
    for (let i = 1; i <= 5; i++) await old.consume({ id: i, n: 1 });
    handover.expect(new Set([key]));
    await old.shutdown(Date.now() + 30_000);
    // The new exporter's queue holds 2: three batches do not fit.
    dest.fallback = 'ok';
    const next = make(config({ sending_queue: { queue_size: 2 } }), { handover: true }, withSlot(handover));
    await next.start(host);
    await until(() => dest.delivered.length === 2);
    expect(dest.delivered.map((i) => i.id)).toEqual([1, 2]);
    expect(metric(settings, M.failed, { ...ex, reason: 'shutdown' })).toBe(3);

    // A reload whose new graph never takes it (it failed to start, and so did the previous config again).
    dest.fallback = 'hang';
    handover.expect(new Set([key]));
    await next.consume({ id: 6, n: 4 });
    await next.shutdown(Date.now() + 30_000);
    handover.settle(settings.logger);
    expect(metric(settings, M.failed, { ...ex, reason: 'shutdown' })).toBe(7);
    expect(settings.logs.some((l) => /not taken by any component/.test(l.msg) && l.items === 4)).toBe(true);
  });
});
