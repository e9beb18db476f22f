#!/usr/bin/env node
/**
 * `npm run bench`: the end-to-end benchmark. Starts ClickHouse and Kafka (scripts/infra), a load generator with
 * the OTLP forward target (loadgen.mjs, its own process), and `bin/pulse start` with bench/e2e/pulse.yaml, then
 * for each transport finds the highest rate Pulse sustains with zero refused or lost spans and measures it.
 *
 *   npm run bench                          full run (~6 min), writes BENCHMARKS.json and the results in BENCHMARKS.md
 *   npm run bench -- --quick               shorter steps (< 3 min)
 *   npm run bench -- --transports grpc     only some of: http-proto, grpc, http-json
 *   npm run bench -- --out /tmp/b.json --no-md    results elsewhere, BENCHMARKS.md untouched
 *   npm run bench -- --rate 100000 --seconds 20    one paced step per transport instead of the search
 *   npm run bench -- --no-scaling          skip the 1-core and 2-shard runs (a quick run skips them unless --scaling)
 *   npm run bench -- --config my.yaml      another Pulse config (it must use the ${env:PULSE_BENCH_…} values)
 *   npm run bench -- --node-option --cpu-prof       Node options for Pulse (repeatable; replace the default
 *                                                  --max-semi-space-size=16 of the container image)
 *   PULSE_BENCH_TAG_SPANS=false npm run bench          journeys without span tags (requests forwarded as they came)
 *   PULSE_BENCH_FORWARD_COMPRESSION=none npm run bench  the forward hop uncompressed (gzip by default)
 *   npm run bench -- --reference-collector ./otelcol   the same steps against an OpenTelemetry Collector binary
 *                                                  instead of Pulse (bench/e2e/otelcol.yaml: receive and forward
 *                                                  only); results to a temp file unless --out/--md are given
 *
 * Per transport: warm-up, then paced steps rising by ×1.3 from 100k spans/s until one fails (a refused or lost span,
 * an exporter failure, the pace not kept, or a backlog: spans still arriving at the forward target a second after
 * the last send), a midpoint or two between the last pass and the failure, and a step at half the highest pass,
 * for latency (after a few unmeasured seconds at that rate). A Pulse restarted after a failed step is warmed up
 * again before the next measured step. Once: 100k spans/s over OTLP/HTTP for longer than trace_wait, for
 * memory. Pulse's CPU is read from /proc/<pid>/stat (all its threads), RSS from /proc/<pid>/status.
 */
import { execFileSync, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installClickHouse, startClickHouse, clickHouseQuery } from '../../scripts/infra/clickhouse-lib.mjs';
import { installKafka, startKafka } from '../../scripts/infra/kafka-lib.mjs';
import { freePorts, sleep } from '../../scripts/infra/process-control.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TRANSPORTS = ['http-proto', 'grpc', 'http-json'];
/** Settings of bench/e2e/pulse.yaml that the environment may change (the rest are ports and paths set here). */
const SETTINGS_FROM_ENV = ['PULSE_BENCH_FORWARD_COMPRESSION', 'PULSE_BENCH_TAG_SPANS', 'PULSE_BENCH_DERIVED_THREAD', 'PULSE_BENCH_WORKER_MAX_HEAP'];
/** Pulse runs with the Node options its container image sets (deploy/docker/Dockerfile); --node-option replaces them. */
const DEFAULT_NODE_OPTIONS = ['--max-semi-space-size=16'];

function parseArgs(argv) {
  const opts = { quick: false, transports: TRANSPORTS, out: path.join(ROOT, 'BENCHMARKS.json'), md: path.join(ROOT, 'BENCHMARKS.md'), config: path.join(ROOT, 'bench/e2e/pulse.yaml'), rate: undefined, seconds: undefined, pulseArgs: [...DEFAULT_NODE_OPTIONS] };
  let nodeOptionsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') opts.quick = true;
    else if (a === '--transports') opts.transports = value().split(',');
    else if (a === '--out') opts.out = path.resolve(value());
    else if (a === '--no-md') opts.md = undefined;
    else if (a === '--config') opts.config = path.resolve(value());
    else if (a === '--rate') opts.rate = Number(value());
    else if (a === '--no-scaling') opts.scaling = false;
    else if (a === '--scaling') opts.scaling = true;
    else if (a === '--seconds') opts.seconds = Number(value());
    else if (a === '--node-option') {
      if (!nodeOptionsGiven) opts.pulseArgs = [];
      nodeOptionsGiven = true;
      opts.pulseArgs.push(value());
    }
    else if (a === '--md') opts.md = path.resolve(value());
    else if (a === '--reference-collector') opts.reference = path.resolve(value());
    else if (a === '--help' || a === '-h') {
      console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]);
      process.exit(0);
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  opts.scaling ??= !opts.quick;
  if (opts.reference !== undefined) {
    if (!existsSync(opts.reference)) throw new Error(`--reference-collector: no file ${opts.reference} (bench/e2e/otelcol-builder.yaml builds one)`);
    // A reference run never overwrites Pulse's own results.
    if (!argv.includes('--out')) opts.out = path.join(os.tmpdir(), 'pulse-bench-reference.json');
    if (!argv.includes('--md')) opts.md = undefined;
    if (!argv.includes('--config')) opts.config = path.join(ROOT, 'bench/e2e/otelcol.yaml');
  }
  for (const t of opts.transports) if (!TRANSPORTS.includes(t)) throw new Error(`unknown transport ${t}; one of ${TRANSPORTS.join(', ')}`);
  return opts;
}

