/**
 * Loads a Pulse config file into a validated, frozen `PulseConfig`, or into the complete list of what is wrong
 * with it, each problem at the `file:line:col` of the text concerned.
 *
 * Order of work (one pass, never stopping at the first problem):
 * 1. YAML syntax (`parseDocument` with a `LineCounter`). Syntax errors are all reported, and nothing else:
 *    checks on a half-parsed document would mostly report the syntax error again, in confusing words.
 * 2. `${env:…}` expansion on the parsed scalars (see env.ts), so positions stay those of the file.
 * 3. Top-level keys; component ids (`type` or `type/name`) against the registry; each component's body against
 *    its factory's zod `configSchema` (an empty body means the defaults); the `service:` section against
 *    service-schema.ts; pipeline ids, references, signal support and duplicates.
 * 4. Connectors (Collector semantics): a connector id may be listed under `exporters` of pipelines whose signal
 *    the connector consumes and under `receivers` of pipelines whose signal it produces; it must be on both
 *    sides; it may not share its id with a receiver or exporter; and the pipelines it links may not form a
 *    cycle (data would go round forever).
 * 5. Components no pipeline uses are warnings: Pulse still starts (and does not start them).
 * 6. Only when all of the above found no error: each used component's `validateExternal(config)` (checks of the
 *    files it points at, such as a journeys directory). Its issues carry their own files and positions.
 *
 * Issues of the config file come first, sorted by position, then those of other files (by file, then position);
 * warnings are returned separately in the same order. The file name in issues is the path as given (relative
 * stays relative); `PulseConfig.path` is absolute.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, visit, type Document, type Node, type Pair } from 'yaml';
import type { z } from 'zod';
import type { ComponentKind, ConnectorFactory, Factory } from '../core/component.js';
import { SIGNALS, type Signal } from '../core/consumer.js';
import { errorMessage } from '../core/errors.js';
import type { ComponentRegistry } from '../components.js';
import { didYouMean, quotedList } from './did-you-mean.js';
import { expandEnvText, typeLikeYaml, type Env } from './env.js';
import { FrozenMap, deepFreeze } from './frozen.js';
import { sortIssues, type ComponentConfig, type ConfigIssue, type PipelineConfig, type PulseConfig, type ServiceConfig } from './model.js';
import { serviceSchema, ID_NAME_PATTERN, type ServiceSection } from './service-schema.js';
import { explainZodIssues, unknownKeyProblems } from './zod-issues.js';
import { IssueCollector, keyText, locate, offsetOf, yamlSyntaxErrors } from './yaml-nodes.js';

export type LoadResult =
  | { readonly config: PulseConfig; readonly warnings: readonly ConfigIssue[] }
  | { readonly issues: readonly ConfigIssue[]; readonly warnings: readonly ConfigIssue[] };

type Section = 'receivers' | 'processors' | 'exporters' | 'connectors';
const SECTIONS: readonly Section[] = ['receivers', 'processors', 'exporters', 'connectors'];
/** The lists of a pipeline; `receivers` and `exporters` may also name connectors. */
type PipelineList = Exclude<Section, 'connectors'>;
const PIPELINE_LISTS: readonly PipelineList[] = ['receivers', 'processors', 'exporters'];
const TOP_LEVEL_KEYS = [...SECTIONS, 'service'] as const;
const KIND_OF: Record<Section, ComponentKind> = { receivers: 'receiver', processors: 'processor', exporters: 'exporter', connectors: 'connector' };

/** Hints for top-level keys that people bring from OpenTelemetry Collector configs. */
const COLLECTOR_HINTS: Record<string, string> = {
  extensions: '; Pulse has no extensions: health and metrics endpoints are configured under service.telemetry',
};

const TYPE_RE = /^[A-Za-z][A-Za-z0-9_]*$/;
const NAME_RE = new RegExp(`^${ID_NAME_PATTERN}$`);

/** Reads and loads `path`. A file that cannot be read is one issue without a position. */
export function loadConfig(path: string, registry: ComponentRegistry, env: Env = process.env): LoadResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : errorMessage(err);
    const issues = new IssueCollector(path, undefined);
    issues.fileError(`cannot read the config file: ${why} (pass another one with --config <file>)`);
    return { issues: issues.errors(), warnings: [] };
  }
  return loadConfigText(text, path, registry, env);
}

