/**
 * bench/e2e/perf-split.mjs: how `perf script` samples of a Pulse process are grouped (BENCHMARKS.md, "Where a
 * span's CPU goes"). The text is the shape `perf script -F pid,tid,ip,sym,dso` prints.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain .mjs bench script without type declarations
import { formatSplit, splitSamples } from '../../../bench/e2e/perf-split.mjs';

interface Split {
  counts: { main: Map<string, number>; other: Map<string, number> };
  totals: { main: number; other: number };
}

const JS = (fn: string, file: string) => `\t    7f00aa ${fn} file:///srv/pulse/dist/${file}:10:5 (/tmp/perf-100.map)`;
const NATIVE = (sym: string, dso = '/usr/bin/node') => `\t    7f00bb ${sym} (${dso})`;

/** One sample: header, then frames innermost first, then the blank line perf puts between samples. */
const sample = (pid: number, tid: number, frames: string[]) => [`node ${pid}/${tid}`, ...frames, ''];

describe('perf-split', () => {
  it('puts a sample in the group of its innermost frame that names one, per thread kind', () => {
    const lines = [
      // main thread (tid = pid): decode, twice
      ...sample(100, 100, [JS('*decodeSpan', 'otlp/proto-decode.js'), JS('*handle', 'receivers/otlp/http.js')]),
      ...sample(100, 100, [JS('*len', 'otlp/proto-reader.js'), JS('*decodeScopeSpans', 'otlp/proto-decode.js'), JS('*handle', 'receivers/otlp/http.js')]),
      // a GC inside decode is GC, not decode
      ...sample(100, 100, [NATIVE('v8::internal::Scavenger::ScavengeObject'), JS('*decodeSpan', 'otlp/proto-decode.js')]),
      // a kernel frame with no component above it
      ...sample(100, 100, [NATIVE('finish_task_switch', '[kernel.kallsyms]'), NATIVE('epoll_wait', '/usr/lib/libc.so.6')]),
      // nothing recognisable
      ...sample(100, 100, [NATIVE('malloc', '/usr/lib/libc.so.6')]),
      // pool threads: CRC-32 counts with whichever of deflate or inflate called it
      ...sample(100, 107, [NATIVE('crc32_z'), NATIVE('deflate.part.0'), NATIVE('node::ThreadPoolWork')]),
      ...sample(100, 108, [NATIVE('crc32_z'), NATIVE('inflate'), NATIVE('node::ThreadPoolWork')]),
      ...sample(100, 108, [NATIVE('longest_match'), NATIVE('deflate_fast')]),
      // without the command name, perf right-aligns a short pid: the header starts with spaces
      ` 100/100  `,
      JS('*decodeSpan', 'otlp/proto-decode.js'),
      '',
    ];
    const split = splitSamples(lines) as Split;
    expect(split.totals).toEqual({ main: 6, other: 3 });
    expect(Object.fromEntries(split.counts.main)).toEqual({
      'protobuf decode': 3,
      'garbage collection': 1,
      'kernel (system calls, scheduling)': 1,
      other: 1,
    });
    expect(Object.fromEntries(split.counts.other)).toEqual({
      'gzip of forwarded requests (zlib deflate)': 2,
      'inflate of received requests (zlib)': 1,
    });
  });

  it('reports shares of all samples, largest first, and the two thread kinds summed', () => {
    const lines = [
      ...sample(1, 1, [JS('*tick', 'journeys/runtime/assembler.js')]),
      ...sample(1, 1, [JS('*tick', 'journeys/runtime/assembler.js')]),
      ...sample(1, 1, [JS('*encodeAttempts', 'exporters/clickhouse/rows.js')]),
      ...sample(1, 2, [NATIVE('v8::internal::ConcurrentMarking::RunMajor')]),
    ];
    const text = formatSplit(splitSamples(lines)) as string;
    expect(text).toContain('4 samples');
    expect(text).toMatch(/main thread: +75\.0%\n +50\.0% +journeys \(connector and runtime\)\n +25\.0% +ClickHouse exporter/);
    expect(text).toMatch(/other threads \(libuv pool, V8 helpers\): +25\.0%\n +25\.0% +garbage collection/);
    expect(text).toMatch(/all threads:\n +50\.0% +journeys/);
  });
});
