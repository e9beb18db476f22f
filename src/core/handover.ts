/**
 * Handing in-memory data from a component of the running graph to its counterpart in the next one, on a reload.
 *
 * A reload stops the running graph before it starts the new one (service/service.ts). An exporter with an in-memory
 * queue would otherwise drain it first: with its destination down, that holds the reload (and the receivers,
 * which refuse data meanwhile) until `service.shutdown_timeout`, then drops the rest. When the new config has an
 * exporter with the same id, type and signal, the old one stops at once instead and leaves what it holds here; the
 * new one takes it at start, ahead of new data.
 *
 * One `Handover` per process (like `OverloadRefusals`); the graph gives each component that may use it a
 * `HandoverSlot` bound to its key (`exporter/<id>@<signal>:<type>`).
 */
import type { Logger } from 'pino';

/** What a component of the running graph may hand to the next graph's component of the same key. */
export interface HandoverSlot {
  /** Whether the graph that starts after this one stops has a component with this key (so a handover is taken). */
  continues(): boolean;
  /**
   * Leaves `items` for the next graph's component. `dropped(count)` runs if nobody takes them (the next graph did
   * not start, nor the previous one again), for the component's own drop accounting.
   */
  put(items: readonly unknown[], count: number, dropped: (count: number) => void): void;
  /** What the previous graph's component left (oldest first), once; `undefined` when it left nothing. */
  take(): readonly unknown[] | undefined;
}

interface Held {
  readonly items: readonly unknown[];
  readonly count: number;
  readonly dropped: (count: number) => void;
}

export class Handover {
  private next: ReadonlySet<string> | undefined;
  private readonly held = new Map<string, Held>();

  /**
   * Called by the service before it stops a graph for a reload: `keys` are those of the graph it will start next.
   * `undefined` (a shutdown) makes every component drain as usual.
   */
  expect(keys: ReadonlySet<string> | undefined): void {
    this.next = keys;
  }

  slot(key: string): HandoverSlot {
    return {
      continues: () => this.next?.has(key) === true,
      put: (items, count, dropped) => {
        const before = this.held.get(key);
        // Two puts under one key happen only when a new graph failed to start after taking: keep both, oldest first.
        this.held.set(key, before ? { items: [...before.items, ...items], count: before.count + count, dropped } : { items, count, dropped });
      },
      take: () => {
        const h = this.held.get(key);
        this.held.delete(key);
        return h?.items;
      },
    };
  }

  /**
   * Ends a reload: nothing more is expected, and what no component took (its key is in neither the new graph nor
   * the one restarted after a failed start) is counted by its owner as dropped and logged.
   */
  settle(logger: Logger): void {
    this.next = undefined;
    for (const [key, h] of this.held) {
      h.dropped(h.count);
      logger.warn({ component: key, items: h.count, batches: h.items.length }, 'data handed over for a reload was not taken by any component; dropped');
    }
    this.held.clear();
  }
}
