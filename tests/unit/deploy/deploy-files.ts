/**
 * Reading the files under deploy/ for the static checks of tests/unit/deploy/: YAML documents, Kubernetes objects
 * (only the fields the checks read are typed), compose services, the Dockerfile's instructions, and the Pulse
 * configs embedded in them, loaded with Pulse's own loader and real components.
 *
 * Journey directories: the configs name container paths (/etc/pulse/journeys) that do not exist on this machine.
 * `loadPulseConfig` takes a map from those paths to local directories that hold what the manifest mounts there
 * (config/journeys for compose, the journeys ConfigMap written to a temp dir for Kubernetes), and wraps the
 * connectors' `validateExternal` so the real journey loader checks those files; a directory the map does not
 * know is reported as an issue, so a config pointing somewhere nothing is mounted fails.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { defaultRegistry, type ComponentRegistry } from '../../../src/components.js';
import { loadConfigText } from '../../../src/config/load.js';
import { formatIssue, type ConfigIssue, type PulseConfig } from '../../../src/config/model.js';
import type { ExporterHelperConfig } from '../../../src/exporters/exporterhelper/config.js';
import type { OtlpReceiverConfig } from '../../../src/receivers/otlp/config.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const read = (rel: string): string => readFileSync(join(ROOT, rel), 'utf8');
export const exists = (rel: string): boolean => {
  try {
    statSync(join(ROOT, rel));
    return true;
  } catch {
    return false;
  }
};

export const isDirectory = (rel: string): boolean => exists(rel) && statSync(join(ROOT, rel)).isDirectory();

/** package.json's version: the tag of the image everywhere. */
export const VERSION = (JSON.parse(read('package.json')) as { version: string }).version;
export const IMAGE = `ghcr.io/example/pulse:${VERSION}`;

