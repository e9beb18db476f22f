/**
 * The split of the graph for `service.derived_signals.thread: worker` (`planSplit`) and the message link between
 * the two threads (`PortLink`).
 */
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { ComponentConfig, PulseConfig } from '../../../src/config/model.js';
import { PulseError } from '../../../src/core/errors.js';
import { CONTROL, PortLink, type Envelope, type PortLike } from '../../../src/service/derived-worker/link.js';
import { planSplit } from '../../../src/service/derived-worker/plan.js';
import { makeConfig, type ConfigSpec } from './fakes.js';

// ---- planSplit -------------------------------------------------------------------------------------------------

/** A connector entry as the loader produces it; the type is the id up to a '/'. */
function connector(id: string, config: Record<string, unknown> = {}): [string, ComponentConfig] {
  const [type = id, name = ''] = id.split('/');
  return [id, { id, kind: 'connector', type, name, config }];
}

/**
 * A config with `pipelines` (signal = id up to '/'), `connectors` given by hand (their configs carry `directory`,
 * which the fake schema of fakes.ts would refuse) and `derived_signals.thread: worker`.
 */
function config(pipelines: ConfigSpec['pipelines'], connectors: Array<[string, ComponentConfig]>): PulseConfig {
  const base = makeConfig({ pipelines });
  return { ...base, connectors: new Map(connectors), service: { ...base.service, derivedSignalsThread: 'worker' } };
}

/** The shape of config/pulse.yaml: journeys feeds traces onward and the derived pipelines, slo turns them into alerts. */
function shopConfig(): PulseConfig {
  return config(
    {
      'traces/in': { receivers: ['otlp'], processors: ['memory_limiter'], exporters: ['journeys'] },
      'traces/out': { receivers: ['journeys'], processors: ['batch'], exporters: ['otlp/next'] },
      attempts: { receivers: ['journeys'], exporters: ['clickhouse', 'slo'] },
      journey_metrics: { receivers: ['journeys'], exporters: ['clickhouse', 'slo'] },
      alerts: { receivers: ['slo'], exporters: ['kafka'] },
    },
    [connector('journeys', { directory: 'config/journeys', trace_wait: 10_000 }), connector('slo', { directory: 'config/journeys' })],
  );
}

