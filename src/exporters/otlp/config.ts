/**
 * Config of the `otlp` exporter: OTLP over gRPC to another OTLP endpoint. Field names follow the OpenTelemetry
 * Collector's otlp exporter.
 */
import { z } from 'zod';
import { parseHostPort } from '../../config/types.js';
import { exporterHelperFields, validateExporterHelper } from '../exporterhelper/config.js';
import { compressionParamsField } from '../exporterhelper/compression.js';
import { clientTlsSchema } from '../exporterhelper/tls.js';

/** Everything but `endpoint`: the `loadbalancing` exporter takes these as `protocol.otlp`, one endpoint per backend. */
export const otlpGrpcFields = {
  tls: clientTlsSchema({ withInsecure: true }).prefault({}),
  compression: z.enum(['gzip', 'none']).default('gzip').describe('grpc-encoding of request messages'),
  compression_params: compressionParamsField,
  headers: z
    .record(z.string(), z.string())
    .default({})
    .describe('Extra request metadata, e.g. an API key; use ${env:VAR} for secrets'),
  ...exporterHelperFields(),
};

/** Cross-field rules of `otlpGrpcFields`. */
export function checkOtlpGrpcFields(cfg: z.output<z.ZodObject<typeof otlpGrpcFields>>, ctx: z.RefinementCtx): void {
  validateExporterHelper(cfg, ctx);
  for (const k of Object.keys(cfg.headers)) {
    if (k.startsWith(':') || k.toLowerCase().startsWith('grpc-')) {
      ctx.addIssue({ code: 'custom', path: ['headers', k], message: `header ${k} is reserved by gRPC; remove it` });
    }
  }
}

export const configSchema = z
  .object({
    endpoint: z
      .string()
      .optional()
      .describe('host:port of the destination (e.g. collector:4317); an http:// prefix means plaintext, https:// TLS'),
    ...otlpGrpcFields,
  })
  .superRefine((cfg, ctx) => {
    checkOtlpGrpcFields(cfg, ctx);
    if (cfg.endpoint === undefined) {
      ctx.addIssue({ code: 'custom', path: ['endpoint'], message: 'set endpoint to the destination host:port, e.g. collector:4317' });
    } else if (grpcTarget(cfg) === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoint'],
        message: `"${cfg.endpoint}" is not host:port (optionally prefixed with http:// or https://)`,
      });
    }
  })
  .describe('Sends traces as OTLP over gRPC');

export type OtlpGrpcConfig = z.output<typeof configSchema>;

export interface GrpcTarget {
  /** `http://host:port` or `https://host:port`, for http2.connect(). */
  origin: string;
  secure: boolean;
}

/** Where to connect; `undefined` when the endpoint is malformed. */
export function grpcTarget(cfg: Pick<OtlpGrpcConfig, 'endpoint' | 'tls'>): GrpcTarget | undefined {
  if (cfg.endpoint === undefined) return undefined;
  let text = cfg.endpoint.trim();
  let secure = !(cfg.tls.insecure ?? false);
  const scheme = /^(https?):\/\//.exec(text);
  if (scheme) {
    secure = scheme[1] === 'https';
    text = text.slice(scheme[0].length).replace(/\/+$/, '');
  }
  const hp = parseHostPort(text);
  if (!hp || !text.includes(':') || text.startsWith(':')) return undefined;
  const host = hp.host.includes(':') ? `[${hp.host}]` : hp.host;
  return { origin: `${secure ? 'https' : 'http'}://${host}:${hp.port}`, secure };
}
