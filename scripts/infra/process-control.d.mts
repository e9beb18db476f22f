// Types for the part of process-control.mjs that TypeScript tests import (a plain-JS script, run without a build).

/**
 * When `pid` started (field 22 of /proc/<pid>/stat, clock ticks since boot), or null when there is no such process:
 * tells a process from a later one that was given the same PID.
 */
export function startTime(pid: number): string | null;

/**
 * Starts a server with `startOnce({ key: port })` on the ports named `keys` (given ones as they are, the others
 * picked free), again on fresh picks (three attempts in all) when a start fails with `err.portConflict`.
 */
export function startOnPorts<T>(options: {
  keys: string[];
  ports?: Record<string, number | undefined>;
  startOnce: (ports: Record<string, number>) => Promise<T>;
  log: (message: string) => void;
  beforeRetry?: () => void;
}): Promise<T>;

/** True when something accepts a TCP connection on 127.0.0.1:`port` within `timeoutMs` (default 1000). */
export function canConnect(port: number, timeoutMs?: number): Promise<boolean>;