const log = (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// ---- /proc -----------------------------------------------------------------------------------------------------

const CLOCK_TICKS = 100; // USER_HZ on Linux

/**
 * CPU seconds (user + system) a live process has used: all its threads, or with `mainThread` only the thread that
 * runs JavaScript (/proc/<pid>/task/<pid>; the rest is libuv's pool inflating and deflating and V8's GC helpers).
 */
function cpuSeconds(pid, mainThread = false) {
  let stat;
  try {
    stat = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0; // exited (a failed start, or an interrupted run)
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function rssBytes(pid) {
  let status;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return 0; // exited
  }
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

function machine() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
  };
}

// ---- Pulse -----------------------------------------------------------------------------------------------------

/** The reference binary's `--version` line (a Collector built without a version has no such flag: its file name). */
function referenceVersion(binary) {
  try {
    return execFileSync(binary, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return path.basename(binary);
  }
}

async function startPulse(env, dataDir, opts, cpus) {
  const [http, grpc, metrics, health] = await freePorts(4);
  // Pulse, or with --reference-collector an OpenTelemetry Collector binary (its own config, the same ports).
  const command = opts.reference ?? process.execPath;
  const name = opts.reference ? path.basename(opts.reference) : 'pulse';
  const args = opts.reference ? ['--config', opts.config] : [...opts.pulseArgs, path.join(ROOT, 'bin/pulse'), 'start', '--config', opts.config];
  // taskset execs the command, so the PID is Pulse's and /proc/<pid> is Pulse's own CPU.
  const child = spawn(cpus ? 'taskset' : command, cpus ? ['-c', cpus, command, ...args] : args, {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      PULSE_BENCH_HTTP: `127.0.0.1:${http}`,
      PULSE_BENCH_GRPC: `127.0.0.1:${grpc}`,
      PULSE_BENCH_METRICS: `127.0.0.1:${metrics}`,
      PULSE_BENCH_METRICS_PORT: String(metrics),
      PULSE_BENCH_HEALTH: `127.0.0.1:${health}`,
      PULSE_BENCH_DATA_DIR: dataDir,
      PULSE_BENCH_JOURNEYS: path.join(ROOT, 'bench/e2e/journeys'),
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-20_000);
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let stopping;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited during start (${child.exitCode}):\n${stderr}`);
    try {
      // The Collector has no /readyz without an extension: its receivers answer once it has started.
      const ready = opts.reference ? `http://127.0.0.1:${http}/v1/traces` : `http://127.0.0.1:${health}/readyz`;
      const res = await fetch(ready, opts.reference ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' } : undefined);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} did not become ready in 30 s:\n${stderr}`);
    await sleep(100);
  }
  return {
    name,
    pid: child.pid,
    http: `http://127.0.0.1:${http}`,
    grpc: `http://127.0.0.1:${grpc}`,
    metricsUrl: `http://127.0.0.1:${metrics}/metrics`,
    stderr: () => stderr,
    stop() {
      // Once: a second SIGTERM would cut Pulse's graceful shutdown short.
      stopping ??= (async () => {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
        const r = await exited;
        clearTimeout(t);
        return r;
      })();
      return stopping;
    },
  };
}

/** Pulse's /metrics as { name: sum over series } plus histogram buckets as { name: [[le, count], …] }. */
async function scrape(url) {
  const text = await (await fetch(url)).text();
  const sums = {};
  const buckets = {};
  const quantiles = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) continue;
    const [, name, labels = '', raw] = m;
    const v = Number(raw);
    sums[name] = (sums[name] ?? 0) + v;
    const quantile = /quantile="([^"]+)"/.exec(labels)?.[1];
    if (quantile !== undefined) (quantiles[name] ??= {})[quantile] = Math.max(quantiles[name]?.[quantile] ?? 0, v);
    if (name.endsWith('_bucket')) {
      const le = /le="([^"]+)"/.exec(labels)?.[1];
      const key = `${name}${labels.replace(/,?le="[^"]+"/, '')}`;
      (buckets[key] ??= []).push([le === '+Inf' ? Infinity : Number(le), v]);
    }
  }
  return { sums, buckets, quantiles };
}