/** Loads config text as if read from `fileName` (which appears in issues, and resolved in `PulseConfig.path`). */
export function loadConfigText(text: string, fileName: string, registry: ComponentRegistry, env: Env = process.env): LoadResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const issues = new IssueCollector(fileName, lines, text);
  for (const w of doc.warnings) issues.warning(w.pos[0], w.message);
  if (doc.errors.length > 0) {
    for (const e of yamlSyntaxErrors(doc.errors, text)) {
      const message =
        e.code === 'MULTIPLE_DOCS' ? 'YAML syntax: a config file holds one YAML document: remove the "---" separator and what follows, or merge it into the first' : e.message;
      issues.error(e.offset, message);
    }
    return { issues: issues.errors(), warnings: issues.warnings() };
  }
  if (isJourneyDocument(doc.get('kind'), doc.get('apiVersion'))) {
    issues.error(
      0,
      `this is a journey definition (kind: Journey), not a Pulse config: check it with \`pulse journeys validate --journeys ${fileName}\`, ` +
        `and run it by pointing a journeys connector's directory at its folder`,
    );
    return { issues: issues.errors(), warnings: issues.warnings() };
  }
  const loader = new Loader(doc, text, registry, issues, lines);
  loader.expandEnv(env);
  const config = loader.load(resolve(fileName));
  const external = config && !issues.hasErrors ? loader.validateExternal(config) : [];
  const externalErrors = external.filter((i) => i.severity !== 'warning');
  const warnings = [...issues.warnings(), ...sortIssues(external.filter((i) => i.severity === 'warning'), fileName)];
  if (!config || issues.hasErrors || externalErrors.length > 0) {
    return { issues: [...issues.errors(), ...sortIssues(externalErrors, fileName)], warnings };
  }
  return { config, warnings };
}

/** One entry of a section map, with the nodes needed to report about it. */
interface Entry {
  readonly id: string;
  readonly key: Node;
  readonly value: Node | null;
}

/** Where a connector is listed: the pipeline and the list item (for positions). */
interface ConnectorUse {
  readonly pipeline: string;
  readonly item: Node;
  /** False when the pipeline's signal is not one the connector consumes/produces (already an error). */
  readonly fits: boolean;
}

class Loader {
  /** Scalars whose `${env:…}` could not be expanded: schema issues about them would only repeat that. */
  private readonly unexpanded = new Set<Node>();
  /** Valid component ids per section (valid id syntax; the type may still be unknown). */
  private readonly defined: Record<Section, Map<string, Entry>> = {
    receivers: new Map(),
    processors: new Map(),
    exporters: new Map(),
    connectors: new Map(),
  };
  private readonly components: Record<Section, Map<string, ComponentConfig>> = {
    receivers: new Map(),
    processors: new Map(),
    exporters: new Map(),
    connectors: new Map(),
  };
  /** Connector id → the pipelines that list it under exporters (feed it) and under receivers (it feeds them). */
  private readonly connectorUses = new Map<string, { asExporter: ConnectorUse[]; asReceiver: ConnectorUse[] }>();

  constructor(
    private readonly doc: Document,
    /** The file's text, to find the column of a bad `${…}` inside a scalar. */
    private readonly text: string,
    private readonly registry: ComponentRegistry,
    private readonly issues: IssueCollector,
    private readonly lines: LineCounter,
  ) {}

  expandEnv(env: Env): void {
    visit(this.doc, {
      Scalar: (key, node) => {
        if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
        const exp = expandEnvText(node.value, env);
        if (exp.problems.length > 0) {
          this.unexpanded.add(node);
          const start = node.range?.[0] ?? 0;
          const source = node.range ? this.text.slice(start, node.range[1]) : '';
          for (const p of exp.problems) {
            // The reference's own column when the source shows it verbatim (no escapes before it), else the
            // scalar's start.
            this.issues.error(start + Math.max(0, source.indexOf(p.token)), p.message);
          }
          return;
        }
        const plain = node.type === 'PLAIN' && node.tag === undefined;
        node.value = exp.whole && plain ? typeLikeYaml(exp.value) : exp.value;
      },
    });
  }

