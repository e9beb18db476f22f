/**
 * The `memory_limiter` processor: refuses data while the process uses too much memory, so that an overloaded
 * Pulse pushes back on its senders instead of being killed by the OOM killer and losing everything it holds.
 *
 * Resident memory (RSS) is measured every `check_interval` by an unref'd timer — never per request, so the hot
 * path is one boolean test. Above the soft limit (limit − spike) every `consume()` is refused with a
 * resource-exhausted `RetryableError` (the receiver answers HTTP 429 / gRPC RESOURCE_EXHAUSTED with a retry
 * hint) until a check finds usage below the soft limit again. Above the hard limit it also asks V8 for a full
 * garbage collection, when the process runs with `--expose-gc`. Only changes of state are logged.
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import type { ConsumingComponent, CreateSettings } from '../../core/component.js';
import type { Consumer } from '../../core/consumer.js';
import { RetryableError } from '../../core/errors.js';
import type { TraceBatch } from '../../core/model.js';
import type { BoundCounter, BoundGauge } from '../../core/telemetry.js';
import { limitsInBytes, type MemoryLimiterConfig } from './config.js';

/** Where the limiter reads memory from; tests pass their own. */
export interface MemoryProbe {
  /** Resident memory of the process, in bytes. */
  rss(): number;
  /** Memory available to the process, in bytes (for `limit_percentage`). */
  availableMemory(): number;
  /** A full garbage collection, when the runtime exposes one. */
  gc: (() => void) | undefined;
}

export const systemMemoryProbe: MemoryProbe = {
  rss: () => process.memoryUsage.rss(),
  availableMemory,
  gc: (globalThis as { gc?: () => void }).gc,
};

/** The machine's memory, or the container's cgroup limit when that is lower. */
export function availableMemory(): number {
  let bytes = totalmem();
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const limit = Number(readFileSync(file, 'utf8').trim()); // 'max' (no limit) reads as NaN
      if (Number.isFinite(limit) && limit > 0 && limit < bytes) bytes = limit;
    } catch {
      // No cgroup file here (not Linux, or not in a memory cgroup): the machine's total applies.
    }
  }
  return bytes;
}

const MIB = 1024 * 1024;

export class MemoryLimiter implements ConsumingComponent<'traces'> {
  readonly mutatesData = false;

  private refusal: RetryableError | undefined;
  private refusedWhileLimited = 0;
  private timer: NodeJS.Timeout | undefined;
  private hard = 0;
  private soft = 0;

  private readonly refusedCounter: BoundCounter;
  private readonly stateGauge: BoundGauge;
  private readonly softGauge: BoundGauge;
  private readonly hardGauge: BoundGauge;

  constructor(
    private readonly settings: CreateSettings,
    private readonly config: MemoryLimiterConfig,
    private readonly next: Consumer<TraceBatch>,
    private readonly probe: MemoryProbe = systemMemoryProbe,
  ) {
    const labels = { processor: settings.id };
    const m = settings.metrics;
    this.refusedCounter = m.counter('pulse_memory_limiter_refused_spans_total', 'Spans refused because memory was above the soft limit.').with(labels);
    this.stateGauge = m.gauge('pulse_memory_limiter_state', 'Memory limiter state: 0 accepting, 1 refusing data (memory above the soft limit).').with(labels);
    this.softGauge = m.gauge('pulse_memory_limiter_soft_limit_bytes', 'Resident memory above which data is refused.').with(labels);
    this.hardGauge = m.gauge('pulse_memory_limiter_hard_limit_bytes', 'Resident memory above which a garbage collection is forced (with --expose-gc).').with(labels);
  }

  /** True while data is refused. */
  get refusing(): boolean {
    return this.refusal !== undefined;
  }

  start(): Promise<void> {
    if (this.timer) return Promise.resolve();
    ({ hard: this.hard, soft: this.soft } = limitsInBytes(this.config, this.probe.availableMemory()));
    this.hardGauge.set(this.hard);
    this.softGauge.set(this.soft);
    this.settings.logger.info(`memory limits: refusing data above ${mib(this.soft)} MiB resident, hard limit ${mib(this.hard)} MiB`);
    this.check();
    this.timer = setInterval(() => this.check(), this.config.check_interval);
    this.timer.unref();
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    return Promise.resolve();
  }

  consume(batch: TraceBatch): Promise<void> {
    if (this.refusal === undefined) return this.next.consume(batch);
    this.refusedCounter.inc(batch.spanCount);
    this.refusedWhileLimited += batch.spanCount;
    return Promise.reject(this.refusal);
  }

  /** Measures memory and changes state when a limit was crossed. Runs every `check_interval`; tests call it. */
  check(): void {
    let used = this.probe.rss();
    if (used > this.hard && this.probe.gc) {
      this.probe.gc();
      used = this.probe.rss();
    }
    if (this.refusal === undefined && used > this.soft) {
      // One error object for the whole episode: refusals come at the highest load, when capturing a stack trace
      // per refused request is the last thing the process should spend time on.
      this.refusal = new RetryableError(
        'PULSE_ERR_MEMORY_LIMIT',
        `Pulse is using ${mib(used)} MiB of memory, above its soft limit of ${mib(this.soft)} MiB: data is refused until usage drops; retry later, or raise the memory_limiter limits / add instances`,
        { resourceExhausted: true, retryAfterMs: this.config.check_interval },
      );
      this.refusedWhileLimited = 0;
      this.stateGauge.set(1);
      this.settings.logger.warn(`memory ${mib(used)} MiB is above the soft limit ${mib(this.soft)} MiB: refusing data`);
    } else if (this.refusal !== undefined && used < this.soft) {
      this.refusal = undefined;
      this.stateGauge.set(0);
      this.settings.logger.info(
        `memory ${mib(used)} MiB is below the soft limit ${mib(this.soft)} MiB again: accepting data (${this.refusedWhileLimited} span(s) were refused)`,
      );
    }
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / MIB);
}
