/**
 * The order components start in: every component after all the components it hands data to, so nothing ever
 * hands data to a component that is not running. Shutdown uses the reverse.
 *
 * Within one pipeline this is "exporters, then processors from the exporter end, then receivers". A connector is
 * the exporter of the pipelines feeding it and the receiver of the pipelines it feeds, so across pipelines the
 * sort puts everything downstream of a connector (the pipelines it feeds, their processors and exporters) before
 * it, and the connector before the processors and receivers of the pipelines feeding it. Shut down in reverse,
 * a connector stops after everything that feeds it and flushes into downstream pipelines that still run. A cycle
 * is refused with the components on it instead of deadlocking at start.
 */
import type { ComponentKind } from '../core/component.js';
import { PulseError } from '../core/errors.js';

export interface OrderNode {
  /** Unique within the graph. */
  readonly key: string;
  readonly kind: ComponentKind;
}

const KIND_RANK: Record<ComponentKind, number> = { exporter: 0, processor: 1, connector: 2, receiver: 3 };

/**
 * Sorts `nodes` so that for every edge `from → to` (from hands data to to), `to` comes first. Among nodes that
 * are free to go, exporters go before processors before connectors before receivers, then the input order. Throws
 * `PULSE_ERR_CYCLE` naming the components on a cycle.
 */
export function startOrder<N extends OrderNode>(nodes: readonly N[], edges: ReadonlyArray<readonly [from: string, to: string]>): N[] {
  const waitingOn = new Map<string, number>(nodes.map((n) => [n.key, 0]));
  const producers = new Map<string, string[]>();
  for (const [from, to] of edges) {
    waitingOn.set(from, (waitingOn.get(from) ?? 0) + 1);
    let list = producers.get(to);
    if (!list) producers.set(to, (list = []));
    list.push(from);
  }
  const order: N[] = [];
  const left = [...nodes];
  while (left.length > 0) {
    let pick = -1;
    for (let i = 0; i < left.length; i++) {
      const n = left[i]!;
      if (waitingOn.get(n.key) !== 0) continue;
      if (pick < 0 || KIND_RANK[n.kind] < KIND_RANK[left[pick]!.kind]) pick = i;
    }
    if (pick < 0) {
      throw new PulseError(
        'PULSE_ERR_CYCLE',
        `the pipelines form a cycle: ${left.map((n) => n.key).join(', ')} are on it or feed it, so data would loop forever; remove one of the links`,
      );
    }
    const [node] = left.splice(pick, 1) as [N];
    order.push(node);
    for (const p of producers.get(node.key) ?? []) waitingOn.set(p, waitingOn.get(p)! - 1);
  }
  return order;
}
