/**
 * The benchmark's load generator, in a process of its own (forked by bench/e2e/run.mjs, which talks to it over IPC),
 * and the forward target it starts.
 *
 * - **Sender**: sends the pre-built requests of workload.mjs over OTLP/HTTP (protobuf or JSON) or OTLP/gRPC, on
 *   `connections` keep-alive connections, either paced at a target rate of spans/s or as fast as `maxInflight`
 *   concurrent requests allow. Every answer is checked: HTTP 200 / grpc-status 0 is accepted, anything else is
 *   counted as refused.
 * - **Probes**: every `probeIntervalMs` one extra request with a single span named `bench-probe-<seq>`; the time
 *   from sending it to seeing it arrive at the forward target is the request → forward latency.
 * - **Forward target**: bench/e2e/sink.mjs, an OTLP/HTTP server Pulse's `otlphttp` exporter sends to, in a process
 *   of its own (so that the sender's work does not delay it and show up as forward latency). It counts spans and
 *   probe arrivals and reports them here over IPC every few milliseconds.
 *
 * IPC: the parent sends `{type:'run', …}` and gets one `{type:'result', …}` back per run.
 */
import http from 'node:http';
import http2 from 'node:http2';
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { buildWorkload, probeRequest } from './workload.mjs';

const GRPC_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

// ---- forward target (bench/e2e/sink.mjs, a process of its own) -----------------------------------------------

/** What the forward target reported: totals, and when each probe arrived (epoch ms, as `now()` below). */
const sink = { spans: 0, requests: 0, bytes: 0, cpuSeconds: 0, probesSeen: new Map() };

/** Wall-clock ms with sub-ms precision, comparable across the load generator's and the forward target's processes. */
const now = () => performance.timeOrigin + performance.now();

function startSink() {
  const child = fork(fileURLToPath(new URL('./sink.mjs', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.on('message', (msg) => {
    if (msg.type !== 'counts') return;
    sink.spans = msg.spans;
    sink.requests = msg.requests;
    sink.bytes = msg.bytes;
    sink.cpuSeconds = msg.cpuSeconds;
    for (const [seq, at] of msg.probes) if (!sink.probesSeen.has(seq)) sink.probesSeen.set(seq, at);
  });
  process.on('exit', () => child.kill());
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`forward target exited (${code})`)));
    const onReady = (msg) => {
      if (msg.type !== 'ready') return;
      child.off('message', onReady);
      resolve({ port: msg.port, close: () => child.kill() });
    };
    child.on('message', onReady);
  });
}

// ---- senders ---------------------------------------------------------------------------------------------------

function httpSender(target, format, connections) {
  const url = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const contentType = format === 'proto' ? 'application/x-protobuf' : 'application/json';
  return {
    send(parts, length, done) {
      const req = http.request({
        host: url.hostname,
        port: url.port,
        path: '/v1/traces',
        method: 'POST',
        agent,
        headers: { 'content-type': contentType, 'content-encoding': 'gzip', 'content-length': length },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode === 200 ? 'ok' : `http ${res.statusCode}`));
      });
      req.on('error', (err) => done(`error ${err.code ?? err.message}`));
      for (let i = 0; i < parts.length - 1; i++) req.write(parts[i]);
      req.end(parts[parts.length - 1]);
    },
    close() {
      agent.destroy();
    },
  };
}

function grpcSender(target, connections) {
  const sessions = [];
  for (let i = 0; i < connections; i++) {
    const s = http2.connect(target, { settings: { initialWindowSize: 1 << 20 } });
    s.on('error', () => {});
    sessions.push(s);
  }
  let next = 0;
  return {
    send(parts, length, done) {
      const session = sessions[next++ % sessions.length];
      let status;
      let finished = false;
      const finish = (outcome) => {
        if (!finished) {
          finished = true;
          done(outcome);
        }
      };
      const stream = session.request({
        ':method': 'POST',
        ':path': GRPC_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-encoding': 'gzip',
        'grpc-accept-encoding': 'gzip',
      });
      stream.on('response', (h) => {
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
      });
      stream.on('trailers', (h) => {
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
      });
      stream.on('data', () => {});
      stream.on('error', (err) => finish(`error ${err.code ?? err.message}`));
      stream.on('close', () => finish(status === '0' ? 'ok' : `grpc-status ${status}`));
      const header = Buffer.allocUnsafe(5);
      header[0] = 1; // compressed with grpc-encoding
      header.writeUInt32BE(length, 1);
      stream.write(header);
      for (let i = 0; i < parts.length - 1; i++) stream.write(parts[i]);
      stream.end(parts[parts.length - 1]);
    },
    close() {
      for (const s of sessions) s.close();
    },
  };
}

