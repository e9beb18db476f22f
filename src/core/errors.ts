/**
 * Errors are classified the way the OpenTelemetry Collector classifies them, because the class decides what
 * happens to data:
 *
 * - `PermanentError`: the data itself is bad (malformed, rejected by the destination's schema). Retrying cannot
 *   help: the data is dropped and counted, and a receiver answers the sender with a non-retryable status.
 * - `RetryableError`: anything transient (a full queue, memory pressure, a destination that is down). Exporters
 *   retry with backoff; receivers push back to the sender with a retryable status (HTTP 429/503 with
 *   `Retry-After`, gRPC UNAVAILABLE/RESOURCE_EXHAUSTED).
 *
 * Every error carries a stable `code` (`PULSE_ERR_…`) that logs, metrics and docs can refer to. An error that is
 * neither class (a plain `Error` thrown by a bug or a library) is treated as retryable: losing data because of an
 * unclassified error would be silent data loss.
 */
export class PulseError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class PermanentError extends PulseError {}

export class RetryableError extends PulseError {
  /** How long the sender should wait before retrying, when known. */
  readonly retryAfterMs: number | undefined;
  /**
   * `true` when the refusal is because this process is out of a resource (memory, queue space): receivers map it
   * to HTTP 429 / gRPC RESOURCE_EXHAUSTED. Otherwise the cause is unavailability: HTTP 503 / gRPC UNAVAILABLE.
   */
  readonly resourceExhausted: boolean;

  constructor(
    code: string,
    message: string,
    options?: { cause?: unknown; retryAfterMs?: number; resourceExhausted?: boolean },
  ) {
    super(code, message, options);
    this.retryAfterMs = options?.retryAfterMs;
    this.resourceExhausted = options?.resourceExhausted ?? false;
  }
}

export function isPermanent(err: unknown): err is PermanentError {
  return err instanceof PermanentError;
}

/** The message of anything thrown, for log lines and error responses. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
