/**
 * Metrics kept in another thread's registry: `families()` (what a worker sends), `addExternal()` and `renderAll()`
 * (what `/metrics` serves: this registry merged with every external source by metric name).
 */
import { describe, expect, it } from 'vitest';
import { MetricsRegistry, type MetricFamily } from '../../../src/core/telemetry.js';

/** The sample lines of one metric (no HELP/TYPE), in rendered order. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `) || l.startsWith(`${name}_`));
}

/** What a worker thread's registry sends: its families, structured-cloned as a message port would. */
function source(registry: MetricsRegistry): () => Promise<readonly MetricFamily[]> {
  return () => Promise.resolve(structuredClone(registry.families()));
}

describe('MetricsRegistry.families', () => {
  it('lists every metric with its type, help and series as read now, histograms with cumulative buckets', () => {
    const registry = new MetricsRegistry();
    registry.counter('pulse_spans_total', 'Spans').inc({ receiver: 'otlp' }, 5);
    registry.gauge('pulse_queue_size', 'Queued').observe((set) => set({ exporter: 'debug' }, 7));
    const h = registry.histogram('pulse_wait_seconds', 'Wait', [0.1, 1]).with({ kind: 'a' });
    h.observe(0.05);
    h.observe(0.5);
    h.observe(3);

    const families = structuredClone(registry.families());
    expect(families).toEqual([
      { name: 'pulse_spans_total', help: 'Spans', type: 'counter', series: [{ labels: { receiver: 'otlp' }, value: 5 }], histograms: [] },
      { name: 'pulse_queue_size', help: 'Queued', type: 'gauge', series: [{ labels: { exporter: 'debug' }, value: 7 }], histograms: [] },
      {
        name: 'pulse_wait_seconds',
        help: 'Wait',
        type: 'histogram',
        series: [],
        histograms: [{ labels: { kind: 'a' }, bounds: [0.1, 1], buckets: [1, 2], sum: 3.55, count: 3 }],
      },
    ]);
  });

  it('reads callback gauges again at each call', () => {
    const registry = new MetricsRegistry();
    let depth = 1;
    registry.gauge('pulse_depth', 'Depth').observe((set) => set({}, depth));
    expect(registry.families()[0]!.series).toEqual([{ labels: {}, value: 1 }]);
    depth = 9;
    expect(registry.families()[0]!.series).toEqual([{ labels: {}, value: 9 }]);
  });
});

