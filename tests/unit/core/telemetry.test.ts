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
