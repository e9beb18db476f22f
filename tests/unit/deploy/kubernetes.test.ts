/**
 * The Kubernetes manifests agree with the Pulse configs they carry: the embedded pulse.yaml loads with Pulse's own
 * loader (real components, the container's environment, the journeys the ConfigMap mounts), and the ports, probes,
 * mounts, disk budget, image and DNS names that the Deployment, Services, HPA, PDB and the ingest tier's Collector
 * config use are the ones that config listens on and reads from. No cluster: `kubectl apply` is not run here.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { PulseConfig } from '../../../src/config/model.js';
import {
  IMAGE,
  configArg,
  connectorDirectories,
  container,
  envOf,
  findObject,
  healthPort,
  k8sObjects,
  loadPulseConfig,
  materialize,
  once,
  persistentQueueBytes,
  podSpec,
  publicPorts,
  quantityBytes,
  read,
  removeMaterialized,
  resolvePort,
  yamlDoc,
  type Container,
  type K8sObject,
  type PodSpec,
  type Volume,
} from './deploy-files.js';

const gateway = k8sObjects('deploy/k8s/gateway');
const evaluator = k8sObjects('deploy/k8s/evaluator');
const ingest = k8sObjects('deploy/k8s/loadbalancer');
const sidecar = k8sObjects('deploy/k8s/sidecar');
const NAMESPACE = yamlDoc<{ namespace: string }>('deploy/k8s/kustomization.yaml').namespace;

afterAll(removeMaterialized);

const gatewayDeployment = findObject(gateway, 'Deployment', 'pulse-gateway');
const gatewayPod = podSpec(gatewayDeployment);
const gatewayPulse = container(gatewayPod, 'pulse');
const evaluatorDeployment = findObject(evaluator, 'Deployment', 'pulse-evaluator');
const evaluatorPod = podSpec(evaluatorDeployment);
const evaluatorPulse = container(evaluatorPod, 'pulse');
const sidecarDeployment = findObject(sidecar, 'Deployment', 'shop-frontend');
const sidecarPod = podSpec(sidecarDeployment);
const sidecarPulse = container(sidecarPod, 'pulse');

/** The file a volumeMount with subPath puts at `path`: the ConfigMap and key behind it. */
function mountedFile(pod: PodSpec, c: Container, path: string, objects: ReadonlyArray<{ obj: K8sObject }>): string {
  const mount = c.volumeMounts?.find((m) => m.mountPath === path);
  if (!mount?.subPath) throw new Error(`nothing is mounted as a file at ${path}`);
  const volume = pod.volumes?.find((v) => v.name === mount.name);
  if (!volume?.configMap) throw new Error(`volume ${mount.name} is not a ConfigMap`);
  const text = findObject(objects, 'ConfigMap', volume.configMap.name).data?.[mount.subPath];
  if (text === undefined) throw new Error(`ConfigMap ${volume.configMap.name} has no key ${mount.subPath}`);
  return text;
}

/** ConfigMaps mounted as directories (no subPath): mount path → local copy of their files. */
function mountedDirectories(pod: PodSpec, c: Container, objects: ReadonlyArray<{ obj: K8sObject }>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of c.volumeMounts ?? []) {
    const volume = pod.volumes?.find((v) => v.name === m.name);
    if (m.subPath || !volume?.configMap) continue;
    out[m.mountPath] = materialize(findObject(objects, 'ConfigMap', volume.configMap.name));
  }
  return out;
}

function loadFromPod(pod: PodSpec, c: Container, objects: ReadonlyArray<{ obj: K8sObject }>, name: string) {
  const path = configArg(c.args);
  expect(path, `${name}: --config in the container's args`).toBeDefined();
  return loadPulseConfig(mountedFile(pod, c, path!, objects), name, envOf(c), mountedDirectories(pod, c, objects));
}

