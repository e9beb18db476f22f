/**
 * Pulse's own metrics, exposed in the Prometheus text format on the telemetry port (`/metrics`).
 *
 * Hot paths bind label values once (`counter.with({ transport: 'http' })`) and then only add to a number, so
 * counting costs no allocation and no string work per span. Gauges that describe state (queue size, RSS) are
 * read when scraped, through a callback.
 */

type Labels = Readonly<Record<string, string>>;

export interface BoundCounter {
  inc(n?: number): void;
}

export interface BoundGauge {
  set(v: number): void;
  inc(n?: number): void;
  dec(n?: number): void;
}

interface Series {
  labels: Labels;
  value: number;
}

abstract class Metric {
  protected readonly series = new Map<string, Series>();
  protected readonly callbacks: Array<(set: (labels: Labels, value: number) => void) => void> = [];

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
  ) {}

  protected bind(labels: Labels): Series {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, value: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  /** The current value of one series (tests, the debug exporter). */
  get(labels: Labels = {}): number {
    let total: number | undefined;
    const want = labelKey(labels);
    for (const s of this.collect()) if (labelKey(s.labels) === want) total = s.value;
    return total ?? 0;
  }

  /** Registers a callback run at every scrape, for values that are state rather than events. */
  observe(cb: (set: (labels: Labels, value: number) => void) => void): () => void {
    this.callbacks.push(cb);
    return () => {
      const i = this.callbacks.indexOf(cb);
      if (i >= 0) this.callbacks.splice(i, 1);
    };
  }

  /**
   * Every series once. Several instances may report the same label set (one exporter id serving two signals
   * registers two queue-size callbacks): their values are summed, because a label set may appear only once in
   * the exposition format and the total is what the labels describe.
   */
  collect(): Series[] {
    if (this.callbacks.length === 0) return [...this.series.values()];
    const merged = new Map<string, Series>();
    const add = (labels: Labels, value: number): void => {
      const key = labelKey(labels);
      const existing = merged.get(key);
      if (existing) existing.value += value;
      else merged.set(key, { labels, value });
    };
    for (const s of this.series.values()) add(s.labels, s.value);
    for (const cb of this.callbacks) cb(add);
    return [...merged.values()];
  }
}

export class Counter extends Metric {
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  with(labels: Labels = {}): BoundCounter {
    const s = this.bind(labels);
    return {
      inc(n = 1) {
        s.value += n;
      },
    };
  }
  inc(labels: Labels = {}, n = 1): void {
    this.bind(labels).value += n;
  }
}

export class Gauge extends Metric {
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  with(labels: Labels = {}): BoundGauge {
    const s = this.bind(labels);
    return {
      set(v) {
        s.value = v;
      },
      inc(n = 1) {
        s.value += n;
      },
      dec(n = 1) {
        s.value -= n;
      },
    };
  }
  set(labels: Labels, v: number): void {
    this.bind(labels).value = v;
  }
}

/**
 * One registry per process. Registering the same name twice returns the same metric (components of one type
 * share a metric and tell their series apart by labels), but a name may not change its type.
 */
export class MetricsRegistry {
  private readonly metrics = new Map<string, Counter | Gauge>();

  counter(name: string, help: string): Counter {
    return this.getOrCreate(name, () => new Counter(name, help), Counter);
  }

  gauge(name: string, help: string): Gauge {
    return this.getOrCreate(name, () => new Gauge(name, help), Gauge);
  }

  find(name: string): Counter | Gauge | undefined {
    return this.metrics.get(name);
  }

  private getOrCreate<M extends Counter | Gauge>(name: string, make: () => M, cls: abstract new (...a: never[]) => M): M {
    const existing = this.metrics.get(name);
    if (existing) {
      if (!(existing instanceof cls)) throw new Error(`metric ${name} is already registered as a ${existing.type}`);
      return existing;
    }
    const m = make();
    this.metrics.set(name, m);
    return m;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const lines: string[] = [];
    for (const m of this.metrics.values()) {
      lines.push(`# HELP ${m.name} ${escapeHelp(m.help)}`, `# TYPE ${m.name} ${m.type}`);
      for (const s of m.collect()) lines.push(`${m.name}${renderLabels(s.labels)} ${formatValue(s.value)}`);
    }
    return lines.join('\n') + '\n';
  }
}

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}=${labels[k]}`).join(',');
}

function renderLabels(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return '{' + keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(',') + '}';
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
