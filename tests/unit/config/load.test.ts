import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, loadConfigText, type LoadResult } from '../../../src/config/load.js';
import { formatIssue, type PulseConfig } from '../../../src/config/model.js';
import { fakeRegistry } from './fake-registry.js';

const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

function load(text: string, env: Record<string, string> = {}): LoadResult {
  return loadConfigText(text, 'pulse.yaml', fakeRegistry(), env);
}

/** The issues as `line:col: message` (the file name is the same everywhere). */
function problems(text: string, env: Record<string, string> = {}): string[] {
  const r = load(text, env);
  if (!('issues' in r)) throw new Error('expected the config to be rejected');
  return r.issues.map((i) => `${i.line}:${i.col}: ${i.message}`);
}

function valid(text: string, env: Record<string, string> = {}): PulseConfig {
  const r = load(text, env);
  if ('issues' in r) throw new Error(`expected a valid config, got:\n${r.issues.map(formatIssue).join('\n')}`);
  return r.config;
}

const pipeline = ['service:', '  pipelines:', '    traces:', '      receivers: [otlp]', '      exporters: [debug]'];
const minimal = ['receivers:', '  otlp:', 'exporters:', '  debug:'];

describe('loadConfigText: positions of problems', () => {
  it('reports every YAML syntax error with its position, and nothing else', () => {
    const out = problems(yaml('receivers:', '  otlp: [grpc', 'exporters:', '  debug: {', 'service: }'));
    expect(out.length).toBeGreaterThanOrEqual(2);
    for (const p of out) expect(p).toMatch(/^\d+:\d+: YAML syntax: /);
    expect(out[0]).toMatch(/^3:1: /);
  });

  it('reports a duplicate key as a syntax error at the second occurrence, naming the key and its first line', () => {
    expect(problems(yaml(...minimal, '  debug:', ...pipeline))).toEqual(['5:3: YAML syntax: the key "debug" appears twice in this map (first on line 4); keep one']);
    // Nested, quoted, after a comment, and in a flow map (no first line there).
    expect(problems(yaml('receivers:', '  otlp:', '    protocols: {}', '    # again', '    "protocols": {}', 'exporters: { debug: {}, debug: {} }', ...pipeline))).toEqual([
      '5:5: YAML syntax: the key "protocols" appears twice in this map (first on line 3); keep one',
      '6:25: YAML syntax: the key "debug" appears twice in this map; keep one',
    ]);
  });

  it('reports an unknown top-level key at the key, with a did-you-mean', () => {
    expect(problems(yaml(...minimal, 'proccessors:', '  batch:', ...pipeline))).toEqual([
      '5:1: unknown top-level key "proccessors" (did you mean "processors"?); allowed: receivers, processors, exporters, connectors, service',
    ]);
  });

  it('reports an unknown component type with the known types and a did-you-mean', () => {
    expect(problems(yaml('receivers:', '  otpl:', 'exporters:', '  debug:', ...pipeline))).toEqual([
      '2:3: unknown receiver type "otpl" (did you mean "otlp"?); known receiver types: otlp, silent',
      '8:19: receiver "otlp" is not defined in receivers: (did you mean "otpl"?)',
    ]);
  });

  it('says where a component of another kind belongs', () => {
    expect(problems(yaml(...minimal, '  batch:', ...pipeline))).toEqual([
      '5:3: unknown exporter type "batch"; "batch" is a processor: define it under processors:; known exporter types: debug, otlphttp',
    ]);
  });

  it('reports a bad field type deep inside a component at the value', () => {
    const text = yaml('receivers:', '  otlp:', '    protocols:', '      grpc:', '        max_recv_msg_size: true', 'exporters:', '  debug:', ...pipeline);
    expect(problems(text)).toEqual(['5:28: receivers.otlp.protocols.grpc.max_recv_msg_size: expected a number or a string, got true']);
  });

  it('reports an unknown key inside a component at the key, with a did-you-mean among that object’s keys', () => {
    const text = yaml('receivers:', '  otlp:', '    protocols:', '      grpc:', '        endpiont: 0.0.0.0:4317', 'exporters:', '  debug:', ...pipeline);
    expect(problems(text)).toEqual(['5:9: receivers.otlp.protocols.grpc: unknown key "endpiont" (did you mean "endpoint"?)']);
  });

  it('reports unknown keys even where the schema is a plain (non-strict) z.object', () => {
    const text = yaml(...minimal, '  otlphttp:', '    endpoint: http://x', '    retry_on_failure:', '      max_elapsed: 5s', '    extra: 1', ...pipeline);
    expect(problems(text)).toEqual([
      '8:7: exporters.otlphttp.retry_on_failure: unknown key "max_elapsed" (did you mean "max_elapsed_time"?)',
      '9:5: exporters.otlphttp: unknown key "extra"; allowed keys: endpoint, compression, timeout, retry_on_failure',
    ]);
  });

  it('reports a bad duration at the value, with the component’s own message', () => {
    const text = yaml(...minimal, 'processors:', '  batch:', '    timeout: 5 seconds', ...pipeline);
    expect(problems(text)).toEqual([
      '7:14: processors.batch.timeout: "5 seconds" is not a duration: write a number and a unit, like 500ms, 10s, 5m or 1h',
    ]);
  });

  it('takes a bare 0 as a duration (YAML reads it as a number), and refuses other bare numbers: their unit would be a guess', () => {
    const zero = valid(yaml(...minimal, 'processors:', '  batch:', '    timeout: 0', ...pipeline));
    expect((zero.processors.get('batch')!.config as { timeout: number }).timeout).toBe(0);
    expect(problems(yaml(...minimal, 'processors:', '  batch:', '    timeout: 5', ...pipeline))).toEqual([
      '7:14: processors.batch.timeout: 5 is not a duration: write a number and a unit, like 500ms, 10s, 5m or 1h (only 0 needs no unit)',
    ]);
  });

  it('reports an enum mismatch with the allowed values and a did-you-mean', () => {
    expect(problems(yaml('receivers:', '  otlp:', 'exporters:', '  debug: { verbosity: detail }', ...pipeline))).toEqual([
      '4:23: exporters.debug.verbosity: must be one of "basic", "normal", "detailed", got the string "detail" (did you mean "detailed"?)',
    ]);
  });

  it('reports a missing required field at the key of the component that lacks it', () => {
    const text = yaml(...minimal, '  otlphttp/next:', '    compression: gzip', 'service:', '  pipelines:', '    traces:', '      receivers: [otlp]', '      exporters: [otlphttp/next]');
    expect(problems(text)).toEqual(['5:3: exporters.otlphttp/next: "endpoint" is required (a string)']);
  });

  it('reports an undefined pipeline reference at the reference, with a did-you-mean', () => {
    const text = yaml(...minimal, '  otlphttp/next: { endpoint: http://x }', 'service:', '  pipelines:', '    traces:', '      receivers: [otlp]', '      exporters: [debug, otlphttp/nxt]');
    expect(problems(text)).toEqual(['10:26: exporter "otlphttp/nxt" is not defined in exporters: (did you mean "otlphttp/next"?)']);
  });

  it('checks pipeline ids, duplicates, kinds and signal support', () => {
    const text = yaml(
      'receivers:',
      '  otlp:',
      '  silent:',
      'processors:',
      '  batch:',
      'exporters:',
      '  debug:',
      'service:',
      '  pipelines:',
      '    trace:',
      '      receivers: [otlp]',
      '      exporters: [debug]',
      '    traces/x:',
      '      receivers: [otlp, silent]',
      '      processors: [batch, batch, debug]',
      '      exporters: [debug]',
    );
    expect(problems(text)).toEqual([
      '10:5: pipeline "trace": unknown signal "trace" (did you mean "traces"?); a pipeline id is <signal> or <signal>/<name>, signals: traces, attempts, journey_metrics, alerts',
      '14:25: receiver "silent" does not support traces pipelines (it supports: none)',
      '15:27: processor "batch" is listed twice in pipeline "traces/x"',
      '15:34: processor "debug" is not defined in processors: ("debug" is an exporter: list it under exporters)',
    ]);
  });

  it('requires at least one receiver and one exporter per pipeline', () => {
    const text = yaml(...minimal, 'service:', '  pipelines:', '    traces:', '      receivers: []');
    expect(problems(text)).toEqual([
      '7:5: service.pipelines.traces: "exporters" is required (a list)',
      '8:18: service.pipelines.traces.receivers: must have at least 1 item, got an empty list',
    ]);
  });

  it('reports a config without pipelines, and one without a service section', () => {
    expect(problems(yaml(...minimal, 'service:', '  pipelines:'))).toEqual([
      '6:3: no pipelines: add one under service.pipelines, for example traces: {receivers: [otlp], exporters: [debug]}',
    ]);
    expect(problems(yaml(...minimal))).toEqual([
      '1:1: no service section: add service.pipelines, for example traces: {receivers: [otlp], exporters: [debug]}',
    ]);
    expect(problems('')).toEqual([
      '1:1: the config file is empty: it needs receivers, exporters and service.pipelines (see config/pulse.yaml)',
    ]);
  });

  it('reports every problem in one pass, sorted by position', () => {
    const text = yaml(
      'receivers:',
      '  otlp:',
      '    protocols:',
      '      grpc: { endpoint: "nowhere" }',
      'processors:',
      '  batch:',
      '    send_batch_size: -5',
      'exporters:',
      '  debug: { verbosity: loud }',
      'extensions: {}',
      'service:',
      '  shutdown_timeout: soon',
      '  pipelines:',
      '    traces:',
      '      receivers: [otlp]',
      '      processors: [bach]',
      '      exporters: [debug]',
    );
    const out = problems(text);
    expect(out.map((p) => p.split(':', 2).join(':'))).toEqual(['4:25', '7:22', '9:23', '10:1', '12:21', '16:20']);
    expect(out[1]).toBe('7:22: processors.batch.send_batch_size: must be greater than 0, got the number -5');
    expect(out[3]).toMatch(/unknown top-level key "extensions"; Pulse has no extensions/);
    expect(out[5]).toBe('16:20: processor "bach" is not defined in processors: (did you mean "batch"?)');
  });
});

