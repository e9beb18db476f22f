/**
 * What the outbox holds: Kafka records ready to send, built when the alert events arrive. Building them up front
 * fixes each event's bytes (id, time, source) once, so a retry or a restart re-sends exactly what was first
 * accepted, and the disk queue stores what goes on the wire rather than a second format.
 *
 * On disk (the exporter helper's queue file wraps this with its own header and CRC): a u32 record count, then
 * per record a f64 timestamp (ms), a u32 key length, the key (UTF-8), a u32 value length and the value (UTF-8
 * JSON). All big-endian.
 *
 * The JSON is well-formed Unicode: a lone UTF-16 surrogate in a string (a segment value or version sent as
 * `"\ud83d"` over OTLP/JSON) is written as U+FFFD, not as the escape `\ud83d` that JSON.stringify writes and strict
 * JSON parsers refuse — the same text the ClickHouse `journey_alerts` row gets (clickhouse/rows.ts).
 */
import { PermanentError, errorMessage } from '../../core/errors.js';
import type { AlertEvent } from '../../alerts/model.js';
import { stringifyWellFormed } from '../exporterhelper/index.js';
import { toCloudEvent } from './cloudevents.js';

export interface AlertRecord {
  /** The alert fingerprint: every event of one alert goes to one partition, in order. */
  readonly key: string;
  /** The CloudEvent, JSON. */
  readonly value: string;
  /** The event time (ms), used as the Kafka record timestamp. */
  readonly timestampMs: number;
}

/** One queue item: the records of one consume() call, sent in this order. */
export type AlertRecordBatch = readonly AlertRecord[];

/**
 * Events → records. An event that cannot be written (a time that is not a number) is left out and reported in
 * `bad`, so one malformed event does not hold back the others.
 */
export function toRecords(events: readonly AlertEvent[], source: string): { records: AlertRecord[]; bad: PermanentError[] } {
  const records: AlertRecord[] = [];
  const bad: PermanentError[] = [];
  for (const e of events) {
    try {
      if (typeof e.fingerprint !== 'string' || e.fingerprint === '') throw new Error('it has no fingerprint (the message key)');
      records.push({ key: e.fingerprint, value: stringifyWellFormed(toCloudEvent(e, source)), timestampMs: e.eventTimeMs });
    } catch (err) {
      bad.push(
        new PermanentError(
          'PULSE_ERR_KAFKA_BAD_EVENT',
          `alert event ${String(e.id)} (journey ${String(e.journey)}) cannot be written as a CloudEvent: ${errorMessage(err)}; it is dropped`,
          { cause: err },
        ),
      );
    }
  }
  return { records, bad };
}

export function recordsSize(batch: AlertRecordBatch): number {
  let n = 0;
  for (const r of batch) n += r.key.length + r.value.length + 64;
  return n;
}

export function mergeRecordBatches(batches: AlertRecordBatch[]): AlertRecordBatch {
  return batches.flat();
}

export const recordBatchCodec = {
  encode(batch: AlertRecordBatch): Uint8Array {
    const parts = batch.map((r) => [Buffer.from(r.key, 'utf8'), Buffer.from(r.value, 'utf8')] as const);
    let size = 4;
    for (const [k, v] of parts) size += 8 + 4 + k.length + 4 + v.length;
    const buf = Buffer.allocUnsafe(size);
    let at = buf.writeUInt32BE(batch.length, 0);
    parts.forEach(([k, v], i) => {
      at = buf.writeDoubleBE(batch[i]!.timestampMs, at);
      at = buf.writeUInt32BE(k.length, at);
      at += k.copy(buf, at);
      at = buf.writeUInt32BE(v.length, at);
      at += v.copy(buf, at);
    });
    return buf;
  },

  decode(bytes: Uint8Array): AlertRecordBatch {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    const need = (n: number): void => {
      if (at + n > buf.length) throw new Error(`truncated alert record batch (${buf.length} bytes)`);
    };
    need(4);
    const count = buf.readUInt32BE(at);
    at += 4;
    const out: AlertRecord[] = [];
    for (let i = 0; i < count; i++) {
      need(12);
      const timestampMs = buf.readDoubleBE(at);
      const keyLen = buf.readUInt32BE(at + 8);
      at += 12;
      need(keyLen + 4);
      const key = buf.toString('utf8', at, at + keyLen);
      at += keyLen;
      const valueLen = buf.readUInt32BE(at);
      at += 4;
      need(valueLen);
      const value = buf.toString('utf8', at, at + valueLen);
      at += valueLen;
      out.push({ key, value, timestampMs });
    }
    if (at !== buf.length) throw new Error(`alert record batch has ${buf.length - at} bytes after its last record`);
    return out;
  },
};
