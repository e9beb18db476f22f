/**
 * The `loadbalancing` exporter's split of a realistic 500-span request (5 services × 100 spans, traces of 3–7
 * spans) by trace id, over 2 and 8 backends; and a request whose spans all belong to one trace (sent as it is).
 * Run: `npx vitest bench --run bench/loadbalancing.bench.ts`. µs per span = 1e6 / (hz × 500).
 */
import { bench, describe } from 'vitest';
import { HashRing } from '../src/exporters/loadbalancing/ring.js';
import { splitByBackend } from '../src/exporters/loadbalancing/split.js';
import { makeRealisticBatch } from '../tests/support/traces.js';

const batch = makeRealisticBatch();
const oneTrace = makeRealisticBatch({ seed: 3 });
const traceId = oneTrace.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.traceId;
for (const rs of oneTrace.resourceSpans) for (const ss of rs.scopeSpans) for (const span of ss.spans) span.traceId = traceId;
const ring2 = new HashRing(['10.0.0.1:4317', '10.0.0.2:4317']);
const ring8 = new HashRing(Array.from({ length: 8 }, (_, i) => `10.0.0.${i + 1}:4317`));

describe('loadbalancing split (500 spans)', () => {
  bench('2 backends', () => {
    splitByBackend(batch, ring2);
  });
  bench('8 backends', () => {
    splitByBackend(batch, ring8);
  });
  bench('one trace: no split', () => {
    splitByBackend(oneTrace, ring8);
  });
});