describe('loadConfigText: service.derived_signals', () => {
  const withDerived = (value: string) =>
    yaml(...minimal, 'service:', `  derived_signals: ${value}`, '  pipelines:', '    traces:', '      receivers: [otlp]', '      exporters: [debug]');

  it('takes the worker heap limit as a size', () => {
    const r = load(withDerived('{ thread: worker, max_heap: 512MiB }'));
    if ('issues' in r) throw new Error(r.issues.map(formatIssue).join('\n'));
    expect(r.config.service.derivedSignalsThread).toBe('worker');
    expect(r.config.service.derivedSignalsMaxHeapBytes).toBe(512 * 2 ** 20);
  });

  it('refuses a heap limit below 64MiB or one that is not a size, at the value', () => {
    expect(problems(withDerived('{ thread: worker, max_heap: 10MiB }'))).toEqual(['6:48: service.derived_signals.max_heap: must be at least 64MiB']);
    expect(problems(withDerived('{ max_heap: lots }'))).toEqual([expect.stringMatching(/^6:32: service\.derived_signals\.max_heap: "lots" is not a size/)]);
  });
});

describe('loadConfigText: environment variables', () => {
  const withEndpoint = (endpoint: string) =>
    yaml(...minimal, '  otlphttp:', `    endpoint: ${endpoint}`, 'service:', '  pipelines:', '    traces:', '      receivers: [otlp]', '      exporters: [otlphttp]');
  const endpointOf = (config: PulseConfig) => (config.exporters.get('otlphttp')!.config as { endpoint: unknown }).endpoint;

  it('reports an unset variable without a default at the reference, and nothing else about that value', () => {
    expect(problems(withEndpoint('http://${env:NEXT_HOP}/'))).toEqual([
      '6:22: environment variable NEXT_HOP is not set: set it, or give a default with ${env:NEXT_HOP:-default}',
    ]);
  });

  it('expands a set variable, and uses the default when unset or empty', () => {
    expect(endpointOf(valid(withEndpoint('http://${env:NEXT_HOP}/v1'), { NEXT_HOP: 'hop:4318' }))).toBe('http://hop:4318/v1');
    expect(endpointOf(valid(withEndpoint('${env:NEXT_HOP:-http://127.0.0.1:14318}')))).toBe('http://127.0.0.1:14318');
    expect(endpointOf(valid(withEndpoint('${env:NEXT_HOP:-http://d}'), { NEXT_HOP: '' }))).toBe('http://d');
  });

  it('types a plain scalar that is exactly one reference the way YAML would, and keeps quoted ones strings', () => {
    const text = (size: string) =>
      yaml('receivers:', '  otlp:', '    protocols:', '      grpc:', `        max_recv_msg_size: ${size}`, 'exporters:', '  debug:', ...pipeline);
    const config = valid(text('${env:SIZE}'), { SIZE: '1000' });
    const otlp = config.receivers.get('otlp')!.config as { protocols: { grpc: { max_recv_msg_size: number } } };
    expect(otlp.protocols.grpc.max_recv_msg_size).toBe(1000);
    // Quoted: stays the string "1000", which the byte-size schema also accepts as text.
    const quoted = valid(text('"${env:SIZE}"'), { SIZE: '1000' }).receivers.get('otlp')!.config as typeof otlp;
    expect(quoted.protocols.grpc.max_recv_msg_size).toBe(1000);
    const send = (v: string) => yaml(...minimal, 'processors:', '  batch:', `    send_batch_size: ${v}`, ...pipeline);
    expect((valid(send('${env:N}'), { N: '0x10' }).processors.get('batch')!.config as { send_batch_size: number }).send_batch_size).toBe(16);
    expect(problems(send('"${env:N}"'), { N: '16' })).toEqual([
      '7:22: processors.batch.send_batch_size: expected a number, got the string "16"',
    ]);
  });

  it('turns $$ into a literal $ and refuses bare ${VAR} and other providers', () => {
    expect(endpointOf(valid(withEndpoint('http://x/$${env:A}/$$1')))).toBe('http://x/${env:A}/$1');
    expect(problems(withEndpoint('http://x/${HOME}'))).toEqual([
      '6:24: ${HOME} is not expanded: write ${env:HOME} for the environment variable, or $${HOME} for the literal text',
    ]);
    expect(problems(withEndpoint('${file:/etc/x}'))).toEqual(['6:15: ${file:/etc/x}: the "file" provider is not supported; only ${env:NAME} is']);
  });
});

