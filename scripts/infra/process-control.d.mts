// Types for the part of process-control.mjs that TypeScript tests import (a plain-JS script, run without a build).

/**
 * When `pid` started (field 22 of /proc/<pid>/stat, clock ticks since boot), or null when there is no such process:
 * tells a process from a later one that was given the same PID.
 */
export function startTime(pid: number): string | null;