// ---- one run ---------------------------------------------------------------------------------------------------

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const runPrefix = randomBytes(4);
let requestSeq = 0;
let probeSeq = 0;
const workloads = new Map();

/**
 * Sends for `seconds` at `rate` spans/s (or as fast as possible when rate is 0), then waits until every accepted
 * span reached the forward target (or `drainMs` without progress) and reports.
 */
async function run(opts) {
  const { transport, targets, rate, seconds, connections = 8, maxInflight = 32, probeIntervalMs = 20, drainMs = 5000 } = opts;
  const format = transport === 'http-json' ? 'json' : 'proto';
  let workload = workloads.get(format);
  if (!workload) workloads.set(format, (workload = buildWorkload({ format })));
  // Several targets are shards of one trace-id-sharded deployment: every trace is whole within one request here,
  // so sending each request to one shard is what a trace-id load balancer in front of them would do.
  const senders = targets.map((target) => (transport === 'grpc' ? grpcSender(target, connections) : httpSender(target, format, connections)));
  const probeSenders = targets.map((target) => (transport === 'grpc' ? grpcSender(target, 1) : httpSender(target, format, 1)));

  const sinkSpansBefore = sink.spans;
  const sinkCpuBefore = sink.cpuSeconds;
  const stats = { requests: 0, sentSpans: 0, okSpans: 0, refusedSpans: 0, errors: 0, attempts: 0, outcomes: {} };
  const latencies = [];
  /** How long Pulse took to answer each probe: with forwardLatencyMs, tells receive-side delay from export-side. */
  const probeAnswers = [];
  const probeSent = new Map();
  let inflight = 0;
  let peakInflight = 0;
  let saturatedTicks = 0;
  let ticks = 0;
  const cpu0 = process.cpuUsage();
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const t0 = performance.now();
  const endAt = t0 + seconds * 1000;
  const shift = () => BigInt(Date.now()) * 1_000_000n - workload.buildTimeNs;

  const sendOne = (sender, parts, length, spans, isProbe) => {
    inflight++;
    if (inflight > peakInflight) peakInflight = inflight;
    stats.requests++;
    stats.sentSpans += spans;
    const started = performance.now();
    sender.send(parts, length, (outcome) => {
      inflight--;
      (isProbe ? probeAnswers : latencies).push(performance.now() - started);
      if (outcome === 'ok') stats.okSpans += spans;
      else {
        stats.refusedSpans += spans;
        stats.outcomes[outcome] = (stats.outcomes[outcome] ?? 0) + 1;
        if (outcome.startsWith('error')) stats.errors++;
      }
      if (rate === 0 && performance.now() < endAt) pump();
    });
  };

  const sendRequest = () => {
    const seq = requestSeq++;
    const bg = workload.background[seq % workload.background.length];
    const template = workload.journeys[seq % workload.journeys.length];
    const prefix = Buffer.allocUnsafe(12);
    runPrefix.copy(prefix, 0);
    prefix.writeUInt32BE(seq >>> 0, 4);
    prefix.writeUInt32BE(0x9e3779b9, 8);
    const member = template.member(prefix, shift());
    stats.attempts += template.attempts;
    // The shard moves on by one each cycle of templates: with `seq % shards` alone, a template (and the attempts
    // that fail in it) would always go to the same shard, which would then see twice its share of failures.
    const shard = (seq + Math.floor(seq / workload.journeys.length)) % senders.length;
    sendOne(senders[shard], [bg, member], bg.length + member.length, 400 + template.spans, false);
  };

  let sentRequests = 0;
  const spansPerRequest = 400 + workload.journeys.reduce((sum, j) => sum + j.spans, 0) / workload.journeys.length;
  const pump = () => {
    const now = performance.now();
    if (now >= endAt) return;
    if (rate === 0) {
      while (inflight < maxInflight) {
        sendRequest();
        sentRequests++;
      }
      return;
    }
    const due = Math.floor((((now - t0) / 1000) * rate) / spansPerRequest);
    ticks++;
    while (sentRequests < due) {
      if (inflight >= maxInflight) {
        saturatedTicks++;
        break;
      }
      sendRequest();
      sentRequests++;
    }
  };

  const probeTimer = setInterval(() => {
    const seq = probeSeq++;
    const body = probeRequest(format, seq, BigInt(Date.now()) * 1_000_000n);
    probeSent.set(seq, now());
    sendOne(probeSenders[seq % probeSenders.length], [body], body.length, 1, true);
  }, probeIntervalMs);

  const pacer = setInterval(pump, 2);
  pump();
  await sleep(seconds * 1000);
  clearInterval(pacer);
  clearInterval(probeTimer);
  const sendEnd = performance.now();
  const sendSeconds = (sendEnd - t0) / 1000;
  while (inflight > 0 && performance.now() - sendEnd < 30_000) await sleep(10);

  // Wait for the forward target to see every accepted span (the exporter queue drains after the answers).
  let last = sink.spans;
  let lastChange = performance.now();
  while (sink.spans - sinkSpansBefore < stats.okSpans && performance.now() - lastChange < drainMs) {
    await sleep(5);
    if (sink.spans !== last) {
      last = sink.spans;
      lastChange = performance.now();
    }
  }
  // How long after the last send the forward target still received this run's spans: ~ the forward latency when
  // Pulse keeps up, seconds when its exporter queue had been absorbing a backlog.
  const drainSeconds = (performance.now() - sendEnd) / 1000;
  for (const sender of [...senders, ...probeSenders]) sender.close();
  const cpu = process.cpuUsage(cpu0);
  loop.disable();

  const probeLatencies = [];
  let probesLost = 0;
  for (const [seq, sentAt] of probeSent) {
    const seenAt = sink.probesSeen.get(seq);
    if (seenAt === undefined) probesLost++;
    else probeLatencies.push(seenAt - sentAt);
    sink.probesSeen.delete(seq);
  }
  probeLatencies.sort((a, b) => a - b);
  latencies.sort((a, b) => a - b);
  probeAnswers.sort((a, b) => a - b);
  const forwarded = sink.spans - sinkSpansBefore;
  return {
    transport,
    targetRate: rate,
    seconds: sendSeconds,
    requests: stats.requests,
    sentSpans: stats.sentSpans,
    acceptedSpans: stats.okSpans,
    refusedSpans: stats.refusedSpans,
    errors: stats.errors,
    outcomes: stats.outcomes,
    acceptedRate: stats.okSpans / sendSeconds,
    attemptsSent: stats.attempts,
    forwardedSpans: forwarded,
    lostSpans: Math.max(0, stats.okSpans - forwarded),
    drainSeconds,
    peakInflight,
    maxInflight,
    // Share of pacing ticks at which maxInflight requests were already waiting: Pulse answering slower than the pace.
    saturatedShare: ticks > 0 ? saturatedTicks / ticks : 0,
    requestLatencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? null },
    probeAnswerMs: { p50: percentile(probeAnswers, 50), p99: percentile(probeAnswers, 99), max: probeAnswers.at(-1) ?? null },
    forwardLatencyMs: { samples: probeLatencies.length, lost: probesLost, p50: percentile(probeLatencies, 50), p99: percentile(probeLatencies, 99), max: probeLatencies.at(-1) ?? null },
    loadgenCpuSeconds: (cpu.user + cpu.system) / 1e6,
    loadgenLoopDelayMs: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
    forwardTargetCpuSeconds: sink.cpuSeconds - sinkCpuBefore,
  };
}

const server = await startSink();
process.on('message', (msg) => {
  if (msg.type === 'build') {
    // Building the workload up front keeps it out of the first measured run.
    for (const format of msg.formats) if (!workloads.has(format)) workloads.set(format, buildWorkload({ format }));
    process.send({ type: 'built' });
  } else if (msg.type === 'run') {
    run(msg).then(
      (result) => process.send({ type: 'result', result }),
      (err) => process.send({ type: 'error', message: String(err?.stack ?? err) }),
    );
  } else if (msg.type === 'exit') {
    server.close();
    process.exit(0);
  }
});
process.send({ type: 'ready', sinkPort: server.port });