describe('loadConfigText: the loaded config', () => {
  const text = yaml(
    'receivers:',
    '  otlp:',
    '    protocols:',
    '      http: { endpoint: "127.0.0.1:0" }',
    '  otlp/spare:',
    'processors:',
    '  batch:',
    '    timeout: 1.5s',
    'exporters:',
    '  debug:',
    '  otlphttp/next:',
    '    endpoint: http://hop:4318',
    'service:',
    '  pipelines:',
    '    traces:',
    '      receivers: [otlp]',
    '      processors: [batch]',
    '      exporters: [debug, otlphttp/next]',
    '  telemetry:',
    '    logs: { level: debug }',
    '    metrics: { enabled: false }',
    '  shutdown_timeout: 5s',
  );

  it('holds parsed values, defaults applied, and is frozen all the way down', () => {
    const r = load(text);
    if ('issues' in r) throw new Error(r.issues.map(formatIssue).join('\n'));
    const { config } = r;
    expect(isAbsolute(config.path)).toBe(true);
    expect([...config.receivers.keys()]).toEqual(['otlp', 'otlp/spare']);
    const spare = config.receivers.get('otlp/spare')!;
    expect(spare).toMatchObject({ id: 'otlp/spare', kind: 'receiver', type: 'otlp', name: 'spare' });
    expect(spare.config).toEqual({ protocols: { grpc: { endpoint: { host: '0.0.0.0', port: 4317 }, max_recv_msg_size: 4 * 1024 * 1024 }, http: { endpoint: { host: '0.0.0.0', port: 4318 }, max_recv_msg_size: 4194304 } } });
    expect(config.processors.get('batch')!.config).toEqual({ send_batch_size: 8192, timeout: 1500 });
    expect(config.exporters.get('otlphttp/next')!.config).toMatchObject({ endpoint: 'http://hop:4318', compression: 'gzip', timeout: 10_000, retry_on_failure: { enabled: true, max_elapsed_time: 300_000 } });
    expect(config.service.pipelines.get('traces')).toEqual({ id: 'traces', signal: 'traces', receivers: ['otlp'], processors: ['batch'], exporters: ['debug', 'otlphttp/next'] });
    expect(config.service.telemetry).toEqual({ logs: { level: 'debug' }, metrics: undefined, health: { address: { host: '0.0.0.0', port: 13133 } } });
    expect(config.service.shutdownTimeoutMs).toBe(5000);
    expect(config.service.dataDir).toBe('.pulse/data');
    expect(config.service.derivedSignalsThread).toBe('main');
    expect(config.service.derivedSignalsMaxHeapBytes).toBe(2 ** 30);

    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.service)).toBe(true);
    expect(Object.isFrozen(config.processors.get('batch')!.config)).toBe(true);
    expect(Object.isFrozen(config.service.pipelines.get('traces')!.exporters)).toBe(true);
    expect(() => (config.receivers as Map<string, unknown>).set('x', {})).toThrow(/read-only/);
    expect(() => (config.service.pipelines as Map<string, unknown>).delete('traces')).toThrow(/read-only/);
    expect(config.receivers.size).toBe(2);
  });

  it('warns (separately) about components no pipeline uses', () => {
    const r = load(text);
    expect(r.warnings.map((w) => `${w.line}:${w.col}: ${w.severity}: ${w.message}`)).toEqual([
      '5:3: warning: receiver "otlp/spare" is defined but no pipeline uses it; it will not be started',
    ]);
    expect(formatIssue(r.warnings[0]!)).toBe('pulse.yaml:5:3: warning: receiver "otlp/spare" is defined but no pipeline uses it; it will not be started');
  });

  it('reads an empty component body as the default config', () => {
    const config = valid(yaml(...minimal, ...pipeline));
    expect(config.exporters.get('debug')!.config).toEqual({ verbosity: 'basic' });
  });
});

