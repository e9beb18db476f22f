/**
 * Config of the `debug` exporter: logs what flows through a pipeline and, optionally, records it to a JSON Lines
 * file of OTLP/JSON requests (like the Collector's debug and file exporters).
 */
import { z } from 'zod';
import { byteSize, duration } from '../../config/types.js';

export const configSchema = z
  .object({
    verbosity: z
      .enum(['basic', 'normal', 'detailed'])
      .default('basic')
      .describe(
        'basic: one log line per batch with counts; normal: one line per resource/scope with service and span names; detailed: one line per span with its attributes',
      ),
    path: z
      .string()
      .min(1)
      .optional()
      .describe('Append every batch to this file as one line of OTLP/JSON (an ExportTraceServiceRequest), for replay'),
    write_timeout: duration()
      .prefault('5s')
      .describe('How long consume() waits for the file to catch up when max_buffered is reached, before refusing'),
    max_buffered: byteSize()
      .prefault('16MiB')
      .describe('Bytes of file output held in memory waiting for the disk; beyond it consume() waits (write_timeout)'),
  })
  .describe('Logs traces, and optionally records them as OTLP/JSON lines');

export type DebugConfig = z.output<typeof configSchema>;
