/**
 * The small messages around an export: `ExportTraceServiceResponse` (with its `partial_success`) in protobuf and
 * OTLP/JSON, and `google.rpc.Status` (the body of a failed OTLP/HTTP request and the `grpc-status-details-bin` of a
 * failed gRPC call), optionally carrying a `google.rpc.RetryInfo` that tells the sender how long to back off.
 *
 * Decoders are strict like the request decoders: malformed protobuf throws `PermanentError('PULSE_ERR_BAD_PROTOBUF')`,
 * malformed JSON `PermanentError('PULSE_ERR_BAD_JSON')`.
 */
import { PermanentError } from '../core/errors.js';
import { ProtoReader, protobufError } from './proto-reader.js';
import { ANY, DURATION, EXPORT_RESPONSE, PARTIAL_SUCCESS, RETRY_INFO, RPC_STATUS } from './proto-schema.js';

export interface TraceResponse {
  /** Spans the server did not accept (0 when all were accepted). */
  rejectedSpans: number;
  /** Why, for a human; '' when nothing to say. */
  errorMessage: string;
}

export interface RpcStatus {
  /** A gRPC status code (google.rpc.Code). */
  code: number;
  message: string;
  /** From a `google.rpc.RetryInfo` detail, when the status carries one. */
  retryDelayMs?: number;
}

export const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';

// ---- a minimal writer for these few small messages --------------------------------------------------------------

const textEncoder = new TextEncoder();