/** A gauge with a `quantile` label (the largest over shards). */
const gaugeAt = (m, name, quantile) => m.quantiles?.[name]?.[quantile] ?? 0;

/**
 * `shards` Pulse processes (a trace-id-sharded deployment; 1 = one process), optionally pinned to `cpus`
 * (taskset list, e.g. "0"). Measured as one: CPU and RSS summed, metrics summed.
 */
/** Pulse processes running now, so that an interrupted run can stop them. */
const livePulses = new Set();

async function startPulses(env, dir, opts, { shards = 1, cpus } = {}) {
  const list = [];
  for (let i = 0; i < shards; i++) {
    const p = await startPulse(env, `${dir}-${i}`, opts, cpus);
    livePulses.add(p);
    list.push(p);
  }
  return {
    list,
    shards,
    cpus: cpus ?? null,
    targets: (transport) => list.map((p) => (transport === 'grpc' ? p.grpc : p.http)),
    cpuSeconds: () => list.reduce((sum, p) => sum + cpuSeconds(p.pid), 0),
    jsThreadCpuSeconds: () => list.reduce((sum, p) => sum + cpuSeconds(p.pid, true), 0),
    rssBytes: () => list.reduce((sum, p) => sum + rssBytes(p.pid), 0),
    async scrape() {
      const parts = await Promise.all(list.map((p) => scrape(p.metricsUrl)));
      const sums = {};
      const buckets = {};
      const quantiles = {};
      for (const part of parts) {
        for (const [name, q] of Object.entries(part.quantiles)) for (const [k, v] of Object.entries(q)) (quantiles[name] ??= {})[k] = Math.max(quantiles[name][k] ?? 0, v);
        for (const [name, v] of Object.entries(part.sums)) sums[name] = (sums[name] ?? 0) + v;
        for (const [key, pairs] of Object.entries(part.buckets)) {
          const merged = new Map(buckets[key] ?? []);
          for (const [le, v] of pairs) merged.set(le, (merged.get(le) ?? 0) + v);
          buckets[key] = [...merged.entries()];
        }
      }
      return { sums, buckets, quantiles };
    },
    async stop() {
      for (const p of list) {
        livePulses.delete(p);
        await stopPulse(p);
      }
    },
  };
}

async function stopPulse(pulse) {
  const exit = await pulse.stop();
  if (exit.code !== 0) log(`${pulse.name} exited with ${JSON.stringify(exit)}:\n${pulse.stderr()}`);
}

const delta = (a, b, name) => (b.sums[name] ?? 0) - (a.sums[name] ?? 0);

/** Quantile from Prometheus buckets (upper bound of the bucket holding it), summed over all series of `metric`. */
function histogramQuantile(before, after, metric, q) {
  const merged = new Map();
  for (const [key, list] of Object.entries(after.buckets)) {
    if (!key.startsWith(`${metric}_bucket`)) continue;
    const prev = new Map(before.buckets[key] ?? []);
    for (const [le, v] of list) merged.set(le, (merged.get(le) ?? 0) + v - (prev.get(le) ?? 0));
  }
  const sorted = [...merged.entries()].sort((x, y) => x[0] - y[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  for (const [le, cumulative] of sorted) if (cumulative >= q * total) return le;
  return null;
}

// ---- steps -----------------------------------------------------------------------------------------------------

class Loadgen {
  constructor() {
    this.child = fork(path.join(ROOT, 'bench/e2e/loadgen.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.pending = null;
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`load generator exited (${code})`)));
      this.child.on('message', (msg) => {
        if (msg.type === 'ready') resolve(msg);
        else if (this.pending) {
          const { resolve: ok, reject: fail } = this.pending;
          this.pending = null;
          if (msg.type === 'error') fail(new Error(`load generator: ${msg.message}`));
          else ok(msg);
        }
      });
    });
  }
  request(msg) {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.child.send(msg);
    });
  }
  close() {
    this.child.send({ type: 'exit' });
  }
}

