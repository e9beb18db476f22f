#!/usr/bin/env node
// The demo: starts `bin/pulse start --config config/pulse.yaml` and a small simulated shop instrumented with the
// real OpenTelemetry SDK that sends checkout traces to it over OTLP/HTTP. Shows, once a second, how many spans
// the shop sent and how many Pulse accepted (read from Pulse's own /metrics). Ctrl-C stops everything it started.
// PULSE_DEMO_SECONDS=N runs non-interactively for N seconds and exits 0 only if every span sent was accepted.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';

const root = fileURLToPath(new URL('..', import.meta.url));
const config = process.env.PULSE_CONFIG ?? 'config/pulse.yaml';
const seconds = Number(process.env.PULSE_DEMO_SECONDS ?? 0);
const metricsUrl = process.env.PULSE_METRICS_URL ?? 'http://127.0.0.1:8888/metrics';
const readyUrl = process.env.PULSE_READY_URL ?? 'http://127.0.0.1:13133/readyz';
const otlpUrl = process.env.PULSE_OTLP_URL ?? 'http://127.0.0.1:4318/v1/traces';

const log = (msg) => process.stdout.write(`[demo] ${msg}\n`);
log(`starting pulse with ${config} …`);
const pulse = spawn(process.execPath, ['bin/pulse', 'start', '--config', config], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
let pulseLog = '';
pulse.stderr.on('data', (d) => {
  pulseLog = (pulseLog + d.toString()).slice(-20_000);
});
let stopping = false;
pulse.on('exit', (code) => {
  if (!stopping) {
    process.stderr.write(pulseLog);
    log(`pulse exited unexpectedly (code ${code})`);
    process.exit(1);
  }
});

async function waitReady() {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(readyUrl)).status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pulse did not become ready at ${readyUrl}`);
}

function makeShop() {
  const services = ['frontend', 'payments', 'notifier'].map((name) => {
    const exporter = new OTLPTraceExporter({ url: otlpUrl });
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': name, 'service.version': '2.4.1', 'cloud.region': 'eu-west-1' }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 200 })],
    });
    return { provider, tracer: provider.getTracer(`shop-${name}`) };
  });
  const tiers = ['free', 'pro', 'enterprise'];
  let n = 0;
  return {
    services,
    checkout() {
      const [frontend, payments, notifier] = services;
      const tier = tiers[n++ % tiers.length];
      const start = frontend.tracer.startSpan('POST /api/checkout', {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': 'POST', 'http.route': '/api/checkout', 'customer.tier': tier },
      });
      const ctx = trace.setSpan(context.active(), start);
      const charge = payments.tracer.startSpan('charge card', { kind: SpanKind.SERVER }, ctx);
      const declined = Math.random() < 0.02;
      if (declined) charge.setStatus({ code: SpanStatusCode.ERROR, message: 'card declined' });
      charge.end();
      notifier.tracer.startSpan('send email', { kind: SpanKind.CONSUMER }, ctx).end();
      start.setAttribute('http.response.status_code', declined ? 502 : 200);
      start.end();
      return 3;
    },
  };
}

async function acceptedSpans() {
  try {
    const text = await (await fetch(metricsUrl)).text();
    let total = 0;
    for (const m of text.matchAll(/^pulse_receiver_accepted_spans_total\{[^}]*\} (\d+)/gm)) total += Number(m[1]);
    return total;
  } catch {
    return NaN;
  }
}

async function stop(code) {
  stopping = true;
  pulse.kill('SIGTERM');
  await new Promise((r) => pulse.once('exit', r));
  process.exit(code);
}

await waitReady().catch(async (err) => {
  process.stderr.write(pulseLog);
  log(String(err));
  await stop(1);
});
log('pulse is ready: OTLP on :4317 (gRPC) and :4318 (HTTP), metrics on :8888/metrics, health on :13133');
log('the shop sends checkout traces (frontend → payments → notifier); Ctrl-C stops the demo');

const shop = makeShop();
let sent = 0;
const started = Date.now();
const traffic = setInterval(() => {
  for (let i = 0; i < 20; i++) sent += shop.checkout();
}, 100);
const report = setInterval(async () => {
  log(`sent ${sent} spans, pulse accepted ${await acceptedSpans()}`);
}, 1000);

async function finish() {
  clearInterval(traffic);
  clearInterval(report);
  await Promise.all(shop.services.map((s) => s.provider.forceFlush()));
  await new Promise((r) => setTimeout(r, 500));
  const accepted = await acceptedSpans();
  log(`done: sent ${sent} spans, pulse accepted ${accepted}`);
  await Promise.all(shop.services.map((s) => s.provider.shutdown()));
  await stop(accepted === sent ? 0 : 1);
}

process.on('SIGINT', () => void finish());
process.on('SIGTERM', () => void finish());
if (seconds > 0) setTimeout(() => void finish(), seconds * 1000 - (Date.now() - started));