/** Probes and containerPorts of a Pulse container against the config it runs. */
function checkPodPorts(c: Container, config: PulseConfig, where: string): void {
  const declared = (c.ports ?? []).map((p) => p.containerPort).sort((a, b) => a - b);
  expect(declared, `${where}: containerPorts = the ports the config listens on outside loopback`).toEqual(publicPorts(config));
  const health = healthPort(config);
  for (const [kind, probe] of [
    ['startupProbe', c.startupProbe],
    ['readinessProbe', c.readinessProbe],
    ['livenessProbe', c.livenessProbe],
  ] as const) {
    expect(probe?.httpGet, `${where}: ${kind}`).toBeDefined();
    expect(resolvePort(c, probe!.httpGet!.port), `${where}: ${kind} port`).toBe(health);
    expect(['/healthz', '/readyz'], `${where}: ${kind} path`).toContain(probe!.httpGet!.path);
  }
  expect(c.livenessProbe?.httpGet?.path, `${where}: liveness must not depend on readiness`).toBe('/healthz');
  expect(c.readinessProbe?.httpGet?.path, `${where}: readiness`).toBe('/readyz');
}

/**
 * `service.data_dir` is a mounted emptyDir, or a claim defined in `objects`, with room for every persistent queue at
 * its max_bytes. Returns the volume.
 */
function checkDataDir(pod: PodSpec, c: Container, config: PulseConfig, where: string, objects: ReadonlyArray<{ obj: K8sObject }> = []): Volume {
  const mount = c.volumeMounts?.find((m) => m.mountPath === config.service.dataDir);
  expect(mount, `${where}: service.data_dir ${config.service.dataDir} is a volume mount`).toBeDefined();
  expect(mount!.readOnly, where).not.toBe(true);
  const volume = pod.volumes?.find((v) => v.name === mount!.name);
  expect(volume?.emptyDir ?? volume?.persistentVolumeClaim, `${where}: data volume`).toBeDefined();
  const need = persistentQueueBytes(config);
  expect(need, `${where}: some exporter queues on disk`).toBeGreaterThan(0);
  if (volume?.emptyDir) {
    const limit = volume.emptyDir.sizeLimit;
    expect(limit, `${where}: an emptyDir without sizeLimit can fill the node's disk`).toBeDefined();
    expect(quantityBytes(limit!), `${where}: sizeLimit ${limit} must exceed the queues' ${need} bytes, or the pod is evicted`).toBeGreaterThan(need);
  } else {
    const claim = findObject(objects, 'PersistentVolumeClaim', volume!.persistentVolumeClaim!.claimName);
    const storage = claim.spec?.resources?.requests?.storage;
    expect(storage, `${where}: the claim requests storage`).toBeDefined();
    expect(quantityBytes(storage!), `${where}: the claim's ${storage} must exceed the queues' ${need} bytes`).toBeGreaterThan(need);
  }
  return volume!;
}