/** One step: load for `seconds`, with Pulse's CPU, RSS and metrics measured around it. */
async function step(loadgen, pulse, transport, rate, seconds, label) {
  const m0 = await pulse.scrape();
  const cpu0 = pulse.cpuSeconds();
  const js0 = pulse.jsThreadCpuSeconds();
  let peakRss = pulse.rssBytes();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, pulse.rssBytes());
  }, 200);
  const t0 = performance.now();
  const { result } = await loadgen.request({ type: 'run', transport, targets: pulse.targets(transport), rate, seconds });
  // CPU over the whole step, drain included: the spans accepted in the step are forwarded by then.
  const wall = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const cpu = pulse.cpuSeconds() - cpu0;
  const jsCpu = pulse.jsThreadCpuSeconds() - js0;
  const m1 = await pulse.scrape();
  const decided = delta(m0, m1, 'pulse_journey_attempts_total');
  const out = {
    label,
    shards: pulse.shards,
    cpus: pulse.cpus,
    ...result,
    pulseCpuSeconds: cpu,
    pulseCores: cpu / wall,
    // Of those, the thread that runs JavaScript: what one core must hold; the rest can go to another core.
    jsThreadCores: jsCpu / wall,
    spansPerCoreSecond: cpu > 0 ? result.acceptedSpans / cpu : null,
    peakRssMiB: peakRss / 2 ** 20,
    attemptsDecidedPerSecond: decided / wall,
    decisionDelayS: {
      p50: histogramQuantile(m0, m1, 'pulse_journey_decision_delay_seconds', 0.5),
      p99: histogramQuantile(m0, m1, 'pulse_journey_decision_delay_seconds', 0.99),
    },
    // At the end of the step: V8 heap in use (the rest of RSS is V8's headroom, code and buffers), and the
    // event-loop delay over the step (the gauge covers the time since the previous scrape, at the step's start).
    heapUsedMiB: (m1.sums.nodejs_heap_used_bytes ?? 0) / 2 ** 20,
    // With service.derived_signals.thread: worker, the worker thread's own heap (0 otherwise).
    workerHeapUsedMiB: (m1.sums.pulse_worker_heap_used_bytes ?? 0) / 2 ** 20,
    eventLoopLagMs: { p99: gaugeAt(m1, 'nodejs_eventloop_lag_seconds', '0.99') * 1000, max: gaugeAt(m1, 'nodejs_eventloop_lag_seconds', '1') * 1000 },
    pulse: {
      refusedByReceiver: delta(m0, m1, 'pulse_receiver_refused_spans_total'),
      exporterSendFailed: delta(m0, m1, 'pulse_exporter_send_failed_items_total'),
      exporterEnqueueFailed: delta(m0, m1, 'pulse_exporter_enqueue_failed_items_total'),
      lateSpans: delta(m0, m1, 'pulse_journey_late_spans_total'),
      evicted: delta(m0, m1, 'pulse_journey_evicted_attempts_total'),
      clickhouseInserts: delta(m0, m1, 'pulse_clickhouse_inserts_total'),
      clickhouseInsertErrors: delta(m0, m1, 'pulse_clickhouse_insert_errors_total'),
    },
  };
  out.passed =
    result.refusedSpans === 0 &&
    result.errors === 0 &&
    result.lostSpans === 0 &&
    out.pulse.exporterSendFailed === 0 &&
    out.pulse.exporterEnqueueFailed === 0 &&
    result.drainSeconds < MAX_DRAIN_SECONDS &&
    result.saturatedShare <= MAX_SATURATED_SHARE &&
    result.acceptedRate >= 0.97 * rate;
  log(
    `${transport} ${label.padEnd(7)} ${(rate / 1000).toFixed(0)}k → ${(result.acceptedRate / 1000).toFixed(1)}k spans/s, ` +
      `Pulse ${out.pulseCores.toFixed(2)} cores (JS thread ${out.jsThreadCores.toFixed(2)}) = ${((out.spansPerCoreSecond ?? 0) / 1000).toFixed(0)}k spans/s per core, RSS ${out.peakRssMiB.toFixed(0)} MiB, ` +
      `forward p50/p99 ${fmtMs(result.forwardLatencyMs.p50)}/${fmtMs(result.forwardLatencyMs.p99)} ms (answered ${fmtMs(result.probeAnswerMs.p50)}/${fmtMs(result.probeAnswerMs.p99)}; load generator loop max ${fmtMs(result.loadgenLoopDelayMs.max)}), loop delay p99/max ${out.eventLoopLagMs.p99.toFixed(0)}/${out.eventLoopLagMs.max.toFixed(0)} ms, heap ${out.heapUsedMiB.toFixed(0)}${out.workerHeapUsedMiB > 0 ? ` + worker ${out.workerHeapUsedMiB.toFixed(0)}` : ''} MiB, refused ${result.refusedSpans}, lost ${result.lostSpans}, drain ${result.drainSeconds.toFixed(2)} s` +
      `${result.saturatedShare > 0.01 ? `, ${(100 * result.saturatedShare).toFixed(0)}% of the time ${result.maxInflight} requests unanswered` : ''} → ${out.passed ? 'pass' : 'FAIL'}`,
  );
  return out;
}

