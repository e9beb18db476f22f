/**
 * The runtime driven by journeys compiled from YAML by the real loader (the example verbatim), so the
 * contract between compiler and runtime is exercised, not just the test builder.
 */
import { describe, expect, it } from 'vitest';
import type { SliWindow } from '../../../../src/journeys/model.js';
import { CHECKOUT_YAML, FRONTEND, NOTIFIER, PAYMENTS, attr, batch, checkoutSpans, compileYaml, makeRuntime, span, traceId } from './support.js';

const NOW = 5_000_000;

describe('runtime with compiled YAML definitions', () => {
  it("runs the issue's example: a failing step that affects one segment only, and a duplicated step call", () => {
    const { runtime } = makeRuntime(compileYaml(CHECKOUT_YAML));
    const tiers = ['free', 'pro', 'enterprise'];
    for (let i = 0; i < 30; i++) {
      const tier = tiers[i % 3]!;
      const t = traceId(1000 + i);
      const { start, charge, confirm } = checkoutSpans(t, { tier, chargeError: tier === 'enterprise', status: tier === 'enterprise' ? 502n : 201n });
      const spans = [charge];
      // One free-tier attempt charges twice.
      if (i === 3) spans.push(span({ trace: t, name: 'charge card', parent: start.spanId, atMs: 40 }));
      runtime.process(batch([PAYMENTS, spans], [NOTIFIER, [confirm]]), NOW);
      runtime.process(batch([FRONTEND, [start]]), NOW + 50);
      expect(attr(start.attributes, 'journey.name')).toBe('checkout');
    }
    runtime.tick(NOW + 550);
    const attempts = runtime.takeAttempts();
    expect(attempts).toHaveLength(30);
    const enterprise = attempts.filter((a) => a.segments['customer.tier'] === 'enterprise');
    expect(enterprise.every((a) => a.outcome === 'failure')).toBe(true);
    expect(enterprise[0]!.reasons).toEqual(['error:charge', 'where:' + compileYaml(CHECKOUT_YAML)[0]!.success.where[0]!.source]);
    expect(enterprise[0]!.failingStep).toEqual({ step: 'charge', service: 'payments', version: '2.8.0' });
    expect(attempts.filter((a) => a.outcome === 'failure')).toHaveLength(10);
    expect(attempts.filter((a) => a.signals.includes('duplicate_calls:charge')).map((a) => a.segments['customer.tier'])).toEqual(['free']);

    const rows: SliWindow[] = [];
    runtime.flush(NOW + 600);
    rows.push(...runtime.takeWindows());
    const byTier = Object.fromEntries(rows.filter((r) => r.segmentKey === 'customer.tier').map((r) => [r.segmentValue, [r.attempts, r.failures]]));
    expect(byTier).toEqual({ free: [10, 0], pro: [10, 0], enterprise: [10, 10] });
    const all = rows.find((r) => r.segmentKey === '')!;
    expect(all).toMatchObject({ attempts: 30, successes: 20, failures: 10 });
    expect(all.failuresByReason['error:charge']).toBe(10);
  });

  it('matches globs and lists compiled by the loader', () => {
    const journeys = compileYaml(`apiVersion: pulse/v1
kind: Journey
metadata: { name: api }
spec:
  start: { service: [frontend, web], span: "POST /api/*" }
  steps:
    - { name: db, service: { regex: "^orders-(db|cache)$" }, span: "SELECT *" }
`);
    const { runtime } = makeRuntime(journeys);
    const t = traceId(7);
    const start = span({ trace: t, name: 'POST /api/orders' });
    const db = span({ trace: t, name: 'SELECT orders' });
    const miss = span({ trace: t, name: 'GET /api/orders' });
    runtime.process(batch([{ 'service.name': 'web' }, [start, miss]], [{ 'service.name': 'orders-db' }, [db]]), NOW);
    expect([attr(start.attributes, 'journey.step'), attr(db.attributes, 'journey.step'), attr(miss.attributes, 'journey.step')]).toEqual(['start', 'db', undefined]);
    runtime.tick(NOW + 500);
    expect(runtime.takeAttempts()[0]!.spans.map((s) => s.step)).toEqual(['start', 'db']);
  });
});