describe('gateway (deploy/k8s/gateway)', () => {
  const loaded = once(() => loadFromPod(gatewayPod, gatewayPulse, gateway, 'deploy/k8s/gateway/configmap.yaml pulse.yaml'));
  const gw = () => loaded().config;

  it('its pulse.yaml loads with the real components, the Deployment\'s env and the mounted journeys', () => {
    expect([...gw().connectors.keys()].sort()).toEqual(['journeys']);
    expect([...gw().service.pipelines.keys()].sort()).toEqual(['attempts', 'journey_metrics', 'traces/in', 'traces/out']);
  });

  it('evaluates no SLOs and sends no alerts: attempts and SLI rows go to ClickHouse only, for the evaluator', () => {
    expect([...gw().connectors.values()].map((c) => c.type)).not.toContain('slo');
    expect([...gw().exporters.values()].map((e) => e.type)).not.toContain('kafka');
    for (const name of ['attempts', 'journey_metrics']) {
      const p = gw().service.pipelines.get(name);
      expect(p?.receivers, name).toEqual(['journeys']);
      expect(p?.exporters.map((id) => gw().exporters.get(id)?.type), name).toEqual(['clickhouse']);
    }
    expect([...gw().service.pipelines.values()].filter((p) => p.signal === 'alerts')).toEqual([]);
    expect(envOf(gatewayPulse).KAFKA_BOOTSTRAP, 'the gateways talk to no Kafka').toBeUndefined();
  });

  it('the journeys ConfigMap is mounted as a directory (hot reload) exactly where the connectors read', () => {
    const mount = gatewayPulse.volumeMounts?.find((m) => connectorDirectories(gw()).includes(m.mountPath));
    expect(mount, 'a mount at the connectors\' directory').toBeDefined();
    expect(mount!.subPath, 'subPath mounts never see ConfigMap updates').toBeUndefined();
    expect(gatewayPod.volumes?.find((v) => v.name === mount!.name)?.configMap?.name).toBe('pulse-journeys');
    expect(loaded().journeyDirs).toEqual([mount!.mountPath]);
    expect(new Set(connectorDirectories(gw()))).toEqual(new Set([mount!.mountPath]));
  });

  it('the journeys ConfigMap carries the example journeys of config/journeys unchanged', () => {
    const data = findObject(gateway, 'ConfigMap', 'pulse-journeys').data ?? {};
    expect(Object.keys(data).sort()).toEqual(['checkout.yaml', 'search.yaml', 'signup.yaml']);
    for (const [name, text] of Object.entries(data)) {
      expect(text === read(`config/journeys/${name}`), `${name} differs from config/journeys/${name}: copy it over`).toBe(true);
    }
  });

  it('containerPorts and probes match the addresses in its config', () => {
    checkPodPorts(gatewayPulse, gw(), 'gateway');
  });

  it('the Service exposes every port of the pod, by name, on the same numbers', () => {
    const svc = findObject(gateway, 'Service', 'pulse-gateway');
    expect(svc.spec?.selector).toEqual(gatewayDeployment.spec?.selector?.matchLabels);
    const ports = (svc.spec?.ports ?? []).map((p) => ({ port: p.port, target: resolvePort(gatewayPulse, p.targetPort ?? p.port) }));
    expect(ports.every((p) => p.port === p.target)).toBe(true);
    expect(ports.map((p) => p.port).sort((a, b) => a - b)).toEqual(publicPorts(gw()));
  });

  it('service.data_dir is an emptyDir large enough for every persistent queue', () => {
    checkDataDir(gatewayPod, gatewayPulse, gw(), 'gateway');
  });

  it('SIGKILL comes after preStop plus the shutdown deadline', () => {
    const preStop = (gatewayPulse as Container & { lifecycle?: { preStop?: { exec?: { command: string[] } } } }).lifecycle?.preStop?.exec?.command;
    const sleep = preStop?.[0] === 'sleep' ? Number(preStop[1]) : 0;
    expect(gatewayPod.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(sleep * 1000 + gw().service.shutdownTimeoutMs);
  });

  it('runs the pulse image as the Dockerfile\'s non-root user', () => {
    expect(gatewayPulse.image).toBe(IMAGE);
    expect(gatewayPod.securityContext?.runAsNonRoot).toBe(true);
    expect(gatewayPod.securityContext?.runAsUser).toBe(1000);
  });

  it('the HorizontalPodAutoscaler scales the gateway Deployment on CPU; the PDB covers its pods', () => {
    const hpa = findObject(gateway, 'HorizontalPodAutoscaler', 'pulse-gateway');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec?.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'pulse-gateway' });
    expect(hpa.spec?.metrics?.map((m) => m.resource?.name)).toEqual(['cpu']);
    expect(hpa.spec!.minReplicas!).toBeGreaterThanOrEqual(2);
    const pdb = findObject(gateway, 'PodDisruptionBudget', 'pulse-gateway');
    expect(pdb.spec?.selector?.matchLabels).toEqual(gatewayDeployment.spec?.selector?.matchLabels);
    const labels = gatewayDeployment.spec?.template?.metadata.labels ?? {};
    for (const [k, v] of Object.entries(gatewayDeployment.spec?.selector?.matchLabels ?? {})) expect(labels[k]).toBe(v);
  });
});

