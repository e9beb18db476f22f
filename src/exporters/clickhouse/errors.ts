/**
 * What a failed ClickHouse request means for the rows it carried.
 *
 * ClickHouse reports an exception as `Code: <n>, e.displayText() = DB::Exception: …` (18.x) or
 * `Code: <n>. DB::Exception: … (NAME) (version …)` (19+), with an HTTP 4xx/5xx status; @clickhouse/client turns the
 * newer form into a `ClickHouseError` with `code` and passes the older one on as a plain `Error`. The code decides:
 *
 * - **permanent** — the rows themselves cannot be inserted as encoded (parse errors, a column of the wrong type,
 *   a column the table lacks): retrying cannot help; the batch is dropped and counted — or, when the code is about
 *   a value in a row (`ROW_VALUE_CODES`), split to insert the rows that are fine;
 * - **schema missing** — the table or database is gone (someone dropped it): retryable, after the exporter
 *   re-checks (and with `create_schema`, re-creates) the schema;
 * - **retryable** — everything else: the server is overloaded (too many parts, memory limit), times out, restarts,
 *   refuses the credentials (an operator can fix that without losing the queued rows), or the connection fails.
 *   An unknown code is retryable too: dropping rows on an error nobody classified would be silent data loss;
 *   `retry_on_failure.max_elapsed_time` bounds it.
 */
import { isTlsFailure } from '../exporterhelper/tls.js';

export type FailureClass = 'permanent' | 'schema_missing' | 'retryable';

export interface ClickHouseFailure {
  readonly class: FailureClass;
  /** The ClickHouse exception code, when the server sent one. */
  readonly code: number | undefined;
  /** A label for metrics: the code as text, `tls` (a failed handshake), `connection`, or `unknown`. */
  readonly label: string;
  /** The server's or the socket's message, trimmed for logs. */
  readonly message: string;
}

/** Codes meaning "these rows cannot be inserted as they are". */
const PERMANENT_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  8, // THERE_IS_NO_COLUMN
  10, // NOT_FOUND_COLUMN_IN_BLOCK
  16, // NO_SUCH_COLUMN_IN_TABLE
  17, // DELIMITER_IN_STRING_LITERAL_DOESNT_MATCH
  19, // SIZE_OF_FIXED_STRING_DOESNT_MATCH
  20, // NUMBER_OF_COLUMNS_DOESNT_MATCH
  25, // CANNOT_PARSE_ESCAPE_SEQUENCE
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  44, // ILLEGAL_COLUMN
  47, // UNKNOWN_IDENTIFIER
  53, // TYPE_MISMATCH
  62, // SYNTAX_ERROR
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA (e.g. "Unknown field found while parsing JSONEachRow format")
  128, // TOO_LARGE_ARRAY_SIZE
  130, // CANNOT_READ_ARRAY_FROM_TEXT
  131, // TOO_LARGE_STRING_SIZE
  190, // SIZES_OF_ARRAYS_DOESNT_MATCH
  321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
  349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
]);

/**
 * Of the permanent codes, those about a value in some row (it cannot be parsed, or does not fit its column) rather
 * than about the table or the statement: a batch refused with one of them may hold good rows next to the bad one,
 * and the exporter splits it to insert them (exporter.ts). Not here: a column the table lacks (8, 10, 16, 47, 117),
 * a column count or type of the table (20, 44), the statement (62) — those refuse every row alike.
 */
export const ROW_VALUE_CODES: ReadonlySet<number> = new Set([6, 17, 19, 25, 26, 27, 38, 41, 53, 69, 70, 72, 128, 130, 131, 190, 321, 349]);

/** Of the permanent codes, those that mean "the table lacks a column Pulse writes" (schema drift after start). */
export const MISSING_COLUMN_CODES: ReadonlySet<number> = new Set([8, 10, 16, 47, 117]);

/** UNKNOWN_TABLE, UNKNOWN_DATABASE. */
const SCHEMA_MISSING_CODES = new Set([60, 81]);

/** Authentication and authorisation: a start-time config problem (UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, ACCESS_DENIED, AUTHENTICATION_FAILED, DATABASE_ACCESS_DENIED). */
export const AUTH_CODES: ReadonlySet<number> = new Set([192, 193, 194, 291, 497, 516]);

const MAX_MESSAGE = 600;

/** Reads the ClickHouse code from an error of @clickhouse/client (new servers) or from the message (old servers). */
export function clickHouseCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
  if (typeof code === 'number') return code;
  const message = (err as { message?: unknown }).message;
  if (typeof message !== 'string') return undefined;
  const m = /\bCode:\s*(\d+)[.,]/.exec(message);
  return m ? Number(m[1]) : undefined;
}

export function classifyFailure(err: unknown): ClickHouseFailure {
  const code = clickHouseCode(err);
  const message = messageOf(err);
  if (code === undefined) {
    if (isTlsFailure(err)) return { class: 'retryable', code, label: 'tls', message };
    const sys = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
    return { class: 'retryable', code, label: typeof sys === 'string' ? 'connection' : 'unknown', message };
  }
  const label = String(code);
  if (PERMANENT_CODES.has(code)) return { class: 'permanent', code, label, message };
  if (SCHEMA_MISSING_CODES.has(code)) return { class: 'schema_missing', code, label, message };
  return { class: 'retryable', code, label, message };
}

/** One line of the server's message, without the 18.x `e.what()` tail and the stack, for logs and error messages. */
export function messageOf(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  const text = raw
    .replace(/,\s*e\.what\(\)\s*=\s*DB::Exception\s*$/s, '')
    .replace(/\s+/g, ' ')
    .trim();
  const { code, type } = typeof err === 'object' && err !== null ? (err as { code?: unknown; type?: unknown }) : {};
  let withCode = text;
  if (typeof code === 'string') {
    if (/^\d+$/.test(code)) {
      if (!/\bCode:/.test(text)) withCode = `Code: ${code}. ${text}`;
    } else if (!text.includes(code)) withCode = `${code} ${text}`;
  }
  if (typeof type === 'string' && !withCode.includes(type)) withCode += ` (${type})`;
  return withCode.length > MAX_MESSAGE ? `${withCode.slice(0, MAX_MESSAGE)}…` : withCode;
}
