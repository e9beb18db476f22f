/**
 * `npm run demo`, headless: `node scripts/demo.mjs` with PULSE_DEMO_SECONDS runs the whole story on a real
 * ClickHouse and Kafka — healthy traffic, payments 2.5.0 rolled out to us-east-1's enterprise customers, the
 * alert read back from Kafka, the rollback, the alert resolved — and must exit 0 with the injected cause as the
 * top suspect, leaving no process and no temp dir behind. Also: the demo's journeys are the shipped ones (only
 * alert windows and a device segment differ), and its config loads with the real components.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/components.js';
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/model.js';
import { installClickHouse } from '../../scripts/infra/clickhouse-lib.mjs';
import { installKafka } from '../../scripts/infra/kafka-lib.mjs';
import { ROOT } from '../support/pulse-process.js';

/** The demo gives up by itself after this long; the test kills it (SIGTERM, then SIGKILL) only if it hangs. */
const DEMO_SECONDS = 110;
const HARD_LIMIT_MS = 140_000;

type Doc = { metadata: { name: string }; spec: Record<string, unknown> & { segments: unknown[] } };

function journeysIn(dir: string): Map<string, Doc> {
  const out = new Map<string, Doc>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const j = doc.toJS() as Doc;
      out.set(j.metadata.name, j);
    }
  }
  return out;
}

describe('the demo config', () => {
  it('runs the journeys of config/journeys, with alert rules of seconds and a device segment added', () => {
    const shipped = journeysIn(join(ROOT, 'config/journeys'));
    const demo = journeysIn(join(ROOT, 'config/demo/journeys'));
    expect([...demo.keys()].sort()).toEqual([...shipped.keys()].sort());
    for (const [name, d] of demo) {
      const s = shipped.get(name)!;
      const { alerts, segments, ...rest } = d.spec;
      const { segments: shippedSegments, ...shippedRest } = s.spec;
      expect(d.metadata, name).toEqual(s.metadata);
      expect(rest, name).toEqual(shippedRest);
      expect(segments.slice(0, shippedSegments.length), name).toEqual(shippedSegments);
      expect(alerts, name).toMatchObject({ burn_rates: expect.arrayContaining([expect.objectContaining({ severity: 'page', long: '20s', short: '5s' })]) });
    }
  });

  it('config/demo/pulse.yaml loads with the real components, without warnings', () => {
    const result = loadConfig(join(ROOT, 'config/demo/pulse.yaml'), defaultRegistry(), { PULSE_DEMO_JOURNEYS: join(ROOT, 'config/demo/journeys') });
    const issues = 'issues' in result ? result.issues : [];
    expect([...issues, ...result.warnings].map(formatIssue)).toEqual([]);
  });
});

/** Runs the demo to its end; resolves its exit code, everything it printed, and how long it took. */
function runDemo(env: Record<string, string>): Promise<{ code: number | null; out: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, ['scripts/demo.mjs'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const term = setTimeout(() => child.kill('SIGTERM'), HARD_LIMIT_MS);
  const kill = setTimeout(() => child.kill('SIGKILL'), HARD_LIMIT_MS + 20_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve({ code, out, ms: Date.now() - started });
    }),
  );
}

/** True while `pid` is a live process (a zombie awaiting its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

describe('npm run demo, headless (PULSE_DEMO_SECONDS)', () => {
  beforeAll(() => {
    // Installs (apt-get, Maven) happen once per machine, outside the demo's time budget.
    installClickHouse({ quiet: true });
    installKafka({ quiet: true });
  }, 300_000);

  it('alerts with payments 2.5.0 as the top suspect, resolves after the rollback, and leaves nothing running', async () => {
    const { code, out, ms } = await runDemo({
      PULSE_DEMO_SECONDS: String(DEMO_SECONDS),
      // ≥ 30 s: a release first seen later than that after its service's first version counts as new.
      PULSE_DEMO_HEALTHY_SECONDS: '35',
      PULSE_DEMO_PORTS: 'free',
      NO_COLOR: '1',
    });
    expect(code, out).toBe(0);
    expect(out).toContain('RESULT: PASS');

    // The story, in order: fault → alert read from Kafka → rollback → resolved → recovered.
    const at = (text: string) => out.indexOf(text);
    const fault = at('FAULT: payments 2.5.0 rolled out to enterprise customers in us-east-1');
    const alert = at('▲ ALERT firing');
    const rollback = at('ROLLBACK: payments 2.4.1');
    const resolved = at('✔ RESOLVED · checkout');
    const recovered = at('RECOVERED: every alert resolved');
    expect([fault, alert, rollback, resolved, recovered].every((i) => i >= 0), out).toBe(true);
    expect(fault < alert && alert < rollback && rollback < resolved && resolved < recovered, out).toBe(true);

    // The first alert: about checkout, read from the Kafka topic, the injected cause ranked first.
    const block = out.slice(alert, out.indexOf('event id', alert));
    expect(block).toMatch(/^▲ ALERT firing · (page|ticket) · checkout · /);
    expect(block).toContain('read from Kafka topic pulse.alerts');
    const suspects = [...block.matchAll(/^\s+(\d)\. (\S+) = (\S+)/gm)].map((m) => `${m[2]}=${m[3]}`);
    expect(suspects[0], block).toBeOneOf(['service.version:payments=2.5.0', 'customer.tier=enterprise', 'cloud.region=us-east-1']);
    expect(suspects, block).toContain('service.version:payments=2.5.0');
    expect(block).toContain('owner team-payments');

    // Every alert that fired resolved; ClickHouse has the same events as Kafka.
    const subjects = (re: RegExp) => [...out.matchAll(re)].map((m) => m[1]!.trim()).sort();
    const fired = subjects(/▲ ALERT firing · \w+ · (.+?)\s{3}read from Kafka/g);
    const cleared = subjects(/✔ RESOLVED · (.+?) after \d+ s/g);
    expect(fired.length).toBeGreaterThanOrEqual(1);
    expect(cleared).toEqual(fired);
    const summary = out.slice(at('ClickHouse holds'));
    expect(summary).toMatch(/firing\s+checkout · /);
    expect(summary).toMatch(/resolved\s+checkout · /);

    // Nothing left behind: the servers the demo reported are gone, and so is its temp dir.
    const pids = [...out.matchAll(/\(pid (\d+)/g)].map((m) => Number(m[1]));
    expect(pids.length).toBeGreaterThanOrEqual(3); // ClickHouse, Kafka, Pulse
    expect(pids.filter(alive)).toEqual([]);
    const work = /data in (\S+?pulse-demo-\w+)\)/.exec(out)?.[1];
    expect(work).toBeDefined();
    expect(existsSync(work!)).toBe(false);

    const timing = /alert read from Kafka ([\d.]+) s after the fault.*resolved ([\d.]+) s after the rollback/.exec(out);
    console.info(`[demo] exit 0 in ${(ms / 1000).toFixed(1)} s; alert ${timing?.[1]} s after the fault, all resolved ${timing?.[2]} s after the rollback`);
  }, HARD_LIMIT_MS + 30_000);
});
