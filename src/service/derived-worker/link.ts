/**
 * `ThreadLink` over one message port (the worker's, seen from either side). Every message is `{ to, body }`;
 * `CONTROL` is the worker's own channel (start, metrics, shutdown). Messages for an id nobody listens to yet wait
 * until someone does: the journey snapshots reach the worker before its connectors start listening.
 */
import type { ThreadLink } from '../../core/component.js';

export const CONTROL = '#control';

/** Messages held for an id without a listener, at most; more are dropped (only start-up messages wait here). */
const MAX_HELD = 1000;

export interface Envelope {
  readonly to: string;
  readonly body: unknown;
}

export interface PortLike {
  postMessage(message: unknown): void;
}

export class PortLink implements ThreadLink {
  private readonly handlers = new Map<string, (message: unknown) => void>();
  private readonly held = new Map<string, unknown[]>();
  private port: PortLike | undefined;
  /** Posted before the port existed (main side, before the worker is spawned). */
  private readonly early: Envelope[] = [];

  constructor(
    readonly side: 'main' | 'worker',
    port?: PortLike,
  ) {
    this.port = port;
  }

  /** Main side: the worker's port, once spawned; messages posted before go out now, in order. */
  attach(port: PortLike): void {
    this.port = port;
    for (const e of this.early.splice(0)) port.postMessage(e);
  }

  post(to: string, body: unknown): void {
    const envelope: Envelope = { to, body };
    if (this.port === undefined) this.early.push(envelope);
    else this.port.postMessage(envelope);
  }

  listen(id: string, handler: (message: unknown) => void): () => void {
    this.handlers.set(id, handler);
    const waiting = this.held.get(id);
    if (waiting !== undefined) {
      this.held.delete(id);
      for (const m of waiting) handler(m);
    }
    return () => {
      if (this.handlers.get(id) === handler) this.handlers.delete(id);
    };
  }

  /** Hands one received envelope to its listener (or holds it). */
  deliver(envelope: Envelope): void {
    const handler = this.handlers.get(envelope.to);
    if (handler !== undefined) {
      handler(envelope.body);
      return;
    }
    let waiting = this.held.get(envelope.to);
    if (waiting === undefined) this.held.set(envelope.to, (waiting = []));
    if (waiting.length < MAX_HELD) waiting.push(envelope.body);
  }
}
