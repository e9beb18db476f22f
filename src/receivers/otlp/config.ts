/**
 * Config of the `otlp` receiver, shaped like the OpenTelemetry Collector's:
 *
 * ```yaml
 * receivers:
 *   otlp:
 *     protocols:
 *       grpc:                  # present (even empty / null) = enabled, with defaults
 *       http:
 *         endpoint: 0.0.0.0:4318
 * ```
 *
 * Sizes are parsed to bytes, durations to ms, endpoints to `{ host, port }`. `protocols.grpc: null` (what YAML
 * gives for a bare `grpc:`) means "gRPC with defaults"; an absent key means "disabled". At least one protocol must
 * be enabled.
 */
import { z } from 'zod';
import { byteSize, listenAddress, type HostPort } from '../../config/types.js';

const tlsSchema = z
  .object({
    cert_file: z.string().min(1).describe('PEM certificate (chain) file the server presents'),
    key_file: z.string().min(1).describe('PEM private key file of cert_file'),
    client_ca_file: z
      .string()
      .min(1)
      .optional()
      .describe('PEM CA bundle; when set, clients must present a certificate signed by it (mutual TLS)'),
  })
  .strict()
  .describe('Serve TLS instead of plain text; the files are read at start');

const authSchema = z
  .object({
    bearer_token: z
      .string()
      .min(1)
      .describe('Requests must carry "Authorization: Bearer <token>"; compared in constant time'),
  })
  .strict()
  .describe('Require a bearer token on every request');

const corsSchema = z
  .object({
    allowed_origins: z
      .array(z.string().min(1))
      .default([])
      .describe('Origins browsers may send from: exact ("https://app.example.com"), with * wildcards ("https://*.example.com"), or "*" for any'),
    allowed_headers: z
      .array(z.string().min(1))
      .default([])
      .describe('Request headers allowed beyond Content-Type, Content-Encoding, Accept, Origin, X-Requested-With ("*" allows any)'),
    max_age: z.number().int().nonnegative().default(7200).describe('Seconds browsers may cache a preflight answer (0: not sent)'),
  })
  .strict()
  .describe('Cross-origin requests from browsers (OTel JS web exporters)');

const grpcSchema = z
  .object({
    endpoint: listenAddress().prefault('0.0.0.0:4317').describe('host:port for OTLP/gRPC'),
    max_recv_msg_size: byteSize()
      .prefault('20MiB')
      .describe('Largest request message accepted, after decompression; larger ones get RESOURCE_EXHAUSTED'),
    tls: tlsSchema.optional(),
    auth: authSchema.optional(),
  })
  .strict();

const httpSchema = z
  .object({
    endpoint: listenAddress().prefault('0.0.0.0:4318').describe('host:port for OTLP/HTTP'),
    traces_url_path: z
      .string()
      .regex(/^\/[^?#\s]*$/, 'must be a path starting with "/", without query or fragment')
      .default('/v1/traces')
      .describe('Path that accepts trace exports'),
    max_request_body_size: byteSize()
      .prefault('20MiB')
      .describe('Largest request body accepted, both as sent and after decompression; larger ones get 413'),
    cors: corsSchema.optional(),
    tls: tlsSchema.optional(),
    auth: authSchema.optional(),
  })
  .strict();

// Null-able so a bare `grpc:` in YAML enables the protocol; the transform below turns null into the defaults.
// (A transform after the object, rather than a preprocess before it, keeps the input JSON Schema representable.)
const protocolsSchema = z
  .object({
    grpc: grpcSchema.nullable().optional().describe('OTLP over gRPC; present (even empty) = enabled'),
    http: httpSchema.nullable().optional().describe('OTLP over HTTP (protobuf and JSON); present (even empty) = enabled'),
  })
  .strict()
  .transform((p) => ({
    grpc: p.grpc === null ? grpcSchema.parse({}) : p.grpc,
    http: p.http === null ? httpSchema.parse({}) : p.http,
  }));

export const otlpReceiverConfigSchema = z
  .object({
    protocols: protocolsSchema
      .prefault({})
      .describe('Which transports to serve; at least one of grpc and http'),
    max_inflight_bytes: byteSize()
      .prefault('256MiB')
      .describe('Bytes of request bodies held at once across all connections (as sent plus decompressed); new requests beyond it get 503 / UNAVAILABLE with a retry hint'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.protocols.grpc === undefined && cfg.protocols.http === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['protocols'],
        message: 'enable at least one protocol: add "grpc:" and/or "http:" under protocols (an empty entry uses the defaults)',
      });
    }
    const largest = Math.max(cfg.protocols.grpc?.max_recv_msg_size ?? 0, cfg.protocols.http?.max_request_body_size ?? 0);
    if (cfg.max_inflight_bytes < largest) {
      ctx.addIssue({
        code: 'custom',
        path: ['max_inflight_bytes'],
        message: `max_inflight_bytes (${cfg.max_inflight_bytes} bytes) is below the largest allowed request (${largest} bytes), so such requests could never be accepted; raise it or lower the protocol limits`,
      });
    }
  });

export type OtlpReceiverConfig = z.output<typeof otlpReceiverConfigSchema>;
export type OtlpGrpcConfig = z.output<typeof grpcSchema>;
export type OtlpHttpConfig = z.output<typeof httpSchema>;
export type TlsConfig = z.output<typeof tlsSchema>;
export type AuthConfig = z.output<typeof authSchema>;
export type CorsConfig = z.output<typeof corsSchema>;
export type { HostPort };
