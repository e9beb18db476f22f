/**
 * What running the attempt pipeline in its own thread (`service.derived_signals.thread: worker`) costs per batch,
 * against assembling on the thread that matched. Same batch as journeys.bench.ts: 500 realistic spans, 20% in 5
 * journeys, fresh trace ids every iteration. Run: `npx vitest bench --run bench/relay.bench.ts`.
 *
 * - "one thread": match + tag + assemble (the default mode), for reference.
 * - "main side": match + tag + capture, and the message built and structured-cloned (`postMessage` serialises
 *   with the same algorithm; the clone also pays the worker's deserialisation, so this is main + transfer).
 * - "worker side": a cloned message unpacked and assembled.
 * µs per journey span = 1e6 / hz / (journey spans in the batch, printed).
 */
import { bench, describe } from 'vitest';
import type { ThreadLink } from '../src/core/component.js';
import { SpanRelay, unpackRelayed, type RelayMessage } from '../src/connectors/journeys/relay.js';
import { makeRuntime } from '../tests/unit/journeys/runtime/support.js';
import { FIVE, freshTraceId, makeJourneyBatch } from './fixtures.js';

const { batch, traces, relevantSpans } = makeJourneyBatch(3, 0.2);
console.log(`relay bench: ${relevantSpans} of ${batch.spanCount} spans journey-relevant`);

let traceCounter = 0;
function restamp(): void {
  for (let t = 0; t < traces.length; t++) {
    const spans = traces[t]!;
    const id = freshTraceId(++traceCounter);
    for (let k = 0; k < spans.length; k++) spans[k]!.traceId = id;
  }
}

/** A link whose other side is structuredClone: what crossing a thread costs, without the event loop. */
class CloningLink implements ThreadLink {
  readonly side = 'main' as const;
  last: RelayMessage | undefined;
  post(_to: string, message: unknown): void {
    this.last = structuredClone(message) as RelayMessage;
  }
  listen(): () => void {
    return () => undefined;
  }
}

describe(`journeys across threads, ${batch.spanCount}-span batch`, () => {
  const local = makeRuntime(FIVE, { maxPendingAttempts: 200_000 }).runtime;
  let now = 1_000_000;
  bench('one thread: match + tag + assemble + decide', () => {
    restamp();
    now += 100;
    local.process(batch, now);
    local.tick(now);
    local.takeAttempts();
    local.takeWindows();
  });

  const link = new CloningLink();
  const relay = new SpanRelay(link, 'journeys', Number.MAX_SAFE_INTEGER);
  const matcher = makeRuntime(FIVE, { capture: relay }).runtime;
  bench('main side: match + tag + capture + message (structured clone)', () => {
    restamp();
    now += 100;
    matcher.process(batch, now);
    relay.send(1, now);
  });

  // Messages are replayed in a cycle longer than trace_wait (256 × 100 ms), and decided traces are remembered only
  // for the last 1000, so a replayed message makes new attempts, not late or duplicate spans.
  const assembler = makeRuntime(FIVE, { maxPendingAttempts: 200_000, maxRecentDecided: 1000 }).runtime;
  const messages: RelayMessage[] = [];
  for (let i = 0; i < 256; i++) {
    restamp();
    matcher.process(batch, 0);
    relay.send(1, 0);
    messages.push(link.last!);
  }
  let m = 0;
  bench('worker side: unpack + assemble + decide', () => {
    const message = messages[m++ % messages.length]!;
    now += 100;
    unpackRelayed({ ...message, nowMs: now }, FIVE, (journey, step, traceId, record, at) => assembler.addCaptured(journey, step, traceId, record, at));
    assembler.tick(now);
    assembler.takeAttempts();
    assembler.takeWindows();
  });
});