describe('loadConfig: files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports issues with the path as given and an unreadable file without a position', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, yaml('receivers:', '  otlp:', 'exporters:', '  debgu:', ...pipeline));
    const r = loadConfig(file, fakeRegistry(), {});
    expect('issues' in r && r.issues.map(formatIssue)[0]).toBe(`${file}:4:3: unknown exporter type "debgu" (did you mean "debug"?); known exporter types: debug, otlphttp`);
    const missing = loadConfig('no/such/pulse.yaml', fakeRegistry(), {});
    expect('issues' in missing && missing.issues.map(formatIssue)).toEqual([
      'no/such/pulse.yaml: cannot read the config file: no such file (pass another one with --config <file>)',
    ]);
  });
});

describe('loadConfigText: YAML details', () => {
  it('refuses a second YAML document with a plain explanation', () => {
    expect(problems(yaml(...minimal, ...pipeline, '---', 'receivers:'))).toEqual([
      '10:1: YAML syntax: a config file holds one YAML document: remove the "---" separator and what follows, or merge it into the first',
    ]);
  });

  it('follows anchors and aliases, reporting a problem in the anchored text for each component using it', () => {
    const text = yaml(...minimal, '  otlphttp/a: &hop { endpoint: http://x, timeout: 1x }', '  otlphttp/b: *hop', ...pipeline);
    expect(problems(text)).toEqual([
      '5:51: exporters.otlphttp/a.timeout: "1x" is not a duration: write a number and a unit, like 500ms, 10s, 5m or 1h',
      '5:51: exporters.otlphttp/b.timeout: "1x" is not a duration: write a number and a unit, like 500ms, 10s, 5m or 1h',
    ]);
  });
});

