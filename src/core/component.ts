/**
 * The component contract, after the OpenTelemetry Collector's. Everything that runs in a pipeline is a component:
 *
 * - **receivers** turn something outside (a socket, a file) into data and hand it to `next`;
 * - **processors** take data, change or filter it, and hand it to `next`;
 * - **exporters** take data and send it somewhere outside;
 * - **connectors** join pipelines: a connector is an exporter at the end of one pipeline and a receiver at the
 *   start of others, and may turn one signal into others (the journeys connector turns traces into tagged traces,
 *   attempts and journey metrics), as the Collector's spanmetrics connector does.
 *
 * A component never looks its neighbours up: the service builds the graph from config and hands each component
 * its `next` consumer at creation. The service starts components downstream first (exporters, then processors,
 * then receivers) and shuts them down in the reverse order, so no component ever hands data to one that is not
 * running, and receivers stop accepting before exporters drain.
 *
 * Each component type lives in its own folder with `config.ts` (a zod schema with defaults), `factory.ts` (the
 * `Factory` below), the implementation, a README with an example config, and tests under `tests/`.
 */
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Consumer, SignalData, Signal } from './consumer.js';
import type { HandoverSlot } from './handover.js';
import type { OverloadRefusals } from './overload.js';
import type { MetricsRegistry } from './telemetry.js';
import type { ConfigIssue } from '../config/model.js';

export type ComponentKind = 'receiver' | 'processor' | 'exporter' | 'connector';

export interface Component {
  /**
   * Starts the component: bind sockets, open connections, start timers. Resolves when the component is ready to
   * accept data (a receiver: listening). Rejects with a clear error when it cannot start (port in use, bad TLS
   * files); the service then stops what it started and exits non-zero.
   */
  start(host: Host): Promise<void>;
  /**
   * Stops the component. Idempotent. A receiver stops accepting and waits for requests in flight; an exporter
   * flushes what it holds (to its destination, or to its disk queue) within the service's shutdown deadline.
   *
   * `deadline` (epoch ms, `Date.now()`'s clock) is when the service stops waiting for this component: the time
   * left of `service.shutdown_timeout`. The service always passes it; other callers (tests, an exporter stopping one
   * of its own) may not, and the component then uses its own default. A component that can run long (an exporter
   * draining its queue) stops early enough before it to account for what it could not finish — count and log it
   * as dropped, or keep it on disk — because the process may exit right after the deadline. A component that
   * finishes quickly anyway may ignore it.
   */
  shutdown(deadline?: number): Promise<void>;
}

/** What the service offers a running component. */
export interface Host {
  /** For an error a component hits after start and cannot recover from (e.g. its listening socket died). */
  reportFatalError(err: Error): void;
}

/** What a factory receives to create one instance. */
export interface CreateSettings {
  /** `type` or `type/name`, as written in the config. */
  readonly id: string;
  readonly kind: ComponentKind;
  /** A child of the root logger with `{ component: id }` bound; components log state changes, never per span. */
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  /** A directory this instance may keep state in (disk queues); created on demand by whoever writes there. */
  readonly dataDir: string;
  /**
   * Set when the graph is split across two threads (`service.derived_signals.thread: worker`), for components
   * that have a part on each side: the journeys connector matches on the main thread and assembles in the worker.
   */
  readonly thread?: ThreadLink;
  /**
   * Requests refused for overload, counted by the receivers for the journeys connector (see core/overload.ts);
   * absent in graphs built without one (tests, the worker side of a split graph).
   */
  readonly overload?: OverloadRefusals;
  /**
   * Exporters: where to leave an in-memory queue for the same exporter of the next config on a reload, instead of
   * draining it (see core/handover.ts); absent in graphs built without one.
   */
  readonly handover?: HandoverSlot;
}

/**
 * Messages between the two halves of a split graph. Each side addresses the other side's part of a component by
 * an id (the component id, or a name both agree on); messages are structured-cloned and arrive in order.
 */
export interface ThreadLink {
  readonly side: 'main' | 'worker';
  post(to: string, message: unknown): void;
  /** Messages for `id` from the other side; those that arrived before anyone listened are handed over at once. */
  listen(id: string, handler: (message: unknown) => void): () => void;
}

/** A processor or exporter: something that can be started and stopped and that consumes data. */
export type ConsumingComponent<S extends Signal> = Component & Consumer<SignalData[S]>;

interface FactoryBase<C> {
  readonly type: string;
  /** One line for docs and the generated JSON Schema. */
  readonly description: string;
  /**
   * The config schema, with defaults: `configSchema.parse({})` is the default config. Cross-field rules are
   * `superRefine`s, so every problem maps to a path and from there to a `file:line:col`.
   */
  readonly configSchema: z.ZodType<C>;
  /**
   * Checks that need more than the config text: files it points at (a journeys directory). Run by
   * `pulse validate` and before start, after `configSchema` accepted the config; returns every problem with the
   * position in *its* file. Relative paths are relative to the working directory.
   */
  readonly validateExternal?: (config: C) => ConfigIssue[];
}

export interface ReceiverFactory<C = unknown> extends FactoryBase<C> {
  readonly kind: 'receiver';
  readonly create: { [S in Signal]?: (settings: CreateSettings, config: C, next: Consumer<SignalData[S]>) => Component };
}

export interface ProcessorFactory<C = unknown> extends FactoryBase<C> {
  readonly kind: 'processor';
  readonly create: {
    [S in Signal]?: (settings: CreateSettings, config: C, next: Consumer<SignalData[S]>) => ConsumingComponent<S>;
  };
}

export interface ExporterFactory<C = unknown> extends FactoryBase<C> {
  readonly kind: 'exporter';
  readonly create: { [S in Signal]?: (settings: CreateSettings, config: C) => ConsumingComponent<S> };
}

/** The consumers a connector hands its output to: one per output signal that some pipeline receives from it. */
export type ConnectorOutputs = { readonly [S in Signal]?: Consumer<SignalData[S]> };

export interface ConnectorComponent extends Component {
  /** One consumer per input signal; the pipelines that export to this connector feed these. */
  readonly inputs: { readonly [S in Signal]?: Consumer<SignalData[S]> };
}

export interface ConnectorFactory<C = unknown> extends FactoryBase<C> {
  readonly kind: 'connector';
  /** Signals it consumes: it may be an exporter of pipelines of these signals. */
  readonly inputs: readonly Signal[];
  /** Signals it produces: it may be a receiver of pipelines of these signals. */
  readonly outputs: readonly Signal[];
  /**
   * Set when the connector, as configured, reads its input from outside instead of from pipelines (the `slo`
   * connector with `clickhouse.follow` reads ClickHouse): returns what it reads, for messages, or `undefined`. No
   * pipeline may then feed it, and none needs to.
   */
  readonly ownInput?: (config: C) => string | undefined;
  /** One instance per connector id, whatever the number of pipelines it joins. */
  create(settings: CreateSettings, config: C, outputs: ConnectorOutputs): ConnectorComponent;
}

export type Factory = ReceiverFactory | ProcessorFactory | ExporterFactory | ConnectorFactory;
