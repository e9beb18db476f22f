import { describe, expect, it } from 'vitest';
import { SpanKind, countSpans, serviceNameOf } from '../../../src/core/model.js';
import { encodeTraceRequest } from '../../../src/otlp/index.js';
import { makeBatch, makeRealisticBatch, makeSpan } from '../../support/traces.js';

describe('trace fixtures', () => {
  it('makeRealisticBatch is deterministic for a seed and differs across seeds', () => {
    expect(makeRealisticBatch({ seed: 7 })).toEqual(makeRealisticBatch({ seed: 7 }));
    expect(makeRealisticBatch({ seed: 7 })).not.toEqual(makeRealisticBatch({ seed: 8 }));
  });

  it('makeRealisticBatch looks like an SDK export: services, valid ids, ~8 attributes, mixed kinds, big timestamps', () => {
    const batch = makeRealisticBatch({ services: 5, spansPerService: 100 });
    expect(batch.spanCount).toBe(500);
    expect(countSpans(batch.resourceSpans)).toBe(500);
    expect(batch.resourceSpans.map((rs) => serviceNameOf(rs.resource))).toEqual(['checkout-api', 'payment-service', 'cart-service', 'frontend', 'user-service']);
    const spans = batch.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
    const spanIds = new Set(spans.map((s) => s.spanId));
    expect(spanIds.size).toBe(500);
    for (const s of spans) {
      expect(s.traceId).toHaveLength(16);
      expect(s.spanId).toHaveLength(8);
      expect(s.startTimeUnixNano > 2n ** 53n).toBe(true);
      expect(s.endTimeUnixNano > s.startTimeUnixNano).toBe(true);
    }
    expect(spans.reduce((n, s) => n + s.attributes.length, 0) / spans.length).toBeGreaterThanOrEqual(7.5);
    expect(new Set(spans.map((s) => s.kind))).toEqual(new Set([SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL, SpanKind.PRODUCER]));
    expect(spans.some((s) => s.events.length > 0)).toBe(true);
    expect(spans.some((s) => s.links.length > 0)).toBe(true);
    expect(spans.some((s) => s.statusCode === 2)).toBe(true);
    // children point at a parent in the same trace
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const children = spans.filter((s) => byId.has(s.parentSpanId));
    expect(children.length).toBeGreaterThan(300);
    for (const c of children) expect(byId.get(c.parentSpanId)!.traceId).toBe(c.traceId);
    // about the size real SDK exports have (PERFORMANCE.md: ~424 bytes per span as protobuf)
    const perSpan = encodeTraceRequest(batch).length / 500;
    expect(perSpan).toBeGreaterThan(330);
    expect(perSpan).toBeLessThan(520);
  });

  it('makeSpan gives distinct span ids and applies overrides; makeBatch wraps spans with a resource', () => {
    const a = makeSpan();
    const b = makeSpan({ name: 'custom', kind: SpanKind.SERVER });
    expect(a.spanId).not.toBe(b.spanId);
    expect(b.name).toBe('custom');
    expect(b.kind).toBe(SpanKind.SERVER);
    const batch = makeBatch([a, b], { 'service.name': 'shop' });
    expect(batch.spanCount).toBe(2);
    expect(serviceNameOf(batch.resourceSpans[0]!.resource)).toBe('shop');
  });
});