describe('SLO evaluator (deploy/k8s/evaluator): one slo connector over every gateway\'s rows in ClickHouse', () => {
  interface ClickHouseAccess {
    endpoint: string;
    database: string;
    username: string;
    password: string;
  }
  interface FollowingSlo {
    directory: string;
    clickhouse?: ClickHouseAccess & { sli_table: string; attempts_table: string; alerts_table: string; follow?: { interval: number; lookback: number } };
  }
  type ClickHouseExporter = ClickHouseAccess & { tables: { attempts: string; journey_metrics: string; alerts: string } };

  // pulse-journeys lives in ../gateway: the evaluator's pod mounts it by name.
  const loaded = once(() => loadFromPod(evaluatorPod, evaluatorPulse, [...evaluator, ...gateway], 'deploy/k8s/evaluator/configmap.yaml pulse.yaml'));
  const ev = () => loaded().config;
  const gw = once(() => loadFromPod(gatewayPod, gatewayPulse, gateway, 'deploy/k8s/gateway/configmap.yaml pulse.yaml').config);
  const slo = () => ev().connectors.get('slo')!.config as FollowingSlo;
  const exporterOfType = (config: PulseConfig, type: string) => [...config.exporters.values()].filter((e) => e.type === type);

  it('its pulse.yaml loads: a following slo connector fed by no pipeline, its alerts to Kafka and ClickHouse', () => {
    expect([...ev().connectors.values()].map((c) => `${c.id}:${c.type}`)).toEqual(['slo:slo']);
    expect(slo().clickhouse?.follow, 'slo.clickhouse.follow').toBeDefined();
    expect(ev().receivers.size, 'it receives nothing').toBe(0);
    expect([...ev().service.pipelines.keys()]).toEqual(['alerts']);
    const alerts = ev().service.pipelines.get('alerts')!;
    expect(alerts.receivers).toEqual(['slo']);
    expect(alerts.exporters.map((id) => ev().exporters.get(id)?.type).sort()).toEqual(['clickhouse', 'kafka']);
    for (const p of ev().service.pipelines.values()) expect(p.exporters, `pipeline ${p.id} must not feed slo`).not.toContain('slo');
  });

  it('follows the database and tables the gateways write, with their ClickHouse user and Secret', () => {
    const [written] = exporterOfType(gw(), 'clickhouse');
    const w = written!.config as ClickHouseExporter;
    const r = slo().clickhouse!;
    expect({ endpoint: r.endpoint, database: r.database, username: r.username }).toEqual({ endpoint: w.endpoint, database: w.database, username: w.username });
    expect(r.sli_table, 'SLI rows: what the gateways\' journey_metrics pipeline writes').toBe(w.tables.journey_metrics);
    expect(r.attempts_table, 'attempts: what the gateways\' attempts pipeline writes').toBe(w.tables.attempts);
    const secret = (c: Container) => c.env?.find((e) => e.name === 'CLICKHOUSE_PASSWORD')?.valueFrom;
    expect(secret(evaluatorPulse)).toBeDefined();
    expect(secret(evaluatorPulse)).toEqual(secret(gatewayPulse));
    // The alert events it writes are the ones its rebuild at the first poll reads back.
    const [alertsOut] = exporterOfType(ev(), 'clickhouse');
    const a = alertsOut!.config as ClickHouseExporter;
    expect({ endpoint: a.endpoint, database: a.database, table: a.tables.alerts }).toEqual({ endpoint: r.endpoint, database: r.database, table: r.alerts_table });
    // Its lookback re-reads the windows the gateways may still add to.
    expect(slo().clickhouse!.follow!.lookback).toBeGreaterThan(slo().clickhouse!.follow!.interval);
  });

  it('mounts the gateways\' pulse-journeys ConfigMap as a directory where its slo connector reads', () => {
    const mount = evaluatorPulse.volumeMounts?.find((m) => m.mountPath === slo().directory);
    expect(mount, 'a mount at the slo connector\'s directory').toBeDefined();
    expect(mount!.subPath, 'subPath mounts never see ConfigMap updates').toBeUndefined();
    expect(evaluatorPod.volumes?.find((v) => v.name === mount!.name)?.configMap?.name).toBe('pulse-journeys');
    expect(loaded().journeyDirs).toEqual([mount!.mountPath]);
    // The same definitions as the gateways, at the same path (one ConfigMap, one place to edit).
    const gatewayMount = gatewayPulse.volumeMounts?.find((m) => m.mountPath === slo().directory);
    expect(gatewayPod.volumes?.find((v) => v.name === gatewayMount?.name)?.configMap?.name).toBe('pulse-journeys');
  });

  it('refers to pulse-journeys by name: defined once, in ../gateway, same namespace, no renaming by kustomize', () => {
    expect(evaluator.filter(({ obj }) => obj.kind === 'ConfigMap' && obj.metadata.name === 'pulse-journeys')).toEqual([]);
    expect(findObject(gateway, 'ConfigMap', 'pulse-journeys')).toBeDefined();
    const kustomizations = ['deploy/k8s', 'deploy/k8s/gateway', 'deploy/k8s/evaluator'].map((d) => yamlDoc<Record<string, unknown>>(`${d}/kustomization.yaml`));
    for (const k of kustomizations) {
      expect(k.namespace).toBe(NAMESPACE);
      for (const renaming of ['namePrefix', 'nameSuffix', 'configMapGenerator']) expect(k[renaming], renaming).toBeUndefined();
    }
    expect(yamlDoc<{ resources: string[] }>('deploy/k8s/kustomization.yaml').resources).toEqual(expect.arrayContaining(['gateway', 'evaluator']));
  });

  it('containerPorts and probes match the addresses in its config', () => {
    checkPodPorts(evaluatorPulse, ev(), 'evaluator');
  });

  it('service.data_dir is a claim of its own, large enough for its alert queues; SIGKILL comes after the shutdown deadline', () => {
    // Alert events waiting for Kafka or ClickHouse must outlive a rollout or a drain, not only a container restart.
    const volume = checkDataDir(evaluatorPod, evaluatorPulse, ev(), 'evaluator', evaluator);
    expect(volume.persistentVolumeClaim).toBeDefined();
    const claim = findObject(evaluator, 'PersistentVolumeClaim', volume.persistentVolumeClaim!.claimName);
    // One writer, and Recreate lets the old pod go before the new one mounts it.
    expect(claim.spec?.accessModes).toEqual(['ReadWriteOnce']);
    expect(evaluatorDeployment.spec?.strategy?.type).toBe('Recreate');
    expect(evaluatorPod.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(ev().service.shutdownTimeoutMs);
  });

  it('runs the pulse image as the Dockerfile\'s non-root user', () => {
    expect(evaluatorPulse.image).toBe(IMAGE);
    expect(evaluatorPod.securityContext?.runAsNonRoot).toBe(true);
    expect(evaluatorPod.securityContext?.runAsUser).toBe(1000);
  });

  it('runs exactly one replica, never two at once: replicas 1, Recreate, no autoscaler', () => {
    expect(evaluatorDeployment.spec?.replicas).toBe(1);
    expect(evaluatorDeployment.spec?.strategy?.type).toBe('Recreate');
    const all = [...gateway, ...evaluator, ...k8sObjects('deploy/k8s')];
    const autoscaled = all.filter(({ obj }) => obj.kind === 'HorizontalPodAutoscaler').map(({ obj }) => obj.spec?.scaleTargetRef?.name);
    expect(autoscaled).not.toContain('pulse-evaluator');
  });

  it('its pods are not gateways: no gateway Service or the routing ring selects them', () => {
    const labels = evaluatorDeployment.spec?.template?.metadata.labels ?? {};
    for (const { obj } of [...gateway, ...ingest]) {
      if (obj.kind !== 'Service' && obj.kind !== 'PodDisruptionBudget') continue;
      const selector = obj.kind === 'Service' ? (obj.spec?.selector ?? {}) : (obj.spec?.selector?.matchLabels ?? {});
      if (Object.keys(selector).length === 0) continue;
      const matches = Object.entries(selector).every(([k, v]) => labels[k] === v);
      expect(matches, `${obj.kind} ${obj.metadata.name} selects the evaluator`).toBe(false);
    }
    for (const [k, v] of Object.entries(evaluatorDeployment.spec?.selector?.matchLabels ?? {})) expect(labels[k]).toBe(v);
  });
});

describe('ingest tier (deploy/k8s/loadbalancer): all spans of a trace reach one gateway', () => {
  interface Collector {
    extensions: { health_check: { endpoint: string } };
    receivers: { otlp: { protocols: { grpc: { endpoint: string }; http: { endpoint: string } } } };
    exporters: { loadbalancing: { routing_key: string; resolver: { dns?: { hostname: string; port: string | number } } } };
    service: { extensions: string[]; pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }> };
  }
  const collector = parse(findObject(ingest, 'ConfigMap', 'pulse-ingest-config').data?.['config.yaml'] ?? '') as Collector;
  const deployment = findObject(ingest, 'Deployment', 'pulse-ingest');
  const pod = podSpec(deployment);
  const otelcol = container(pod, 'otelcol');
  const headless = findObject(ingest, 'Service', 'pulse-gateway-headless');
  const port = (endpoint: string) => Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));

  it('routes by trace id to the gateways the headless Service resolves to', () => {
    const lb = collector.exporters.loadbalancing;
    expect(lb.routing_key).toBe('traceID');
    expect(lb.resolver.dns?.hostname).toBe(`${headless.metadata.name}.${NAMESPACE}.svc.cluster.local`);
    expect(Number(lb.resolver.dns?.port)).toBe(resolvePort(gatewayPulse, 'otlp-grpc'));
    expect(Object.values(collector.service.pipelines).map((p) => p.exporters)).toEqual([['loadbalancing']]);
  });

  it('the headless Service selects the gateway pods and resolves to their OTLP/gRPC port', () => {
    expect(headless.spec?.clusterIP).toBe('None');
    const labels = gatewayDeployment.spec?.template?.metadata.labels ?? {};
    const selector = headless.spec?.selector ?? {};
    expect(Object.keys(selector).length).toBeGreaterThan(0);
    for (const [k, v] of Object.entries(selector)) expect(labels[k], `gateway pod label ${k}`).toBe(v);
    for (const p of headless.spec?.ports ?? []) expect(resolvePort(gatewayPulse, p.targetPort ?? p.port)).toBe(p.port);
  });

  it('the ingest pods\' ports and probes match the Collector config; its Service targets them', () => {
    const listens = [collector.receivers.otlp.protocols.grpc.endpoint, collector.receivers.otlp.protocols.http.endpoint, collector.extensions.health_check.endpoint].map(port);
    expect((otelcol.ports ?? []).map((p) => p.containerPort).sort()).toEqual(listens.sort());
    expect(collector.service.extensions).toContain('health_check');
    for (const probe of [otelcol.readinessProbe, otelcol.livenessProbe]) {
      expect(resolvePort(otelcol, probe!.httpGet!.port)).toBe(port(collector.extensions.health_check.endpoint));
    }
    expect(configArg(otelcol.args) ?? otelcol.args?.[0]).toContain('/etc/otelcol/config.yaml');
    expect(otelcol.volumeMounts?.find((m) => m.mountPath === '/etc/otelcol')).toBeDefined();
    const svc = findObject(ingest, 'Service', 'pulse-ingest');
    expect(svc.spec?.selector).toEqual(deployment.spec?.selector?.matchLabels);
    for (const p of svc.spec?.ports ?? []) expect(resolvePort(otelcol, p.targetPort ?? p.port)).toBe(p.port);
  });
});