/**
 * A step passes only if its spans reached the forward target within this long of the last send: otherwise the
 * exporter queue was absorbing a backlog that a longer step would have turned into refusals.
 */
const MAX_DRAIN_SECONDS = 1;
/**
 * ...and the load generator found all `maxInflight` (32) requests still unanswered on at most this share of its
 * 2 ms pacing ticks: a GC pause may make requests queue briefly (an SDK's export queue absorbs that), but not for
 * a tenth of the step.
 */
const MAX_SATURATED_SHARE = 0.1;

const fmtMs = (v) => (v === null ? '-' : v.toFixed(1));

/**
 * Warm-up, then paced steps from `start` up by ×1.3 while they pass; after the first failure, the midpoint between
 * the last pass and it (twice in a full run). The highest passing step is the max sustained rate; then half of it.
 */
async function benchTransport(loadgen, ctx, transport, t) {
  const steps = [];
  // After a failed step Pulse may hold a backlog (a full exporter queue, a grown heap); the next step gets a fresh
  // one, warmed up first like the first (a cold process spends its first seconds compiling: not its steady state).
  let cold = true;
  const measure = async (rate, seconds, label) => {
    if (cold) {
      steps.push(await step(loadgen, ctx.pulse, transport, 50_000, t.warmup, 'warm-up'));
      cold = false;
    }
    const s = await step(loadgen, ctx.pulse, transport, rate, seconds, label);
    if (!s.passed) {
      await ctx.restart();
      cold = true;
    }
    return s;
  };
  const round = (r) => Math.round(r / 5000) * 5000;
  let best = null;
  let failedAt = null;
  for (let rate = t.start; rate <= t.ceiling && steps.length < 20; rate = round(rate * 1.3)) {
    const s = await measure(rate, t.sustain, 'ramp');
    steps.push(s);
    if (!s.passed) {
      failedAt = rate;
      break;
    }
    best = s;
  }
  for (let i = 0; i < t.refine && failedAt !== null; i++) {
    const low = best?.targetRate ?? 0;
    const mid = round((low + failedAt) / 2);
    if (mid <= low || mid >= failedAt) break;
    const s = await measure(mid, t.sustain, 'refine');
    steps.push(s);
    if (s.passed) best = s;
    else failedAt = mid;
  }
  let half = null;
  if (best) {
    // Latency at half rate is a steady-state figure: a few unmeasured seconds at that rate first, so that the
    // step does not also measure the settling after the near-capacity step before it.
    const rate = round(best.targetRate / 2);
    steps.push(await measure(rate, t.warmup, 'settle'));
    half = await measure(rate, t.half, 'half');
    steps.push(half);
  }
  return { transport, sustained: best, half, steps };
}

// ---- report ----------------------------------------------------------------------------------------------------

function summarise(results) {
  const rows = [];
  for (const r of results.transports) {
    const s = r.sustained;
    rows.push({
      transport: r.transport,
      maxSustainedSpansPerSecond: s?.targetRate ?? null,
      spansPerCoreSecond: s?.spansPerCoreSecond ?? null,
      pulseCores: s?.pulseCores ?? null,
      jsThreadCores: s?.jsThreadCores ?? null,
      peakRssMiB: Math.max(...r.steps.filter((x) => x.passed).map((x) => x.peakRssMiB), 0),
      forwardP50Ms: r.half?.forwardLatencyMs.p50 ?? null,
      forwardP99Ms: r.half?.forwardLatencyMs.p99 ?? null,
      attemptsDecidedPerSecond: s?.attemptsDecidedPerSecond ?? null,
      decisionDelayP50S: s?.decisionDelayS.p50 ?? null,
      decisionDelayP99S: s?.decisionDelayS.p99 ?? null,
    });
  }
  return rows;
}

const k = (v) => (v === null || v === undefined ? '–' : `${(v / 1000).toFixed(0)}k`);
const n1 = (v) => (v === null || v === undefined ? '–' : v.toFixed(1));

