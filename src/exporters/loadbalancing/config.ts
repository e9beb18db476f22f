/**
 * Config of the `loadbalancing` exporter, named like the OpenTelemetry Collector's:
 *
 * ```yaml
 * exporters:
 *   loadbalancing:
 *     routing_key: traceID
 *     protocol:
 *       otlp:                      # the otlp exporter's settings, without endpoint
 *         tls: { insecure: true }
 *     resolver:
 *       static: { hostnames: [gateway-0:4317, gateway-1:4317] }
 *       # or
 *       dns: { hostname: pulse-gateway-headless, port: 4317, interval: 5s, timeout: 1s }
 * ```
 */
import { z } from 'zod';
import { duration } from '../../config/types.js';
import { checkOtlpGrpcFields, grpcTarget, otlpGrpcFields } from '../otlp/config.js';

const staticSchema = z
  .object({
    hostnames: z
      .array(z.string().min(1))
      .min(1)
      .describe('The backends, host:port each (an http:// or https:// prefix as for the otlp exporter)'),
  })
  .strict();

const dnsSchema = z
  .object({
    hostname: z.string().min(1).describe('A name whose addresses are the backends, e.g. a Kubernetes headless Service'),
    port: z.number().int().min(1).max(65535).default(4317).describe('OTLP/gRPC port of every backend'),
    interval: duration().prefault('5s').describe('How often the name is resolved again'),
    timeout: duration().prefault('1s').describe('How long one resolution may take'),
  })
  .strict();

export const configSchema = z
  .object({
    routing_key: z.enum(['traceID']).default('traceID').describe('What picks the backend: every span of a trace goes to the same one'),
    protocol: z
      .object({
        otlp: z
          .object(otlpGrpcFields)
          .strict()
          .superRefine(checkOtlpGrpcFields)
          .prefault({})
          .describe('Settings of the otlp exporter used for each backend (everything but endpoint)'),
      })
      .strict()
      .prefault({}),
    resolver: z
      .object({ static: staticSchema.optional(), dns: dnsSchema.optional() })
      .strict()
      .describe('Where the list of backends comes from: static or dns (exactly one)'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const { static: fixed, dns } = cfg.resolver;
    if ((fixed === undefined) === (dns === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['resolver'], message: 'set exactly one resolver: static (hostnames) or dns (hostname)' });
    }
    const otlp = cfg.protocol.otlp;
    for (const [i, h] of (fixed?.hostnames ?? []).entries()) {
      if (grpcTarget({ endpoint: h, tls: otlp.tls }) === undefined) {
        ctx.addIssue({ code: 'custom', path: ['resolver', 'static', 'hostnames', i], message: `"${h}" is not host:port (optionally prefixed with http:// or https://)` });
      }
    }
  })
  .describe('Sends each trace, whole, to one of several OTLP/gRPC backends chosen by trace id');

export type LoadBalancingConfig = z.output<typeof configSchema>;
