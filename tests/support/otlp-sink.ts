/**
 * A next-hop OTLP endpoint for integration tests: it accepts what Pulse's `otlphttp` and `otlp` exporters forward
 * and records every batch it accepted. A thin view over the scripted fake servers the exporter tests use
 * (fake-otlp-servers.ts), always answering 200 / grpc-status 0.
 */
import type { TraceBatch } from '../../src/core/model.js';
import { startFakeGrpcOtlp, startFakeHttpOtlp, type FakeGrpcOtlp, type FakeHttpOtlp } from './fake-otlp-servers.js';

export interface OtlpSink {
  readonly port: number;
  /** Batches accepted so far, in arrival order. */
  readonly batches: TraceBatch[];
  spanCount(): number;
  close(): Promise<void>;
}

function sinkOf(server: FakeHttpOtlp | FakeGrpcOtlp): OtlpSink {
  return {
    port: server.port,
    get batches() {
      return server.delivered();
    },
    spanCount: () => server.delivered().reduce((n, b) => n + b.spanCount, 0),
    close: () => server.close(),
  };
}

export async function startHttpSink(): Promise<OtlpSink> {
  return sinkOf(await startFakeHttpOtlp());
}

export async function startGrpcSink(): Promise<OtlpSink> {
  return sinkOf(await startFakeGrpcOtlp());
}
