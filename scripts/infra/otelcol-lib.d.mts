// Types for otelcol-lib.mjs (a plain-JS script so it runs without a build step; TypeScript tests import it).

/** The OpenTelemetry Collector version bench/e2e/otelcol-builder.yaml pins. */
export const OTELCOL_VERSION: string;

/** Where the Collector binary is: `PULSE_OTELCOL` when set, else `~/.cache/pulse/otelcol-<version>/otelcol-ref`. */
export function otelcolBinary(): string;

/** Builds the Collector (Go builder) unless `otelcolBinary()` exists; throws `PULSE_ERR_INFRA_INSTALL` on failure. */
export function installOtelcol(options?: { quiet?: boolean }): { installed: boolean; binary: string };