describe('loadConfigText: connectors', () => {
  /** The journeys layout from the issue: traces in → journeys → tagged traces, attempts, journey metrics. */
  const journeys = (directory = 'journeys') =>
    yaml(
      'receivers:',
      '  otlp:',
      'processors:',
      '  batch:',
      'exporters:',
      '  debug:',
      '  otlphttp/next: { endpoint: http://next:4318 }',
      'connectors:',
      '  journeys:',
      `    directory: ${directory}`,
      'service:',
      '  pipelines:',
      '    traces/in: { receivers: [otlp], exporters: [journeys] }',
      '    traces/out: { receivers: [journeys], processors: [batch], exporters: [otlphttp/next] }',
      '    attempts: { receivers: [journeys], exporters: [debug] }',
      '    journey_metrics: { receivers: [journeys], exporters: [debug] }',
    );

  it('loads connectors and the pipelines they join', () => {
    const config = valid(journeys());
    expect(config.connectors.get('journeys')).toEqual({ id: 'journeys', kind: 'connector', type: 'journeys', name: '', config: { directory: 'journeys' } });
    expect(config.service.pipelines.get('traces/in')).toMatchObject({ signal: 'traces', receivers: ['otlp'], exporters: ['journeys'] });
    expect(config.service.pipelines.get('attempts')).toMatchObject({ signal: 'attempts', receivers: ['journeys'], exporters: ['debug'] });
    expect(config.service.pipelines.get('journey_metrics')!.signal).toBe('journey_metrics');
    expect(load(journeys()).warnings).toEqual([]);
    expect(() => (config.connectors as Map<string, unknown>).set('x', {})).toThrow(/read-only/);
  });

  it('checks the signals a connector consumes and produces, at the reference', () => {
    const text = yaml(
      'receivers:',
      '  otlp:',
      'exporters:',
      '  debug:',
      'connectors:',
      '  journeys:',
      '  forward:',
      'service:',
      '  pipelines:',
      '    traces: { receivers: [otlp], exporters: [journeys, forward] }',
      '    attempts: { receivers: [journeys, forward], exporters: [journeys] }',
    );
    expect(problems(text)).toEqual([
      '11:39: connector "forward" cannot produce attempts: it produces traces (list it under receivers of traces pipelines only)',
      '11:61: connector "journeys" cannot receive attempts: it consumes traces (list it under exporters of traces pipelines only)',
    ]);
  });

  it('requires a connector on both sides, and warns about one no pipeline uses', () => {
    const text = yaml(
      'receivers:',
      '  otlp:',
      'exporters:',
      '  debug:',
      'connectors:',
      '  journeys:',
      '  forward:',
      '  forward/spare:',
      'service:',
      '  pipelines:',
      '    traces: { receivers: [otlp], exporters: [debug, journeys] }',
      '    traces/b: { receivers: [forward], exporters: [debug] }',
    );
    const r = load(text);
    expect('issues' in r && r.issues.map((i) => `${i.line}:${i.col}: ${i.message}`)).toEqual([
      '11:53: connector "journeys" is used as an exporter (pipeline "traces") but no pipeline lists it under receivers, so its output would go nowhere: add it to the receivers of the pipelines it should feed',
      '12:29: connector "forward" is used as a receiver (pipeline "traces/b") but no pipeline lists it under exporters, so it would never get data: add it to the exporters of the pipeline that should feed it',
    ]);
    expect(r.warnings.map((w) => `${w.line}:${w.col}: ${w.message}`)).toEqual([
      '8:3: connector "forward/spare" is defined but no pipeline uses it; it will not be started',
    ]);
  });

  it('reports an unknown connector type with a did-you-mean, and says where a connector does not belong', () => {
    const text = yaml(
      'receivers:',
      '  otlp:',
      'exporters:',
      '  debug:',
      '  journeys:',
      'connectors:',
      '  journey:',
      'service:',
      '  pipelines:',
      '    traces: { receivers: [otlp], processors: [journey], exporters: [debug] }',
    );
    expect(problems(text)).toEqual([
      '5:3: unknown exporter type "journeys"; "journeys" is a connector: define it under connectors:; known exporter types: debug, otlphttp',
      '7:3: unknown connector type "journey" (did you mean "journeys"?); known connector types: forward, journeys',
      '10:47: processor "journey" is not defined in processors: ("journey" is a connector: it goes under exporters of the pipelines that feed it and under receivers of the pipelines it feeds, never under processors)',
    ]);
  });

  it('refuses a connector that shares its id with a receiver', () => {
    const text = yaml('receivers:', '  otlp:', 'exporters:', '  debug:', 'connectors:', '  otlp:', ...pipeline);
    expect(problems(text)).toContain(
      '6:3: connector "otlp" has the same id as a receiver defined under receivers:, so pipelines could not tell them apart: rename one of them (for example to "otlp/connector")',
    );
  });

  it('refuses pipelines that form a cycle through connectors, naming the loop at the link that closes it', () => {
    const text = yaml(
      'receivers:',
      '  otlp:',
      'exporters:',
      '  debug:',
      'connectors:',
      '  forward:',
      '  forward/back:',
      'service:',
      '  pipelines:',
      '    traces/a: { receivers: [otlp, forward/back], exporters: [forward] }',
      '    traces/b: { receivers: [forward], exporters: [forward/back, debug] }',
    );
    expect(problems(text)).toEqual([
      '10:62: the pipelines form a cycle: pipeline "traces/b" → connector "forward/back" → pipeline "traces/a" → connector "forward" → pipeline "traces/b"; data would go round forever: remove one of these links',
    ]);
    const self = yaml('receivers:', '  otlp:', 'connectors:', '  forward:', 'service:', '  pipelines:', '    traces: { receivers: [otlp, forward], exporters: [forward] }');
    expect(problems(self)).toEqual([
      '7:55: the pipelines form a cycle: pipeline "traces" → connector "forward" → pipeline "traces"; data would go round forever: remove one of these links',
    ]);
  });

  it('merges the problems validateExternal finds in other files, after the config’s own, by file and position', () => {
    const r = load(journeys('broken'));
    if (!('issues' in r)) throw new Error('expected issues');
    expect(r.issues.map(formatIssue)).toEqual([
      'broken/checkout.yaml:7:5: spec.start.service is required',
      'broken/signup.yaml:2:1: kind: must be "Journey"',
    ]);
    expect(r.warnings.map(formatIssue)).toEqual(['broken/checkout.yaml:3:9: warning: metadata.owner is empty']);
  });

  it('runs validateExternal only for a config without errors, and only for components in use', () => {
    const withError = journeys('broken').replace('exporters: [debug] }', 'exporters: [debgu] }');
    expect(problems(withError)).toEqual([expect.stringMatching(/^15:52: exporter "debgu" is not defined/)]);
    const unused = yaml(...minimal, 'connectors:', '  journeys: { directory: broken }', ...pipeline);
    expect(load(unused)).toMatchObject({ warnings: [expect.objectContaining({ message: expect.stringMatching(/connector "journeys" is defined but no pipeline uses it/) as unknown })] });
    expect('config' in load(unused)).toBe(true);
  });

  it('reports a validateExternal that throws as an error at the component', () => {
    expect(problems(journeys('explode'))).toEqual(['9:3: connector "journeys": checking the files it points at failed: boom']);
  });
});