function markdown(results) {
  const lines = [];
  lines.push(`Run ${results.date} on ${results.machine.cores} × ${results.machine.cpuModel}, ${results.machine.memoryGiB} GiB, Node ${results.machine.node}, ` +
    `ClickHouse ${results.servers.clickhouse}, Kafka ${results.servers.kafka}, ` +
    `${results.reference ? `instead of Pulse the reference \`${results.reference}\` with ${results.config}` : `Pulse as \`node ${results.pulseNodeOptions.join(' ')} bin/pulse start\``}: \`${results.command}\`${results.quick ? ' (quick: short steps, rougher numbers)' : ''}.`);
  lines.push('');
  lines.push('| transport | max sustained (spans/s) | per core of Pulse CPU | Pulse cores used (JS thread) | peak RSS | forward p50 / p99 at half rate | attempts decided/s | decision delay p50 / p99 |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results.summary) {
    lines.push(`| ${r.transport} | ${k(r.maxSustainedSpansPerSecond)} | ${k(r.spansPerCoreSecond)} | ${n1(r.pulseCores)} (${n1(r.jsThreadCores)}) | ${r.peakRssMiB.toFixed(0)} MiB | ` +
      `${n1(r.forwardP50Ms)} / ${n1(r.forwardP99Ms)} ms | ${k(r.attemptsDecidedPerSecond)} | ${r.decisionDelayP50S ?? '–'} / ${r.decisionDelayP99S ?? '–'} s |`);
  }
  if (results.scaling) {
    const http = results.transports.find((r) => r.transport === 'http-proto');
    const rows = [['1 process, pinned to 1 core', results.scaling[0]?.sustained], ['1 process, 2 cores', http?.sustained], ['2 processes (trace-id shards), 2 cores', results.scaling[1]?.sustained]];
    const base = rows[0][1]?.targetRate;
    lines.push('');
    lines.push('Scaling over OTLP/HTTP protobuf (same search; the load generator, ClickHouse and Kafka share the same 2 cores):');
    lines.push('');
    lines.push('| layout | max sustained (spans/s) | vs 1 core | per core of Pulse CPU | Pulse cores used (JS thread) |');
    lines.push('| --- | --- | --- | --- | --- |');
    for (const [label, s] of rows) {
      lines.push(`| ${label} | ${k(s?.targetRate)} | ${s && base ? `${(s.targetRate / base).toFixed(2)}×` : '–'} | ${k(s?.spansPerCoreSecond)} | ${n1(s?.pulseCores)} (${n1(s?.jsThreadCores)}) |`);
    }
  }
  if (results.memory) {
    const m = results.memory;
    lines.push('');
    lines.push(`Memory: ${k(m.acceptedRate)} spans/s over OTLP/HTTP for ${m.seconds.toFixed(0)} s (trace_wait 10 s): peak RSS ${m.peakRssMiB.toFixed(0)} MiB, ` +
      `Pulse ${m.pulseCores.toFixed(2)} cores, forward p50/p99 ${n1(m.forwardLatencyMs.p50)} / ${n1(m.forwardLatencyMs.p99)} ms, refused ${m.refusedSpans}, lost ${m.lostSpans}.`);
  }
  if (results.clickhouse && Object.keys(results.clickhouse).length > 0) {
    lines.push('');
    lines.push(`ClickHouse rows written during the run: ${Object.entries(results.clickhouse).map(([t, c]) => `${t} ${c}`).join(', ')}; ${attemptsCheck(results)}`);
    // The workload is healthy traffic (bench/e2e/workload.mjs, FAILED_AT): every alert row is a false positive.
    const alerts = results.clickhouse.journey_alerts ?? 0;
    // The search's overloaded steps refuse requests, which cuts their traces short: those attempts fail for a
    // missing step, so Pulse sees real failures there (the load generator does not re-send).
    const allSteps = [...results.transports.flatMap((t) => t.steps), results.memory, ...(results.scaling ?? []).flatMap((s) => s.steps)];
    const refused = allSteps.reduce((sum, s) => sum + (s?.refusedSpans ?? 0), 0);
    const fired = (results.alertsFired ?? [])
      .slice(0, 8)
      .map((a) => `${a.kind} ${a.severity} ${a.journey}${a.segment_key ? ` ${a.segment_key}=${a.segment_value}` : ''} ×${a.n}`)
      .join(', ');
    lines.push(
      alerts === 0
        ? 'Alerts raised on this healthy traffic: none.'
        : refused > 0
          ? `Alerts raised: ${alerts} rows in journey_alerts. The overloaded steps refused ${refused} spans, which fails the attempts whose spans they cut off, so these may be those failures; if a run with nothing refused raises any, they are false positives.`
          : `Alerts raised on this healthy traffic: ${alerts} rows in journey_alerts, with nothing refused — false positives (no journey or segment value of the workload fails more than 0.4%); worth a look.`,
    );
    if (fired) lines.push(`Alerts that fired: ${fired}.`);
  }
  return lines.join('\n');
}

