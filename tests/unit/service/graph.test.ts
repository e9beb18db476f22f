import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Host } from '../../../src/core/component.js';
import { PulseError, RetryableError } from '../../../src/core/errors.js';
import { MetricsRegistry } from '../../../src/core/telemetry.js';
import { PipelineGraph } from '../../../src/service/graph.js';
import { startOrder } from '../../../src/service/start-order.js';
import { fakeRegistry, makeBatch, makeConfig, silentLogger, spanNames, type ConfigSpec } from './fakes.js';

const host: Host = { reportFatalError: () => undefined };

function build(spec: ConfigSpec) {
  const fakes = fakeRegistry();
  const metrics = new MetricsRegistry();
  const graph = PipelineGraph.build(makeConfig(spec), fakes.registry, { logger: silentLogger(), metrics });
  return { ...fakes, graph, metrics };
}

const onePipeline: ConfigSpec = {
  receivers: { fake: {} },
  processors: { 'fakeproc/a': {}, 'fakeproc/b': {} },
  exporters: { 'rec/1': {}, 'rec/2': {} },
  pipelines: { traces: { receivers: ['fake'], processors: ['fakeproc/a', 'fakeproc/b'], exporters: ['rec/1', 'rec/2'] } },
};

describe('PipelineGraph lifecycle', () => {
  it('starts exporters, then processors from the exporter end, then receivers; shuts down in reverse', async () => {
    const { graph, events } = build(onePipeline);
    await graph.start(host);
    expect(graph.state).toBe('running');
    expect(events).toEqual(['start exporter rec/1', 'start exporter rec/2', 'start processor fakeproc/b', 'start processor fakeproc/a', 'start receiver fake']);
    events.length = 0;
    const report = await graph.shutdown(1000);
    expect(report).toEqual({ unfinished: [], failed: [] });
    expect(events).toEqual([
      'shutdown receiver fake',
      'shutdown processor fakeproc/a',
      'shutdown processor fakeproc/b',
      'shutdown exporter rec/2',
      'shutdown exporter rec/1',
    ]);
    expect(graph.state).toBe('stopped');
    // idempotent
    await graph.shutdown(1000);
    expect(events).toHaveLength(5);
  });

  it('on a start failure stops what started, in reverse, and names the failing component', async () => {
    const { graph, events } = build({ ...onePipeline, processors: { 'fakeproc/a': {}, 'fakeproc/b': { fail_start: 'no such file: rules.yaml' } } });
    const err = await graph.start(host).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PulseError);
    expect((err as PulseError).code).toBe('PULSE_ERR_START');
    expect((err as PulseError).message).toBe('processor fakeproc/b (pipeline traces): no such file: rules.yaml');
    expect(events).toEqual(['start exporter rec/1', 'start exporter rec/2', 'start processor fakeproc/b', 'shutdown exporter rec/2', 'shutdown exporter rec/1']);
    expect(graph.state).toBe('failed');
  });

  it('reports a receiver that cannot listen as "receiver <id>: <reason>"', async () => {
    const { graph } = build({ ...onePipeline, receivers: { fake: { fail_start: 'listen EADDRINUSE 0.0.0.0:4318' } } });
    await expect(graph.start(host)).rejects.toThrow('receiver fake: listen EADDRINUSE 0.0.0.0:4318');
  });

  it('gives every component its id, kind, metrics and a data directory under service.dataDir', () => {
    const { settings, metrics } = build({ ...onePipeline, dataDir: '/var/lib/pulse' });
    const exporter = settings.find((s) => s.id === 'rec/1')!;
    expect(exporter.kind).toBe('exporter');
    expect(exporter.dataDir).toBe(join('/var/lib/pulse', 'exporter', 'rec_1'));
    expect(exporter.metrics).toBe(metrics);
    expect(settings.find((s) => s.id === 'fake')!.dataDir).toBe(join('/var/lib/pulse', 'receiver', 'fake'));
  });

  it('tells every component the deadline it has to stop by', async () => {
    const { graph, receivers, processors, exporters } = build(onePipeline);
    await graph.start(host);
    const before = Date.now();
    await graph.shutdown(1000);
    const after = Date.now();
    const told = [...receivers.values(), ...processors, ...exporters.values()].map((c) => c.shutdownDeadline);
    expect(told).toHaveLength(5);
    // One deadline for the whole sequence, not a fresh timeout per component.
    expect(new Set(told).size).toBe(1);
    expect(told[0]).toBeGreaterThanOrEqual(before + 1000);
    expect(told[0]).toBeLessThanOrEqual(after + 1000);
  });

  it('waits at most the deadline for a component that does not stop, and still stops the rest', async () => {
    const { graph, events } = build({ ...onePipeline, processors: { 'fakeproc/a': { hang_shutdown: true }, 'fakeproc/b': {} } });
    await graph.start(host);
    const report = await graph.shutdown(50);
    expect(report.unfinished).toEqual(['processor fakeproc/a (pipeline traces)']);
    expect(events.slice(-3)).toEqual(['shutdown processor fakeproc/b', 'shutdown exporter rec/2', 'shutdown exporter rec/1']);
  });

  it('drains exporters side by side: one that does not stop leaves the others their time', async () => {
    // rec/2 stops first and never finishes (an endpoint that black-holes); rec/1 needs 50 ms of the 300 ms.
    // Awaited in turn, rec/1 was only told to stop when the deadline had passed, and was counted unfinished too.
    const { graph, exporters } = build({ ...onePipeline, exporters: { 'rec/1': { shutdown_ms: 50 }, 'rec/2': { hang_shutdown: true } } });
    await graph.start(host);
    const begin = Date.now();
    const report = await graph.shutdown(300);
    expect(report).toEqual({ unfinished: ['exporter rec/2'], failed: [] });
    expect(exporters.get('rec/1')!.shutdownDeadline).toBeGreaterThanOrEqual(begin + 300);
    // Still bounded by the one deadline.
    expect(Date.now() - begin).toBeLessThan(1000);
  });

  it('forwards a fatal error with the component name, and ignores reports once shutdown began', async () => {
    const reported: Error[] = [];
    const { graph, receivers } = build(onePipeline);
    await graph.start({ reportFatalError: (e) => reported.push(e) });
    receivers.get('fake')!.host!.reportFatalError(new Error('socket closed'));
    expect(reported.map((e) => e.message)).toEqual(['receiver fake: socket closed']);
    await graph.shutdown(100);
    receivers.get('fake')!.host!.reportFatalError(new Error('late'));
    expect(reported).toHaveLength(1);
  });
});

