/**
 * Pulse's own metrics, exposed in the Prometheus text format on the telemetry port (`/metrics`).
 *
 * Hot paths bind label values once (`counter.with({ transport: 'http' })`) and then only add to a number, so
 * counting costs no allocation and no string work per span. Gauges that describe state (queue size, RSS) are
 * read when scraped, through a callback. Histograms bind the same way; an observation finds its bucket in a
 * typed array of upper bounds and adds to three numbers.
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

export interface BoundHistogram {
  /** Counts one observation of `v` (e.g. seconds). NaN is ignored: it would turn `_sum` into NaN for good. */
  observe(v: number): void;
}

export type MetricType = 'counter' | 'gauge' | 'histogram';

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
    const add = (labels: Labels, value: number): void => addToSeries(merged, labels, value);
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

/** One histogram series as read at scrape time: `buckets[i]` observations were `<= bounds[i]` (cumulative). */
export interface HistogramSnapshot {
  readonly labels: Labels;
  readonly bounds: readonly number[];
  /** Cumulative counts per finite bound, as rendered in `_bucket{le=…}`; `+Inf` is `count`. */
  readonly buckets: readonly number[];
  readonly sum: number;
  readonly count: number;
}

class HistogramSeries {
  /** Observations per bucket, NOT cumulative (cumulated at scrape); the last slot is the `+Inf` bucket. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    size: number,
  ) {
    this.counts = new Float64Array(size);
  }
}

/**
 * A Prometheus histogram with fixed upper bounds (`le`), chosen at registration. Bound series (`with`) observe
 * without allocating and without string work: the bucket is found by a binary search over a Float64Array.
 */
export class Histogram {
  readonly type = 'histogram' as const;
  /** The finite upper bounds, strictly increasing; the `+Inf` bucket is implicit. */
  readonly bounds: Float64Array;
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
  ) {
    this.bounds = histogramBounds(name, buckets);
  }

  with(labels: Labels = {}): BoundHistogram {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = new HistogramSeries(labels, this.bounds.length + 1);
      this.series.set(key, s);
    }
    const series = s;
    const bounds = this.bounds;
    const n = bounds.length;
    return {
      observe(v) {
        if (Number.isNaN(v)) return;
        // First bound >= v (Prometheus buckets are `le`, inclusive); n when v exceeds them all (+Inf).
        let lo = 0;
        let hi = n;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (v <= bounds[mid]!) hi = mid;
          else lo = mid + 1;
        }
        series.counts[lo]!++;
        series.sum += v;
        series.count++;
      },
    };
  }

  /** Observations counted in one series (0 when it does not exist) — like `Counter.get`, for tests and tools. */
  get(labels: Labels = {}): number {
    return this.series.get(labelKey(labels))?.count ?? 0;
  }

  /** Every series with cumulative bucket counts, as the exposition format shows them. */
  collect(): HistogramSnapshot[] {
    const bounds = [...this.bounds];
    const out: HistogramSnapshot[] = [];
    for (const s of this.series.values()) {
      const buckets: number[] = [];
      let cumulative = 0;
      for (let i = 0; i < bounds.length; i++) buckets.push((cumulative += s.counts[i]!));
      out.push({ labels: s.labels, bounds, buckets, sum: s.sum, count: s.count });
    }
    return out;
  }
}

function histogramBounds(name: string, buckets: readonly number[]): Float64Array {
  // A trailing +Inf is allowed (it is always there anyway) and dropped.
  const finite = buckets.length > 0 && buckets[buckets.length - 1] === Infinity ? buckets.slice(0, -1) : buckets;
  for (let i = 0; i < finite.length; i++) {
    const b = finite[i]!;
    if (!Number.isFinite(b) || (i > 0 && b <= finite[i - 1]!)) {
      throw new Error(`histogram ${name}: buckets must be finite and strictly increasing, got [${buckets.join(', ')}]`);
    }
  }
  return Float64Array.from(finite);
}

/**
 * One registry per process. Registering the same name twice returns the same metric (components of one type
 * share a metric and tell their series apart by labels), but a name may not change its type.
 */
export class MetricsRegistry {
  private readonly metrics = new Map<string, Counter | Gauge | Histogram>();
  private readonly external: Array<() => Promise<readonly MetricFamily[]>> = [];

  counter(name: string, help: string): Counter {
    return this.getOrCreate(name, () => new Counter(name, help), Counter);
  }

  gauge(name: string, help: string): Gauge {
    return this.getOrCreate(name, () => new Gauge(name, help), Gauge);
  }