  load(absolutePath: string): PulseConfig | undefined {
    const root = this.doc.contents;
    if (root === null || (isScalar(root) && root.value === null)) {
      this.issues.error(0, 'the config file is empty: it needs receivers, exporters and service.pipelines (see config/pulse.yaml)');
      return undefined;
    }
    if (!isMap(root)) {
      this.issues.error(root.range?.[0] ?? 0, 'a config file is a map with the keys receivers, processors, exporters and service');
      return undefined;
    }
    const sections = new Map<string, Pair>();
    for (const pair of root.items) {
      const name = keyText(pair.key);
      const keyNode = pair.key as Node;
      if (name === null || !(TOP_LEVEL_KEYS as readonly string[]).includes(name)) {
        const shown = name ?? String(pair.key);
        this.issues.error(
          keyNode.range?.[0] ?? 0,
          `unknown top-level key "${shown}"${didYouMean(shown, TOP_LEVEL_KEYS)}${COLLECTOR_HINTS[shown] ?? `; allowed: ${TOP_LEVEL_KEYS.join(', ')}`}`,
        );
        continue;
      }
      sections.set(name, pair);
    }
    for (const section of SECTIONS) this.loadSection(section, sections.get(section));
    this.checkConnectorIds();
    const service = this.loadService(sections.get('service'));
    this.checkConnectorSides();
    this.checkCycles();
    this.warnUnused(service?.pipelines);
    if (this.issues.hasErrors || !service) return undefined;
    return Object.freeze({
      path: absolutePath,
      receivers: new FrozenMap(this.components.receivers),
      processors: new FrozenMap(this.components.processors),
      exporters: new FrozenMap(this.components.exporters),
      connectors: new FrozenMap(this.components.connectors),
      service,
    });
  }

  /**
   * Runs `validateExternal` of every component some pipeline uses (each id once), and returns its issues,
   * without duplicates (two connectors pointing at one directory report its problems once). A check that throws
   * is a bug in that component; it becomes one error at the component's id rather than a crash.
   */
  validateExternal(config: PulseConfig): ConfigIssue[] {
    const used = new Set<string>();
    for (const p of config.service.pipelines.values()) {
      for (const id of p.receivers) used.add(`${config.connectors.has(id) ? 'connectors' : 'receivers'}\0${id}`);
      for (const id of p.processors) used.add(`processors\0${id}`);
      for (const id of p.exporters) used.add(`${config.connectors.has(id) ? 'connectors' : 'exporters'}\0${id}`);
    }
    const out: ConfigIssue[] = [];
    const seen = new Set<string>();
    for (const section of SECTIONS) {
      for (const cc of this.components[section].values()) {
        if (!used.has(`${section}\0${cc.id}`)) continue;
        const check = this.factories(section).get(cc.type)?.validateExternal;
        if (!check) continue;
        let found: ConfigIssue[];
        try {
          found = check(cc.config);
        } catch (err) {
          const entry = this.defined[section].get(cc.id)!;
          const { line, col } = this.lines.linePos(at(entry.key));
          found = [{ file: this.issues.file, line, col, message: `${cc.kind} "${cc.id}": checking the files it points at failed: ${errorMessage(err)}` }];
        }
        for (const issue of found) {
          const key = `${issue.file}\0${issue.line}\0${issue.col}\0${issue.severity ?? 'error'}\0${issue.message}`;
          if (seen.has(key)) continue;
          seen.add(key);
          out.push(issue);
        }
      }
    }
    return out;
  }

  private factories(section: Section): Map<string, Factory> {
    return this.registry[section] as Map<string, Factory>;
  }

  private loadSection(section: Section, pair: Pair | undefined): void {
    const kind = KIND_OF[section];
    const value = pair?.value as Node | null | undefined;
    if (!pair || value === null || value === undefined || (isScalar(value) && value.value === null)) return;
    if (!isMap(value)) {
      this.issues.error(at(pair.key as Node), `${section}: expected a map of ${kind} ids to their config, like "otlp: {}"`);
      return;
    }
    for (const item of value.items) {
      const keyNode = item.key as Node;
      const id = keyText(item.key);
      if (id === null) {
        this.issues.error(at(keyNode), `${section}: a ${kind} id must be text: \`type\` or \`type/name\``);
        continue;
      }
      const slash = id.indexOf('/');
      const type = slash < 0 ? id : id.slice(0, slash);
      const name = slash < 0 ? '' : id.slice(slash + 1);
      if (!TYPE_RE.test(type) || (slash >= 0 && !NAME_RE.test(name))) {
        this.issues.error(
          at(keyNode),
          `"${id}" is not a valid ${kind} id: write \`type\` or \`type/name\`, where name uses letters, digits, "_", "." and "-"`,
        );
        continue;
      }
      const entry: Entry = { id, key: keyNode, value: (item.value as Node | null) ?? null };
      this.defined[section].set(id, entry);
      const factory = this.factories(section).get(type);
      if (!factory) {
        this.issues.error(at(keyNode), this.unknownTypeMessage(section, type));
        continue;
      }
      const config = this.parseWithSchema(factory.configSchema, entry, `${section}.${id}`);
      if (config.ok) this.components[section].set(id, deepFreeze({ id, kind, type, name, config: config.value }));
    }
  }

