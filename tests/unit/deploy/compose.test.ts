/**
 * deploy/compose/compose.yaml and what it mounts, checked statically (no `docker compose up` here): the pulse
 * service starts with the config file it mounts, that config loads with Pulse's loader (the service's environment,
 * the journeys directory it mounts), listens on the ports the service publishes, and reaches ClickHouse and Kafka
 * by their service names, ports and credentials; Grafana's provisioning points at the same ClickHouse and at the
 * dashboard file the compose file mounts.
 */
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ClickHouseConfig } from '../../../src/exporters/clickhouse/config.js';
import type { KafkaExporterConfig } from '../../../src/exporters/kafka/config.js';
import type { SloConnectorConfig } from '../../../src/connectors/slo/config.js';
import {
  composeDefaults,
  connectorDirectories,
  exists,
  isDirectory,
  loadPulseConfig,
  once,
  parsePortMapping,
  parseVolume,
  publicPorts,
  read,
  yamlDoc,
  type ComposeFile,
} from './deploy-files.js';
import { parse } from 'yaml';

const DIR = 'deploy/compose';
const raw = read(`${DIR}/compose.yaml`);
const compose = parse(composeDefaults(raw)) as ComposeFile;
const service = (name: string) => {
  const s = compose.services[name];
  if (!s) throw new Error(`no compose service ${name}`);
  return s;
};
/** A path relative to the compose file, as a repository path. */
const fromCompose = (p: string) => posix.normalize(posix.join(DIR, p));
const volumes = (name: string) => (service(name).volumes ?? []).map(parseVolume);
const mountAt = (name: string, target: string) => volumes(name).find((v) => v.target === target);

const pulse = service('pulse');
const configPath = pulse.command?.[pulse.command.indexOf('--config') + 1] ?? '';
const configMount = mountAt('pulse', configPath);