function writeMarkdown(file, body) {
  const START = '<!-- bench:results:start -->';
  const END = '<!-- bench:results:end -->';
  const text = existsSync(file) ? readFileSync(file, 'utf8') : `# Benchmarks\n\n${START}\n${END}\n`;
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${file} lacks the ${START} … ${END} markers`);
  writeFileSync(file, `${text.slice(0, a + START.length)}\n${body}\n${text.slice(b)}`);
}

// ---- main ------------------------------------------------------------------------------------------------------

/**
 * journey_attempts against what Pulse reported: every attempt it decided must be there. Attempts still pending when
 * a Pulse is stopped are decided by its shutdown (those missing a required step are dropped instead,
 * `pulse_journey_abandoned_attempts_total`), after its last scrape, so the table may hold up to that many more.
 */
function attemptsCheck(results) {
  const rows = results.clickhouse.journey_attempts ?? 0;
  const decided = results.attemptsDecided;
  const pending = results.attemptsPendingAtStop ?? 0;
  if (rows === decided) return `attempts Pulse decided: ${decided}, all in journey_attempts.`;
  if (rows > decided && rows <= decided + pending)
    return `attempts Pulse decided: ${decided}, all in journey_attempts, which also holds ${rows - decided} of the ${pending} still pending when Pulse was stopped (its shutdown decides them, or drops those missing a step).`;
  if (rows < decided) return `attempts Pulse decided: ${decided}; journey_attempts holds ${decided - rows} fewer: attempts lost on the way to ClickHouse.`;
  return `attempts Pulse decided: ${decided}, plus ${pending} pending when it stopped; journey_attempts holds ${rows - decided - pending} more than both: rows written twice?`;
}

/** Set by SIGINT/SIGTERM: the signal handler cleans up and exits; the interrupted steps' errors are moot. */
let interrupted = false;

/** Runs the cleanup steps newest first (each at most once, whatever fails), then removes the work dir. */
async function runCleanup(cleanup, work) {
  for (const fn of cleanup.splice(0).reverse()) {
    try {
      await fn();
    } catch (err) {
      log(`cleanup: ${err}`);
    }
  }
  rmSync(work, { recursive: true, force: true });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const t = opts.quick
    ? { warmup: 2, sustain: 4, half: 4, memory: 14, start: 100_000, ceiling: 2_000_000, refine: 1 }
    : { warmup: 5, sustain: 12, half: 12, memory: 30, start: 100_000, ceiling: 2_000_000, refine: 2 };
  const started = performance.now();
  const work = mkdtempSync(path.join(os.tmpdir(), 'pulse-bench-'));
  const cleanup = [];
  // Ctrl-C or a SIGTERM must not leave ClickHouse, Kafka or Pulse running: stop what was started, then exit.
  const onSignal = (signal) => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping what the benchmark started`);
    void runCleanup(cleanup, work).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    log('starting ClickHouse and Kafka (installing them on first use)');
    installClickHouse({ quiet: true });
    installKafka({ quiet: true });
    const [ch, kafka] = await Promise.all([startClickHouse({ dir: path.join(work, 'clickhouse') }), startKafka({ dir: path.join(work, 'kafka') })]);
    cleanup.push(() => ch.stop(), () => kafka.stop());
    const loadgen = new Loadgen();
    cleanup.push(() => loadgen.close());
    cleanup.push(async () => {
      for (const p of [...livePulses]) await stopPulse(p);
    });
    const { sinkPort } = await loadgen.ready;
    await loadgen.request({ type: 'build', formats: [...new Set(opts.transports.map((x) => (x === 'http-json' ? 'json' : 'proto')))] });
    const env = {
      PULSE_BENCH_CLICKHOUSE: ch.url,
      PULSE_BENCH_KAFKA: kafka.brokers,
      PULSE_BENCH_FORWARD: `http://127.0.0.1:${sinkPort}`,
    };
    const results = {
      date: new Date().toISOString(),
      // With the settings of bench/e2e/pulse.yaml that were changed through the environment, so that the line can
      // be run again as printed.
      command: `${SETTINGS_FROM_ENV.filter((k) => process.env[k] !== undefined)
        .map((k) => `${k}=${process.env[k]} `)
        .join('')}npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      quick: opts.quick,
      machine: machine(),
      servers: { clickhouse: ch.version, kafka: kafka.version },
      pulseNodeOptions: opts.pulseArgs,
      config: path.relative(ROOT, opts.config),
      // With --reference-collector: what ran instead of Pulse.
      reference: opts.reference ? referenceVersion(opts.reference) : undefined,
      stepSeconds: t,
      transports: [],
      memory: null,
    };
    let attemptsDecided = 0;
    let attemptsPendingAtStop = 0;
    let runs = 0;
    /** A Pulse (or shards) for one series of steps; restart() replaces it after a failed step. */
    const startContext = async (transport, layout) => {
      const ctx = {
        pulse: await startPulses(env, path.join(work, `data-${transport}-${++runs}`), opts, layout),
        async restart() {
          await ctx.close();
          ctx.pulse = await startPulses(env, path.join(work, `data-${transport}-${++runs}`), opts, layout);
        },
        async close() {
          try {
            const m = await ctx.pulse.scrape();
            attemptsDecided += m.sums.pulse_journey_attempts_total ?? 0;
            attemptsPendingAtStop += m.sums.pulse_journey_pending_attempts ?? 0;
          } finally {
            await ctx.pulse.stop();
          }
        },
      };
      return ctx;
    };
    for (const transport of opts.transports) {
      const ctx = await startContext(transport, {});
      try {
        if (opts.rate !== undefined) {
          await step(loadgen, ctx.pulse, transport, 50_000, t.warmup, 'warm-up');
          const s = await step(loadgen, ctx.pulse, transport, opts.rate, opts.seconds ?? t.sustain, 'fixed');
          results.transports.push({ transport, sustained: s.passed ? s : null, half: null, steps: [s] });
        } else results.transports.push(await benchTransport(loadgen, ctx, transport, t));
      } finally {
        await ctx.close();
      }
      if (transport === 'http-proto' && opts.rate === undefined) {
        // On a fresh Pulse: the memory target is about 100k spans/s, not about what the search's faster steps left
        // committed (RSS does not shrink back at once after a step at 170k spans/s).
        const fresh = await startContext(transport, {});
        try {
          results.memory = await step(loadgen, fresh.pulse, transport, 100_000, t.memory, 'memory');
        } finally {
          await fresh.close();
        }
      }
    }
    // Scaling over OTLP/HTTP: Pulse pinned to one core, then two trace-id shards on both (the 2-core, one-process
    // figure is the http-proto result above).
    if (opts.scaling && opts.transports.includes('http-proto') && opts.rate === undefined) {
      results.scaling = [];
      for (const [label, layout] of [
        ['1 process, pinned to 1 core', { cpus: '0' }],
        ['2 processes (trace-id shards), 2 cores', { shards: 2 }],
      ]) {
        const ctx = await startContext('http-proto', layout);
        try {
          const r = await benchTransport(loadgen, ctx, 'http-proto', t);
          results.scaling.push({ label, ...layout, sustained: r.sustained, steps: r.steps });
        } finally {
          await ctx.close();
        }
      }
    }
    // Every decided attempt must be in ClickHouse (Pulse flushes on SIGTERM).
    const tables = (await clickHouseQuery(ch.httpPort, "SELECT name FROM system.tables WHERE database = 'pulse_bench' FORMAT TSV")).trim().split('\n').filter(Boolean);
    results.clickhouse = {};
    for (const table of tables) results.clickhouse[table] = Number((await clickHouseQuery(ch.httpPort, `SELECT count() FROM pulse_bench.${table} FINAL FORMAT TSV`)).trim());
    results.attemptsDecided = attemptsDecided;
    results.attemptsPendingAtStop = attemptsPendingAtStop;
    // What the alerts were about, if any: the firing events (not repeats or resolutions) by kind, severity, journey
    // and segment, so a reader can tell overload fallout from a false positive.
    results.alertsFired = tables.includes('journey_alerts')
      ? (await clickHouseQuery(ch.httpPort, "SELECT kind, severity, journey, segment_key, segment_value, count() AS n FROM pulse_bench.journey_alerts FINAL WHERE status = 'firing' AND repeat = 0 GROUP BY kind, severity, journey, segment_key, segment_value ORDER BY n DESC, journey FORMAT JSONEachRow"))
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line))
      : [];
    results.summary = summarise(results);
    results.totalSeconds = (performance.now() - started) / 1000;
    writeFileSync(opts.out, JSON.stringify(results, null, 2) + '\n');
    log(`results: ${opts.out}`);
    const md = markdown(results);
    if (opts.md) {
      writeMarkdown(opts.md, md);
      log(`results: ${opts.md}`);
    }
    process.stdout.write(md + '\n');
    log(`done in ${results.totalSeconds.toFixed(0)} s`);
  } finally {
    if (!interrupted) await runCleanup(cleanup, work);
  }
}

main().catch((err) => {
  if (interrupted) return;
  log(`failed: ${err?.stack ?? err}`);
  process.exit(1);
});
