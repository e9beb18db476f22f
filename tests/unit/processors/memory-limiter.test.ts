import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CreateSettings } from '../../../src/core/component.js';
import type { Consumer } from '../../../src/core/consumer.js';
import { RetryableError } from '../../../src/core/errors.js';
import type { TraceBatch } from '../../../src/core/model.js';
import { MetricsRegistry } from '../../../src/core/telemetry.js';
import { memoryLimiterConfigSchema } from '../../../src/processors/memory_limiter/config.js';
import { MemoryLimiter, type MemoryProbe } from '../../../src/processors/memory_limiter/memory-limiter.js';
import { makeBatch, silentLogger } from '../service/fakes.js';

const MiB = 1024 * 1024;

function makeLimiter(config: Record<string, unknown>, probe: Partial<MemoryProbe> & { rssMiB: number }) {
  const sent: TraceBatch[] = [];
  const next: Consumer<TraceBatch> = {
    mutatesData: false,
    consume: (b) => {
      sent.push(b);
      return Promise.resolve();
    },
  };
  const metrics = new MetricsRegistry();
  const settings: CreateSettings = { id: 'memory_limiter', kind: 'processor', logger: silentLogger(), metrics, dataDir: '/tmp/x' };
  const p = {
    rssMiB: probe.rssMiB,
    rss: () => p.rssMiB * MiB,
    availableMemory: probe.availableMemory ?? (() => 4096 * MiB),
    gc: probe.gc,
  };
  const limiter = new MemoryLimiter(settings, memoryLimiterConfigSchema.parse(config), next, p);
  const state = () => metrics.find('pulse_memory_limiter_state')!.get({ processor: 'memory_limiter' });
  const refused = () => metrics.find('pulse_memory_limiter_refused_spans_total')!.get({ processor: 'memory_limiter' });
  return { limiter, probe: p, sent, state, refused };
}

let limiters: MemoryLimiter[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(limiters.map((l) => l.shutdown()));
  limiters = [];
});

describe('memory_limiter config', () => {
  it('defaults to 80% of available memory with a 20% spike allowance', () => {
    expect(memoryLimiterConfigSchema.parse({})).toEqual({ check_interval: 1000, mode: 'percentage', limit_percentage: 80, spike_limit_percentage: 16 });
    expect(memoryLimiterConfigSchema.parse({ limit_mib: 1000 })).toMatchObject({ mode: 'mib', limit_mib: 1000, spike_limit_mib: 200 });
  });

  it('refuses contradictory limits with a message naming the field', () => {
    const both = memoryLimiterConfigSchema.safeParse({ limit_mib: 100, limit_percentage: 50 });
    expect(both.success).toBe(false);
    expect(both.error!.issues[0]!.path).toEqual(['limit_percentage']);
    const spike = memoryLimiterConfigSchema.safeParse({ limit_mib: 100, spike_limit_mib: 100 });
    expect(spike.error!.issues[0]!.message).toContain('must be below limit_mib');
    expect(memoryLimiterConfigSchema.safeParse({ check_interval: '0s' }).success).toBe(false);
  });
});

describe('memory_limiter', () => {
  it('passes data through below the soft limit', async () => {
    const { limiter, sent, state } = makeLimiter({ limit_mib: 100, spike_limit_mib: 20 }, { rssMiB: 50 });
    limiters.push(limiter);
    await limiter.start();
    await limiter.consume(makeBatch(3));
    expect(sent).toHaveLength(1);
    expect(state()).toBe(0);
  });

  it('refuses with a resource-exhausted RetryableError above the soft limit, and recovers below it', async () => {
    const { limiter, probe, sent, state, refused } = makeLimiter({ limit_mib: 100, spike_limit_mib: 20, check_interval: '2s' }, { rssMiB: 50 });
    limiters.push(limiter);
    await limiter.start();
    probe.rssMiB = 85; // soft limit is 80 MiB
    limiter.check();
    const err = await limiter.consume(makeBatch(7)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RetryableError);
    expect(err).toMatchObject({ code: 'PULSE_ERR_MEMORY_LIMIT', resourceExhausted: true, retryAfterMs: 2000 });
    expect(sent).toHaveLength(0);
    expect(refused()).toBe(7);
    expect(state()).toBe(1);

    probe.rssMiB = 80; // at the soft limit: not yet below it
    limiter.check();
    await expect(limiter.consume(makeBatch(1))).rejects.toBeInstanceOf(RetryableError);

    probe.rssMiB = 60;
    limiter.check();
    await limiter.consume(makeBatch(1));
    expect(sent).toHaveLength(1);
    expect(state()).toBe(0);
  });

  it('measures on its timer, not per request', async () => {
    vi.useFakeTimers();
    const { limiter, probe } = makeLimiter({ limit_mib: 100, check_interval: '1s' }, { rssMiB: 10 });
    limiters.push(limiter);
    await limiter.start();
    probe.rssMiB = 99;
    await limiter.consume(makeBatch(1)); // still accepted: no check has run since memory rose
    vi.advanceTimersByTime(1000);
    expect(limiter.refusing).toBe(true);
    await expect(limiter.consume(makeBatch(1))).rejects.toMatchObject({ code: 'PULSE_ERR_MEMORY_LIMIT' });
  });

  it('forces a garbage collection above the hard limit, and keeps accepting if that brought memory down', async () => {
    let gcCalls = 0;
    const made = makeLimiter(
      { limit_mib: 100, spike_limit_mib: 20 },
      {
        rssMiB: 10,
        gc: () => {
          gcCalls++;
          made.probe.rssMiB = 40;
        },
      },
    );
    limiters.push(made.limiter);
    await made.limiter.start();
    made.probe.rssMiB = 90; // above soft, below hard: no gc
    made.limiter.check();
    expect(gcCalls).toBe(0);
    expect(made.limiter.refusing).toBe(true);
    made.probe.rssMiB = 120;
    made.limiter.check();
    expect(gcCalls).toBe(1);
    expect(made.limiter.refusing).toBe(false);
  });

  it('derives limits from a percentage of the available memory', async () => {
    const { limiter, probe } = makeLimiter({ limit_percentage: 50 }, { rssMiB: 390, availableMemory: () => 1000 * MiB });
    limiters.push(limiter);
    await limiter.start(); // hard 500 MiB, soft 400 MiB
    expect(limiter.refusing).toBe(false);
    probe.rssMiB = 410;
    limiter.check();
    expect(limiter.refusing).toBe(true);
  });
});
