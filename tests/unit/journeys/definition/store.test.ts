import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PulseError } from '../../../../src/core/errors.js';
import { MetricsRegistry } from '../../../../src/core/telemetry.js';
import type { JourneySnapshot } from '../../../../src/journeys/model.js';
import { JourneyStore, type JourneyStoreOptions } from '../../../../src/journeys/store.js';

const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;
const journey = (name: string, span = 'POST /api/checkout') =>
  yaml('apiVersion: pulse/v1', 'kind: Journey', 'metadata:', `  name: ${name}`, 'spec:', '  start:', '    service: frontend', `    span: ${span}`);
/** Line 8 col 5 holds an unknown key. */
const broken = yaml('apiVersion: pulse/v1', 'kind: Journey', 'metadata:', '  name: checkout', 'spec:', '  start:', '    span: x', '    servce: frontend');

const dirs: string[] = [];
const stores: JourneyStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.release();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-journey-store-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

interface Harness {
  store: JourneyStore;
  metrics: MetricsRegistry;
  logs: Array<{ level: string; msg: string; issues?: string[] }>;
  value: (metric: string) => number;
}

function open(dir: string, options: Partial<JourneyStoreOptions> = {}): Harness {
  const metrics = new MetricsRegistry();
  const logs: Harness['logs'] = [];
  const logger = pino({ level: 'debug', formatters: { level: (label) => ({ level: label }) } }, { write: (line: string) => void logs.push(JSON.parse(line) as Harness['logs'][number]) });
  const store = JourneyStore.acquire(dir, { logger, metrics, pollIntervalMs: 50, debounceMs: 20, ...options });
  stores.push(store);
  return { store, metrics, logs, value: (metric) => (metrics.find(metric)?.get({ directory: dir }) ?? 0) };
}

const names = (s: JourneySnapshot) => s.journeys.map((j) => j.name);
const waitFor = (check: () => void) => vi.waitFor(check, { timeout: 5000, interval: 20 });

describe('JourneyStore: start', () => {
  it('holds an empty generation-0 snapshot until started, then the loaded one', async () => {
    const dir = tmp({ 'a.yaml': journey('checkout') });
    const { store, value } = open(dir);
    expect([store.current().generation, names(store.current())]).toEqual([0, []]);
    await store.start();
    await store.start(); // idempotent
    expect([store.current().generation, names(store.current())]).toEqual([1, ['checkout']]);
    expect(value('pulse_journeys_loaded')).toBe(1);
    expect(value('pulse_journey_reloads_total')).toBe(0);
  });

  it('rejects with PULSE_ERR_JOURNEYS listing every issue as file:line:col', async () => {
    const dir = tmp({ 'a.yaml': broken, 'b.yaml': journey('Bad_Name') });
    const { store } = open(dir);
    const err = await store.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PulseError);
    expect((err as PulseError).code).toBe('PULSE_ERR_JOURNEYS');
    expect((err as PulseError).message).toContain(`${join(dir, 'a.yaml')}:8:5: spec.start: unknown key "servce" (did you mean "service"?)`);
    expect((err as PulseError).message).toContain(`${join(dir, 'b.yaml')}:4:9: metadata.name: must use lowercase letters`);
    expect(store.current().generation).toBe(0);
    // Fixed: a later start succeeds.
    writeFileSync(join(dir, 'a.yaml'), journey('checkout'));
    writeFileSync(join(dir, 'b.yaml'), journey('signup', 'POST /api/signup'));
    await store.start();
    expect(names(store.current())).toEqual(['checkout', 'signup']);
  });

  it('reloadNow before start rejects', async () => {
    const { store } = open(tmp({ 'a.yaml': journey('checkout') }));
    await expect(store.reloadNow()).rejects.toThrow(/not started/);
  });
});

