/**
 * The human-readable `pulse journeys test` output: the definitions and inputs, then per trace its attempts (✓/✗,
 * reasons, failing step, signals, segments, and the span behind the start and every step) and the journey spans
 * in no attempt, then notes (journeys without attempts, steps and segments that never matched) and a summary per
 * journey. Columns are padded within each block so span names, services and ids line up.
 */
import type { AttemptReport, JourneySummary, JourneyTestReport, SpanReport, TraceReport, UnmatchedSpanReport } from './report.js';
import type { TraceFileSummary } from './trace-files.js';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function ms(n: number): string {
  return `${Number(n.toFixed(1))} ms`;
}

/** Rows of cells → lines with every column but the last padded to its widest cell. */
function table(rows: readonly (readonly string[])[], indent: string): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

function serviceText(s: { service: string; version: string }): string {
  const service = s.service === '' ? '(no service.name)' : s.service;
  return s.version === '' ? service : `${service} ${s.version}`;
}

function statusText(s: SpanReport): string {
  return s.statusMessage === '' ? s.status : `${s.status}: ${JSON.stringify(s.statusMessage)}`;
}

function spanRow(s: SpanReport, label: string): string[] {
  return [label, s.name, serviceText(s), `span ${s.spanId}`, statusText(s), ms(s.durationMs), s.at];
}

function inputText(f: TraceFileSummary): string {
  const format = f.format === 'jsonl' ? 'JSON Lines' : f.format === 'document' ? 'one JSON document' : 'empty';
  const rejected = f.rejectedSpans > 0 ? `, ${f.rejectedSpans} left out` : '';
  return `${f.file} (${plural(f.requests, 'request')}, ${plural(f.spans, 'span')}${rejected}, ${format})`;
}

function attemptLines(a: AttemptReport): string[] {
  const mark = a.outcome === 'success' ? '✓' : '✗';
  const outcome = a.outcome === 'success' ? 'success' : `failure: ${a.reasons.join(', ')}`;
  const lines = [`  ${mark} ${a.journey}  ${outcome}  (${ms(a.durationMs)}, started ${a.startTime})`];
  const facts: string[][] = [];
  if (a.failingStep !== null) {
    const { step, service } = a.failingStep;
    const missing = a.reasons.includes(`missing_step:${step}`);
    const text = missing
      ? `${step} (missing${service === '' ? '' : `; expected in ${service}`})`
      : `${step} in ${serviceText(a.failingStep)}`;
    facts.push(['failing step', text]);
  }
  if (a.signals.length > 0) facts.push(['signals', a.signals.join(', ')]);
  const segments = Object.entries(a.segments).map(([k, v]) => `${k}=${v}`);
  facts.push(['segments', segments.length > 0 ? segments.join('  ') : '(none)']);
  if (a.decidedBy !== 'complete') facts.push(['decided', `${a.decidedBy} (a required step was not in the input)`]);
  lines.push(...table(facts, '      '));
  lines.push(...table([spanRow(a.start, 'start'), ...a.steps.map((s) => spanRow(s, s.step))], '      '));
  return lines;
}

function unmatchedLines(spans: readonly UnmatchedSpanReport[]): string[] {
  if (spans.length === 0) return [];
  const rows = spans.map((s) => [...spanRow(s, `${s.journey}/${s.step}`), `— ${s.reason}`]);
  return ['  journey spans in no attempt:', ...table(rows, '      ')];
}

function traceLines(t: TraceReport): string[] {
  return [`trace ${t.traceId}`, ...t.attempts.flatMap(attemptLines), ...unmatchedLines(t.unmatchedJourneySpans), ''];
}

function counts(record: Readonly<Record<string, number>>): string {
  return Object.entries(record)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ');
}

function journeySummaryLines(j: JourneySummary, width: number): string[] {
  const name = j.journey.padEnd(width);
  const pad = ' '.repeat(width + 4);
  if (j.attempts === 0) return [`  ${name}  no attempts${j.unmatchedSpans > 0 ? ` (${plural(j.unmatchedSpans, 'span')} in no attempt)` : ''}`];
  let line = `  ${name}  ${plural(j.attempts, 'attempt')}: ${j.successes} succeeded, ${j.failures} failed`;
  if (j.failures > 0) line += ` (${counts(j.failuresByReason)})`;
  if (Object.keys(j.signals).length > 0) line += `; signals: ${counts(j.signals)}`;
  if (j.unmatchedSpans > 0) line += `; ${plural(j.unmatchedSpans, 'span')} in no attempt`;
  const lines = [line];
  for (const [dim, values] of Object.entries(j.segments)) {
    const entries = Object.entries(values);
    if (entries.length === 0) continue;
    lines.push(`${pad}${dim}: ${entries.map(([v, c]) => `${v} ${c.successes}/${c.attempts} ok`).join(', ')}`);
  }
  return lines;
}

export function renderText(report: JourneyTestReport): string {
  const { journeys, summary } = report;
  const lines: string[] = [
    `journeys: ${journeys.path} (${plural(journeys.names.length, 'journey')}: ${journeys.names.join(', ')})`,
    `traces:   ${report.inputs.map(inputText).join(', ')}`,
    ...report.warnings,
    '',
  ];
  if (report.traces.length === 0) lines.push('no span in the input matched any journey', '');
  for (const t of report.traces) lines.push(...traceLines(t));
  if (report.notes.length > 0) lines.push('notes:', ...report.notes.map((n) => `  ! ${n.message}`), '');

  let total = `summary: ${plural(summary.traces, 'trace')} (${summary.tracesWithJourneySpans} with journey spans), ${plural(summary.attempts, 'attempt')}: ${summary.successes} succeeded, ${summary.failures} failed`;
  if (summary.unmatchedJourneySpans > 0) total += `; ${plural(summary.unmatchedJourneySpans, 'journey span')} in no attempt`;
  if (summary.duplicateSpans > 0) total += `; ${plural(summary.duplicateSpans, 'duplicate span')} ignored`;
  if (summary.retaggedSpans > 0) total += `; ${plural(summary.retaggedSpans, 'span')} had recorded journey.* tags (replaced)`;
  lines.push(total);
  const width = Math.max(0, ...summary.journeys.map((j) => j.journey.length));
  for (const j of summary.journeys) lines.push(...journeySummaryLines(j, width));
  return lines.join('\n');
}
