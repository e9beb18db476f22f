/**
 * Small stand-in factories for loader tests: their own zod schemas (strict objects, durations, sizes,
 * addresses, enums), so the loader is tested independently of the real components.
 */
import { z } from 'zod';
import type { ComponentRegistry } from '../../../src/components.js';
import type { ConnectorFactory, ExporterFactory, ProcessorFactory, ReceiverFactory } from '../../../src/core/component.js';
import type { ConfigIssue } from '../../../src/config/model.js';
import { byteSize, duration, listenAddress } from '../../../src/config/types.js';

const component = {
  mutatesData: false,
  start: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
  consume: () => Promise.resolve(),
};

const protocol = (endpoint: string) =>
  z
    .strictObject({
      endpoint: listenAddress().prefault(endpoint).describe('Where to listen'),
      max_recv_msg_size: byteSize().prefault('4MiB').describe('Largest request accepted'),
    })
    .nullable()
    .optional();

export const fakeOtlpReceiver: ReceiverFactory = {
  kind: 'receiver',
  type: 'otlp',
  description: 'Receives OTLP',
  configSchema: z
    .strictObject({
      protocols: z
        .strictObject({ grpc: protocol('0.0.0.0:4317'), http: protocol('0.0.0.0:4318') })
        .prefault({ grpc: {}, http: {} }),
    })
    .describe('OTLP receiver'),
  create: { traces: () => component },
};

/** A receiver that supports no signal at all, to test signal support checks. */
export const fakeSilentReceiver: ReceiverFactory = {
  kind: 'receiver',
  type: 'silent',
  description: 'Supports nothing',
  configSchema: z.strictObject({}),
  create: {},
};

export const fakeBatchProcessor: ProcessorFactory = {
  kind: 'processor',
  type: 'batch',
  description: 'Batches spans',
  configSchema: z.strictObject({
    send_batch_size: z.number().int().positive().default(8192).describe('Spans per batch'),
    timeout: duration().prefault('200ms').describe('Longest wait before sending a partial batch'),
  }),
  create: { traces: () => component },
};

export const fakeDebugExporter: ExporterFactory = {
  kind: 'exporter',
  type: 'debug',
  description: 'Prints spans',
  configSchema: z.strictObject({
    verbosity: z.enum(['basic', 'normal', 'detailed']).default('basic').describe('How much to print'),
  }),
  create: { traces: () => component, attempts: () => component, journey_metrics: () => component },
};

export const fakeOtlphttpExporter: ExporterFactory = {
  kind: 'exporter',
  type: 'otlphttp',
  description: 'Sends OTLP/HTTP',
  configSchema: z.strictObject({
    endpoint: z.string().describe('Base URL of the next hop'),
    compression: z.enum(['gzip', 'none']).default('gzip'),
    timeout: duration().prefault('10s'),
    retry_on_failure: z
      .strictObject({
        enabled: z.boolean().default(true),
        max_elapsed_time: duration().prefault('300s'),
      })
      .prefault({}),
  }),
  create: { traces: () => component },
};

const connector = { ...component, inputs: {} };

/**
 * A journeys-like connector: traces in; traces, attempts and journey metrics out. Its `validateExternal` stands
 * in for checking a journeys directory: `directory: broken` reports problems in two files (and a warning),
 * `directory: explode` throws.
 */
export const fakeJourneysConnector: ConnectorFactory<{ directory: string }> = {
  kind: 'connector',
  type: 'journeys',
  description: 'Journeys',
  configSchema: z.strictObject({ directory: z.string().default('journeys').describe('Where the journey files are') }),
  inputs: ['traces'],
  outputs: ['traces', 'attempts', 'journey_metrics'],
  validateExternal(config): ConfigIssue[] {
    if (config.directory === 'explode') throw new Error('boom');
    if (config.directory !== 'broken') return [];
    return [
      { file: 'broken/signup.yaml', line: 2, col: 1, message: 'kind: must be "Journey"' },
      { file: 'broken/checkout.yaml', line: 7, col: 5, message: 'spec.start.service is required' },
      { file: 'broken/checkout.yaml', line: 3, col: 9, message: 'metadata.owner is empty', severity: 'warning' },
    ];
  },
  create: () => connector,
};

/** traces in, traces out: enough to link traces pipelines (and to make cycles). */
export const fakeForwardConnector: ConnectorFactory = {
  kind: 'connector',
  type: 'forward',
  description: 'Forwards traces',
  configSchema: z.strictObject({}),
  inputs: ['traces'],
  outputs: ['traces'],
  create: () => connector,
};

export function fakeRegistry(): ComponentRegistry {
  return {
    receivers: new Map([
      ['otlp', fakeOtlpReceiver],
      ['silent', fakeSilentReceiver],
    ]),
    processors: new Map([['batch', fakeBatchProcessor]]),
    exporters: new Map([
      ['debug', fakeDebugExporter],
      ['otlphttp', fakeOtlphttpExporter],
    ]),
    connectors: new Map([
      ['journeys', fakeJourneysConnector as unknown as ConnectorFactory],
      ['forward', fakeForwardConnector],
    ]),
  };
}
