/**
 * The journeys connector end to end through its factory: real journey files in a temporary directory, the real
 * JourneyStore (hot reload), recording output consumers, and fake timers for the tick and the clock.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConnectorComponent, CreateSettings } from '../../../src/core/component.js';
import type { Consumer } from '../../../src/core/consumer.js';
import type { TraceBatch } from '../../../src/core/model.js';
import { MetricsRegistry } from '../../../src/core/telemetry.js';
import { journeysConnectorFactory } from '../../../src/connectors/journeys/factory.js';
import { JourneyStore } from '../../../src/journeys/store.js';
import type { AttemptRecord, SliWindow } from '../../../src/journeys/model.js';
import { CHECKOUT_YAML, FRONTEND, NOTIFIER, PAYMENTS, attr, batch, checkoutSpans, silentLogger, span, traceId } from '../journeys/runtime/support.js';

const T0 = 1_763_805_600_000;

function recorder<T>(): { got: T[]; consumer: Consumer<T> } {
  const got: T[] = [];
  return {
    got,
    consumer: {
      mutatesData: false,
      consume(data: T) {
        got.push(data);
        return Promise.resolve();
      },
    },
  };
}

let dir: string;
let connector: ConnectorComponent | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pulse-journeys-'));
  vi.useFakeTimers({ now: T0, toFake: ['Date', 'setInterval', 'clearInterval'] });
});

afterEach(async () => {
  await connector?.shutdown();
  connector = undefined;
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

function create() {
  const metrics = new MetricsRegistry();
  const settings: CreateSettings = { id: 'journeys', kind: 'connector', logger: silentLogger(), metrics, dataDir: join(dir, 'data') };
  const config = journeysConnectorFactory.configSchema.parse({ directory: dir, reload_poll_interval: '0s' });
  const traces = recorder<TraceBatch>();
  const attempts = recorder<AttemptRecord[]>();
  const windows = recorder<SliWindow[]>();
  connector = journeysConnectorFactory.create(settings, config, { traces: traces.consumer, attempts: attempts.consumer, journey_metrics: windows.consumer });
  return { connector, traces, attempts, windows, metrics };
}

async function advance(ms: number): Promise<void> {
  vi.advanceTimersByTime(ms);
  // Let the sends started by the tick settle.
  await new Promise((r) => setImmediate(r));
}

describe('journeys connector factory', () => {
  it('declares its type, signals, and validates the journey files the config points at', () => {
    expect(journeysConnectorFactory).toMatchObject({ type: 'journeys', kind: 'connector', inputs: ['traces'], outputs: ['traces', 'attempts', 'journey_metrics'] });
    writeFileSync(join(dir, 'checkout.yaml'), CHECKOUT_YAML);
    const config = journeysConnectorFactory.configSchema.parse({ directory: dir });
    expect(journeysConnectorFactory.validateExternal!(config).filter((i) => i.severity !== 'warning')).toEqual([]);
    writeFileSync(join(dir, 'broken.yaml'), 'apiVersion: pulse/v1\nkind: Journey\nmetadata: { name: broken }\nspec:\n  strat: {}\n');
    const issues = journeysConnectorFactory.validateExternal!(config);
    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0]).toMatchObject({ file: join(dir, 'broken.yaml') });
    expect(issues[0]!.line).toBeGreaterThan(0);
  });

  it('reload_poll_interval: 0 (as the docs write it; YAML reads a number) turns polling off, like 0s', () => {
    expect(journeysConnectorFactory.configSchema.parse({ directory: dir, reload_poll_interval: 0 }).reload_poll_interval).toBe(0);
    expect(journeysConnectorFactory.configSchema.parse({ directory: dir, reload_poll_interval: '0s' }).reload_poll_interval).toBe(0);
    expect(journeysConnectorFactory.configSchema.parse({ directory: dir }).reload_poll_interval).toBe(2000);
  });

  it('tags, forwards, assembles and emits attempts and SLI windows; reloads definitions in place', async () => {
    writeFileSync(join(dir, 'checkout.yaml'), CHECKOUT_YAML);
    const { connector, traces, attempts, windows, metrics } = create();
    await connector.start({ reportFatalError() {} });

    const { start, charge, confirm } = checkoutSpans(traceId(1), { tier: 'enterprise', chargeError: true });
    const b = batch([PAYMENTS, [charge]], [NOTIFIER, [confirm]], [FRONTEND, [start]]);
    await connector.inputs.traces!.consume(b);
    expect(traces.got[0]).toBe(b);
    expect(attr(charge.attributes, 'journey.step')).toBe('charge');

    await advance(400);
    expect(attempts.got).toEqual([]);
    await advance(200);
    const [record] = attempts.got.flat();
    expect(record).toMatchObject({
      journey: 'checkout',
      outcome: 'failure',
      reasons: ['error:charge'],
      failingStep: { step: 'charge', service: 'payments', version: '2.8.0' },
      segments: { 'customer.tier': 'enterprise', 'cloud.region': 'eu-west-1', release: '5.0.1' },
      decidedBy: 'complete',
    });

    // Hot reload through the shared store: a second journey starts matching, in-flight state is kept.
    writeFileSync(
      join(dir, 'signup.yaml'),
      'apiVersion: pulse/v1\nkind: Journey\nmetadata: { name: signup }\nspec:\n  start: { service: frontend, span: "POST /api/signup" }\n',
    );
    const store = JourneyStore.acquire(dir, { logger: silentLogger(), metrics });
    try {
      // 'unchanged' only if the store's own file watcher got there first; either way the new journey is in force.
      expect(['reloaded', 'unchanged']).toContain(await store.reloadNow());
      expect(store.current().byName.has('signup')).toBe(true);
    } finally {
      store.release();
    }
    const signup = span({ trace: traceId(2), name: 'POST /api/signup' });
    await connector.inputs.traces!.consume(batch([FRONTEND, [signup]]));
    expect(attr(signup.attributes, 'journey.name')).toBe('signup');

    // Window [T0, T0+10s) closes at T0 + 10s + 12s.
    await advance(22_000);
    const rows = windows.got.flat();
    const tier = rows.find((r) => r.journey === 'checkout' && r.segmentKey === 'customer.tier');
    expect(tier).toMatchObject({ segmentValue: 'enterprise', attempts: 1, failures: 1, failuresByReason: { 'error:charge': 1 } });
    expect(rows.find((r) => r.journey === 'signup' && r.segmentKey === '')).toMatchObject({ attempts: 1, successes: 1 });
  });

  it('refuses to start on invalid definitions with PULSE_ERR_JOURNEYS and the position of the problem', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'apiVersion: pulse/v1\nkind: Journey\nmetadata: { name: Bad_Name }\nspec:\n  start: { service: a, span: b }\n');
    const { connector } = create();
    await expect(connector.start({ reportFatalError() {} })).rejects.toMatchObject({ code: 'PULSE_ERR_JOURNEYS', message: expect.stringContaining('bad.yaml:3') });
  });
});
