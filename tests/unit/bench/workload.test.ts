/**
 * bench/e2e/workload.mjs: the benchmark's journey traffic is healthy (BENCHMARKS.md, "Traffic"). Its templates are
 * sent over and over, so the failures they hold recur at a fixed rate with fixed segment values; if a journey or a
 * segment value of one failed above the journeys' 0.5% error budget, the `slo` connector would rightly raise alerts
 * during every benchmark, and the bench's "no alerts on healthy traffic" check would mean nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { AnyValue } from '../../../src/core/model.js';
import { decodeTraceRequest } from '../../../src/otlp/proto-decode.js';
// @ts-expect-error -- a plain .mjs bench script without type declarations
import { TEMPLATES, buildWorkload } from '../../../bench/e2e/workload.mjs';

const JOURNEYS_DIR = join(__dirname, '../../../bench/e2e/journeys');

interface JourneyFile {
  metadata: { name: string };
  spec: { start: { span: string }; steps: Array<{ span: string; required?: boolean }>; objective: { target: string } };
}

/** Start span name → the journey's name, required step span names and error budget (from its objective). */
function journeyDefinitions() {
  const byStart = new Map<string, { name: string; required: string[]; budget: number }>();
  for (const file of readdirSync(JOURNEYS_DIR)) {
    const j = parse(readFileSync(join(JOURNEYS_DIR, file), 'utf8')) as JourneyFile;
    const target = Number(j.spec.objective.target.replace('%', '')) / 100;
    byStart.set(j.spec.start.span, { name: j.metadata.name, required: j.spec.steps.filter((s) => s.required).map((s) => s.span), budget: 1 - target });
  }
  return byStart;
}

const text = (v: AnyValue | undefined) => (typeof v === 'string' ? v : String(v));

describe('bench workload', () => {
  it('fails each journey twice per cycle (an error, a missing step), never above its budget for any segment value', () => {
    const journeys = journeyDefinitions();
    const workload = buildWorkload({ format: 'proto' }) as { journeys: Array<{ raw: Buffer }> };
    expect(workload.journeys).toHaveLength(TEMPLATES);

    const tally = new Map<string, { budget: number; attempts: number; failures: number }>();
    const count = (key: string, budget: number, failed: boolean) => {
      const t = tally.get(key) ?? { budget, attempts: 0, failures: 0 };
      t.attempts++;
      if (failed) t.failures++;
      tally.set(key, t);
    };
    const kinds = new Map<string, string[]>();
    for (const template of workload.journeys) {
      // Trace ids are placeholders, unique within a template (the load generator stamps fresh ones per send).
      const traces = new Map<string, Array<{ name: string; error: boolean; root: boolean; segments: Record<string, string> }>>();
      for (const rs of decodeTraceRequest(template.raw).batch.resourceSpans) {
        const region = text(rs.resource.attributes.find((kv) => kv.key === 'cloud.region')?.value);
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            const attr = (key: string) => text(s.attributes.find((kv) => kv.key === key)?.value);
            const spans = traces.get(s.traceId) ?? [];
            spans.push({ name: s.name, error: s.statusCode === 2, root: s.parentSpanId === '', segments: { 'cloud.region': region, 'customer.tier': attr('customer.tier'), device: attr('device.type') } });
            traces.set(s.traceId, spans);
          }
        }
      }
      for (const spans of traces.values()) {
        const root = spans.find((s) => s.root)!;
        const journey = journeys.get(root.name)!;
        const missing = journey.required.some((name) => !spans.some((s) => s.name === name));
        const error = spans.some((s) => s.error);
        if (missing || error) kinds.set(journey.name, [...(kinds.get(journey.name) ?? []), missing ? 'missing step' : 'error']);
        count(journey.name, journey.budget, missing || error);
        for (const [key, value] of Object.entries(root.segments)) count(`${journey.name} ${key}=${value}`, journey.budget, missing || error);
      }
    }

    for (const { name } of journeys.values()) expect(kinds.get(name)?.sort(), name).toEqual(['error', 'missing step']);
    // Below the budget with a margin: a run's first SLI window holds only part of a cycle.
    for (const [key, t] of tally) expect(t.failures / t.attempts, `${key}: ${t.failures} of ${t.attempts}`).toBeLessThan(t.budget * 0.8);
  });
});
