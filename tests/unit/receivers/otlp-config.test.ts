import { describe, expect, it } from 'vitest';
import { otlpReceiverFactory } from '../../../src/receivers/otlp/factory.js';

const schema = otlpReceiverFactory.configSchema;

describe('otlp receiver config', () => {
  it('a bare "grpc:" (null) enables gRPC with its defaults, and http stays off', () => {
    const cfg = schema.parse({ protocols: { grpc: null } });
    expect(cfg.protocols.grpc).toEqual({ endpoint: { host: '0.0.0.0', port: 4317 }, max_recv_msg_size: 20 * 1024 * 1024 });
    expect(cfg.protocols.http).toBeUndefined();
    expect(cfg.max_inflight_bytes).toBe(256 * 1024 * 1024);
  });

  it('an empty http entry gets the Collector-like defaults', () => {
    const cfg = schema.parse({ protocols: { http: {} } });
    expect(cfg.protocols.http).toEqual({
      endpoint: { host: '0.0.0.0', port: 4318 },
      traces_url_path: '/v1/traces',
      max_request_body_size: 20 * 1024 * 1024,
    });
  });

  it('parses sizes, endpoints, cors defaults, tls and auth', () => {
    const cfg = schema.parse({
      protocols: {
        http: {
          endpoint: '127.0.0.1:0',
          max_request_body_size: '4MiB',
          cors: { allowed_origins: ['https://*.example.com'] },
          auth: { bearer_token: 't' },
          tls: { cert_file: '/c.pem', key_file: '/k.pem' },
        },
      },
      max_inflight_bytes: '64MiB',
    });
    expect(cfg.protocols.http?.endpoint).toEqual({ host: '127.0.0.1', port: 0 });
    expect(cfg.protocols.http?.max_request_body_size).toBe(4 * 1024 * 1024);
    expect(cfg.protocols.http?.cors).toEqual({ allowed_origins: ['https://*.example.com'], allowed_headers: [], max_age: 7200 });
    expect(cfg.max_inflight_bytes).toBe(64 * 1024 * 1024);
  });

  it('refuses a config with no protocol enabled, at the protocols path', () => {
    for (const raw of [{}, { protocols: {} }]) {
      const res = schema.safeParse(raw);
      expect(res.success).toBe(false);
      expect(res.error?.issues[0]?.path).toEqual(['protocols']);
      expect(res.error?.issues[0]?.message).toMatch(/at least one protocol/);
    }
  });

  it('refuses max_inflight_bytes below the largest allowed request', () => {
    const res = schema.safeParse({ protocols: { http: { max_request_body_size: '32MiB' } }, max_inflight_bytes: '16MiB' });
    expect(res.success).toBe(false);
    expect(res.error?.issues[0]?.path).toEqual(['max_inflight_bytes']);
  });

  it('refuses unknown keys, bad endpoints and paths', () => {
    expect(schema.safeParse({ protocols: { http: { endpont: ':4318' } } }).success).toBe(false);
    expect(schema.safeParse({ protocols: { grpc: { endpoint: 'localhost' } } }).success).toBe(false);
    expect(schema.safeParse({ protocols: { http: { traces_url_path: 'v1/traces' } } }).success).toBe(false);
    expect(schema.safeParse({ protocols: { http: { tls: { cert_file: '/c.pem' } } } }).success).toBe(false);
  });

  it('is a traces receiver factory of type otlp', () => {
    expect(otlpReceiverFactory.type).toBe('otlp');
    expect(otlpReceiverFactory.kind).toBe('receiver');
    expect(typeof otlpReceiverFactory.create.traces).toBe('function');
  });
});