/** Files under `dir` (relative to the repository root), recursively, as root-relative paths, sorted. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string): void => {
    for (const name of readdirSync(abs)) {
      const p = join(abs, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(ROOT, p));
    }
  };
  walk(join(ROOT, dir));
  return out.sort();
}

export const yamlFilesUnder = (dir: string): string[] => filesUnder(dir).filter((f) => /\.ya?ml$/.test(f));

/** Every document of a YAML file; throws with the file name and the parser's message on a syntax error. */
export function yamlDocs(rel: string): unknown[] {
  const docs = parseAllDocuments(read(rel), { uniqueKeys: true });
  if (!Array.isArray(docs)) return [];
  return docs.map((d, i) => {
    if (d.errors.length > 0) throw new Error(`${rel} document ${i + 1}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as unknown;
  });
}

export function yamlDoc<T>(rel: string): T {
  const docs = yamlDocs(rel);
  if (docs.length !== 1) throw new Error(`${rel}: expected one YAML document, found ${docs.length}`);
  return docs[0] as T;
}

/**
 * A value computed at its first use inside a test (not while vitest collects the file), so that a config that
 * does not load fails the tests that need it, each with the loader's message, instead of the whole file.
 */
export function once<T>(compute: () => T): () => T {
  let done = false;
  let value: T | undefined;
  return () => {
    if (!done) {
      value = compute();
      done = true;
    }
    return value as T;
  };
}

// ---- Kubernetes -------------------------------------------------------------------------------------------------

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}
export interface Probe {
  httpGet?: { path: string; port: number | string };
}
export interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}
export interface Container {
  name: string;
  image?: string;
  args?: string[];
  env?: EnvVar[];
  ports?: ContainerPort[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  volumeMounts?: VolumeMount[];
  restartPolicy?: string;
  securityContext?: { runAsUser?: number; runAsNonRoot?: boolean };
}
export interface Volume {
  name: string;
  configMap?: { name: string };
  emptyDir?: { sizeLimit?: string };
  persistentVolumeClaim?: { claimName: string };
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  securityContext?: { runAsUser?: number; runAsNonRoot?: boolean; fsGroup?: number };
  terminationGracePeriodSeconds?: number;
}
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    ports?: Array<{ name?: string; port: number; targetPort?: number | string }>;
    clusterIP?: string;
    scaleTargetRef?: { apiVersion: string; kind: string; name: string };
    minReplicas?: number;
    maxReplicas?: number;
    metrics?: Array<{ type: string; resource?: { name: string } }>;
    replicas?: number;
    strategy?: { type: string };
    accessModes?: string[];
    resources?: { requests?: { storage?: string } };
  };
}

/** Every Kubernetes object in the YAML files of `dir` (not recursive; kustomization.yaml excluded). */
export function k8sObjects(dir: string): Array<{ file: string; obj: K8sObject }> {
  const out: Array<{ file: string; obj: K8sObject }> = [];
  for (const name of readdirSync(join(ROOT, dir)).sort()) {
    if (!/\.ya?ml$/.test(name) || name === 'kustomization.yaml') continue;
    const file = `${dir}/${name}`;
    for (const obj of yamlDocs(file)) if (obj !== null) out.push({ file, obj: obj as K8sObject });
  }
  return out;
}

export function findObject(objects: ReadonlyArray<{ obj: K8sObject }>, kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.obj.kind === kind && o.obj.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} (have: ${objects.map((o) => `${o.obj.kind}/${o.obj.metadata.name}`).join(', ')})`);
  return found.obj;
}

export function podSpec(obj: K8sObject): PodSpec {
  const spec = obj.spec?.template?.spec;
  if (!spec) throw new Error(`${obj.kind} ${obj.metadata.name} has no pod template`);
  return spec;
}

/** A pod's container (regular or init/native sidecar) by name. */
export function container(pod: PodSpec, name: string): Container {
  const c = [...pod.containers, ...(pod.initContainers ?? [])].find((x) => x.name === name);
  if (!c) throw new Error(`no container ${name}`);
  return c;
}

/** A container port by name or number, as a probe or a Service's targetPort names it. */
export function resolvePort(c: Container, port: number | string): number | undefined {
  if (typeof port === 'number') return c.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

/** The container's environment as Pulse would see it: literal values, and a placeholder for values from Secrets. */
export function envOf(c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) env[e.name] = e.value ?? (e.valueFrom !== undefined ? `placeholder-${e.name.toLowerCase()}` : '');
  return env;
}

/** `--config <path>` from a command line. */
export function configArg(args: readonly string[] | undefined): string | undefined {
  const i = args?.indexOf('--config') ?? -1;
  return i >= 0 ? args?.[i + 1] : undefined;
}

/** Kubernetes quantity (`4Gi`, `512Mi`, `2G`) in bytes. */
export function quantityBytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new Error(`not a quantity: ${q}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

const materialized: string[] = [];

/** Writes a ConfigMap's files into a fresh temp directory (what the kubelet mounts) and returns its path. */
export function materialize(configMap: K8sObject): string {
  const dir = mkdtempSync(join(tmpdir(), `pulse-deploy-${configMap.metadata.name}-`));
  materialized.push(dir);
  for (const [name, text] of Object.entries(configMap.data ?? {})) writeFileSync(join(dir, name), text);
  return dir;
}

/** Removes the directories `materialize` wrote (call in afterAll). */
export function removeMaterialized(): void {
  for (const dir of materialized.splice(0)) rmSync(dir, { recursive: true, force: true });
}

// ---- Pulse configs ------------------------------------------------------------------------------------------------

export interface LoadedPulseConfig {
  readonly config: PulseConfig;
  /** The journey directories the connectors asked to check, as written in the config. */
  readonly journeyDirs: readonly string[];
}

/**
 * Loads config text with Pulse's loader, the real components and `env`; `journeyDirs` maps each directory the
 * config may name (a container path) to a local directory with the same files. Throws with every issue and warning
 * (formatted `file:line:col: message`) unless the config loads cleanly.
 */
export function loadPulseConfig(text: string, fileName: string, env: Record<string, string>, journeyDirs: Record<string, string>): LoadedPulseConfig {
  const asked: string[] = [];
  const registry: ComponentRegistry = defaultRegistry();
  for (const [type, factory] of registry.connectors) {
    const check = factory.validateExternal;
    if (!check) continue;
    registry.connectors.set(type, {
      ...factory,
      validateExternal: (config: unknown): ConfigIssue[] => {
        const dir = (config as { directory: string }).directory;
        asked.push(dir);
        const local = journeyDirs[dir];
        if (local === undefined) {
          return [{ file: fileName, line: 0, col: 0, message: `connector ${type}: directory ${dir} is not where the manifest mounts the journeys (${Object.keys(journeyDirs).join(', ') || 'nothing mounted'})` }];
        }
        return check({ ...(config as object), directory: local });
      },
    });
  }
  const result = loadConfigText(text, fileName, registry, env);
  const problems = [...('issues' in result ? result.issues : []), ...result.warnings].map(formatIssue);
  if (problems.length > 0 || !('config' in result)) throw new Error(`${fileName} does not load cleanly:\n${problems.join('\n')}`);
  return { config: result.config, journeyDirs: [...new Set(asked)] };
}

export interface Listener {
  readonly what: string;
  readonly host: string;
  readonly port: number;
}

/** Every address a Pulse config listens on: OTLP receivers, metrics, health. */
export function listenersOf(config: PulseConfig): Listener[] {
  const out: Listener[] = [];
  for (const r of config.receivers.values()) {
    if (r.type !== 'otlp') continue;
    const { grpc, http } = (r.config as OtlpReceiverConfig).protocols;
    if (grpc) out.push({ what: `receiver ${r.id} grpc`, ...grpc.endpoint });
    if (http) out.push({ what: `receiver ${r.id} http`, ...http.endpoint });
  }
  const { metrics, health } = config.service.telemetry;
  if (metrics) out.push({ what: 'metrics', ...metrics.address });
  if (health) out.push({ what: 'health', ...health.address });
  return out;
}

export const isLoopback = (host: string): boolean => host === '127.0.0.1' || host === 'localhost' || host === '::1';

/** Ports reachable from outside the process's network namespace (not bound to loopback), sorted. */
export const publicPorts = (config: PulseConfig): number[] =>
  listenersOf(config)
    .filter((l) => !isLoopback(l.host))
    .map((l) => l.port)
    .sort((a, b) => a - b);

export function healthPort(config: PulseConfig): number {
  const h = config.service.telemetry.health;
  if (!h) throw new Error('health endpoint disabled');
  return h.address.port;
}

/**
 * Worst-case bytes the persistent queues may hold under `service.data_dir`: `sending_queue.max_bytes` of every
 * exporter with a persistent queue, once per signal it serves (each signal has its own queue).
 */
export function persistentQueueBytes(config: PulseConfig): number {
  let total = 0;
  for (const e of config.exporters.values()) {
    const q = (e.config as Partial<ExporterHelperConfig>).sending_queue;
    if (!q?.enabled || !q.persistent) continue;
    const signals = new Set<string>();
    for (const p of config.service.pipelines.values()) if (p.exporters.includes(e.id)) signals.add(p.signal);
    total += q.max_bytes * signals.size;
  }
  return total;
}

/** The `directory` of every connector (journeys, slo) in a loaded config. */
export function connectorDirectories(config: PulseConfig): string[] {
  return [...config.connectors.values()].map((c) => (c.config as { directory: string }).directory);
}

// ---- Dockerfile ---------------------------------------------------------------------------------------------------

export interface Instruction {
  readonly op: string;
  readonly args: string;
  /** 0-based index of the build stage (FROM) it belongs to; -1 before the first FROM (global ARGs). */
  readonly stage: number;
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
export function dockerInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (pending === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\w+)\s+([\s\S]*)$/.exec(full);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ op, args: m[2]!.trim(), stage });
  }
  return out;
}

/** A JSON-array (exec form) argument list, or the words of the shell form. */
export function execForm(args: string): string[] {
  return args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
}

/**
 * Whether `.dockerignore` excludes a path of the build context (Docker's rules: patterns match the path or a
 * parent directory of it, `*` within a segment, `**` any number of segments, `!` re-includes, last match wins).
 */
export function dockerIgnored(patterns: readonly string[], path: string): boolean {
  const rules = patterns
    .map((p) => p.trim())
    .filter((p) => p !== '' && !p.startsWith('#'))
    .map((p) => {
      const negate = p.startsWith('!');
      const glob = (negate ? p.slice(1) : p).replace(/^\/+/, '').replace(/\/+$/, '');
      const re = glob
        .split(/(\*\*\/|\*\*|\*|\?)/)
        .map((part) => {
          if (part === '**/') return '(?:.*/)?';
          if (part === '**') return '.*';
          if (part === '*') return '[^/]*';
          if (part === '?') return '[^/]';
          return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
        })
        .join('');
      return { negate, re: new RegExp(`^${re}$`) };
    });
  const segments = path.split('/');
  const candidates = segments.map((_, i) => segments.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const rule of rules) if (candidates.some((c) => rule.re.test(c))) ignored = !rule.negate;
  return ignored;
}

// ---- compose ------------------------------------------------------------------------------------------------------

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
}
export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** Compose variable interpolation with the defaults written in the file (`${VAR:-default}` → default). */
export function composeDefaults(text: string): string {
  return text.replace(/\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g, (_, _name: string, def: string | undefined) => def ?? '');
}

/** A short-syntax volume `source:target[:mode]`. */
export function parseVolume(spec: string): { source: string; target: string; readOnly: boolean } {
  const [source, target, mode] = spec.split(':');
  if (source === undefined || target === undefined) throw new Error(`volume "${spec}" is not source:target`);
  return { source, target, readOnly: mode === 'ro' };
}

/** A published port `host:container` → both numbers. */
export function parsePortMapping(spec: string): { host: number; container: number } {
  const [host, containerPort] = spec.split(':').map(Number);
  if (host === undefined || containerPort === undefined) throw new Error(`port "${spec}" is not host:container`);
  return { host, container: containerPort };
}
