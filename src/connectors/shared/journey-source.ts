/**
 * The journey definitions a connector follows (the `journeys` connector matches with them, the `slo` connector
 * takes its alert rules from them), and how a connector acquires them at start. Both connectors of one directory
 * share one `JourneyStore`, which satisfies `JourneySource`.
 */
import type { CreateSettings } from '../../core/component.js';
import type { Logger } from '../../core/logger.js';
import type { MetricsRegistry } from '../../core/telemetry.js';
import type { JourneySnapshot } from '../../journeys/model.js';

/** What a connector needs from the definition store (`JourneyStore` satisfies it). */
export interface JourneySource {
  /** Loads the definitions; rejects (PULSE_ERR_JOURNEYS) when they are invalid. */
  start(): Promise<void>;
  current(): JourneySnapshot;
  /** Calls `listener` with the new snapshot after every successful reload; returns an unsubscribe function. */
  onChange(listener: (snapshot: JourneySnapshot) => void): () => void;
  release(): void | Promise<void>;
}

export interface JourneySourceOptions {
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  readonly pollIntervalMs: number;
}

/** Opens the source of a directory (in production: acquires the shared store). */
export type OpenJourneySource = (directory: string, options: JourneySourceOptions) => JourneySource;

/** Told about the definitions in force: once when they are `loaded` at start, then after every reload. */
export type ApplySnapshot = (snapshot: JourneySnapshot, what: 'loaded' | 'reloaded') => void;

/**
 * A connector's hold on the definitions of its directory: acquired and loaded at start, followed while running,
 * released at shutdown. The connector keeps the hold before it applies the first snapshot, so a failure there
 * still ends in `release()` at shutdown.
 */
export class FollowedJourneys {
  private unsubscribe: (() => void) | undefined;
  private released = false;

  private constructor(private readonly source: JourneySource) {}

  /**
   * Opens the source of `directory` and loads it; `follow()` then applies the definitions. When loading fails the
   * source is released again and the error rethrown, so a connector that fails to start holds no reference to
   * the store.
   */
  static async start(open: OpenJourneySource, directory: string, settings: CreateSettings, pollIntervalMs: number): Promise<FollowedJourneys> {
    const source = open(directory, { logger: settings.logger, metrics: settings.metrics, pollIntervalMs });
    try {
      await source.start();
    } catch (err) {
      await source.release();
      throw err;
    }
    return new FollowedJourneys(source);
  }

  /** Applies the loaded definitions now and every reload from now on, until `unfollow()`. */
  follow(apply: ApplySnapshot): void {
    apply(this.source.current(), 'loaded');
    this.unsubscribe = this.source.onChange((snapshot) => apply(snapshot, 'reloaded'));
  }

  current(): JourneySnapshot {
    return this.source.current();
  }

  /** Stops applying reloads (first step of shutdown). Idempotent. */
  unfollow(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** Stops following and releases the source (last step of shutdown). Idempotent. */
  async release(): Promise<void> {
    this.unfollow();
    if (this.released) return;
    this.released = true;
    await this.source.release();
  }
}
