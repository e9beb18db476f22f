/**
 * The `service:` section: which pipelines run, and Pulse's own telemetry.
 *
 * ```yaml
 * service:
 *   pipelines:
 *     traces/in:                    # `<signal>` or `<signal>/<name>`; signals: traces, attempts, journey_metrics
 *       receivers: [otlp]
 *       processors: [memory_limiter]          # optional, run in this order
 *       exporters: [journeys]       # a connector: this pipeline feeds it
 *     traces/out:
 *       receivers: [journeys]       # the same connector: it feeds this pipeline (and the next two)
 *       exporters: [otlp/next]
 *     attempts: { receivers: [journeys], exporters: [debug] }
 *     journey_metrics: { receivers: [journeys], exporters: [debug] }
 *   telemetry:
 *     logs: { level: info }         # trace | debug | info | warn | error | fatal | silent
 *     metrics: { address: 0.0.0.0:8888 }     # Prometheus /metrics; `enabled: false` turns it off
 *     health: { address: 0.0.0.0:13133 }     # /healthz and /readyz; `enabled: false` turns it off
 *   shutdown_timeout: 20s
 *   derived_signals: { thread: worker }   # attempts/journey_metrics/alerts pipelines in a thread of their own
 *                                         # (max_heap: 1GiB, that thread's heap limit)
 *   data_dir: .pulse/data
 * ```
 *
 * The shape is checked here; that pipeline ids name a known signal, that every listed component exists,
 * supports the signal and is listed once, and the connector rules (both sides used, no cycles) are checked by the
 * loader, which knows the components.
 */
import { z } from 'zod';
import { byteSize, duration, listenAddress } from './types.js';

/** A `signal` or `signal/name` pipeline id, and a `type` or `type/name` component id. */
export const ID_NAME_PATTERN = '[A-Za-z0-9_.-]+';
export const COMPONENT_TYPE_PATTERN = '[a-z][a-z0-9_]*';

/** `section:` written with nothing after it means "all defaults", like a component with an empty body. */
function defaultsWhenEmpty<T extends z.ZodType>(schema: T) {
  return schema
    .nullable()
    .transform((v) => v ?? schema.parse({}))
    .prefault({} as z.input<T>);
}

const componentIds = (what: string) => z.array(z.string().describe(`The id (\`type\` or \`type/name\`) of one of the ${what} defined above`));

export const pipelineSchema = z
  .strictObject({
    receivers: componentIds('receivers or connectors')
      .min(1)
      .describe('Receivers feeding this pipeline, or connectors whose output it takes (at least one)'),
    processors: componentIds('processors').default([]).describe('Processors, run in this order (optional)'),
    exporters: componentIds('exporters or connectors')
      .min(1)
      .describe('Exporters this pipeline sends to, or connectors it feeds (at least one)'),
  })
  .describe('One pipeline: receivers → processors (in order) → exporters');

const endpointSection = (what: string, address: string) =>
  defaultsWhenEmpty(
    z
      .strictObject({
        enabled: z.boolean().default(true).describe(`Serve ${what}; false turns it off`),
        address: listenAddress().prefault(address).describe(`host:port to serve ${what} on (default ${address})`),
      })
      .describe(`Where Pulse serves ${what}`),
  );

/** The smallest `derived_signals.max_heap`: the worker's graph alone takes ~20 MiB of heap. */
export const MIN_WORKER_HEAP_BYTES = 64 * 2 ** 20;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export const telemetrySchema = defaultsWhenEmpty(
  z
    .strictObject({
      logs: defaultsWhenEmpty(
        z
          .strictObject({
            level: z.enum(LOG_LEVELS).default('info').describe('Minimum level of Pulse’s own log lines (JSON on stderr)'),
          })
          .describe('Pulse’s own logs'),
      ),
      metrics: endpointSection('Prometheus metrics (/metrics)', '0.0.0.0:8888'),
      health: endpointSection('health checks (/healthz, /readyz)', '0.0.0.0:13133'),
    })
    .describe('Pulse’s own logs, metrics and health endpoints'),
);

export const serviceSchema = z
  .strictObject({
    // Optional here so that a missing or empty `pipelines:` gets the loader's one clear "no pipelines" issue.
    pipelines: z
      .record(z.string(), pipelineSchema)
      .nullish()
      .describe('Pipelines by id: `<signal>` or `<signal>/<name>`; signals: traces, attempts, journey_metrics'),
    telemetry: telemetrySchema,
    shutdown_timeout: duration()
      .prefault('20s')
      .describe('How long shutdown may take (stop receivers, drain, flush exporters), for example 20s'),
    derived_signals: defaultsWhenEmpty(
      z
        .strictObject({
          thread: z
            .enum(['main', 'worker'])
            .default('main')
            .describe(
              'Where the attempts, journey_metrics and alerts pipelines run: `main` (with the receivers), or `worker`: a thread of their own, so attempt assembly, SLOs and their exporters neither delay forwarding nor share its heap',
            ),
          max_heap: byteSize()
            .prefault('1GiB')
            .refine((n) => n >= MIN_WORKER_HEAP_BYTES, { message: 'must be at least 64MiB' })
            .describe(
              'With `thread: worker`: the worker thread’s heap limit (V8 old generation), for example 1GiB. Below 2GiB V8 also collects sooner, so the heap stays closer to what is live. A worker that needs more stops Pulse (exit 1); pending attempts take ~1 KiB each (`max_pending_attempts`)',
            ),
        })
        .describe('The pipelines of derived signals (attempts, journey_metrics, alerts)'),
    ),
    data_dir: z
      .string()
      .min(1)
      .default('.pulse/data')
      .describe('Directory for state on disk (persistent queues), relative to the working directory'),
  })
  .describe('Which pipelines run, and Pulse’s own telemetry');

export type ServiceSection = z.output<typeof serviceSchema>;