describe('sidecar (deploy/k8s/sidecar)', () => {
  const sc = once(() => loadFromPod(sidecarPod, sidecarPulse, sidecar, 'deploy/k8s/sidecar/configmap.yaml pulse.yaml').config);

  it('its pulse.yaml loads, holds no journeys, and forwards every span to the ingest tier', () => {
    expect(sc().connectors.size).toBe(0);
    const [exporter, ...others] = [...sc().exporters.values()];
    expect(others).toEqual([]);
    expect(exporter!.type).toBe('otlp');
    const svc = findObject(ingest, 'Service', 'pulse-ingest');
    const grpc = svc.spec?.ports?.find((p) => p.name === 'otlp-grpc');
    expect((exporter!.config as { endpoint: string }).endpoint).toBe(`${svc.metadata.name}.${NAMESPACE}.svc.cluster.local:${grpc?.port}`);
  });

  it('receives on loopback only, where the app\'s OTEL_EXPORTER_OTLP_ENDPOINT points', () => {
    const app = container(sidecarPod, 'frontend');
    const endpoint = envOf(app).OTEL_EXPORTER_OTLP_ENDPOINT;
    const http = [...sc().receivers.values()][0]!.config as { protocols: { http?: { endpoint: { host: string; port: number } } } };
    expect(endpoint).toBe(`http://${http.protocols.http!.endpoint.host}:${http.protocols.http!.endpoint.port}`);
    checkPodPorts(sidecarPulse, sc(), 'sidecar');
  });

  it('is a native sidecar (starts before the app, stops after it) with its disk queue on an emptyDir', () => {
    expect(sidecarPod.initContainers?.map((c) => c.name)).toEqual(['pulse']);
    expect(sidecarPulse.restartPolicy).toBe('Always');
    expect(sidecarPulse.image).toBe(IMAGE);
    expect(sidecarPulse.securityContext?.runAsNonRoot).toBe(true);
    checkDataDir(sidecarPod, sidecarPulse, sc(), 'sidecar');
    expect(sidecarPod.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(sc().service.shutdownTimeoutMs);
  });
});