function varint(n: number): number[] {
  // Non-negative integers up to 2^53 (division, not bit operations, so values past 2^31 stay exact).
  const out: number[] = [];
  while (n > 127) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** An int32/int64 varint: negative values sign-extend to 10 bytes. */
function signedVarint(n: number): number[] {
  if (n >= 0) return varint(n);
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  while (v > 127n) {
    out.push(Number(v & 127n) | 128);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

function lengthDelimited(field: number, body: ArrayLike<number>): number[] {
  return [...varint((field << 3) | 2), ...varint(body.length), ...Array.from(body)];
}

function varintField(field: number, n: number): number[] {
  return [...varint(field << 3), ...signedVarint(n)];
}

// ---- ExportTraceServiceResponse ---------------------------------------------------------------------------------

/** Protobuf `ExportTraceServiceResponse`; empty (zero bytes) when nothing was rejected and there is no message. */
export function encodeTraceResponse(rejectedSpans: number, errorMessage: string): Uint8Array {
  if (rejectedSpans === 0 && errorMessage === '') return new Uint8Array(0);
  const partial: number[] = [];
  if (rejectedSpans !== 0) partial.push(...varintField(1, Math.trunc(rejectedSpans))); // 1: rejected_spans
  if (errorMessage !== '') partial.push(...lengthDelimited(2, textEncoder.encode(errorMessage))); // 2: error_message
  return Uint8Array.from(lengthDelimited(1, partial)); // 1: partial_success
}

/** OTLP/JSON `ExportTraceServiceResponse`: `{}`, or `{"partialSuccess":{"rejectedSpans":"2","errorMessage":"…"}}`. */
export function encodeTraceResponseJson(rejectedSpans: number, errorMessage: string): string {
  if (rejectedSpans === 0 && errorMessage === '') return '{}';
  const parts: string[] = [];
  if (rejectedSpans !== 0) parts.push(`"rejectedSpans":"${Math.trunc(rejectedSpans)}"`); // int64: a string in JSON
  if (errorMessage !== '') parts.push(`"errorMessage":${JSON.stringify(errorMessage)}`);
  return `{"partialSuccess":{${parts.join(',')}}}`;
}

export function decodeTraceResponse(buf: Uint8Array): TraceResponse {
  const r = new ProtoReader(buf);
  const result: TraceResponse = { rejectedSpans: 0, errorMessage: '' };
  const end = r.buf.length;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(end);
    if (tag === 10) {
      // 1: partial_success
      const pend = r.sub(end, EXPORT_RESPONSE, 1, at);
      while (r.pos < pend) {
        const fat = r.pos;
        const t = r.tag(pend);
        if (t === 8) result.rejectedSpans = Number(r.int64(pend, PARTIAL_SUCCESS, 1, fat));
        else if (t === 18) result.errorMessage = r.string(r.len(pend, PARTIAL_SUCCESS, 2, fat), PARTIAL_SUCCESS, 2, fat);
        else r.other(t, pend, PARTIAL_SUCCESS, fat);
      }
    } else {
      r.other(tag, end, EXPORT_RESPONSE, at);
    }
  }
  return result;
}

/** Parses an OTLP/JSON response body; an empty body counts as `{}` (some servers send none on success). */
export function decodeTraceResponseJson(text: string): TraceResponse {
  const root = parseJsonObject(text, 'ExportTraceServiceResponse');
  const result: TraceResponse = { rejectedSpans: 0, errorMessage: '' };
  const partial = root.partialSuccess ?? root.partial_success;
  if (partial === undefined || partial === null) return result;
  if (typeof partial !== 'object' || Array.isArray(partial)) throw badJson(`partialSuccess: expected an object, got ${JSON.stringify(partial)}`);
  const p = partial as Record<string, unknown>;
  const rejected = p.rejectedSpans ?? p.rejected_spans;
  if (rejected !== undefined && rejected !== null) {
    const n = typeof rejected === 'string' && /^-?\d+$/.test(rejected) ? Number(rejected) : rejected;
    if (typeof n !== 'number' || !Number.isInteger(n)) {
      throw badJson(`partialSuccess.rejectedSpans: expected an integer as a string or number, got ${JSON.stringify(rejected)}`);
    }
    result.rejectedSpans = n;
  }
  const message = p.errorMessage ?? p.error_message;
  if (message !== undefined && message !== null) {
    if (typeof message !== 'string') throw badJson(`partialSuccess.errorMessage: expected a string, got ${JSON.stringify(message)}`);
    result.errorMessage = message;
  }
  return result;
}

// ---- google.rpc.Status ----------------------------------------------------------------------------------------

/**
 * Protobuf `google.rpc.Status`. With `retryDelayMs`, adds a details entry: a `google.protobuf.Any` holding a
 * `google.rpc.RetryInfo` whose `retry_delay` is that delay as a `google.protobuf.Duration`.
 */
export function encodeStatus(code: number, message: string, retryDelayMs?: number): Uint8Array {
  const out: number[] = [];
  if (code !== 0) out.push(...varintField(1, code)); // 1: code
  if (message !== '') out.push(...lengthDelimited(2, textEncoder.encode(message))); // 2: message
  if (retryDelayMs !== undefined) {
    const ms = Math.max(0, retryDelayMs);
    let seconds = Math.floor(ms / 1000);
    let nanos = Math.round((ms - seconds * 1000) * 1e6);
    if (nanos >= 1e9) {
      seconds += 1;
      nanos -= 1e9;
    }
    const duration: number[] = [];
    if (seconds !== 0) duration.push(...varintField(1, seconds)); // Duration 1: seconds
    if (nanos !== 0) duration.push(...varintField(2, nanos)); // Duration 2: nanos
    const retryInfo = lengthDelimited(1, duration); // RetryInfo 1: retry_delay
    const any = [...lengthDelimited(1, textEncoder.encode(RETRY_INFO_TYPE_URL)), ...lengthDelimited(2, retryInfo)]; // Any 1: type_url, 2: value
    out.push(...lengthDelimited(3, any)); // 3: details
  }
  return Uint8Array.from(out);
}

/** OTLP/JSON form of `google.rpc.Status`: `{"code":14,"message":"…"}`. */
export function encodeStatusJson(code: number, message: string): string {
  return JSON.stringify({ code, message });
}

export function decodeStatus(buf: Uint8Array): RpcStatus {
  const r = new ProtoReader(buf);
  const end = r.buf.length;
  let code = 0;
  let message = '';
  let retryDelayMs: number | undefined;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(end);
    if (tag === 8) code = r.uint32(end, RPC_STATUS, 1, at) | 0; // 1: code
    else if (tag === 18) message = r.string(r.len(end, RPC_STATUS, 2, at), RPC_STATUS, 2, at); // 2: message
    else if (tag === 26) {
      // 3: details (google.protobuf.Any); only RetryInfo is read, other details are skipped
      const aend = r.sub(end, RPC_STATUS, 3, at);
      let typeUrl = '';
      let valueStart = -1;
      let valueEnd = -1;
      while (r.pos < aend) {
        const fat = r.pos;
        const t = r.tag(aend);
        if (t === 10) typeUrl = r.string(r.len(aend, ANY, 1, fat), ANY, 1, fat);
        else if (t === 18) {
          valueEnd = r.sub(aend, ANY, 2, fat);
          valueStart = r.pos;
          r.pos = valueEnd;
        } else r.other(t, aend, ANY, fat);
      }
      if (typeUrl.endsWith('/google.rpc.RetryInfo') && valueStart >= 0) {
        const saved = r.pos;
        r.pos = valueStart;
        retryDelayMs = decodeRetryInfo(r, valueEnd);
        r.pos = saved;
      }
    } else r.other(tag, end, RPC_STATUS, at);
  }
  return retryDelayMs === undefined ? { code, message } : { code, message, retryDelayMs };
}

function decodeRetryInfo(r: ProtoReader, end: number): number {
  let ms = 0;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.tag(end);
    if (tag === 10) {
      // 1: retry_delay (google.protobuf.Duration)
      const dend = r.sub(end, RETRY_INFO, 1, at);
      let seconds = 0n;
      let nanos = 0;
      while (r.pos < dend) {
        const fat = r.pos;
        const t = r.tag(dend);
        if (t === 8) seconds = r.int64(dend, DURATION, 1, fat);
        else if (t === 16) nanos = r.uint32(dend, DURATION, 2, fat) | 0;
        else r.other(t, dend, DURATION, fat);
      }
      ms = Number(seconds) * 1000 + nanos / 1e6;
    } else r.other(tag, end, RETRY_INFO, at);
  }
  if (ms < 0) throw protobufError(`negative retry delay in google.rpc.RetryInfo`);
  return ms;
}

/** Parses an OTLP/JSON `google.rpc.Status` body (`{"code":…, "message":…}`). */
export function decodeStatusJson(text: string): RpcStatus {
  const root = parseJsonObject(text, 'google.rpc.Status');
  const code = root.code ?? 0;
  const message = root.message ?? '';
  if (typeof code !== 'number' || !Number.isInteger(code)) throw badJson(`code: expected an integer, got ${JSON.stringify(code)}`);
  if (typeof message !== 'string') throw badJson(`message: expected a string, got ${JSON.stringify(message)}`);
  return { code, message };
}

function badJson(message: string): PermanentError {
  return new PermanentError('PULSE_ERR_BAD_JSON', `invalid OTLP/JSON: ${message}`);
}

function parseJsonObject(text: string, what: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (err) {
    throw new PermanentError('PULSE_ERR_BAD_JSON', `invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof root !== 'object' || root === null || Array.isArray(root)) {
    throw badJson(`expected a ${what} object, got ${JSON.stringify(root)}`);
  }
  return root as Record<string, unknown>;
}
