#!/usr/bin/env node
/**
 * Where Pulse's CPU goes, from a `perf record -g` of the Pulse process: every sample of every thread is put in the
 * first group (innermost frame first) that one of its frames belongs to, and the groups are printed as shares of all
 * samples, for the main thread and for the others (libuv's pool: inflate and gzip; V8's helpers: GC).
 *
 * Why perf and not `node --cpu-prof`: the JS profiler samples the main thread only, and counts a thread that the
 * kernel has descheduled inside a system call (handing a job to the pool, a socket write that wakes the reader) as
 * busy in the function that made the call. perf counts CPU time of every thread, native code included.
 *
 *   npm run bench -- --transports http-proto --rate 120000 --seconds 30 --node-option --perf-basic-prof &
 *   perf record -F 997 -g -p <pulse pid> -o /tmp/pulse.perf -- sleep 10
 *   node bench/e2e/perf-split.mjs /tmp/pulse.perf
 *
 * (`--perf-basic-prof` makes Node write /tmp/perf-<pid>.map, which names JS functions for perf; `--node-option`
 * replaces the bench's default `--max-semi-space-size=16`, so pass that again to measure the usual setup.)
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

/** Groups, tried in this order against each frame from the innermost out; the first frame that matches wins. */
const GROUPS = [
  ['gzip of forwarded requests (zlib deflate)', /\b(deflate|compress_block|longest_match|pqdownheap|fill_window|build_tree|send_tree|_tr_)/],
  ['inflate of received requests (zlib)', /\binflate/],
  ['garbage collection', /Scavenger|ConcurrentMarking|MarkCompact|Sweeper|MarkingVisitor|GCTracer|Heap::|MinorM|Evacuat|ArrayBufferSweeper/],
  ['ClickHouse exporter', /exporters\/clickhouse|@clickhouse/],
  ['Kafka exporter', /exporters\/kafka|kafkajs/],
  ['persistent queue files', /persistent-queue|queue-file/],
  ['protobuf encode (forwarding)', /otlp\/proto-encode/],
  ['OTLP/HTTP exporter and exporter helpers', /exporters\/otlphttp|exporterhelper/],
  ['protobuf decode', /otlp\/(proto-decode|proto-reader|intern)/],
  ['slo connector and alerts', /connectors\/slo|dist\/alerts\//],
  ['journeys (connector and runtime)', /dist\/(journeys|connectors\/journeys)\//],
  ['receivers', /dist\/receivers\//],
  ['Node HTTP and streams (node:http, net, llhttp)', /_http_|node:net|internal\/streams|node:events|llhttp|internal\/http/],
];

/**
 * Groups the samples of `perf script -F pid,tid,ip,sym,dso` output, fed to `line` in order: per thread kind
 * (`main`: the thread whose id is the process id; `other`), sample counts by group name, from `result`.
 */
export function createSplitter() {
  const counts = { main: new Map(), other: new Map() };
  const totals = { main: 0, other: 0 };
  let sample = null;
  const finish = () => {
    if (sample === null) return;
    const group = sample.group ?? (sample.kernel ? 'kernel (system calls, scheduling)' : 'other');
    counts[sample.kind].set(group, (counts[sample.kind].get(group) ?? 0) + 1);
    totals[sample.kind]++;
    sample = null;
  };
  return {
    line(line) {
      if (line.trim() === '') return finish();
      // A sample's header ("[comm] <pid>/<tid>", where a short pid is right-aligned with spaces); its frames follow,
      // innermost first, each indented with a tab.
      const header = line.startsWith('\t') ? null : /(\d+)\/(\d+)/.exec(line);
      if (header) {
        finish();
        sample = { kind: header[1] === header[2] ? 'main' : 'other', group: undefined, kernel: false, first: true };
        return;
      }
      if (sample === null) return;
      if (sample.first) {
        sample.kernel = line.includes('[kernel.kallsyms]');
        sample.first = false;
      }
      if (sample.group === undefined) sample.group = GROUPS.find(([, pattern]) => pattern.test(line))?.[0];
    },
    result() {
      finish();
      return { counts, totals };
    },
  };
}

/** `createSplitter` over all of `lines`. */
export function splitSamples(lines) {
  const splitter = createSplitter();
  for (const line of lines) splitter.line(line);
  return splitter.result();
}

/** The report: shares of all samples, per thread kind and for all threads. */
export function formatSplit({ counts, totals }) {
  const all = totals.main + totals.other;
  const pct = (n) => `${((100 * n) / all).toFixed(1)}%`.padStart(6);
  const out = [`${all} samples; shares of all of them`];
  const table = (map) => [...map].sort((a, b) => b[1] - a[1]).map(([group, n]) => `  ${pct(n)}  ${group}`);
  for (const kind of ['main', 'other']) {
    out.push('', `${kind === 'main' ? 'main thread' : 'other threads (libuv pool, V8 helpers)'}: ${pct(totals[kind])}`, ...table(counts[kind]));
  }
  const both = new Map();
  for (const kind of ['main', 'other']) for (const [group, n] of counts[kind]) both.set(group, (both.get(group) ?? 0) + n);
  out.push('', 'all threads:', ...table(both));
  return out.join('\n');
}

function usage(message) {
  if (message) console.error(`perf-split: ${message}`);
  console.error('usage: node bench/e2e/perf-split.mjs <perf.data>   (a `perf record -g -p <pulse pid>` of a running Pulse)');
  process.exit(2);
}

async function main() {
  const file = process.argv[2];
  if (!file || process.argv.length > 3) usage();
  const perf = spawn('perf', ['script', '-i', file, '-F', 'pid,tid,ip,sym,dso'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  perf.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => {
    perf.on('error', (err) => usage(`cannot run perf (${err.message}); install it (Debian: linux-perf)`));
    perf.on('close', resolve);
  });
  const splitter = createSplitter();
  for await (const line of createInterface({ input: perf.stdout, crlfDelay: Infinity })) splitter.line(line);
  const code = await exited;
  if (code !== 0) usage(`perf script failed (${code}): ${stderr.trim().split('\n').pop()}`);
  const split = splitter.result();
  if (split.totals.main + split.totals.other === 0) usage(`no samples in ${file}`);
  console.log(formatSplit(split));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
