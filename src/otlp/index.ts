/**
 * OTLP trace codecs: request bytes ↔ Pulse's internal model (src/core/model.ts), for protobuf and the OTLP/JSON
 * mapping, plus the response messages and gRPC message framing that receivers and exporters share.
 * Implementations live beside this file; this is the API the rest of Pulse uses.
 *
 * Every decoder throws only `PermanentError` for bad input: code `PULSE_ERR_BAD_PROTOBUF`, `PULSE_ERR_BAD_JSON`,
 * `PULSE_ERR_BAD_GRPC_FRAME`, or `PULSE_ERR_TOO_LARGE` (a gRPC frame over the size limit).
 */
export type { DecodeResult } from './decode-result.js';
export { decodeTraceRequest } from './proto-decode.js';
export { encodeTraceRequest } from './proto-encode.js';
export { decodeTraceRequestJson } from './json-decode.js';
export { encodeTraceRequestJson } from './json-encode.js';
export {
  decodeStatus,
  decodeStatusJson,
  decodeTraceResponse,
  decodeTraceResponseJson,
  encodeStatus,
  encodeStatusJson,
  encodeTraceResponse,
  encodeTraceResponseJson,
  RETRY_INFO_TYPE_URL,
  type RpcStatus,
  type TraceResponse,
} from './responses.js';
export { encodeGrpcFrame, parseGrpcFrames, GRPC_FRAME_HEADER_BYTES, type GrpcFrame } from './grpc-frames.js';