describe('MetricsRegistry.renderAll', () => {
  it('renders exactly what render() does when there is no external source', async () => {
    const registry = new MetricsRegistry();
    registry.counter('pulse_a_total', 'A').inc({ x: '1' }, 2);
    registry.histogram('pulse_b_seconds', 'B', [1]).with().observe(0.5);
    expect(await registry.renderAll()).toBe(registry.render());
  });

  it('sums counters and gauges of the same label set, keeps label sets only one side has, and adds families only the source has', async () => {
    const main = new MetricsRegistry();
    main.counter('pulse_spans_total', 'Spans').inc({ connector: 'journeys', side: 'x' }, 10);
    main.counter('pulse_spans_total', 'Spans').inc({ connector: 'other' }, 1);
    main.gauge('pulse_pending', 'Pending').set({ journey: 'checkout' }, 3);

    const worker = new MetricsRegistry();
    // Same label set, keys in another order: still the same series.
    worker.counter('pulse_spans_total', 'Spans').inc({ side: 'x', connector: 'journeys' }, 32);
    worker.counter('pulse_spans_total', 'Spans').inc({ connector: 'slo' }, 4);
    worker.gauge('pulse_pending', 'Pending').set({ journey: 'checkout' }, 4);
    worker.counter('pulse_attempts_total', 'Attempts decided').inc({ outcome: 'success' }, 6);
    main.addExternal(source(worker));

    const text = await main.renderAll();
    expect(samples(text, 'pulse_spans_total')).toEqual([
      'pulse_spans_total{connector="journeys",side="x"} 42',
      'pulse_spans_total{connector="other"} 1',
      'pulse_spans_total{connector="slo"} 4',
    ]);
    expect(samples(text, 'pulse_pending')).toEqual(['pulse_pending{journey="checkout"} 7']);
    expect(text).toContain('# HELP pulse_attempts_total Attempts decided\n# TYPE pulse_attempts_total counter\npulse_attempts_total{outcome="success"} 6\n');
    // Each family once: one HELP and one TYPE line per name.
    expect(text.match(/^# TYPE pulse_spans_total /gm)).toHaveLength(1);
  });

  it('leaves the local registry untouched: merging at one scrape does not add to the next', async () => {
    const main = new MetricsRegistry();
    main.counter('pulse_spans_total', 'Spans').inc({}, 10);
    const worker = new MetricsRegistry();
    worker.counter('pulse_spans_total', 'Spans').inc({}, 5);
    main.addExternal(source(worker));
    expect(samples(await main.renderAll(), 'pulse_spans_total')).toEqual(['pulse_spans_total 15']);
    expect(samples(await main.renderAll(), 'pulse_spans_total')).toEqual(['pulse_spans_total 15']);
    expect(samples(main.render(), 'pulse_spans_total')).toEqual(['pulse_spans_total 10']);
  });

  it('sums histogram series with equal bounds: buckets, sum and count', async () => {
    const main = new MetricsRegistry();
    const local = main.histogram('pulse_delay_seconds', 'Delay', [1, 10]).with({ journey: 'checkout' });
    local.observe(0.5);
    local.observe(5);
    const worker = new MetricsRegistry();
    const remote = worker.histogram('pulse_delay_seconds', 'Delay', [1, 10]).with({ journey: 'checkout' });
    remote.observe(0.25);
    remote.observe(20);
    remote.observe(7);
    worker.histogram('pulse_delay_seconds', 'Delay', [1, 10]).with({ journey: 'signup' }).observe(2);
    main.addExternal(source(worker));

    expect(samples(await main.renderAll(), 'pulse_delay_seconds')).toEqual([
      'pulse_delay_seconds_bucket{journey="checkout",le="1"} 2',
      'pulse_delay_seconds_bucket{journey="checkout",le="10"} 4',
      'pulse_delay_seconds_bucket{journey="checkout",le="+Inf"} 5',
      'pulse_delay_seconds_sum{journey="checkout"} 32.75',
      'pulse_delay_seconds_count{journey="checkout"} 5',
      'pulse_delay_seconds_bucket{journey="signup",le="1"} 0',
      'pulse_delay_seconds_bucket{journey="signup",le="10"} 1',
      'pulse_delay_seconds_bucket{journey="signup",le="+Inf"} 1',
      'pulse_delay_seconds_sum{journey="signup"} 2',
      'pulse_delay_seconds_count{journey="signup"} 1',
    ]);
  });

  it('keeps the local histogram series when the source has the same series with other bounds (no mixed buckets)', async () => {
    const main = new MetricsRegistry();
    main.histogram('pulse_delay_seconds', 'Delay', [1, 10]).with().observe(0.5);
    const worker = new MetricsRegistry();
    worker.histogram('pulse_delay_seconds', 'Delay', [2, 20, 200]).with().observe(100);
    main.addExternal(source(worker));

    expect(samples(await main.renderAll(), 'pulse_delay_seconds')).toEqual([
      'pulse_delay_seconds_bucket{le="1"} 1',
      'pulse_delay_seconds_bucket{le="10"} 1',
      'pulse_delay_seconds_bucket{le="+Inf"} 1',
      'pulse_delay_seconds_sum 0.5',
      'pulse_delay_seconds_count 1',
    ]);
  });

  it('leaves out a family whose type differs from the local one, and still merges the others', async () => {
    const main = new MetricsRegistry();
    main.counter('pulse_things', 'Things').inc({}, 1);
    main.counter('pulse_ok_total', 'Ok').inc({}, 1);
    const worker = new MetricsRegistry();
    worker.gauge('pulse_things', 'Things as a gauge').set({}, 100);
    worker.counter('pulse_ok_total', 'Ok').inc({}, 2);
    main.addExternal(source(worker));

    const text = await main.renderAll();
    expect(text).toContain('# TYPE pulse_things counter\npulse_things 1\n');
    expect(text).not.toContain('gauge');
    expect(text).not.toContain('pulse_things 100');
    expect(samples(text, 'pulse_ok_total')).toEqual(['pulse_ok_total 3']);
  });

  it('leaves out a source that rejects; the scrape still answers with the rest', async () => {
    const main = new MetricsRegistry();
    main.counter('pulse_spans_total', 'Spans').inc({}, 1);
    const worker = new MetricsRegistry();
    worker.counter('pulse_spans_total', 'Spans').inc({}, 2);
    main.addExternal(() => Promise.reject(new Error('worker gone')));
    main.addExternal(source(worker));
    expect(samples(await main.renderAll(), 'pulse_spans_total')).toEqual(['pulse_spans_total 3']);
  });

  it('leaves out a source that throws synchronously; the scrape still answers with the rest', async () => {
    const main = new MetricsRegistry();
    main.counter('pulse_spans_total', 'Spans').inc({}, 1);
    main.addExternal(() => {
      throw new Error('port closed');
    });
    expect(samples(await main.renderAll(), 'pulse_spans_total')).toEqual(['pulse_spans_total 1']);
  });

  it('leaves out a source that does not answer within the timeout', async () => {
    const main = new MetricsRegistry();
    main.counter('pulse_spans_total', 'Spans').inc({}, 1);
    main.addExternal(() => new Promise<readonly MetricFamily[]>(() => undefined));
    const worker = new MetricsRegistry();
    worker.counter('pulse_spans_total', 'Spans').inc({}, 2);
    main.addExternal(source(worker));
    expect(samples(await main.renderAll(20), 'pulse_spans_total')).toEqual(['pulse_spans_total 3']);
  });

  it('leaves out an answer that comes after the timeout', async () => {
    const main = new MetricsRegistry();
    main.counter('pulse_spans_total', 'Spans').inc({}, 1);
    const slow: MetricFamily[] = [{ name: 'pulse_spans_total', help: 'Spans', type: 'counter', series: [{ labels: {}, value: 50 }], histograms: [] }];
    main.addExternal(() => new Promise((resolve) => setTimeout(() => resolve(slow), 200)));
    expect(samples(await main.renderAll(20), 'pulse_spans_total')).toEqual(['pulse_spans_total 1']);
  });

  it('stops asking a source once the function addExternal returned is called', async () => {
    const main = new MetricsRegistry();
    main.counter('pulse_spans_total', 'Spans').inc({}, 1);
    const worker = new MetricsRegistry();
    worker.counter('pulse_spans_total', 'Spans').inc({}, 2);
    let asked = 0;
    const remove = main.addExternal(() => {
      asked++;
      return source(worker)();
    });
    expect(samples(await main.renderAll(), 'pulse_spans_total')).toEqual(['pulse_spans_total 3']);
    remove();
    remove(); // idempotent
    expect(samples(await main.renderAll(), 'pulse_spans_total')).toEqual(['pulse_spans_total 1']);
    expect(asked).toBe(1);
  });

  it('merges several sources into one series per label set', async () => {
    const main = new MetricsRegistry();
    main.gauge('pulse_pending', 'Pending').set({}, 1);
    for (const n of [10, 100]) {
      const worker = new MetricsRegistry();
      worker.gauge('pulse_pending', 'Pending').set({}, n);
      worker.counter('pulse_only_there_total', 'Only in workers').inc({}, n);
      main.addExternal(source(worker));
    }
    const text = await main.renderAll();
    expect(samples(text, 'pulse_pending')).toEqual(['pulse_pending 111']);
    expect(samples(text, 'pulse_only_there_total')).toEqual(['pulse_only_there_total 110']);
  });
});