describe('PipelineGraph wiring', () => {
  it('shares one exporter instance and one receiver instance between pipelines, with a processor per pipeline', async () => {
    const { graph, receivers, exporters, processors } = build({
      receivers: { fake: {} },
      processors: { fakeproc: {} },
      exporters: { rec: {} },
      pipelines: {
        'traces/a': { receivers: ['fake'], processors: ['fakeproc'], exporters: ['rec'] },
        'traces/b': { receivers: ['fake'], processors: ['fakeproc'], exporters: ['rec'] },
      },
    });
    expect(receivers.size).toBe(1);
    expect(exporters.size).toBe(1);
    expect(processors).toHaveLength(2);
    await graph.start(host);
    await receivers.get('fake')!.push(makeBatch(2));
    // one batch through each pipeline into the shared exporter
    expect(exporters.get('rec')!.received).toHaveLength(2);
  });

  it('gives a pipeline that mutates a copy, so another pipeline sees the data unmodified', async () => {
    const { graph, receivers, exporters } = build({
      receivers: { fake: {} },
      processors: { fakeproc: { mutates: true } },
      exporters: { 'rec/changed': {}, 'rec/plain': {} },
      pipelines: {
        'traces/changed': { receivers: ['fake'], processors: ['fakeproc'], exporters: ['rec/changed'] },
        'traces/plain': { receivers: ['fake'], exporters: ['rec/plain'] },
      },
    });
    await graph.start(host);
    const batch = makeBatch(2);
    await receivers.get('fake')!.push(batch);
    expect(spanNames(exporters.get('rec/changed')!.received[0]!)).toEqual(['s-0+', 's-1+']);
    expect(spanNames(exporters.get('rec/plain')!.received[0]!)).toEqual(['s-0', 's-1']);
    expect(exporters.get('rec/plain')!.received[0]).toBe(batch);
  });

  it('copies for a pipeline whose mutating consumer sits behind a read-only processor', async () => {
    const { graph, receivers, exporters } = build({
      receivers: { fake: {} },
      processors: { fakeproc: {} },
      exporters: { 'rec/mutating': { mutates: true }, 'rec/plain': {} },
      pipelines: {
        'traces/a': { receivers: ['fake'], processors: ['fakeproc'], exporters: ['rec/mutating'] },
        'traces/b': { receivers: ['fake'], exporters: ['rec/plain'] },
      },
    });
    await graph.start(host);
    await receivers.get('fake')!.push(makeBatch(1));
    const plain = exporters.get('rec/plain')!.received[0]!;
    expect(plain.resourceSpans[0]!.resource.attributes.map((a) => a.key)).toEqual(['service.name']);
  });

  it("propagates an exporter's refusal to the receiver's consume promise", async () => {
    const { graph, receivers, exporters } = build(onePipeline);
    await graph.start(host);
    const refusal = new RetryableError('PULSE_ERR_QUEUE_FULL', 'sending queue is full', { resourceExhausted: true });
    exporters.get('rec/2')!.refuseWith = refusal;
    await expect(receivers.get('fake')!.push(makeBatch(3))).rejects.toBe(refusal);
    // the other exporter was still attempted
    expect(exporters.get('rec/1')!.received).toHaveLength(1);
  });

  it('counts incoming, outgoing and refused items per processor and pipeline', async () => {
    const { graph, receivers, exporters, metrics } = build({
      receivers: { fake: {} },
      processors: { 'fakeproc/filter': { drop_odd: true }, 'fakeproc/pass': {} },
      exporters: { rec: {} },
      pipelines: { traces: { receivers: ['fake'], processors: ['fakeproc/filter', 'fakeproc/pass'], exporters: ['rec'] } },
    });
    await graph.start(host);
    await receivers.get('fake')!.push(makeBatch(10));
    exporters.get('rec')!.refuseWith = new RetryableError('PULSE_ERR_DOWN', 'down');
    await expect(receivers.get('fake')!.push(makeBatch(4))).rejects.toThrow('down');
    const get = (name: string, processor: string) => metrics.find(name)!.get({ processor, pipeline: 'traces' });
    expect(get('pulse_processor_incoming_items_total', 'fakeproc/filter')).toBe(14);
    expect(get('pulse_processor_outgoing_items_total', 'fakeproc/filter')).toBe(7);
    expect(get('pulse_processor_refused_items_total', 'fakeproc/filter')).toBe(4);
    expect(get('pulse_processor_incoming_items_total', 'fakeproc/pass')).toBe(7);
    expect(get('pulse_processor_outgoing_items_total', 'fakeproc/pass')).toBe(7);
    expect(get('pulse_processor_refused_items_total', 'fakeproc/pass')).toBe(2);
  });

  it('refuses a config that names an unknown component type, naming it', () => {
    const fakes = fakeRegistry();
    const config = makeConfig(onePipeline);
    const broken = { ...config, exporters: new Map([...config.exporters, ['rec/2', { ...config.exporters.get('rec/2')!, type: 'kafka' }]]) };
    expect(() => PipelineGraph.build(broken, fakes.registry, { logger: silentLogger(), metrics: new MetricsRegistry() })).toThrow(
      'exporter rec/2: unknown exporter type "kafka" (known: rec)',
    );
  });
});

