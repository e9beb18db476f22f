/**
 * Config of the `otlphttp` exporter: OTLP over HTTP (protobuf or JSON) to another OTLP endpoint (a Collector, a
 * vendor, another Pulse). Field names follow the OpenTelemetry Collector's otlphttp exporter.
 */
import { z } from 'zod';
import { exporterHelperFields, validateExporterHelper } from '../exporterhelper/config.js';
import { compressionParamsField } from '../exporterhelper/compression.js';
import { clientTlsSchema } from '../exporterhelper/tls.js';

export const configSchema = z
  .object({
    endpoint: z
      .string()
      .optional()
      .describe('Base URL of the destination, e.g. https://otel.example.com:4318; /v1/traces is appended'),
    traces_endpoint: z
      .string()
      .optional()
      .describe('Full URL traces are POSTed to, used as is (overrides endpoint)'),
    encoding: z.enum(['proto', 'json']).default('proto').describe('proto: application/x-protobuf; json: OTLP/JSON'),
    compression: z.enum(['gzip', 'none']).default('gzip').describe('Content-Encoding of request bodies'),
    compression_params: compressionParamsField,
    headers: z
      .record(z.string(), z.string())
      .default({})
      .describe('Extra request headers, e.g. an API key; use ${env:VAR} for secrets'),
    tls: clientTlsSchema({ withInsecure: false }).prefault({}),
    ...exporterHelperFields(),
  })
  .superRefine((cfg, ctx) => {
    validateExporterHelper(cfg, ctx);
    if (cfg.endpoint === undefined && cfg.traces_endpoint === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoint'],
        message: 'set endpoint (base URL, e.g. http://collector:4318) or traces_endpoint (full URL)',
      });
      return;
    }
    const field = cfg.traces_endpoint !== undefined ? 'traces_endpoint' : 'endpoint';
    const text = cfg.traces_endpoint ?? cfg.endpoint!;
    if (parseHttpUrl(text) === undefined) {
      ctx.addIssue({ code: 'custom', path: [field], message: `"${text}" is not an http:// or https:// URL` });
    }
  })
  .describe('Sends traces as OTLP over HTTP');

export type OtlpHttpConfig = z.output<typeof configSchema>;

function parseHttpUrl(text: string): URL | undefined {
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : undefined;
  } catch {
    return undefined;
  }
}

/** The URL traces are POSTed to: `traces_endpoint` as is, or `endpoint` + `/v1/traces`. */
export function tracesUrl(cfg: Pick<OtlpHttpConfig, 'endpoint' | 'traces_endpoint'>): URL {
  if (cfg.traces_endpoint !== undefined) return new URL(cfg.traces_endpoint);
  const base = new URL(cfg.endpoint!);
  base.pathname = base.pathname.replace(/\/+$/, '') + '/v1/traces';
  return base;
}
