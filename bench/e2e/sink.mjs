/**
 * The benchmark's OTLP forward target, in a process of its own (forked by bench/e2e/loadgen.mjs): an OTLP/HTTP server
 * that Pulse's `otlphttp` exporter sends to. It answers 200 at once, counts spans (walking the protobuf without
 * decoding it) and notes when each probe span (`bench-probe-<seq>`) arrived, and reports both to the load generator
 * over IPC every few milliseconds. Times are wall-clock ms with sub-ms precision (`timeOrigin + now()`), comparable
 * with the load generator's.
 */
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { PROBE_PREFIX } from './workload.mjs';

const PROBE_BYTES = Buffer.from(PROBE_PREFIX);
const REPORT_EVERY_MS = 5;

let spans = 0;
let requests = 0;
let bytes = 0;
/** Probes seen since the last report: [seq, arrival ms]. */
let probes = [];
let dirty = false;

/** Counts the spans of an ExportTraceServiceRequest by walking tags: resource_spans(1) › scope_spans(2) › spans(2). */
export function countSpans(buf) {
  let n = 0;
  walk(buf, 0, buf.length, (f1, s1, e1) => {
    if (f1 !== 1) return;
    walk(buf, s1, e1, (f2, s2, e2) => {
      if (f2 !== 2) return;
      walk(buf, s2, e2, (f3) => {
        if (f3 === 2) n++;
      });
    });
  });
  return n;
}

/** Calls `onLen(field, start, end)` for each length-delimited field in buf[from, to); skips the others. */
function walk(buf, from, to, onLen) {
  let p = from;
  while (p < to) {
    let tag = 0;
    let shift = 0;
    let b;
    do {
      b = buf[p++];
      tag += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    const wire = tag % 8;
    const field = Math.floor(tag / 8);
    if (wire === 0) {
      while (buf[p++] & 0x80);
    } else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else if (wire === 2) {
      let len = 0;
      shift = 0;
      do {
        b = buf[p++];
        len += (b & 0x7f) * 2 ** shift;
        shift += 7;
      } while (b & 0x80);
      onLen(field, p, p + len);
      p += len;
    } else throw new Error(`forward target: unsupported wire type ${wire}`);
  }
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body = Buffer.concat(chunks);
    try {
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      spans += countSpans(body);
      requests++;
      bytes += body.length;
      const at = performance.timeOrigin + performance.now();
      for (let i = body.indexOf(PROBE_BYTES); i >= 0; i = body.indexOf(PROBE_BYTES, i + 1)) {
        probes.push([Number(body.toString('latin1', i + PROBE_BYTES.length, i + PROBE_BYTES.length + 12)), at]);
      }
      dirty = true;
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 });
      res.end();
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(String(err));
    }
  });
});
server.keepAliveTimeout = 60_000;

const report = () => {
  const cpu = process.cpuUsage();
  process.send({ type: 'counts', spans, requests, bytes, probes, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
  probes = [];
  dirty = false;
};
setInterval(() => {
  if (dirty) report();
}, REPORT_EVERY_MS);
// The load generator gone (even killed): nothing to report to.
process.on('disconnect', () => process.exit(0));
server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
