/**
 * gRPC length-prefixed message framing (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
 * each message on the HTTP/2 stream is `Compressed-Flag (1 byte: 0 or 1) | Message-Length (4 bytes, big-endian) |
 * Message`. A unary OTLP export carries exactly one message, but a body may hold several.
 */
import { PermanentError } from '../core/errors.js';

export interface GrpcFrame {
  /** The message is compressed with the call's `grpc-encoding` (e.g. gzip) and must be decompressed first. */
  compressed: boolean;
  /** A view into the body passed to `parseGrpcFrames` (no copy); decoders copy what they keep. */
  message: Buffer;
}

export const GRPC_FRAME_HEADER_BYTES = 5;

export function encodeGrpcFrame(message: Uint8Array, compressed: boolean): Buffer {
  const frame = Buffer.allocUnsafe(GRPC_FRAME_HEADER_BYTES + message.length);
  frame[0] = compressed ? 1 : 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, GRPC_FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Splits a request body into its messages.
 *
 * Throws `PermanentError('PULSE_ERR_TOO_LARGE')` as soon as a frame header announces a message longer than
 * `maxMessageBytes` (so a receiver can answer RESOURCE_EXHAUSTED without buffering it; for a compressed message the
 * limit applies to the compressed bytes, and the receiver should bound the decompressed size too), and
 * `PermanentError('PULSE_ERR_BAD_GRPC_FRAME')` for a truncated header or message or an unknown flag value.
 */
export function parseGrpcFrames(body: Buffer, maxMessageBytes: number): GrpcFrame[] {
  const frames: GrpcFrame[] = [];
  let pos = 0;
  while (pos < body.length) {
    const left = body.length - pos;
    if (left < GRPC_FRAME_HEADER_BYTES) {
      throw new PermanentError(
        'PULSE_ERR_BAD_GRPC_FRAME',
        `truncated gRPC frame header at byte ${pos}: needs ${GRPC_FRAME_HEADER_BYTES} bytes, ${left} left`,
      );
    }
    const flag = body[pos]!;
    if (flag > 1) {
      throw new PermanentError('PULSE_ERR_BAD_GRPC_FRAME', `invalid gRPC frame at byte ${pos}: compressed flag is ${flag}, must be 0 or 1`);
    }
    const length = body.readUInt32BE(pos + 1);
    if (length > maxMessageBytes) {
      throw new PermanentError(
        'PULSE_ERR_TOO_LARGE',
        `gRPC message of ${length} bytes exceeds the limit of ${maxMessageBytes} bytes; send smaller batches or raise the receiver's max message size`,
      );
    }
    const start = pos + GRPC_FRAME_HEADER_BYTES;
    if (length > body.length - start) {
      throw new PermanentError(
        'PULSE_ERR_BAD_GRPC_FRAME',
        `truncated gRPC message at byte ${pos}: the frame announces ${length} bytes, ${body.length - start} left`,
      );
    }
    frames.push({ compressed: flag === 1, message: body.subarray(start, start + length) });
    pos = start + length;
  }
  return frames;
}
