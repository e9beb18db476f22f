/**
 * OTLP trace codecs: request bytes ↔ Pulse's internal model (src/core/model.ts), for protobuf and the OTLP/JSON
 * mapping, plus the response messages and gRPC message framing that receivers and exporters share.
 * Implementations live beside this file; this is the API the rest of Pulse uses.
 */
export type { DecodeResult } from './decode-result.js';
