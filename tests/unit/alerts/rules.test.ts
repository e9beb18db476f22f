import { describe, expect, it } from 'vitest';
import { alertRulesOf, defaultBurnRates, formatDuration, neverFiringPairs, WORKBOOK_BURN_RATES } from '../../../src/alerts/rules.js';
import { loadJourneyTexts } from '../../../src/journeys/definition/load.js';
import { journeyWith } from './support.js';

const H = 3_600_000;
const D = 24 * H;

function issuesOf(alertsYaml: string): string[] {
  const text = [
    'apiVersion: pulse/v1',
    'kind: Journey',
    'metadata: { name: checkout }',
    'spec:',
    '  start: { service: frontend, span: "POST /api/checkout" }',
    '  alerts:',
    ...alertsYaml.split('\n').map((l) => `    ${l}`),
    '',
  ].join('\n');
  const loaded = loadJourneyTexts([{ file: 'j.yaml', text }]);
  return 'issues' in loaded ? loaded.issues.map((i) => `${i.line}:${i.col}: ${i.message}`) : [];
}

describe('alert rules', () => {
  it('defaults to the SRE Workbook pairs scaled to the objective window (30d = the workbook exactly)', () => {
    const thirty = defaultBurnRates(30 * D);
    expect(thirty.map((p) => [p.severity, p.longMs, p.shortMs, p.factor])).toEqual(WORKBOOK_BURN_RATES.map((p) => [p.severity, p.longMs, p.shortMs, p.factor]));
    const rules = alertRulesOf(journeyWith({ window: '28d' }));
    expect(rules.burnRates.map((p) => `${p.severity} ${p.long}/${p.short} ×${p.factor}`)).toEqual([
      'page 56m/4m40s ×14.4',
      'page 5h36m/28m ×6',
      'ticket 22h24m/1h52m ×3',
      'ticket 2d19h12m/5h36m ×1',
    ]);
    expect(rules.target).toBe(0.995);
    expect(rules.repeatIntervalMs).toBe(300_000);
    expect(rules.segments).toMatchObject({ minAttempts: 20, confidence: 0.99 });
    expect(rules.heartbeat).toEqual({ mode: 'baseline', perMs: 60_000, minHistoryMs: 30 * 60_000, baselineWindowMs: H, ratio: 0.25, confidence: 0.99 });
    expect(rules.release?.newForMs).toBe(56 * 60_000);
  });

  it('scales down to seconds for a one-hour objective, never below 1 s and always short < long', () => {
    const pairs = defaultBurnRates(H);
    expect(pairs.map((p) => [p.longMs, p.shortMs])).toEqual([
      [5000, 1000],
      [30_000, 3000],
      [120_000, 10_000],
      [360_000, 30_000],
    ]);
    for (const p of defaultBurnRates(60_000)) expect(p.shortMs).toBeLessThan(p.longMs);
  });

  it('reads the issue example, windows in seconds, and the heartbeat floor', () => {
    const j = journeyWith({
      alerts: [
        'burn_rates:',
        '  - { severity: page,   long: 1h, short: 5m,  factor: 14.4 }',
        '  - { severity: ticket, long: 3d, short: 6h,  factor: 1 }',
        '  - { severity: page,   long: 30s, short: 2s, factor: 10 }',
        'segments: { min_attempts: 5, confidence: 0.95 }',
        'heartbeat: { min_successes: 10, per: 1m }',
        'release: { new_for: 10m }',
        'repeat_interval: 30s',
      ].join('\n'),
    });
    const rules = alertRulesOf(j);
    // page pairs first, in the order written
    expect(rules.burnRates.map((p) => [p.severity, p.longMs, p.shortMs])).toEqual([
      ['page', H, 300_000],
      ['page', 30_000, 2000],
      ['ticket', 3 * D, 6 * H],
    ]);
    expect(rules.segments?.alpha).toBeCloseTo(0.05, 12);
    expect(rules.heartbeat).toEqual({ mode: 'floor', perMs: 60_000, minSuccesses: 10 });
    expect(rules.release).toMatchObject({ newForMs: 600_000, windowMs: 2000, minAttempts: 5 });
    expect(rules.repeatIntervalMs).toBe(30_000);
    expect(alertRulesOf(j)).toBe(rules); // compiled once per compiled journey
    expect(alertRulesOf(journeyWith({ alerts: 'segments: false\nheartbeat: false\nrelease: false' }))).toMatchObject({
      segments: undefined,
      heartbeat: undefined,
      release: undefined,
    });
  });

  it('rejects contradictions with positions: short ≥ long, factor ≤ 0, floor and baseline together, unknown keys', () => {
    expect(issuesOf('burn_rates:\n  - { severity: page, long: 5m, short: 1h, factor: 14.4 }')).toEqual([
      '8:44: spec.alerts.burn_rates[0].short: the short window (3600000ms) must be shorter than the long window (300000ms)',
    ]);
    expect(issuesOf('burn_rates:\n  - { severity: page, long: 1h, short: 5m, factor: 0 }')).toEqual(['8:56: spec.alerts.burn_rates[0].factor: must be greater than 0, got the number 0']);
    expect(issuesOf('burn_rates: []')).toEqual(['7:17: spec.alerts.burn_rates: must have at least 1 item, got an empty list']);
    expect(issuesOf('heartbeat: { min_successes: 3, baseline: auto }')).toEqual(['7:46: spec.alerts.heartbeat.baseline: choose one: min_successes (a fixed floor) or baseline: auto']);
    expect(issuesOf('burn_rates:\n  - { severity: urgent, long: 1h, short: 5m, factor: 2 }')[0]).toMatch(/^8:21: .*must be one of "page", "ticket"/);
    expect(issuesOf('repeat_intervl: 5m')).toEqual(['7:5: spec.alerts: unknown key "repeat_intervl" (did you mean "repeat_interval"?)']);
    expect(issuesOf('segments: { min_attempts: 0 }')).toHaveLength(1);
  });

  it('flags burn rates that can never fire (factor × (1 − target) ≥ 1)', () => {
    const j = journeyWith({ target: '99%', alerts: 'burn_rates:\n  - { severity: page, long: 1h, short: 5m, factor: 200 }\n  - { severity: page, long: 1h, short: 5m, factor: 14.4 }' });
    expect(neverFiringPairs(alertRulesOf(j)).map((p) => p.factor)).toEqual([200]);
  });

  it('formats durations as whole units', () => {
    expect([formatDuration(280_000), formatDuration(H), formatDuration(67.2 * H), formatDuration(1500), formatDuration(250)]).toEqual([
      '4m40s',
      '1h',
      '2d19h12m',
      '1.5s',
      '250ms',
    ]);
  });
});