  /**
   * A histogram with the given finite upper bounds (seconds, bytes, …; strictly increasing; `+Inf` is implicit).
   * Registering the name again with other bounds throws: the series of one name must share their buckets.
   */
  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    const h = this.getOrCreate(name, () => new Histogram(name, help, buckets), Histogram);
    const bounds = histogramBounds(name, buckets);
    if (bounds.length !== h.bounds.length || bounds.some((b, i) => b !== h.bounds[i])) {
      throw new Error(`histogram ${name} is already registered with buckets [${h.bounds.join(', ')}], not [${bounds.join(', ')}]`);
    }
    return h;
  }

  find(name: string): Counter | Gauge | Histogram | undefined {
    return this.metrics.get(name);
  }

  private getOrCreate<M extends Counter | Gauge | Histogram>(name: string, make: () => M, cls: abstract new (...a: never[]) => M): M {
    const existing = this.metrics.get(name);
    if (existing) {
      if (!(existing instanceof cls)) throw new Error(`metric ${name} is already registered as a ${existing.type}`);
      return existing;
    }
    const m = make();
    this.metrics.set(name, m);
    return m;
  }

  /**
   * Adds metrics kept elsewhere (a worker thread's registry) to `renderAll()`: `collect` returns its families,
   * which are merged with this registry's by name. Returns a function that removes the source again.
   */
  addExternal(collect: () => Promise<readonly MetricFamily[]>): () => void {
    this.external.push(collect);
    return () => {
      const i = this.external.indexOf(collect);
      if (i >= 0) this.external.splice(i, 1);
    };
  }

  /** Every metric with its series as read now: what a worker thread sends to the registry that renders. */
  families(): MetricFamily[] {
    const out: MetricFamily[] = [];
    for (const m of this.metrics.values()) {
      if (m instanceof Histogram) out.push({ name: m.name, help: m.help, type: 'histogram', series: [], histograms: m.collect() });
      else out.push({ name: m.name, help: m.help, type: m.type, series: m.collect(), histograms: [] });
    }
    return out;
  }

  /** Prometheus text exposition format 0.0.4, of this registry only. */
  render(): string {
    return renderFamilies(this.families());
  }

  /**
   * This registry and every external source, merged by metric name (a source that fails or takes longer than
   * `timeoutMs` is left out, and the scrape still answers). A label set reported by both is summed.
   */
  async renderAll(timeoutMs = 2000): Promise<string> {
    const families = this.families();
    if (this.external.length === 0) return renderFamilies(families);
    const fetched = await Promise.all(this.external.map((collect) => within(Promise.resolve().then(collect), timeoutMs).catch(() => undefined)));
    return renderFamilies(mergeFamilies(families, fetched.flatMap((f) => f ?? [])));
  }
}

/** One metric and its series, as plain data (structured-cloneable). */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** Counter and gauge series. */
  readonly series: ReadonlyArray<{ readonly labels: Labels; readonly value: number }>;
  readonly histograms: readonly HistogramSnapshot[];
}

function renderFamilies(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    if (f.type === 'histogram') renderHistogram(f.name, f.histograms, lines);
    else for (const s of f.series) lines.push(`${f.name}${renderLabels(s.labels)} ${formatValue(s.value)}`);
  }
  return lines.join('\n') + '\n';
}

/** `local` with `more` folded in by name; a family whose type differs from the local one is left out. */
function mergeFamilies(local: readonly MetricFamily[], more: readonly MetricFamily[]): MetricFamily[] {
  const byName = new Map<string, MetricFamily>(local.map((f) => [f.name, f]));
  for (const f of more) {
    const mine = byName.get(f.name);
    if (mine === undefined) byName.set(f.name, f);
    else if (mine.type === f.type) byName.set(f.name, merged(mine, f));
  }
  return [...byName.values()];
}

function merged(a: MetricFamily, b: MetricFamily): MetricFamily {
  const series = new Map<string, Series>();
  for (const s of [...a.series, ...b.series]) addToSeries(series, s.labels, s.value);
  const histograms = new Map<string, HistogramSnapshot>();
  for (const h of [...a.histograms, ...b.histograms]) {
    const key = labelKey(h.labels);
    const seen = histograms.get(key);
    if (seen === undefined) {
      histograms.set(key, h);
      continue;
    }
    // Buckets with other bounds cannot be added up: the first series of that label set stays.
    if (seen.bounds.length !== h.bounds.length || seen.bounds.some((x, i) => x !== h.bounds[i])) continue;
    histograms.set(key, { labels: h.labels, bounds: h.bounds, buckets: seen.buckets.map((c, i) => c + h.buckets[i]!), sum: seen.sum + h.sum, count: seen.count + h.count });
  }
  return { name: a.name, help: a.help, type: a.type, series: [...series.values()], histograms: [...histograms.values()] };
}

/** Adds `value` to the series of `labels` in `into`: a label set may appear only once in the exposition format. */
function addToSeries(into: Map<string, Series>, labels: Labels, value: number): void {
  const key = labelKey(labels);
  const existing = into.get(key);
  if (existing) existing.value += value;
  else into.set(key, { labels, value });
}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** `_bucket` lines (cumulative, ending with `le="+Inf"`), then `_sum` and `_count`, per series. */
function renderHistogram(name: string, histograms: readonly HistogramSnapshot[], lines: string[]): void {
  for (const s of histograms) {
    const labels = renderLabelPairs(s.labels);
    const prefix = labels === '' ? '{' : `{${labels},`;
    for (let i = 0; i < s.bounds.length; i++) lines.push(`${name}_bucket${prefix}le="${formatValue(s.bounds[i]!)}"} ${formatValue(s.buckets[i]!)}`);
    lines.push(`${name}_bucket${prefix}le="+Inf"} ${formatValue(s.count)}`);
    const plain = labels === '' ? '' : `{${labels}}`;
    lines.push(`${name}_sum${plain} ${formatValue(s.sum)}`, `${name}_count${plain} ${formatValue(s.count)}`);
  }
}

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}=${labels[k]}`).join(',');
}

function renderLabels(labels: Labels): string {
  const pairs = renderLabelPairs(labels);
  return pairs === '' ? '' : `{${pairs}}`;
}

function renderLabelPairs(labels: Labels): string {
  return Object.keys(labels)
    .map((k) => `${k}="${escapeLabel(labels[k]!)}"`)
    .join(',');
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
