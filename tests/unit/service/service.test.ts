import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigIssue, PulseConfig } from '../../../src/config/model.js';
import { Service, type LoadResult } from '../../../src/service/service.js';
import { fakeRegistry, makeBatch, makeConfig, silentLogger, type ConfigSpec } from './fakes.js';

const running: Service[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.shutdown()));
});

const base: ConfigSpec = {
  receivers: { fake: {} },
  exporters: { 'rec/old': {} },
  pipelines: { traces: { receivers: ['fake'], exporters: ['rec/old'] } },
  health: '127.0.0.1:0',
  metrics: '127.0.0.1:0',
};

const swapped: ConfigSpec = { ...base, exporters: { 'rec/new': {} }, pipelines: { traces: { receivers: ['fake'], exporters: ['rec/new'] } } };

function makeService(opts: { load?: (path: string) => LoadResult; onFatalError?: (e: Error) => void } = {}) {
  const fakes = fakeRegistry();
  const service = new Service({
    registry: fakes.registry,
    logger: silentLogger(),
    version: 'test',
    ...(opts.load ? { loadConfig: opts.load } : {}),
    ...(opts.onFatalError ? { onFatalError: opts.onFatalError } : {}),
  });
  running.push(service);
  return { ...fakes, service };
}

async function readyz(service: Service): Promise<number> {
  const a = service.healthAddress!;
  return (await fetch(`http://${a.host}:${a.port}/readyz`)).status;
}

