/**
 * Reading recorded traces for `pulse journeys test`: OTLP/JSON files as the OpenTelemetry file-exporter
 * specification, the Collector's file exporter and Pulse's debug exporter (`path:`) write them.
 *
 * Format, detected per file:
 * - **JSON Lines** when the first non-blank line is a complete JSON value on its own: every non-blank line is one
 *   `ExportTraceServiceRequest` (= `TracesData`, `{"resourceSpans":[…]}`).
 * - **One JSON document** otherwise: the whole file is one request, possibly pretty-printed over many lines.
 * A leading UTF-8 BOM is ignored; `\n` and `\r\n` line ends both work. `-` reads standard input.
 *
 * Strict: a line (or document) that is not JSON, is not an OTLP/JSON traces request (no `resourceSpans`, e.g. an
 * attempts recording) or has a value of the wrong type is a *problem* at `file:line[:col]`, and the caller
 * evaluates nothing — a silently skipped line would make attempts look as if they missed steps. Reading goes on
 * after a problem so that every bad line is reported (at most `MAX_PROBLEMS_PER_FILE` per file). Spans the
 * decoder leaves out for unusable ids (an all-zero trace id) are a *warning*, not a problem.
 *
 * Files are streamed line by line (JSON Lines never hold more than one line in memory); a JSON document is read
 * whole.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { errorMessage } from '../../core/errors.js';
import type { TraceBatch } from '../../core/model.js';
import { decodeTraceRequestJson } from '../../otlp/index.js';

/** The name standard input is shown under. */
export const STDIN_NAME = '(stdin)';
/** Problems reported per file at most; the rest are counted. */
export const MAX_PROBLEMS_PER_FILE = 10;

/** Where a request was read: the file as given, and the 1-based line of the JSON line or the document's first line. */
export interface TraceSourcePosition {
  readonly file: string;
  readonly line: number;
}

export interface TraceFileSummary {
  readonly file: string;
  /** `empty`: no non-blank line. */
  readonly format: 'jsonl' | 'document' | 'empty';
  readonly requests: number;
  readonly spans: number;
  /** Spans left out by the decoder (unusable ids). */
  readonly rejectedSpans: number;
}

/** A problem (or warning) at a position; `line`/`col` are 0 when it concerns the whole file. */
export interface TraceFileProblem {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

export interface TraceReadResult {
  readonly files: readonly TraceFileSummary[];
  /** Non-empty: the input is unusable (exit 2). */
  readonly problems: readonly TraceFileProblem[];
  readonly warnings: readonly TraceFileProblem[];
}

export interface ReadTraceFilesOptions {
  /** What `-` reads; default `process.stdin`. */
  readonly stdin?: Readable;
}

/** `file:line:col: message`, `file:line: message` or `file: message`. */
export function formatTraceProblem(p: TraceFileProblem): string {
  const at = p.line > 0 ? (p.col > 0 ? `${p.file}:${p.line}:${p.col}` : `${p.file}:${p.line}`) : p.file;
  return `${at}: ${p.message}`;
}

/**
 * Reads `paths` in order and hands every decoded request to `onRequest` in file order. The batch is the
 * caller's: it may mutate it and must not expect it again.
 */
export async function readTraceFiles(
  paths: readonly string[],
  onRequest: (batch: TraceBatch, at: TraceSourcePosition) => void,
  options: ReadTraceFilesOptions = {},
): Promise<TraceReadResult> {
  const files: TraceFileSummary[] = [];
  const problems: TraceFileProblem[] = [];
  const warnings: TraceFileProblem[] = [];
  let stdinUsed = false;
  for (const path of paths) {
    if (path === '-') {
      if (stdinUsed) {
        problems.push({ file: STDIN_NAME, line: 0, col: 0, message: 'standard input ("-") can be given only once' });
        continue;
      }
      stdinUsed = true;
      const reader = new TraceFileReader(STDIN_NAME, onRequest, problems, warnings);
      await reader.read(options.stdin ?? process.stdin);
      files.push(reader.summary());
      continue;
    }
    const unreadable = await checkReadable(path);
    if (unreadable !== undefined) {
      problems.push({ file: path, line: 0, col: 0, message: unreadable });
      continue;
    }
    const reader = new TraceFileReader(path, onRequest, problems, warnings);
    await reader.read(createReadStream(path));
    files.push(reader.summary());
  }
  return { files, problems, warnings };
}

async function checkReadable(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path);
    if (s.isDirectory()) return 'is a directory: pass the recorded files themselves (e.g. recordings/*.jsonl)';
    return undefined;
  } catch (err) {
    return `cannot read the trace file: ${describeFsError(err)}`;
  }
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  return errorMessage(err);
}