describe('JourneyStore: hot reload', () => {
  it('a good edit swaps the snapshot: generation + 1, listeners called, counted', async () => {
    const dir = tmp({ 'a.yaml': journey('checkout') });
    const { store, value, logs } = open(dir);
    await store.start();
    const first = store.current();
    const calls: Array<[number, number]> = [];
    store.onChange((next, previous) => calls.push([next.generation, previous.generation]));
    writeFileSync(join(dir, 'b.yaml'), journey('signup', 'POST /api/signup'));
    await waitFor(() => expect(store.current().generation).toBe(2));
    expect(names(store.current())).toEqual(['checkout', 'signup']);
    expect(calls).toEqual([[2, 1]]);
    expect(value('pulse_journey_reloads_total')).toBe(1);
    expect(value('pulse_journeys_loaded')).toBe(2);
    expect(logs.some((l) => l.level === 'info' && /reloaded 2 journeys/.test(l.msg))).toBe(true);
    // The old snapshot is untouched: holders keep a consistent view.
    expect(names(first)).toEqual(['checkout']);
  });

  it('a broken edit keeps the last good snapshot, logs every issue with its position, and counts a failure once', async () => {
    const dir = tmp({ 'a.yaml': journey('checkout') });
    const { store, value, logs } = open(dir);
    await store.start();
    const listener = vi.fn();
    store.onChange(listener);
    writeFileSync(join(dir, 'a.yaml'), broken);
    writeFileSync(join(dir, 'b.yaml'), journey('Bad_Name'));
    await waitFor(() => expect(value('pulse_journey_reload_failures_total')).toBe(1));
    expect([store.current().generation, names(store.current())]).toEqual([1, ['checkout']]);
    expect(listener).not.toHaveBeenCalled();
    const errors = logs.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toContain('keeping generation 1');
    expect(errors[0]!.msg).toContain(`${join(dir, 'a.yaml')}:8:5: spec.start: unknown key "servce"`);
    expect(errors[0]!.msg).toContain(`${join(dir, 'b.yaml')}:4:9: metadata.name`);
    expect(errors[0]!.issues).toHaveLength(2);
    // Polling goes on but the same broken state is not reported again.
    await new Promise((r) => setTimeout(r, 200));
    expect(value('pulse_journey_reload_failures_total')).toBe(1);
    // Fixing it takes effect.
    writeFileSync(join(dir, 'a.yaml'), journey('checkout', 'POST /api/v2/checkout'));
    rmSync(join(dir, 'b.yaml'));
    await waitFor(() => expect(store.current().generation).toBe(2));
    expect(store.current().byName.get('checkout')!.start.span.values).toEqual(['POST /api/v2/checkout']);
  });

  it('undoing a broken edit says the definitions are valid again, and the validity gauge follows the files', async () => {
    const dir = tmp({ 'a.yaml': journey('checkout') });
    const { store, value, logs } = open(dir, { watch: false });
    await store.start();
    expect(value('pulse_journey_definitions_valid')).toBe(1);
    writeFileSync(join(dir, 'a.yaml'), broken);
    await waitFor(() => expect(value('pulse_journey_reload_failures_total')).toBe(1));
    expect(value('pulse_journey_definitions_valid')).toBe(0);
    // Back to the text in force: nothing to reload, but the log must not end with the error.
    writeFileSync(join(dir, 'a.yaml'), journey('checkout'));
    await waitFor(() => expect(value('pulse_journey_definitions_valid')).toBe(1));
    const after = logs.slice(logs.findIndex((l) => l.level === 'error') + 1);
    expect(after.map((l) => [l.level, l.msg])).toEqual([
      ['info', `journey definitions in ${dir} valid again (the files are unchanged from generation 1, which stayed in force)`],
    ]);
    expect([store.current().generation, value('pulse_journey_reloads_total'), value('pulse_journey_reload_failures_total')]).toEqual([1, 0, 1]);
    // Said once: a later look at the same valid files is silent again.
    expect(await store.reloadNow()).toBe('unchanged');
    expect(logs.filter((l) => /valid again/.test(l.msg))).toHaveLength(1);
  });

  it('the validity gauge is 1 again after a broken edit is fixed with a different text', async () => {
    const dir = tmp({ 'a.yaml': journey('checkout') });
    const { store, value } = open(dir, { watch: false, pollIntervalMs: 0 });
    await store.start();
    writeFileSync(join(dir, 'a.yaml'), broken);
    expect(await store.reloadNow()).toBe('invalid');
    expect(value('pulse_journey_definitions_valid')).toBe(0);
    writeFileSync(join(dir, 'a.yaml'), journey('checkout', 'POST /api/v2/checkout'));
    expect(await store.reloadNow()).toBe('reloaded');
    expect(value('pulse_journey_definitions_valid')).toBe(1);
  });

  it('an emptied or truncated file is a broken edit: its journeys stay in force', async () => {
    const dir = tmp({ 'checkout.yaml': journey('checkout'), 'signup.yaml': journey('signup', 'POST /api/signup') });
    const { store, value, logs } = open(dir, { watch: false, pollIntervalMs: 0 });
    await store.start();
    writeFileSync(join(dir, 'checkout.yaml'), ''); // `: > checkout.yaml`
    expect(await store.reloadNow()).toBe('invalid');
    expect([store.current().generation, names(store.current())]).toEqual([1, ['checkout', 'signup']]);
    expect(value('pulse_journey_reload_failures_total')).toBe(1);
    expect(value('pulse_journeys_loaded')).toBe(2);
    const errors = logs.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toContain(`keeping generation 1: ${join(dir, 'checkout.yaml')}:1:1: this file holds no journey document`);
    // Removing the file is how a journey is deleted.
    rmSync(join(dir, 'checkout.yaml'));
    expect(await store.reloadNow()).toBe('reloaded');
    expect(names(store.current())).toEqual(['signup']);
  });

  for (const mode of ['polling only', 'fs.watch only'] as const) {
    it(`picks up a Kubernetes ConfigMap update (atomic ..data symlink swap), ${mode}`, async () => {
      const dir = tmp();
      mkdirSync(join(dir, '..data_1'));
      writeFileSync(join(dir, '..data_1', 'checkout.yaml'), journey('checkout'));
      symlinkSync('..data_1', join(dir, '..data'));
      symlinkSync('..data/checkout.yaml', join(dir, 'checkout.yaml'));
      const { store } = open(dir, mode === 'polling only' ? { watch: false } : { pollIntervalMs: 0 });
      await store.start();
      expect(store.current().byName.get('checkout')!.start.span.values).toEqual(['POST /api/checkout']);
      // What the kubelet does: write the new version in a new directory, point a temporary symlink at it, and
      // rename that symlink over ..data. The top-level checkout.yaml symlink itself never changes.
      mkdirSync(join(dir, '..data_2'));
      writeFileSync(join(dir, '..data_2', 'checkout.yaml'), journey('checkout', 'POST /api/v2/checkout'));
      symlinkSync('..data_2', join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      rmSync(join(dir, '..data_1'), { recursive: true });
      await waitFor(() => expect(store.current().generation).toBe(2));
      expect(store.current().byName.get('checkout')!.start.span.values).toEqual(['POST /api/v2/checkout']);
    });
  }

  it('reloadNow: unchanged, reloaded, invalid', async () => {
    const dir = tmp({ 'a.yaml': journey('checkout') });
    const { store, value } = open(dir, { watch: false, pollIntervalMs: 0 });
    await store.start();
    expect(await store.reloadNow()).toBe('unchanged');
    expect(store.current().generation).toBe(1);
    writeFileSync(join(dir, 'a.yaml'), journey('checkout', 'POST /api/v2/checkout'));
    expect(await store.reloadNow()).toBe('reloaded');
    expect(store.current().generation).toBe(2);
    writeFileSync(join(dir, 'a.yaml'), broken);
    expect(await store.reloadNow()).toBe('invalid');
    expect(await store.reloadNow()).toBe('invalid');
    expect(store.current().generation).toBe(2);
    expect(value('pulse_journey_reload_failures_total')).toBe(2);
    expect(value('pulse_journey_reloads_total')).toBe(1);
  });

  it('a throwing listener is logged and does not stop the others', async () => {
    const dir = tmp({ 'a.yaml': journey('checkout') });
    const { store, logs } = open(dir, { watch: false, pollIntervalMs: 0 });
    await store.start();
    const second = vi.fn();
    store.onChange(() => {
      throw new Error('boom');
    });
    const unsubscribe = store.onChange(second);
    writeFileSync(join(dir, 'a.yaml'), journey('checkout', 'x'));
    expect(await store.reloadNow()).toBe('reloaded');
    expect(second).toHaveBeenCalledTimes(1);
    expect(logs.some((l) => l.level === 'error' && /listener failed/.test(l.msg))).toBe(true);
    unsubscribe();
    writeFileSync(join(dir, 'a.yaml'), journey('checkout', 'y'));
    expect(await store.reloadNow()).toBe('reloaded');
    expect(second).toHaveBeenCalledTimes(1);
  });
});

describe('JourneyStore: sharing', () => {
  it('one store per absolute directory, reference counted', async () => {
    const dir = tmp({ 'a.yaml': journey('checkout') });
    const a = open(dir);
    const b = open(relative(process.cwd(), dir));
    expect(b.store).toBe(a.store);
    await a.store.start();
    await b.store.start();
    expect(b.store.current()).toBe(a.store.current());

    // One release: the other holder still gets updates.
    stores.splice(stores.indexOf(a.store), 1);
    a.store.release();
    writeFileSync(join(dir, 'a.yaml'), journey('checkout', 'POST /api/v2/checkout'));
    await waitFor(() => expect(b.store.current().generation).toBe(2));

    // Last release: the store is forgotten, the next acquire starts afresh.
    stores.splice(stores.indexOf(b.store), 1);
    b.store.release();
    b.store.release(); // extra releases are harmless
    const c = open(dir);
    expect(c.store).not.toBe(a.store);
    expect(c.store.current().generation).toBe(0);
  });

  it('stops noticing changes after the last release', async () => {
    const dir = tmp({ 'a.yaml': journey('checkout') });
    const { store } = open(dir);
    await store.start();
    stores.splice(stores.indexOf(store), 1);
    store.release();
    writeFileSync(join(dir, 'a.yaml'), journey('checkout', 'changed'));
    await new Promise((r) => setTimeout(r, 300));
    expect(store.current().generation).toBe(1);
  });
});