describe('Service', () => {
  it('is ready once every pipeline runs, and not ready once shutdown begins', async () => {
    const { service, receivers, exporters } = makeService();
    expect(service.readiness()).toEqual({ ready: false, reason: 'starting' });
    await service.start(makeConfig(base));
    expect(await readyz(service)).toBe(200);
    await receivers.get('fake')!.push(makeBatch(2));
    expect(exporters.get('rec/old')!.received).toHaveLength(1);
    const stopping = service.shutdown();
    expect(service.readiness()).toEqual({ ready: false, reason: 'shutting down' });
    await stopping;
    expect(exporters.get('rec/old')!.running).toBe(false);
  });

  it('fails to start with the component named and leaves nothing listening', async () => {
    const { service, events } = makeService();
    const config = makeConfig({ ...base, receivers: { fake: { fail_start: 'listen EADDRINUSE 0.0.0.0:4318' } } });
    await expect(service.start(config)).rejects.toMatchObject({ code: 'PULSE_ERR_START', message: 'receiver fake: listen EADDRINUSE 0.0.0.0:4318' });
    expect(events).toEqual(['start exporter rec/old', 'start receiver fake', 'shutdown exporter rec/old']);
    expect(service.healthAddress).toBeUndefined();
  });

  it('reload with a valid config drains the old graph, then runs the new one', async () => {
    const { service, receivers, exporters, events } = makeService();
    await service.start(makeConfig(base));
    const oldReceiver = receivers.get('fake')!;
    const outcome = await service.reload(makeConfig(swapped));
    expect(outcome.status).toBe('reloaded');
    expect(events.slice(2)).toEqual(['shutdown receiver fake', 'shutdown exporter rec/old', 'start exporter rec/new', 'start receiver fake']);
    const newReceiver = receivers.get('fake')!;
    expect(newReceiver).not.toBe(oldReceiver);
    await newReceiver.push(makeBatch(1));
    expect(exporters.get('rec/new')!.received).toHaveLength(1);
    expect(exporters.get('rec/old')!.received).toHaveLength(0);
    expect(service.config!.exporters.has('rec/new')).toBe(true);
    expect(await readyz(service)).toBe(200);
    expect(service.metricsRegistry.find('pulse_service_reloads_total')!.get({ result: 'reloaded' })).toBe(1);
  });

  it('reloadFromFile with an invalid file keeps the running graph untouched', async () => {
    const issues: ConfigIssue[] = [{ file: 'pulse.yaml', line: 7, col: 5, message: 'unknown exporter type "kafak"; did you mean "kafka"?' }];
    const { service, receivers, exporters, events } = makeService({ load: () => ({ issues }) });
    await service.start(makeConfig(base));
    const outcome = await service.reloadFromFile();
    expect(outcome).toEqual({ status: 'invalid', issues });
    expect(events).toEqual(['start exporter rec/old', 'start receiver fake']);
    await receivers.get('fake')!.push(makeBatch(3));
    expect(exporters.get('rec/old')!.received).toHaveLength(1);
    expect(await readyz(service)).toBe(200);
  });

  it('reloadFromFile with a valid file swaps the graph', async () => {
    const { service, exporters } = makeService({ load: () => ({ config: makeConfig(swapped) }) });
    await service.start(makeConfig(base));
    expect((await service.reloadFromFile()).status).toBe('reloaded');
    expect(exporters.get('rec/new')!.running).toBe(true);
  });

  it('refuses a config whose components cannot be created, without stopping anything', async () => {
    const { service, events } = makeService();
    await service.start(makeConfig(base));
    const config = makeConfig(swapped);
    const broken: PulseConfig = { ...config, exporters: new Map([['rec/new', { ...config.exporters.get('rec/new')!, type: 'nope' }]]) };
    const outcome = await service.reload(broken);
    expect(outcome.status).toBe('not-built');
    expect(events).toEqual(['start exporter rec/old', 'start receiver fake']);
  });

  it('when the new graph fails to start, runs the previous config again', async () => {
    const { service, receivers, exporters } = makeService();
    await service.start(makeConfig(base));
    const outcome = await service.reload(makeConfig({ ...swapped, exporters: { 'rec/new': { fail_start: 'connection refused' } } }));
    expect(outcome).toMatchObject({ status: 'rolled-back', error: { message: 'exporter rec/new: connection refused' } });
    expect(service.config!.exporters.has('rec/old')).toBe(true);
    await receivers.get('fake')!.push(makeBatch(1));
    expect(exporters.get('rec/old')!.received).toHaveLength(1);
    expect(await readyz(service)).toBe(200);
  });

  it('on a reload, an exporter the new config has too hands over to its new instance; one it lacks does not', async () => {
    const { service, receivers, exporters, events } = makeService();
    const two: ConfigSpec = { ...base, exporters: { 'rec/old': {}, 'rec/gone': {} }, pipelines: { traces: { receivers: ['fake'], exporters: ['rec/old', 'rec/gone'] } } };
    await service.start(makeConfig(two));
    await receivers.get('fake')!.push(makeBatch(2));
    const before = exporters.get('rec/old')!;
    expect((await service.reload(makeConfig({ ...base, health: '127.0.0.1:0' }))).status).toBe('reloaded');
    expect(events).toContain('hand over exporter rec/old');
    expect(events).not.toContain('hand over exporter rec/gone');
    const after = exporters.get('rec/old')!;
    expect(after).not.toBe(before);
    expect(after.inherited).toHaveLength(1);
    // At shutdown nothing is handed over: it drains.
    events.length = 0;
    await service.shutdown();
    expect(events).not.toContain('hand over exporter rec/old');
  });

  it('when the new graph fails to start, the previous config takes back what was handed over', async () => {
    const { service, receivers, exporters } = makeService();
    await service.start(makeConfig(base));
    await receivers.get('fake')!.push(makeBatch(1));
    const failing: ConfigSpec = {
      ...base,
      exporters: { 'rec/old': {}, 'rec/new': { fail_start: 'connection refused' } },
      pipelines: { traces: { receivers: ['fake'], exporters: ['rec/old', 'rec/new'] } },
    };
    expect((await service.reload(makeConfig(failing))).status).toBe('rolled-back');
    const restarted = exporters.get('rec/old')!;
    expect(restarted.inherited).toHaveLength(1);
    expect(restarted.droppedHandover).toBe(0);
  });

  it('passes a fatal component error, named, to onFatalError', async () => {
    const fatal: Error[] = [];
    const { service, receivers } = makeService({ onFatalError: (e) => fatal.push(e) });
    await service.start(makeConfig(base));
    receivers.get('fake')!.host!.reportFatalError(new Error('listening socket closed'));
    expect(fatal.map((e) => e.message)).toEqual(['receiver fake: listening socket closed']);
  });

  it('does not reload once shutdown has begun', async () => {
    const { service } = makeService();
    await service.start(makeConfig(base));
    const stopping = service.shutdown();
    expect(await service.reload(makeConfig(swapped))).toEqual({ status: 'not-running' });
    await stopping;
  });
});