describe('startOrder', () => {
  it('refuses a cycle, naming the components on it', () => {
    const nodes = [
      { key: 'exporter/x', kind: 'exporter' as const },
      { key: 'receiver/x', kind: 'receiver' as const },
    ];
    expect(() =>
      startOrder(nodes, [
        ['receiver/x', 'exporter/x'],
        ['exporter/x', 'receiver/x'],
      ]),
    ).toThrow(/cycle: exporter\/x, receiver\/x/);
  });

  it('starts a connector-like node after what it feeds even when its kind would go first', () => {
    const nodes = [
      { key: 'receiver/r', kind: 'receiver' as const },
      { key: 'exporter/conn', kind: 'exporter' as const },
      { key: 'receiver/conn', kind: 'receiver' as const },
      { key: 'exporter/out', kind: 'exporter' as const },
    ];
    const order = startOrder(nodes, [
      ['receiver/r', 'exporter/conn'],
      ['exporter/conn', 'receiver/conn'],
      ['receiver/conn', 'exporter/out'],
    ]).map((n) => n.key);
    expect(order).toEqual(['exporter/out', 'receiver/conn', 'exporter/conn', 'receiver/r']);
  });
});

describe('PipelineGraph with connectors', () => {
  /** otlp-like receiver → connector → a traces pipeline and an attempts pipeline, as the journeys connector runs. */
  const joined: ConfigSpec = {
    receivers: { fake: {} },
    processors: { 'fakeproc/in': {}, 'fakeproc/out': {} },
    exporters: { 'rec/traces': {}, 'rec/attempts': {} },
    connectors: { split: {} },
    pipelines: {
      'traces/in': { receivers: ['fake'], processors: ['fakeproc/in'], exporters: ['split'] },
      'traces/out': { receivers: ['split'], processors: ['fakeproc/out'], exporters: ['rec/traces'] },
      attempts: { receivers: ['split'], exporters: ['rec/attempts'] },
    },
  };

  it('starts everything downstream of the connector first, and shuts down upstream first', async () => {
    const { graph, events } = build(joined);
    expect(graph.componentNames).toEqual([
      'exporter rec/traces',
      'exporter rec/attempts',
      'processor fakeproc/out (pipeline traces/out)',
      'connector split',
      'processor fakeproc/in (pipeline traces/in)',
      'receiver fake',
    ]);
    await graph.start(host);
    expect(events).toEqual([
      'start exporter rec/traces',
      'start exporter rec/attempts',
      'start processor fakeproc/out',
      'start connector split',
      'start processor fakeproc/in',
      'start receiver fake',
    ]);
    events.length = 0;
    expect(await graph.shutdown(1000)).toEqual({ unfinished: [], failed: [] });
    expect(events).toEqual([
      'shutdown receiver fake',
      'shutdown processor fakeproc/in',
      'shutdown connector split',
      'shutdown processor fakeproc/out',
      'shutdown exporter rec/attempts',
      'shutdown exporter rec/traces',
    ]);
  });

  it('carries data through the connector into every pipeline it feeds, and lets it flush into them at shutdown', async () => {
    const { graph, receivers, exporters, attemptExporters, connectors, connectorOutputs } = build(joined);
    expect(connectorOutputs).toEqual([['traces', 'attempts']]);
    await graph.start(host);
    await receivers.get('fake')!.push(makeBatch(3));
    expect(exporters.get('rec/traces')!.received.map(spanNames)).toEqual([['s-0', 's-1', 's-2']]);
    expect(attemptExporters.get('rec/attempts')!.received.map((a) => a.journey)).toEqual(['s-0', 's-1', 's-2']);
    await graph.shutdown(1000);
    // The connector stopped while the attempts pipeline still ran, so its last records were delivered.
    expect(connectors.get('split')!.flushResult).toBe('accepted');
    expect(attemptExporters.get('rec/attempts')!.received.at(-1)!.journey).toBe('flushed');
  });

  it('gives the connector an output only for the signals some pipeline receives from it', () => {
    const { connectorOutputs } = build({
      receivers: { fake: {} },
      exporters: { rec: {} },
      connectors: { split: {} },
      pipelines: {
        'traces/in': { receivers: ['fake'], exporters: ['split'] },
        'traces/out': { receivers: ['split'], exporters: ['rec'] },
      },
    });
    expect(connectorOutputs).toEqual([['traces']]);
  });

  it('creates one instance of an exporter per signal, each with its own data directory', () => {
    const { graph, settings } = build({
      receivers: { fake: {} },
      exporters: { rec: {} },
      connectors: { split: {} },
      pipelines: {
        'traces/in': { receivers: ['fake'], exporters: ['split', 'rec'] },
        attempts: { receivers: ['split'], exporters: ['rec'] },
      },
      dataDir: '/d',
    });
    expect(graph.componentNames.filter((n) => n.startsWith('exporter'))).toEqual(['exporter rec (attempts)', 'exporter rec (traces)']);
    expect(settings.filter((s) => s.id === 'rec').map((s) => s.dataDir)).toEqual([join('/d', 'exporter', 'rec@attempts'), join('/d', 'exporter', 'rec')]);
    expect(settings.find((s) => s.kind === 'connector')).toMatchObject({ id: 'split', dataDir: join('/d', 'connector', 'split') });
  });

  it('counts the items of processors in attempts pipelines', async () => {
    const { graph, receivers, metrics } = build({
      receivers: { fake: {} },
      processors: { fakeproc: {} },
      exporters: { rec: {} },
      connectors: { split: {} },
      pipelines: {
        traces: { receivers: ['fake'], exporters: ['split'] },
        attempts: { receivers: ['split'], processors: ['fakeproc'], exporters: ['rec'] },
      },
    });
    await graph.start(host);
    await receivers.get('fake')!.push(makeBatch(4));
    expect(metrics.find('pulse_processor_incoming_items_total')!.get({ processor: 'fakeproc', pipeline: 'attempts' })).toBe(4);
    expect(metrics.find('pulse_processor_outgoing_items_total')!.get({ processor: 'fakeproc', pipeline: 'attempts' })).toBe(4);
    await graph.shutdown(1000);
  });

  it('refuses pipelines that form a cycle through connectors, naming the loop', () => {
    const self = () =>
      build({
        receivers: { fake: {} },
        exporters: { rec: {} },
        connectors: { split: {} },
        pipelines: {
          'traces/a': { receivers: ['fake'], exporters: ['split'] },
          'traces/b': { receivers: ['split'], exporters: ['split', 'rec'] },
        },
      });
    expect(self).toThrow(expect.objectContaining({ code: 'PULSE_ERR_CYCLE' }) as Error);
    expect(self).toThrow('traces/b → (split) → traces/b');
    const two = () =>
      build({
        receivers: { fake: {} },
        exporters: { rec: {} },
        connectors: { 'split/1': {}, 'split/2': {} },
        pipelines: {
          'traces/a': { receivers: ['fake', 'split/2'], exporters: ['split/1'] },
          'traces/b': { receivers: ['split/1'], exporters: ['split/2', 'rec'] },
        },
      });
    expect(two).toThrow('the pipelines form a cycle through connectors (traces/a → (split/1) → traces/b → (split/2) → traces/a)');
  });

  it('refuses a connector used on one side only', () => {
    expect(() =>
      build({
        receivers: { fake: {} },
        exporters: { rec: {} },
        connectors: { split: {} },
        pipelines: { traces: { receivers: ['fake'], exporters: ['split', 'rec'] } },
      }),
    ).toThrow('connector split is fed by pipeline traces but no pipeline lists it under receivers');
  });
});