describe('planSplit', () => {
  it('puts traces pipelines on the main thread and attempts, journey_metrics and alerts pipelines in the worker', () => {
    const plan = planSplit(shopConfig());
    expect(plan).toBeDefined();
    expect([...plan!.main.service.pipelines.keys()]).toEqual(['traces/in', 'traces/out']);
    expect([...plan!.worker.service.pipelines.keys()]).toEqual(['attempts', 'journey_metrics', 'alerts']);
    expect(plan!.worker.service.pipelines.get('alerts')).toEqual({ id: 'alerts', signal: 'alerts', receivers: ['slo'], processors: [], exporters: ['kafka'] });
  });

  it('bridges exactly the connectors fed by a main pipeline that feed a worker pipeline', () => {
    const plan = planSplit(
      config(
        {
          'traces/in': { receivers: ['otlp'], exporters: ['journeys', 'split/copy'] },
          'traces/out': { receivers: ['journeys', 'split/copy'], exporters: ['otlp/next'] },
          attempts: { receivers: ['journeys'], exporters: ['slo'] },
          journey_metrics: { receivers: ['journeys'], exporters: ['slo'] },
          alerts: { receivers: ['slo'], exporters: ['kafka'] },
        },
        [connector('journeys', { directory: 'j' }), connector('split/copy'), connector('slo', { directory: 'j' })],
      ),
    );
    // split/copy stays on main (traces to traces), slo lives wholly in the worker.
    expect([...plan!.bridged]).toEqual(['journeys']);
  });

  it('keeps the worker from splitting again and leaves everything else of the config as it was', () => {
    const input = shopConfig();
    const plan = planSplit(input)!;
    expect(plan.worker.service.derivedSignalsThread).toBe('main');
    expect(plan.main.service.derivedSignalsThread).toBe('worker');
    for (const half of [plan.main, plan.worker]) {
      expect(half.path).toBe(input.path);
      expect(half.connectors).toBe(input.connectors);
      expect(half.service.shutdownTimeoutMs).toBe(input.service.shutdownTimeoutMs);
      expect(half.service.dataDir).toBe(input.service.dataDir);
      expect(half.service.telemetry).toBe(input.service.telemetry);
    }
    // The input is not changed.
    expect(input.service.derivedSignalsThread).toBe('worker');
    expect(input.service.pipelines.size).toBe(5);
  });

  it('lists each journey directory read in the worker once (journeys and slo), and none read only on main', () => {
    const plan = planSplit(
      config(
        {
          'traces/in': { receivers: ['otlp'], exporters: ['journeys/main-only', 'journeys/a', 'journeys/b'] },
          'traces/out': { receivers: ['journeys/main-only'], exporters: ['otlp/next'] },
          attempts: { receivers: ['journeys/a', 'journeys/b'], exporters: ['slo', 'copy'] },
          'attempts/copied': { receivers: ['copy'], exporters: ['debug'] },
          alerts: { receivers: ['slo'], exporters: ['kafka'] },
        },
        [
          connector('journeys/main-only', { directory: 'dir/main-only' }),
          connector('journeys/a', { directory: 'dir/shared' }),
          connector('journeys/b', { directory: 'dir/b' }),
          connector('slo', { directory: 'dir/shared' }),
          // Another connector type with a `directory` field does not read journeys.
          connector('copy', { directory: 'dir/not-journeys' }),
        ],
      ),
    );
    expect([...plan!.journeyDirectories].sort()).toEqual(['dir/b', 'dir/shared']);
    expect([...plan!.bridged].sort()).toEqual(['journeys/a', 'journeys/b']);
  });

  it('returns undefined when there is no derived pipeline to move', () => {
    const plan = planSplit(
      config(
        {
          'traces/in': { receivers: ['otlp'], exporters: ['journeys'] },
          'traces/out': { receivers: ['journeys'], exporters: ['otlp/next'] },
        },
        [connector('journeys', { directory: 'config/journeys' })],
      ),
    );
    expect(plan).toBeUndefined();
  });

  it('refuses, with PULSE_ERR_CREATE and what to do, a connector that turns a derived signal back into traces', () => {
    const cfg = config(
      {
        'traces/in': { receivers: ['otlp'], exporters: ['journeys'] },
        attempts: { receivers: ['journeys'], exporters: ['replay'] },
        'traces/replayed': { receivers: ['replay'], exporters: ['otlp/next'] },
      },
      [connector('journeys', { directory: 'j' }), connector('replay')],
    );
    let thrown: unknown;
    try {
      planSplit(cfg);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(PulseError);
    expect((thrown as PulseError).code).toBe('PULSE_ERR_CREATE');
    expect((thrown as PulseError).message).toMatch(/connector replay turns attempts \(pipeline attempts\) into traces/);
    expect((thrown as PulseError).message).toContain('service.derived_signals.thread');
  });
});

// ---- PortLink --------------------------------------------------------------------------------------------------

/** A port that records what was posted, structured-cloned as a real one would. */
function recordingPort(): PortLike & { posted: Envelope[] } {
  const posted: Envelope[] = [];
  return { posted, postMessage: (m) => posted.push(structuredClone(m) as Envelope) };
}

describe('PortLink', () => {
  it('sends messages posted before attach() in order when the port is attached, then posts directly', () => {
    const link = new PortLink('main');
    expect(link.side).toBe('main');
    link.post(CONTROL, { type: 'start' });
    link.post('journeys', { n: 1 });
    link.post('journeys', { n: 2 });
    const port = recordingPort();
    expect(port.posted).toEqual([]);
    link.attach(port);
    expect(port.posted).toEqual([
      { to: CONTROL, body: { type: 'start' } },
      { to: 'journeys', body: { n: 1 } },
      { to: 'journeys', body: { n: 2 } },
    ]);
    link.post('journeys', { n: 3 });
    expect(port.posted).toHaveLength(4);
    expect(port.posted[3]).toEqual({ to: 'journeys', body: { n: 3 } });
  });

  it('posts at once when built with its port (the worker side)', () => {
    const port = recordingPort();
    const link = new PortLink('worker', port);
    link.post('journeys', { ack: 5 });
    expect(port.posted).toEqual([{ to: 'journeys', body: { ack: 5 } }]);
  });

  it('hands a delivered envelope to the listener of its id only', () => {
    const link = new PortLink('worker', recordingPort());
    const a: unknown[] = [];
    const b: unknown[] = [];
    link.listen('a', (m) => a.push(m));
    link.listen('b', (m) => b.push(m));
    link.deliver({ to: 'a', body: 'for a' });
    link.deliver({ to: 'b', body: 'for b' });
    link.deliver({ to: 'a', body: 'again a' });
    expect(a).toEqual(['for a', 'again a']);
    expect(b).toEqual(['for b']);
  });

  it('holds messages for an id nobody listens to and hands them over, in order, when someone listens', () => {
    const link = new PortLink('worker', recordingPort());
    link.deliver({ to: 'journeys', body: 1 });
    link.deliver({ to: 'other', body: 'x' });
    link.deliver({ to: 'journeys', body: 2 });
    const got: unknown[] = [];
    link.listen('journeys', (m) => got.push(m));
    expect(got).toEqual([1, 2]);
    link.deliver({ to: 'journeys', body: 3 });
    expect(got).toEqual([1, 2, 3]);

    // Handed over once: a later listener of the same id does not get them again; 'other' still waits for its own.
    const again: unknown[] = [];
    link.listen('journeys', (m) => again.push(m));
    expect(again).toEqual([]);
    const other: unknown[] = [];
    link.listen('other', (m) => other.push(m));
    expect(other).toEqual(['x']);
  });

  it('holds at most 1000 messages per id and drops the rest', () => {
    const link = new PortLink('worker', recordingPort());
    for (let i = 0; i < 1005; i++) link.deliver({ to: 'journeys', body: i });
    const got: number[] = [];
    link.listen('journeys', (m) => got.push(m as number));
    expect(got).toHaveLength(1000);
    expect(got[0]).toBe(0);
    expect(got[999]).toBe(999);
  });

  it('stops handing messages to a listener after it unlistens; they wait for the next listener', () => {
    const link = new PortLink('worker', recordingPort());
    const first: unknown[] = [];
    const off = link.listen('journeys', (m) => first.push(m));
    link.deliver({ to: 'journeys', body: 'a' });
    off();
    link.deliver({ to: 'journeys', body: 'b' });
    expect(first).toEqual(['a']);
    const second: unknown[] = [];
    link.listen('journeys', (m) => second.push(m));
    expect(second).toEqual(['b']);
  });

  it('does not remove a newer listener of the same id when an older one unlistens', () => {
    const link = new PortLink('worker', recordingPort());
    const old: unknown[] = [];
    const newer: unknown[] = [];
    const offOld = link.listen('journeys', (m) => old.push(m));
    link.listen('journeys', (m) => newer.push(m));
    offOld();
    link.deliver({ to: 'journeys', body: 'x' });
    expect(newer).toEqual(['x']);
    expect(old).toEqual([]);
  });

  describe('over a real message channel', () => {
    let channel: MessageChannel | undefined;
    afterEach(() => {
      channel?.port1.close();
      channel?.port2.close();
      channel = undefined;
    });

    it('carries messages both ways, in order, with bigints intact, including those posted before attach', async () => {
      channel = new MessageChannel();
      const { port1, port2 } = channel;
      const main = new PortLink('main');
      const worker = new PortLink('worker', port2);
      port1.on('message', (e: Envelope) => main.deliver(e));
      port2.on('message', (e: Envelope) => worker.deliver(e));

      main.post('journeys', { n: 1, t: 1_763_805_600_000_000_001n });
      main.attach(port1);
      main.post('journeys', { n: 2, t: 2n });

      const atWorker: unknown[] = [];
      const ack = new Promise<unknown>((resolve) => main.listen('journeys', resolve));
      await new Promise<void>((resolve) =>
        worker.listen('journeys', (m) => {
          atWorker.push(m);
          if (atWorker.length === 2) resolve();
        }),
      );
      worker.post('journeys', { ack: 2 });
      expect(atWorker).toEqual([
        { n: 1, t: 1_763_805_600_000_000_001n },
        { n: 2, t: 2n },
      ]);
      expect(await ack).toEqual({ ack: 2 });
    });
  });
});
