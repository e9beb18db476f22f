/**
 * Config of the `debug` exporter: logs what flows through a pipeline (traces, journey attempts or journey
 * metrics) and, optionally, records it to a JSON Lines file (like the Collector's debug and file exporters).
 */
import { z } from 'zod';
import { byteSize, duration } from '../../config/types.js';

export const configSchema = z
  .object({
    verbosity: z
      .enum(['basic', 'normal', 'detailed'])
      .default('basic')
      .describe(
        'basic: one log line per batch with counts; normal: one line per resource/scope with service and span names (traces), per attempt, or per SLI row; detailed: one line per span with its attributes, or per attempt or SLI row in full',
      ),
    path: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Append what arrives to this file as JSON Lines: a traces batch as one OTLP/JSON ExportTraceServiceRequest (for replay), each attempt or SLI row as one JSON object',
      ),
    write_timeout: duration()
      .prefault('5s')
      .describe('How long consume() waits for the file to catch up when max_buffered is reached, before refusing'),
    max_buffered: byteSize()
      .prefault('16MiB')
      .describe('Bytes of file output held in memory waiting for the disk; beyond it consume() waits (write_timeout)'),
  })
  .describe('Logs traces, journey attempts and journey metrics, and optionally records them as JSON lines');

export type DebugConfig = z.output<typeof configSchema>;