  private unknownTypeMessage(section: Section, type: string): string {
    const kind = KIND_OF[section];
    const known = [...this.factories(section).keys()].sort();
    const elsewhere = SECTIONS.find((s) => s !== section && this.factories(s).has(type));
    const hint = elsewhere ? `; "${type}" is ${article(KIND_OF[elsewhere])}: define it under ${elsewhere}:` : '';
    return `unknown ${kind} type "${type}"${didYouMean(type, known)}${hint}; known ${kind} types: ${known.join(', ') || '(none)'}`;
  }

  /** Validates a node's value with a zod schema; an empty value means `{}` (the schema's defaults). */
  private parseWithSchema(schema: z.ZodType, entry: Entry, prefix: string): { ok: true; value: unknown } | { ok: false } {
    const empty = entry.value === null || (isScalar(entry.value) && entry.value.value === null);
    const input: unknown = empty ? {} : entry.value!.toJS(this.doc);
    let result: ReturnType<z.ZodType['safeParse']>;
    try {
      result = schema.safeParse(input);
    } catch (err) {
      // A throwing refinement is a bug in that schema; report it rather than crash the whole load.
      this.issues.error(at(entry.key), `${prefix}: the config could not be checked: ${errorMessage(err)}`);
      return { ok: false };
    }
    const problems = unknownKeyProblems(schema, input, prefix);
    if (result.success && problems.length === 0) return { ok: true, value: result.data };
    if (!result.success) {
      const seen = new Set(problems.map((p) => p.message));
      for (const p of explainZodIssues(result.error.issues, schema, input, prefix)) if (!seen.has(p.message)) problems.push(p);
    }
    for (const problem of problems) {
      const loc = locate(this.doc, { node: entry.value, key: entry.key }, problem.path);
      if (loc.rest.length === 0 && loc.node && this.unexpanded.has(loc.node)) continue;
      const offset = problem.atKey && loc.rest.length === 0 && loc.key ? at(loc.key) : offsetOf(loc, at(entry.key));
      this.issues.error(offset, problem.message);
    }
    return { ok: false };
  }

  private loadService(pair: Pair | undefined): ServiceConfig | undefined {
    if (!pair) {
      this.issues.error(0, 'no service section: add service.pipelines, for example traces: {receivers: [otlp], exporters: [debug]}');
      return undefined;
    }
    const entry: Entry = { id: 'service', key: pair.key as Node, value: (pair.value as Node | null) ?? null };
    const parsed = this.parseWithSchema(serviceSchema, entry, 'service');
    const pipelines = this.checkPipelines(entry);
    if (!parsed.ok || !pipelines) return undefined;
    const s = parsed.value as ServiceSection;
    return Object.freeze({
      pipelines,
      telemetry: deepFreeze({
        logs: { level: s.telemetry.logs.level },
        metrics: s.telemetry.metrics.enabled ? { address: s.telemetry.metrics.address } : undefined,
        health: s.telemetry.health.enabled ? { address: s.telemetry.health.address } : undefined,
      }),
      shutdownTimeoutMs: s.shutdown_timeout,
      dataDir: s.data_dir,
      derivedSignalsThread: s.derived_signals.thread,
      derivedSignalsMaxHeapBytes: s.derived_signals.max_heap,
    });
  }

