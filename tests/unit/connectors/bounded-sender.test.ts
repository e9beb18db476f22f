/**
 * The connectors' bounded sender (src/connectors/shared/bounded-sender.ts) in front of an output wired to several
 * consumers (a fan-out): a consumer that refuses gets the items again, the ones that took them do not.
 */
import { describe, expect, it } from 'vitest';
import type { Consumer } from '../../../src/core/consumer.js';
import { PermanentError, RetryableError } from '../../../src/core/errors.js';
import type { AlertEvent } from '../../../src/alerts/model.js';
import { MetricsRegistry } from '../../../src/core/telemetry.js';
import { BoundedSender, dropCounters, type DropReason } from '../../../src/connectors/shared/bounded-sender.js';
import { fanout, fanoutBranches } from '../../../src/service/fanout.js';
import { silentLogger } from '../journeys/runtime/support.js';

interface Item {
  readonly id: number;
}

/** A consumer that records every item it is handed, and refuses (retryably) its first `refusals` calls. */
function output(refusals = 0, mutatesData = false) {
  const got: number[] = [];
  let calls = 0;
  const c: Consumer<Item[]> = {
    mutatesData,
    consume(items) {
      calls++;
      if (refusals > 0) {
        refusals--;
        return Promise.reject(new RetryableError('PULSE_ERR_QUEUE_FULL', 'the sending queue is full'));
      }
      for (const i of items) got.push(i.id);
      if (mutatesData) items.length = 0; // what a consumer that takes its input apart might do
      return Promise.resolve();
    },
  };
  return { c, got, calls: () => calls };
}

function sender(consumer: Consumer<Item[]> | undefined, maxWaiting = 100) {
  const metrics = new MetricsRegistry();
  const dropped = metrics.counter('dropped_total', 'test');
  const s = new BoundedSender<Item>(consumer, {
    maxWaiting,
    dropped: dropCounters((reason) => dropped.with({ reason })),
    wording: { items: 'alert event(s)', output: 'the alerts output', refuser: 'the alerts output', unit: 'event(s)', retry: 'at the next evaluation', awaited: 'an alerts output' },
    logger: silentLogger(),
  });
  return { s, dropped: (reason: DropReason) => dropped.get({ reason }) };
}

/** A fan-out of the alerts signal (whose items are alert events; these tests only need objects). */
const fan = (consumers: Array<Consumer<Item[]>>): Consumer<Item[]> => fanout('alerts', consumers as unknown as Array<Consumer<AlertEvent[]>>) as unknown as Consumer<Item[]>;

const items = (from: number, count: number): Item[] => Array.from({ length: count }, (_, i) => ({ id: from + i }));
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('bounded sender in front of a fan-out', () => {
  it('retries what one consumer refused to that consumer only: each consumer gets each item once, in order', async () => {
    const kafka = output();
    const clickhouse = output(3); // refuses three evaluations, then accepts
    const { s, dropped } = sender(fan([kafka.c, clickhouse.c]));
    // Five evaluations, each producing events and pumping.
    for (let round = 0; round < 5; round++) {
      s.push(items(round * 10, 2));
      await s.pump();
    }
    expect(kafka.got).toEqual([0, 1, 10, 11, 20, 21, 30, 31, 40, 41]);
    expect(kafka.calls()).toBe(5);
    // Refused at evaluations 1-3; at the 4th it takes everything that waited, in order, and then the 5th's events.
    expect(clickhouse.got).toEqual([0, 1, 10, 11, 20, 21, 30, 31, 40, 41]);
    expect(clickhouse.calls()).toBe(5);
    expect(s.waiting).toBe(0);
    expect(dropped('overflow') + dropped('permanent') + dropped('shutdown')).toBe(0);
  });

  it('splits nested fan-outs into their consumers (a connector output to two pipelines of two exporters each)', () => {
    const [a, b, c, d] = [output(), output(), output(), output()];
    const nested = fan([fan([a.c, b.c]), fan([c.c, d.c])]);
    expect(fanoutBranches(nested)).toEqual([a.c, b.c, c.c, d.c]);
    expect(fanoutBranches(a.c)).toEqual([a.c]);
  });

  it('bounds each consumer\'s queue, dropping the oldest of the refusing one only; waiting is the longest queue', async () => {
    const fine = output();
    const down = output(Infinity);
    const { s, dropped } = sender(fan([fine.c, down.c]), 5);
    s.push(items(0, 4));
    await s.pump();
    s.push(items(4, 4));
    await s.pump();
    expect(fine.got).toEqual(range(0, 8));
    expect(s.waiting).toBe(5);
    expect(dropped('overflow')).toBe(3); // items 0-2, for the refusing consumer only
    // What the refusing consumer keeps are the 5 most recent, sent once it accepts.
    const recovering = output(2);
    const { s: s2 } = sender(fan([output().c, recovering.c]), 5);
    s2.push(items(0, 4));
    await s2.pump();
    s2.push(items(4, 4));
    await s2.pump();
    await s2.pump();
    expect(recovering.got).toEqual(range(3, 8));
  });

  it('drops what a consumer rejects as permanently bad for that consumer only, and drains each at shutdown', async () => {
    const fine = output();
    const rejecting: Consumer<Item[]> = { mutatesData: false, consume: () => Promise.reject(new PermanentError('PULSE_ERR_TEST', 'bad')) };
    const later = output(Infinity);
    const { s, dropped } = sender(fan([fine.c, rejecting, later.c]));
    s.push(items(0, 3));
    await s.pump();
    expect(dropped('permanent')).toBe(3);
    expect(fine.got).toEqual([0, 1, 2]);
    s.push(items(3, 1));
    await s.drain();
    expect(fine.got).toEqual([0, 1, 2, 3]);
    // The consumer that kept refusing: its 4 items are dropped at shutdown; the rejecting one refused the 4th too.
    expect(dropped('shutdown')).toBe(4);
    expect(dropped('permanent')).toBe(4);
  });

  it('gives a consumer that mutates its input an array of its own, so a refused send is retried whole', async () => {
    const mutating = output(1, true);
    const { s } = sender(fan([output().c, mutating.c]));
    s.push(items(0, 3));
    await s.pump(); // refused
    await s.pump();
    expect(mutating.got).toEqual([0, 1, 2]);
  });

  it('with one consumer, or none, behaves as before: refused items go again in order; nothing is kept without one', async () => {
    const only = output(2);
    const { s } = sender(only.c);
    s.push(items(0, 2));
    await s.pump();
    s.push(items(2, 1));
    await s.pump();
    await s.pump();
    expect(only.got).toEqual([0, 1, 2]);
    const { s: none } = sender(undefined);
    none.push(items(0, 3));
    expect(none.waiting).toBe(0);
    await none.pump();
    await none.drain();
  });
});
