/**
 * Entry point of the derived-signals worker thread (see main-side.ts): builds the worker half of the graph with
 * the built-in components, starts it when told, answers metrics requests, and shuts it down and exits when told.
 * Uncaught errors end the thread, which the main side reports as fatal.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { defaultRegistry } from '../../components.js';
import { errorMessage } from '../../core/errors.js';
import { createRootLogger } from '../../core/logger.js';
import { MetricsRegistry } from '../../core/telemetry.js';
import { PipelineGraph } from '../graph.js';
import { CONTROL, PortLink, type Envelope } from './link.js';
import type { FromWorker, ToWorker, WorkerInit } from './main-side.js';

const port = parentPort;
if (port === null) throw new Error('service/derived-worker/thread.js runs as a worker thread only');
const init = workerData as WorkerInit;

const logger = createRootLogger({ level: init.logLevel as 'info' }).child({ thread: 'derived' });
const metrics = new MetricsRegistry();
const heap = metrics.gauge('pulse_worker_heap_used_bytes', 'V8 heap in use by the derived-signals worker thread, in bytes.');
heap.observe((set) => set({ thread: 'derived' }, process.memoryUsage().heapUsed));
const limit = metrics.gauge('pulse_worker_heap_limit_bytes', 'Heap limit of the derived-signals worker thread (service.derived_signals.max_heap plus its young generation), in bytes.');
limit.observe((set) => set({ thread: 'derived' }, getHeapStatistics().heap_size_limit));

const link = new PortLink('worker', port);
const reply = (m: FromWorker): void => link.post(CONTROL, m);
let graph: PipelineGraph;
try {
  graph = PipelineGraph.build(init.config, defaultRegistry(), { logger, metrics }, { link, bridged: new Set(init.bridged) });
} catch (err) {
  reply({ type: 'failed', message: errorMessage(err) });
  throw err;
}

link.listen(CONTROL, (m) => {
  const message = m as ToWorker;
  switch (message.type) {
    case 'start':
      graph.start({ reportFatalError: (err) => reply({ type: 'fatal', message: err.message }) }).then(
        () => reply({ type: 'started' }),
        (err: unknown) => reply({ type: 'failed', message: errorMessage(err) }),
      );
      return;
    case 'metrics':
      reply({ type: 'metrics', id: message.id, families: metrics.families() });
      return;
    case 'shutdown':
      void graph.shutdown(message.deadlineMs).then((report) => {
        reply({ type: 'stopped', report });
        port.close();
      });
      return;
  }
});
port.on('message', (m: Envelope) => link.deliver(m));