  /**
   * Pipeline ids, references, signal support and duplicates, checked on the YAML nodes (positions of each list
   * item). Shapes (lists of strings, at least one receiver and exporter) are the zod schema's job.
   */
  private checkPipelines(service: Entry): ReadonlyMap<string, PipelineConfig> | undefined {
    const loc = locate(this.doc, { node: service.value, key: service.key }, ['pipelines']);
    const node = loc.rest.length === 0 ? loc.node : null;
    if (!isMap(node) || node.items.length === 0) {
      if (node === null || isMap(node) || (isScalar(node) && node.value === null)) {
        this.issues.error(
          offsetOf(loc, at(service.key)),
          'no pipelines: add one under service.pipelines, for example traces: {receivers: [otlp], exporters: [debug]}',
        );
      }
      return undefined;
    }
    const pipelines = new Map<string, PipelineConfig>();
    let ok = true;
    for (const item of node.items) {
      const keyNode = item.key as Node;
      const id = keyText(item.key);
      if (id === null) continue;
      const signal = this.pipelineSignal(id, keyNode);
      const body = (item.value as Node | null) ?? null;
      const lists = { receivers: [] as string[], processors: [] as string[], exporters: [] as string[] };
      for (const section of PIPELINE_LISTS) {
        const list = locate(this.doc, { node: body, key: keyNode }, [section]);
        if (list.rest.length > 0 || !isSeq(list.node)) continue;
        lists[section] = this.checkReferences(section, id, signal, list.node.items as Node[]);
      }
      if (!signal) {
        ok = false;
        continue;
      }
      pipelines.set(id, Object.freeze({ id, signal, receivers: Object.freeze(lists.receivers), processors: Object.freeze(lists.processors), exporters: Object.freeze(lists.exporters) }));
    }
    return ok ? new FrozenMap(pipelines) : undefined;
  }

  private pipelineSignal(id: string, keyNode: Node): Signal | undefined {
    const slash = id.indexOf('/');
    const signal = slash < 0 ? id : id.slice(0, slash);
    const name = slash < 0 ? undefined : id.slice(slash + 1);
    if (!(SIGNALS as readonly string[]).includes(signal)) {
      this.issues.error(
        at(keyNode),
        `pipeline "${id}": unknown signal "${signal}"${didYouMean(signal, SIGNALS)}; a pipeline id is <signal> or <signal>/<name>, signals: ${SIGNALS.join(', ')}`,
      );
      return undefined;
    }
    if (name !== undefined && !NAME_RE.test(name)) {
      this.issues.error(at(keyNode), `"${id}" is not a valid pipeline id: write ${signal} or ${signal}/<name>, where name uses letters, digits, "_", "." and "-"`);
      return undefined;
    }
    return signal as Signal;
  }

  private checkReferences(section: PipelineList, pipeline: string, signal: Signal | undefined, items: readonly Node[]): string[] {
    const kind = KIND_OF[section];
    const seen = new Set<string>();
    const ids: string[] = [];
    for (const item of items) {
      // Not a string: the schema reports it. Unexpanded `${…}`: already reported.
      if (!isScalar(item) || typeof item.value !== 'string' || this.unexpanded.has(item)) continue;
      const ref = item.value;
      const own = this.defined[section].get(ref);
      const connector = section === 'processors' ? undefined : this.defined.connectors.get(ref);
      if (!own && !connector) {
        this.issues.error(at(item), this.undefinedReferenceMessage(section, ref));
        continue;
      }
      if (seen.has(ref)) {
        this.issues.error(at(item), `${connector && !own ? 'connector' : kind} "${ref}" is listed twice in pipeline "${pipeline}"`);
        continue;
      }
      seen.add(ref);
      ids.push(ref);
      // An id that is both (already reported at the connector's definition): nothing more to say about it here.
      if (own && connector) continue;
      const type = ref.split('/', 1)[0]!;
      if (connector) {
        const factory = this.registry.connectors.get(type);
        const list = section === 'exporters' ? 'exporters' : 'receivers';
        const fits = signal !== undefined && factory !== undefined && this.checkConnectorSignal(factory, ref, list, signal, item);
        this.useConnector(ref, list === 'exporters' ? 'asExporter' : 'asReceiver', { pipeline, item, fits });
        continue;
      }
      const factory = this.registry[section].get(type);
      if (signal && factory && !factory.create[signal]) {
        const supported = Object.keys(factory.create);
        this.issues.error(
          at(item),
          `${kind} "${ref}" does not support ${signal} pipelines (it supports: ${supported.join(', ') || 'none'})`,
        );
      }
    }
    return ids;
  }

