import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../../src/core/telemetry.js';

describe('MetricsRegistry', () => {
  it('renders one line per label set even when several instances observe the same labels, summing them', () => {
    const registry = new MetricsRegistry();
    const gauge = registry.gauge('pulse_exporter_queue_size', 'Batches waiting');
    // One exporter id serving two signals: two instances, same `exporter` label.
    gauge.observe((set) => set({ exporter: 'debug' }, 3));
    gauge.observe((set) => set({ exporter: 'debug' }, 4));
    gauge.observe((set) => set({ exporter: 'otlp' }, 1));
    const lines = registry.render().split('\n').filter((l) => l.startsWith('pulse_exporter_queue_size{'));
    expect(lines).toEqual(['pulse_exporter_queue_size{exporter="debug"} 7', 'pulse_exporter_queue_size{exporter="otlp"} 1']);
  });

  it('keeps counters bound once and counts without callbacks', () => {
    const registry = new MetricsRegistry();
    const c = registry.counter('pulse_things_total', 'Things').with({ kind: 'a' });
    c.inc();
    c.inc(2);
    expect(registry.render()).toContain('pulse_things_total{kind="a"} 3');
  });
});

describe('histograms', () => {
  const lines = (registry: MetricsRegistry, name: string) => registry.render().split('\n').filter((l) => l.startsWith(name));

  it('renders cumulative _bucket lines ending with le="+Inf", then _sum and _count, in the 0.0.4 text format', () => {
    const registry = new MetricsRegistry();
    const h = registry.histogram('pulse_wait_seconds', 'How long things waited', [0.1, 0.5, 1]);
    const fast = h.with({ kind: 'a"b' });
    for (const v of [0.05, 0.1, 0.3, 0.5, 0.7, 2, 100]) fast.observe(v);
    const text = registry.render();
    expect(text).toContain('# HELP pulse_wait_seconds How long things waited\n# TYPE pulse_wait_seconds histogram\n');
    expect(lines(registry, 'pulse_wait_seconds')).toEqual([
      'pulse_wait_seconds_bucket{kind="a\\"b",le="0.1"} 2', // 0.05 and exactly 0.1 (le is inclusive)
      'pulse_wait_seconds_bucket{kind="a\\"b",le="0.5"} 4',
      'pulse_wait_seconds_bucket{kind="a\\"b",le="1"} 5',
      'pulse_wait_seconds_bucket{kind="a\\"b",le="+Inf"} 7',
      'pulse_wait_seconds_sum{kind="a\\"b"} 103.65',
      'pulse_wait_seconds_count{kind="a\\"b"} 7',
    ]);
    expect(h.get({ kind: 'a"b' })).toBe(7);
    expect(h.collect()[0]).toMatchObject({ bounds: [0.1, 0.5, 1], buckets: [2, 4, 5], count: 7 });
  });

  it('renders series without labels, keeps series apart, and shows a bound series at zero before any observation', () => {
    const registry = new MetricsRegistry();
    const h = registry.histogram('pulse_size_bytes', 'Sizes', [10, 100, Infinity]);
    h.with().observe(50);
    h.with().observe(Number.NaN); // ignored: it would poison _sum
    h.with({ kind: 'idle' });
    expect(lines(registry, 'pulse_size_bytes')).toEqual([
      'pulse_size_bytes_bucket{le="10"} 0',
      'pulse_size_bytes_bucket{le="100"} 1',
      'pulse_size_bytes_bucket{le="+Inf"} 1',
      'pulse_size_bytes_sum 50',
      'pulse_size_bytes_count 1',
      'pulse_size_bytes_bucket{kind="idle",le="10"} 0',
      'pulse_size_bytes_bucket{kind="idle",le="100"} 0',
      'pulse_size_bytes_bucket{kind="idle",le="+Inf"} 0',
      'pulse_size_bytes_sum{kind="idle"} 0',
      'pulse_size_bytes_count{kind="idle"} 0',
    ]);
  });

  it('finds the bucket right at, between and beyond many bounds', () => {
    const registry = new MetricsRegistry();
    const bounds = [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 15, 30, 60];
    const h = registry.histogram('pulse_delay_seconds', 'Delays', bounds);
    const b = h.with();
    for (const v of [-1, 0, ...bounds, ...bounds.map((x) => x + 0.001)]) b.observe(v);
    const snap = h.collect()[0]!;
    // At bound i (cumulative): -1 and 0, the bounds 0..i themselves, and the i values just above bounds 0..i-1.
    expect(snap.buckets).toEqual(bounds.map((_, i) => 2 + 1 + 2 * i));
    expect(snap.count).toBe(2 + 2 * bounds.length);
  });

  it('returns the same histogram when a name is registered again, and refuses other buckets or another type', () => {
    const registry = new MetricsRegistry();
    const a = registry.histogram('pulse_wait_seconds', 'Waits', [1, 2]);
    const b = registry.histogram('pulse_wait_seconds', 'Waits', [1, 2]);
    expect(b).toBe(a);
    a.with({ x: '1' }).observe(1.5);
    expect(b.get({ x: '1' })).toBe(1);
    expect(registry.find('pulse_wait_seconds')).toBe(a);
    expect(() => registry.histogram('pulse_wait_seconds', 'Waits', [1, 3])).toThrow(/already registered with buckets \[1, 2\]/);
    expect(() => registry.counter('pulse_wait_seconds', 'Waits')).toThrow('metric pulse_wait_seconds is already registered as a histogram');
    registry.counter('pulse_things_total', 'Things');
    expect(() => registry.histogram('pulse_things_total', 'Things', [1])).toThrow('metric pulse_things_total is already registered as a counter');
  });

  it('refuses buckets that are not strictly increasing or not finite', () => {
    const registry = new MetricsRegistry();
    expect(() => registry.histogram('pulse_a_seconds', 'A', [1, 1])).toThrow(/strictly increasing/);
    expect(() => registry.histogram('pulse_b_seconds', 'B', [2, 1])).toThrow(/strictly increasing/);
    expect(() => registry.histogram('pulse_c_seconds', 'C', [Number.NaN])).toThrow(/finite/);
    expect(registry.find('pulse_a_seconds')).toBeUndefined();
  });
});