describe('compose: the pulse service', () => {
  it('builds the image from the repository root with deploy/docker/Dockerfile', () => {
    expect(fromCompose(pulse.build!.context)).toBe('.');
    expect(pulse.build!.dockerfile).toBe('deploy/docker/Dockerfile');
    expect(exists(pulse.build!.dockerfile)).toBe(true);
  });

  it('starts with the config file it mounts read-only, deploy/compose/pulse.yaml', () => {
    expect(pulse.command?.slice(0, 2)).toEqual(['start', '--config']);
    expect(configMount, `a volume mounted at ${configPath}`).toBeDefined();
    expect(fromCompose(configMount!.source)).toBe(`${DIR}/pulse.yaml`);
    expect(configMount!.readOnly).toBe(true);
  });

  it('every bind-mounted path exists, every named volume is declared', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of (s.volumes ?? []).map(parseVolume)) {
        if (v.source.startsWith('.')) expect(exists(fromCompose(v.source)), `${name}: ${v.source}`).toBe(true);
        else expect(compose.volumes, `${name}: volume ${v.source}`).toHaveProperty(v.source);
      }
    }
  });

  const journeysMounts = Object.fromEntries(volumes('pulse').filter((v) => v.source.startsWith('.') && isDirectory(fromCompose(v.source))).map((v) => [v.target, fromCompose(v.source)]));
  const loaded = once(() => loadPulseConfig(read(`${DIR}/pulse.yaml`), `${DIR}/pulse.yaml`, pulse.environment ?? {}, journeysMounts));

  it('its config loads with the service\'s environment and reads journeys from the directory mounted for them', () => {
    const { config, journeyDirs } = loaded();
    expect(journeyDirs).toHaveLength(1);
    expect(journeysMounts[journeyDirs[0]!]).toBe('config/journeys');
    expect(new Set(connectorDirectories(config))).toEqual(new Set(journeyDirs));
  });

  it('publishes exactly the ports its config listens on, on the same host ports', () => {
    const { config } = loaded();
    const published = (pulse.ports ?? []).map(parsePortMapping);
    expect(published.every((p) => p.host === p.container)).toBe(true);
    expect(published.map((p) => p.container).sort((a, b) => a - b)).toEqual(publicPorts(config));
  });

  it('keeps service.data_dir on a named volume and stops within the grace period', () => {
    const { config } = loaded();
    const data = mountAt('pulse', config.service.dataDir);
    expect(data, `a volume at ${config.service.dataDir}`).toBeDefined();
    expect(compose.volumes).toHaveProperty(data!.source);
    expect(Number(pulse.stop_grace_period?.replace(/s$/, '')) * 1000).toBeGreaterThan(config.service.shutdownTimeoutMs);
  });

  it('writes to the clickhouse service with the user, password and database ClickHouse is created with', () => {
    const { config } = loaded();
    const ch = service('clickhouse');
    expect(ch.image).toMatch(/^clickhouse\/clickhouse-server:/);
    const env = ch.environment ?? {};
    const exporter = config.exporters.get('clickhouse')!.config as ClickHouseConfig;
    const history = (config.connectors.get('slo')!.config as SloConnectorConfig).clickhouse!;
    for (const c of [exporter, history]) {
      expect(c.endpoint).toBe('http://clickhouse:8123');
      expect(c.username).toBe(env.CLICKHOUSE_USER);
      expect(c.password).toBe(env.CLICKHOUSE_PASSWORD);
      expect(c.database).toBe(env.CLICKHOUSE_DB);
    }
    // One variable, one default, for every service that needs the password.
    const refs = [...raw.matchAll(/CLICKHOUSE_PASSWORD: (\S+)/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    expect(new Set(refs).size).toBe(1);
  });

  it('publishes alerts to a listener the kafka service advertises under its service name', () => {
    const { config } = loaded();
    const kafka = service('kafka');
    expect(kafka.image).toMatch(/^apache\/kafka:3\.9\./);
    const advertised = (kafka.environment?.KAFKA_ADVERTISED_LISTENERS ?? '').split(',').map((l) => l.replace(/^\w+:\/\//, ''));
    const { brokers } = config.exporters.get('kafka')!.config as KafkaExporterConfig;
    expect(brokers.length).toBeGreaterThan(0);
    for (const b of brokers) {
      expect(advertised, `broker ${b}`).toContain(b);
      expect(compose.services).toHaveProperty(b.split(':')[0]!);
    }
    const listeners = kafka.environment?.KAFKA_LISTENERS ?? '';
    for (const b of brokers) expect(listeners).toContain(`://:${b.split(':')[1]}`);
  });

  it('waits for ClickHouse and Kafka to be healthy, which both define a health check for', () => {
    for (const dep of ['clickhouse', 'kafka']) {
      expect(pulse.depends_on?.[dep]?.condition).toBe('service_healthy');
      expect(service(dep).healthcheck?.test.length).toBeGreaterThan(0);
    }
  });
});

describe('compose: grafana', () => {
  interface Datasources {
    datasources: Array<{ uid: string; type: string; jsonData: { host: string; port: number; protocol: string; username: string; defaultDatabase: string }; secureJsonData: { password: string } }>;
  }
  interface Providers {
    providers: Array<{ type: string; options: { path: string } }>;
  }
  const grafana = service('grafana');
  const provisioning = mountAt('grafana', '/etc/grafana/provisioning');

  it('installs the ClickHouse plugin and mounts the provisioning folder', () => {
    expect(grafana.environment?.GF_INSTALL_PLUGINS).toContain('grafana-clickhouse-datasource');
    expect(provisioning && fromCompose(provisioning.source)).toBe('deploy/grafana/provisioning');
  });

  it('the data source reaches the clickhouse service as the same user as Pulse', () => {
    const { datasources } = yamlDoc<Datasources>('deploy/grafana/provisioning/datasources/clickhouse.yaml');
    expect(datasources).toHaveLength(1);
    const ds = datasources[0]!;
    expect(ds.type).toBe('grafana-clickhouse-datasource');
    expect(ds.jsonData.host).toBe('clickhouse');
    expect(compose.services).toHaveProperty(ds.jsonData.host);
    expect(`${ds.jsonData.protocol}:${ds.jsonData.port}`).toBe('http:8123');
    expect(ds.jsonData.username).toBe(service('clickhouse').environment?.CLICKHOUSE_USER);
    expect(ds.jsonData.defaultDatabase).toBe(service('clickhouse').environment?.CLICKHOUSE_DB);
    // Grafana expands $CLICKHOUSE_PASSWORD from its own environment.
    const variable = /^\$\{?(\w+)\}?$/.exec(ds.secureJsonData.password)?.[1];
    expect(variable && grafana.environment?.[variable]).toBe(service('clickhouse').environment?.CLICKHOUSE_PASSWORD);
    const dashboard = JSON.parse(read('deploy/grafana/dashboards/pulse-journeys.json')) as { templating: { list: Array<{ name: string; query: unknown; current: { value?: string } }> } };
    const dsVariable = dashboard.templating.list.find((v) => v.name === 'datasource')!;
    expect(dsVariable.query).toBe(ds.type);
    expect(dsVariable.current.value).toBe(ds.uid);
  });

  it('the dashboard provider reads the folder the dashboards are mounted at; the home dashboard is in it', () => {
    const { providers } = yamlDoc<Providers>('deploy/grafana/provisioning/dashboards/pulse.yaml');
    expect(providers).toHaveLength(1);
    const path = providers[0]!.options.path;
    const mount = mountAt('grafana', path);
    expect(mount && fromCompose(mount.source)).toBe('deploy/grafana/dashboards');
    const home = grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
    expect(posix.dirname(home)).toBe(path);
    expect(exists(`deploy/grafana/dashboards/${posix.basename(home)}`)).toBe(true);
  });
});