  private useConnector(id: string, side: 'asExporter' | 'asReceiver', use: ConnectorUse): void {
    let uses = this.connectorUses.get(id);
    if (!uses) this.connectorUses.set(id, (uses = { asExporter: [], asReceiver: [] }));
    uses[side].push(use);
  }

  /**
   * A connector consumes the signals of the pipelines that list it under exporters, and produces those of the
   * pipelines that list it under receivers. Returns whether this use fits.
   */
  private checkConnectorSignal(factory: ConnectorFactory, id: string, list: 'receivers' | 'exporters', signal: Signal, item: Node): boolean {
    if (list === 'exporters' && !factory.inputs.includes(signal)) {
      this.issues.error(
        at(item),
        `connector "${id}" cannot receive ${signal}: it consumes ${factory.inputs.join(', ') || 'nothing'} (list it under exporters of ${factory.inputs.join(' or ') || 'no'} pipelines only)`,
      );
    } else if (list === 'receivers' && !factory.outputs.includes(signal)) {
      this.issues.error(
        at(item),
        `connector "${id}" cannot produce ${signal}: it produces ${factory.outputs.join(', ') || 'nothing'} (list it under receivers of ${factory.outputs.join(' or ') || 'no'} pipelines only)`,
      );
    } else {
      return true;
    }
    return false;
  }

  private undefinedReferenceMessage(section: PipelineList, ref: string): string {
    const kind = KIND_OF[section];
    const connectorsToo = section !== 'processors' && this.defined.connectors.size > 0;
    const base = `${kind} "${ref}" is not defined in ${section}:${connectorsToo ? ' or connectors:' : ''}`;
    if (this.defined.connectors.has(ref)) {
      return `${base} ("${ref}" is a connector: it goes under exporters of the pipelines that feed it and under receivers of the pipelines it feeds, never under processors)`;
    }
    const elsewhere = SECTIONS.find((s) => s !== section && this.defined[s].has(ref));
    if (elsewhere) return `${base} ("${ref}" is ${article(KIND_OF[elsewhere])}: list it under ${elsewhere})`;
    const defined = [...this.defined[section].keys(), ...(connectorsToo ? this.defined.connectors.keys() : [])];
    const hint = didYouMean(ref, defined);
    if (hint) return `${base}${hint}`;
    return `${base} (${defined.length > 0 ? `defined: ${quotedList(defined)}` : `no ${kind} is defined`})`;
  }

  /**
   * A pipeline's `receivers: [x]` must say one thing: an id may not be both a connector and a receiver (or an
   * exporter), as the Collector also refuses. Reported at the connector.
   */
  private checkConnectorIds(): void {
    for (const entry of this.defined.connectors.values()) {
      const clash = (['receivers', 'exporters'] as const).find((s) => this.defined[s].has(entry.id));
      if (!clash) continue;
      const suggestion = entry.id.includes('/') ? `${entry.id}-connector` : `${entry.id}/connector`;
      this.issues.error(
        at(entry.key),
        `connector "${entry.id}" has the same id as ${article(KIND_OF[clash])} defined under ${clash}:, so pipelines could not tell them apart: rename one of them (for example to "${suggestion}")`,
      );
    }
  }

  /**
   * A connector must be on both sides: fed by some pipeline (listed under its exporters) and feeding some
   * pipeline (listed under its receivers). One side only is an error at its first use; no side at all is the
   * "unused" warning.
   */
  private checkConnectorSides(): void {
    for (const [id, uses] of this.connectorUses) {
      const component = this.components.connectors.get(id);
      if (!component) continue; // its definition has errors of its own
      const ownInput = this.registry.connectors.get(component.type)?.ownInput?.(component.config);
      if (ownInput !== undefined) {
        const first = uses.asExporter[0];
        if (first) {
          this.issues.error(
            at(first.item),
            `connector "${id}" ${ownInput}, so no pipeline may feed it as well (pipeline "${first.pipeline}" does): the same data would be counted twice; remove it from this pipeline's exporters, or change its config`,
          );
        }
        continue;
      }
      if (uses.asReceiver.length === 0 && uses.asExporter.length > 0) {
        const first = uses.asExporter[0]!;
        this.issues.error(
          at(first.item),
          `connector "${id}" is used as an exporter (pipeline "${first.pipeline}") but no pipeline lists it under receivers, so its output would go nowhere: add it to the receivers of the pipelines it should feed`,
        );
      } else if (uses.asExporter.length === 0 && uses.asReceiver.length > 0) {
        const first = uses.asReceiver[0]!;
        this.issues.error(
          at(first.item),
          `connector "${id}" is used as a receiver (pipeline "${first.pipeline}") but no pipeline lists it under exporters, so it would never get data: add it to the exporters of the pipeline that should feed it`,
        );
      }
    }
  }