const RESOURCE_SPANS_KEY = /"resource_?[sS]pans"\s*:/;
const JSON_POSITION = /at position (\d+)/;

class TraceFileReader {
  private format: TraceFileSummary['format'] = 'empty';
  private requests = 0;
  private spans = 0;
  private rejected = 0;
  private problemCount = 0;
  /** Document mode: the lines read so far, and the line the document starts on. */
  private documentLines: string[] = [];
  private documentStart = 0;

  constructor(
    private readonly file: string,
    private readonly onRequest: (batch: TraceBatch, at: TraceSourcePosition) => void,
    private readonly problems: TraceFileProblem[],
    private readonly warnings: TraceFileProblem[],
  ) {}

  async read(input: Readable): Promise<void> {
    const lines = createInterface({ input, crlfDelay: Infinity });
    let lineNo = 0;
    try {
      for await (const raw of lines) {
        lineNo++;
        const text = lineNo === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
        if (this.format === 'document') {
          this.documentLines.push(text);
          continue;
        }
        if (text.trim() === '') continue;
        if (this.format === 'empty') this.format = isCompleteJson(text) ? 'jsonl' : 'document';
        if (this.format === 'document') {
          this.documentStart = lineNo;
          this.documentLines.push(text);
          continue;
        }
        this.decode(text, lineNo, (position) => ({ line: lineNo, col: position + 1 }));
      }
    } catch (err) {
      this.problem(0, 0, `cannot read the trace file: ${describeFsError(err)}`);
      return;
    } finally {
      lines.close();
    }
    if (this.format === 'document') {
      const text = this.documentLines.join('\n');
      this.documentLines = [];
      const start = this.documentStart;
      this.decode(text, start, (position) => lineColAt(text, position, start));
    }
  }

  summary(): TraceFileSummary {
    if (this.problemCount > MAX_PROBLEMS_PER_FILE) {
      this.problems.push({ file: this.file, line: 0, col: 0, message: `… and ${this.problemCount - MAX_PROBLEMS_PER_FILE} more problems in this file` });
    }
    if (this.format === 'empty' && this.problemCount === 0) {
      this.warnings.push({ file: this.file, line: 0, col: 0, message: 'holds no OTLP/JSON request (the file is empty)' });
    }
    return { file: this.file, format: this.format, requests: this.requests, spans: this.spans, rejectedSpans: this.rejected };
  }

  /** Decodes one request; `at(position)` turns a character position in `text` into a line and column. */
  private decode(text: string, line: number, at: (position: number) => { line: number; col: number }): void {
    let batch: TraceBatch;
    try {
      const result = decodeTraceRequestJson(text);
      batch = result.batch;
      if (result.rejectedSpans > 0) {
        this.rejected += result.rejectedSpans;
        this.warnings.push({
          file: this.file,
          line,
          col: 0,
          message: `${result.rejectReason}; left out of the test`,
        });
      }
    } catch (err) {
      const message = errorMessage(err);
      // JSON.parse says where only in some messages; a text cut short (an interrupted recording) fails at its end.
      const position = JSON_POSITION.exec(message);
      const where = position ? at(Number(position[1])) : message.includes('Unexpected end of JSON input') ? at(text.length) : { line, col: 0 };
      this.problem(where.line, where.col, `${message}${this.format === 'jsonl' ? ' (each line must be one whole OTLP/JSON request)' : ''}`);
      return;
    }
    if (batch.resourceSpans.length === 0 && !RESOURCE_SPANS_KEY.test(text)) {
      this.problem(
        line,
        0,
        'not an OTLP/JSON traces request: it has no "resourceSpans" (is this an attempts or metrics recording? pass the recorded traces)',
      );
      return;
    }
    this.requests++;
    this.spans += batch.spanCount;
    this.onRequest(batch, { file: this.file, line });
  }

  private problem(line: number, col: number, message: string): void {
    this.problemCount++;
    if (this.problemCount <= MAX_PROBLEMS_PER_FILE) this.problems.push({ file: this.file, line, col, message });
  }
}

/** Whether `text` is one complete JSON value (a JSON Lines line), rather than the start of a larger document. */
function isCompleteJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** 1-based line and column of character `position` of `text`, whose first line is line `firstLine`. */
function lineColAt(text: string, position: number, firstLine: number): { line: number; col: number } {
  let line = firstLine;
  let lineStart = 0;
  const end = Math.min(position, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: end - lineStart + 1 };
}
