/**
 * Per-test fixtures the OTLP exporter test files share: before each test, a fresh temp dir and settings for
 * exporter `id`; after it, every exporter in `exporters` shut down (200 ms to drain), then every server in
 * `servers` closed, and the dir removed.
 */
import { afterEach, beforeEach } from 'vitest';
import type { TraceBatch } from '../../../src/core/model.js';
import type { QueuedExporter } from '../../../src/exporters/exporterhelper/index.js';
import { makeSettings, tempDir, type TestSettings } from './settings.js';

export interface OtlpTestBed<S> {
  /** This test's temp dir. */
  dir: Awaited<ReturnType<typeof tempDir>>;
  /** This test's settings (id, captured logs, a fresh metrics registry). */
  settings: TestSettings;
  /** Shut down after each test. */
  exporters: Array<QueuedExporter<TraceBatch>>;
  /** Closed after each test, after the exporters; a test that closed one itself may reset the list. */
  servers: S[];
  /** Starts a fake destination with `startServer(port)` (0: a free port) and adds it to `servers`. */
  server(port?: number): Promise<S>;
}

export function useOtlpTestBed<S extends { close(): Promise<void> }>(
  id: string,
  startServer: (port: number) => Promise<S>,
): OtlpTestBed<S> {
  const bed: OtlpTestBed<S> = {
    // dir and settings are set before each test, the only time they are read.
    dir: undefined as unknown as OtlpTestBed<S>['dir'],
    settings: undefined as unknown as TestSettings,
    exporters: [],
    servers: [],
    async server(port = 0) {
      const s = await startServer(port);
      bed.servers.push(s);
      return s;
    },
  };

  beforeEach(async () => {
    bed.dir = await tempDir();
    bed.settings = makeSettings(bed.dir.path, id);
  });

  afterEach(async () => {
    await Promise.all(bed.exporters.map((e) => e.shutdown(Date.now() + 200)));
    await Promise.all(bed.servers.map((s) => s.close()));
    bed.exporters = [];
    bed.servers = [];
    await bed.dir.remove();
  });

  return bed;
}
