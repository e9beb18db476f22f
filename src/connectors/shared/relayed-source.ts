/**
 * Journey definitions for the worker side of a split graph (`service.derived_signals.thread: worker`). The worker
 * reads no files: the main thread's `JourneyStore` of the directory loads, validates and watches them, and
 * service/derived-worker relays every snapshot it puts in force (`snapshotMessage`). Both sides therefore agree on
 * generation numbers, which relayed spans are stamped with (connectors/journeys/relay.ts).
 */
import { resolve } from 'node:path';
import type { CreateSettings, ThreadLink } from '../../core/component.js';
import { PulseError } from '../../core/errors.js';
import { EMPTY_SNAPSHOT, buildSnapshot, compileJourney } from '../../journeys/definition/compile.js';
import type { JourneyDocument } from '../../journeys/definition/schema.js';
import type { JourneySnapshot } from '../../journeys/model.js';
import { JourneyStore } from '../../journeys/store.js';
import type { JourneySource, JourneySourceOptions } from './journey-source.js';

/** A snapshot as it crosses threads: the validated documents, compiled again on arrival. */
export interface SnapshotMessage {
  readonly generation: number;
  readonly loadedAtMs: number;
  readonly journeys: ReadonlyArray<{ readonly spec: unknown; readonly file: string; readonly line: number }>;
}

/** The link id snapshots of `directory` travel under. */
export function snapshotChannel(directory: string): string {
  return `journeys:${resolve(directory)}`;
}

export function snapshotMessage(snapshot: JourneySnapshot): SnapshotMessage {
  return {
    generation: snapshot.generation,
    loadedAtMs: snapshot.loadedAtMs,
    journeys: snapshot.journeys.map((j) => ({ spec: j.spec, file: j.source.file, line: j.source.line })),
  };
}

/** How long the worker waits for the first snapshot (sent before the worker's graph starts; a bound, not a delay). */
const FIRST_SNAPSHOT_TIMEOUT_MS = 10_000;

/** One source per directory and link, shared by the connectors that read it (as `JourneyStore`s are). */
const shared = new WeakMap<ThreadLink, Map<string, RelayedJourneySource>>();

class RelayedJourneySource implements JourneySource {
  references = 0;
  private snapshot: JourneySnapshot = EMPTY_SNAPSHOT;
  private readonly listeners = new Set<(snapshot: JourneySnapshot) => void>();
  private unlisten: (() => void) | undefined;
  private first: Promise<void> | undefined;

  constructor(
    private readonly link: ThreadLink,
    private readonly directory: string,
  ) {}

  start(): Promise<void> {
    this.first ??= new Promise<void>((done, fail) => {
      const timer = setTimeout(
        () => fail(new PulseError('PULSE_ERR_JOURNEYS', `no journey definitions for ${this.directory} came from the main thread within ${FIRST_SNAPSHOT_TIMEOUT_MS} ms`)),
        FIRST_SNAPSHOT_TIMEOUT_MS,
      );
      timer.unref();
      this.unlisten = this.link.listen(snapshotChannel(this.directory), (m) => {
        const message = m as SnapshotMessage;
        const journeys = message.journeys.map((j) => compileJourney(j.spec as JourneyDocument, { file: j.file, line: j.line }));
        const first = this.snapshot === EMPTY_SNAPSHOT;
        this.snapshot = buildSnapshot(journeys, message.generation, message.loadedAtMs);
        if (first) {
          clearTimeout(timer);
          done();
        } else for (const l of this.listeners) l(this.snapshot);
      });
    });
    return this.first;
  }

  current(): JourneySnapshot {
    return this.snapshot;
  }

  onChange(listener: (snapshot: JourneySnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Shared: the last release stops listening. */
  release(): void {
    if (this.references === 0) return;
    if (--this.references > 0) return;
    this.unlisten?.();
    this.unlisten = undefined;
    this.listeners.clear();
    shared.get(this.link)?.delete(this.directory);
  }
}

function acquireRelayed(link: ThreadLink, directory: string): RelayedJourneySource {
  let byDirectory = shared.get(link);
  if (byDirectory === undefined) shared.set(link, (byDirectory = new Map()));
  const key = resolve(directory);
  let source = byDirectory.get(key);
  if (source === undefined) byDirectory.set(key, (source = new RelayedJourneySource(link, key)));
  source.references++;
  return source;
}

/**
 * The definitions of `directory` for a connector created with `settings`: the shared `JourneyStore` of the
 * directory, or on the worker side of a split graph what the main thread relays.
 */
export function openJourneySource(settings: CreateSettings, directory: string, options: JourneySourceOptions): JourneySource {
  const thread = settings.thread;
  return thread?.side === 'worker' ? acquireRelayed(thread, directory) : JourneyStore.acquire(directory, options);
}