  /**
   * Pipelines linked by connectors (pipeline A lists connector c under exporters, pipeline B lists c under
   * receivers: A feeds B) must not form a cycle, or data would go round forever. Each cycle is reported once, at
   * the connector reference that closes it, naming the whole loop. Uses whose signal does not fit the connector
   * are already errors and link nothing.
   */
  private checkCycles(): void {
    const feeds = new Map<string, Array<{ to: string; via: string; item: Node }>>();
    for (const [connector, uses] of this.connectorUses) {
      for (const from of uses.asExporter) {
        if (!from.fits) continue;
        for (const to of uses.asReceiver) {
          if (!to.fits) continue;
          let list = feeds.get(from.pipeline);
          if (!list) feeds.set(from.pipeline, (list = []));
          list.push({ to: to.pipeline, via: connector, item: from.item });
        }
      }
    }
    const state = new Map<string, 'visiting' | 'done'>();
    const path: Array<{ pipeline: string; via: string }> = [];
    const visit = (pipeline: string): void => {
      state.set(pipeline, 'visiting');
      for (const edge of feeds.get(pipeline) ?? []) {
        const s = state.get(edge.to);
        if (s === 'visiting') {
          const start = path.findIndex((p) => p.pipeline === edge.to);
          const loop = [...path.slice(start < 0 ? path.length : start), { pipeline, via: edge.via }];
          const text = [...loop.map((p) => `pipeline "${p.pipeline}" → connector "${p.via}"`), `pipeline "${edge.to}"`].join(' → ');
          this.issues.error(at(edge.item), `the pipelines form a cycle: ${text}; data would go round forever: remove one of these links`);
        } else if (s === undefined) {
          path.push({ pipeline, via: edge.via });
          visit(edge.to);
          path.pop();
        }
      }
      state.set(pipeline, 'done');
    };
    for (const id of feeds.keys()) if (!state.has(id)) visit(id);
  }

  /** Components no pipeline lists: a warning each, when there are pipelines at all (else it is just noise). */
  private warnUnused(pipelines: ReadonlyMap<string, PipelineConfig> | undefined): void {
    const used = new Set<string>();
    const service = this.doc.get('service', true) as Node | undefined;
    const loc = locate(this.doc, { node: service ?? null, key: null }, ['pipelines']);
    if (pipelines === undefined && !(loc.rest.length === 0 && isMap(loc.node) && loc.node.items.length > 0)) return;
    if (isMap(loc.node)) {
      for (const p of loc.node.items) {
        for (const section of PIPELINE_LISTS) {
          const list = locate(this.doc, { node: (p.value as Node | null) ?? null, key: null }, [section]);
          if (list.rest.length === 0 && isSeq(list.node)) {
            for (const item of list.node.items) {
              if (!isScalar(item)) continue;
              used.add(`${section}\0${String(item.value)}`);
              if (section !== 'processors') used.add(`connectors\0${String(item.value)}`);
            }
          }
        }
      }
    }
    for (const section of SECTIONS) {
      // Only components that loaded: one with errors already has an issue of its own.
      for (const entry of this.defined[section].values()) {
        if (this.components[section].has(entry.id) && !used.has(`${section}\0${entry.id}`)) {
          this.issues.warning(at(entry.key), `${KIND_OF[section]} "${entry.id}" is defined but no pipeline uses it; it will not be started`);
        }
      }
    }
  }
}

/** A journey file given where a config file goes: `apiVersion: pulse/…` and `kind: Journey` at the top. */
function isJourneyDocument(kind: unknown, apiVersion: unknown): boolean {
  return kind === 'Journey' && typeof apiVersion === 'string' && apiVersion.startsWith('pulse/');
}

function article(kind: ComponentKind): string {
  return kind === 'exporter' ? `an ${kind}` : `a ${kind}`;
}

function at(node: Node | null | undefined): number {
  return node?.range?.[0] ?? 0;
}
