/**
 * Which half of the graph runs where when `service.derived_signals.thread` is `worker`: pipelines of derived
 * signals (attempts, journey_metrics, alerts) go to the worker thread with every component they use, traces
 * pipelines stay on the main thread with the receivers. A connector fed on the main side that feeds derived
 * pipelines (the journeys connector) is *bridged*: it has a part on each side (connectors/journeys/relay.ts).
 */
import type { PipelineConfig, PulseConfig } from '../../config/model.js';
import type { Signal } from '../../core/consumer.js';
import { PulseError } from '../../core/errors.js';

export const DERIVED_SIGNALS: ReadonlySet<Signal> = new Set<Signal>(['attempts', 'journey_metrics', 'alerts']);

export interface SplitPlan {
  /** The traces pipelines; bridged connectors keep only their traces outputs. */
  readonly main: PulseConfig;
  /** The derived pipelines (its `derivedSignalsThread` is `main`: the worker does not split again). */
  readonly worker: PulseConfig;
  readonly bridged: ReadonlySet<string>;
  /** Journey directories components in the worker read: the main thread loads and watches them and relays them. */
  readonly journeyDirectories: readonly string[];
}

/** Connector types that read journey definitions (from `config.directory`). */
const JOURNEY_READERS = new Set(['journeys', 'slo']);

/** `undefined` when there are no derived pipelines (nothing to move). */
export function planSplit(config: PulseConfig): SplitPlan | undefined {
  const main = new Map<string, PipelineConfig>();
  const worker = new Map<string, PipelineConfig>();
  for (const [id, p] of config.service.pipelines) (DERIVED_SIGNALS.has(p.signal) ? worker : main).set(id, p);
  if (worker.size === 0) return undefined;

  const fedOnMain = new Set([...main.values()].flatMap((p) => p.exporters));
  const feedingMain = new Set([...main.values()].flatMap((p) => p.receivers));
  const bridged = new Set<string>();
  for (const p of worker.values()) {
    for (const id of p.receivers) if (config.connectors.has(id) && fedOnMain.has(id)) bridged.add(id);
    for (const id of p.exporters) {
      if (config.connectors.has(id) && feedingMain.has(id)) {
        throw new PulseError(
          'PULSE_ERR_CREATE',
          `connector ${id} turns ${p.signal} (pipeline ${p.id}) into traces, so the derived pipelines cannot run in a worker thread; set service.derived_signals.thread to main`,
        );
      }
    }
  }

  const inWorker = new Set([...worker.values()].flatMap((p) => [...p.receivers, ...p.exporters]));
  const journeyDirectories = new Set<string>();
  for (const id of inWorker) {
    const cc = config.connectors.get(id);
    const directory = (cc?.config as { directory?: unknown } | undefined)?.directory;
    if (cc && JOURNEY_READERS.has(cc.type) && typeof directory === 'string') journeyDirectories.add(directory);
  }

  const service = config.service;
  return {
    main: { ...config, service: { ...service, pipelines: main } },
    worker: { ...config, service: { ...service, pipelines: worker, derivedSignalsThread: 'main' } },
    bridged,
    journeyDirectories: [...journeyDirectories],
  };
}
