/**
 * The validated, frozen configuration the service is built from. `loadConfig()` (src/config/load.ts) produces it
 * from a YAML file: every component's config has been parsed by its factory's zod schema (defaults applied,
 * durations in ms, sizes in bytes), every pipeline reference resolved. Nothing downstream re-validates it.
 */
import type { Signal } from '../core/consumer.js';
import type { ComponentKind } from '../core/component.js';
import type { HostPort } from './types.js';
import type { Level } from 'pino';

export interface ComponentConfig {
  /** `type` or `type/name` exactly as written in the file, e.g. `otlphttp/next-hop`. */
  readonly id: string;
  readonly kind: ComponentKind;
  readonly type: string;
  readonly name: string;
  /** The output of the factory's `configSchema.parse()`. */
  readonly config: unknown;
}

export interface PipelineConfig {
  /** `traces` or `traces/name`. */
  readonly id: string;
  readonly signal: Signal;
  /**
   * Component ids, in the order written (processors run in this order). `receivers` may name connectors (the
   * pipeline takes what the connector produces) and `exporters` may name connectors (the pipeline feeds it);
   * `PulseConfig.connectors.has(id)` tells which.
   */
  readonly receivers: readonly string[];
  readonly processors: readonly string[];
  readonly exporters: readonly string[];
}

export interface TelemetryConfig {
  readonly logs: { readonly level: Level | 'silent' };
  /** Prometheus `/metrics`; `undefined` when disabled. */
  readonly metrics: { readonly address: HostPort } | undefined;
  /** `/healthz` (live) and `/readyz` (every pipeline started); `undefined` when disabled. */
  readonly health: { readonly address: HostPort } | undefined;
}

export interface ServiceConfig {
  readonly pipelines: ReadonlyMap<string, PipelineConfig>;
  readonly telemetry: TelemetryConfig;
  /** How long shutdown may take (stop receivers, drain processors, flush exporters), in ms. Default 20 s. */
  readonly shutdownTimeoutMs: number;
  /** Where components keep state on disk (persistent queues). Default `.pulse/data`, relative to the cwd. */
  readonly dataDir: string;
  /**
   * `worker`: the pipelines of derived signals (attempts, journey_metrics, alerts) run in a worker thread, fed by
   * the journeys connectors (service/derived-worker). Default `main`.
   */
  readonly derivedSignalsThread: 'main' | 'worker';
  /** With `derivedSignalsThread: worker`: the worker thread's old-generation limit, in bytes. Default 1 GiB. */
  readonly derivedSignalsMaxHeapBytes: number;
}

export interface PulseConfig {
  /** The file it was loaded from (absolute path). */
  readonly path: string;
  readonly receivers: ReadonlyMap<string, ComponentConfig>;
  readonly processors: ReadonlyMap<string, ComponentConfig>;
  readonly exporters: ReadonlyMap<string, ComponentConfig>;
  /**
   * Connectors join pipelines: each one is listed under `exporters` of the pipelines that feed it and under
   * `receivers` of the pipelines it feeds (both sides are guaranteed by the loader, as is the absence of cycles
   * and of ids shared with a receiver or exporter).
   */
  readonly connectors: ReadonlyMap<string, ComponentConfig>;
  readonly service: ServiceConfig;
}

/**
 * One problem found in a config file, with the position of the YAML node it concerns (1-based). `line` and `col`
 * are 0 when the problem concerns the whole file (it cannot be read). `file` is the path as the user gave it.
 */
export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
  /** Absent means an error. Warnings (a component no pipeline uses) do not stop Pulse from starting. */
  readonly severity?: 'error' | 'warning';
}

/**
 * Renders an issue the way compilers do, so editors and terminals can jump to it: `file:line:col: message`
 * (`file:line:col: warning: message` for a warning, `file: message` for a whole-file problem).
 */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.col}` : issue.file;
  return `${where}: ${issue.severity === 'warning' ? 'warning: ' : ''}${issue.message}`;
}

/**
 * Issues in a stable reading order: those of `firstFile` (the config file) first, then those of other files (the
 * files a component's `validateExternal` checked, such as journey definitions) by file name; by line and column
 * within a file. Issues at the same position keep their order.
 */
export function sortIssues(issues: readonly ConfigIssue[], firstFile: string): ConfigIssue[] {
  const rank = (file: string) => (file === firstFile ? 0 : 1);
  return [...issues].sort(
    (a, b) => rank(a.file) - rank(b.file) || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.col - b.col,
  );
}
