/**
 * Every YAML file under deploy/ parses (all documents), every Kubernetes object names its apiVersion, kind and
 * metadata.name, and every folder of manifests has a kustomization.yaml that lists exactly its files. What
 * `kubectl apply -k` would refuse first, checked without a cluster.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT, k8sObjects, yamlDoc, yamlDocs, yamlFilesUnder } from './deploy-files.js';

const K8S_DIRS = ['deploy/k8s', 'deploy/k8s/gateway', 'deploy/k8s/evaluator', 'deploy/k8s/loadbalancer', 'deploy/k8s/sidecar'];
/** Subfolders a kustomization leaves out on purpose: the sidecar example belongs to an application's namespace. */
const APPLIED_SEPARATELY: Record<string, string[]> = { 'deploy/k8s': ['sidecar'] };

interface Kustomization {
  apiVersion: string;
  kind: string;
  namespace?: string;
  resources: string[];
}

describe('YAML under deploy/', () => {
  const files = yamlFilesUnder('deploy');

  it('finds the compose, Grafana and Kubernetes files', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'deploy/compose/compose.yaml',
        'deploy/compose/pulse.yaml',
        'deploy/docker/pulse.yaml',
        'deploy/grafana/provisioning/dashboards/pulse.yaml',
        'deploy/grafana/provisioning/datasources/clickhouse.yaml',
        'deploy/k8s/kustomization.yaml',
        'deploy/k8s/gateway/deployment.yaml',
        'deploy/k8s/evaluator/deployment.yaml',
        'deploy/k8s/loadbalancer/configmap.yaml',
        'deploy/k8s/sidecar/deployment.yaml',
      ]),
    );
  });

  for (const file of files) {
    it(`${file} parses (every document)`, () => {
      const docs = yamlDocs(file);
      expect(docs.length).toBeGreaterThan(0);
      expect(docs.every((d) => d !== null && typeof d === 'object')).toBe(true);
    });
  }

  it('embedded YAML (ConfigMap files ending in .yaml) parses too', () => {
    const embedded = K8S_DIRS.flatMap((dir) => k8sObjects(dir))
      .filter(({ obj }) => obj.kind === 'ConfigMap')
      .flatMap(({ file, obj }) => Object.entries(obj.data ?? {}).map(([key, text]) => ({ where: `${file} ${key}`, key, text })))
      .filter((e) => e.key.endsWith('.yaml'));
    expect(embedded.length).toBeGreaterThanOrEqual(7); // gateway pulse.yaml + 3 journeys, evaluator, sidecar, ingest collector
    for (const e of embedded) {
      const docs = parseAllDocuments(e.text);
      const errors = Array.isArray(docs) ? docs.flatMap((d) => d.errors.map((x) => x.message)) : ['empty'];
      expect(errors, e.where).toEqual([]);
    }
  });
});

describe('Kubernetes manifests', () => {
  for (const dir of K8S_DIRS) {
    const objects = k8sObjects(dir);

    it(`${dir}: every object has apiVersion, kind and metadata.name`, () => {
      for (const { file, obj } of objects) {
        expect(typeof obj.apiVersion, file).toBe('string');
        expect(obj.apiVersion, file).toMatch(/^([a-z0-9.-]+\/)?v\d+(beta\d+|alpha\d+)?$/);
        expect(typeof obj.kind, file).toBe('string');
        expect(obj.metadata?.name, file).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      }
    });

    it(`${dir}: kustomization.yaml lists exactly the folder's manifests and subfolders`, () => {
      const k = yamlDoc<Kustomization>(`${dir}/kustomization.yaml`);
      expect(k.apiVersion).toBe('kustomize.config.k8s.io/v1beta1');
      expect(k.kind).toBe('Kustomization');
      const entries = readdirSync(join(ROOT, dir)).filter((n) => n !== 'kustomization.yaml' && !(APPLIED_SEPARATELY[dir] ?? []).includes(n));
      const expected = entries.filter((n) => /\.ya?ml$/.test(n) || (statSync(join(ROOT, dir, n)).isDirectory() && existsSync(join(ROOT, dir, n, 'kustomization.yaml'))));
      expect([...k.resources].sort()).toEqual(expected.sort());
    });
  }

  it('objects of one name and kind are defined once across the gateway shape', () => {
    const all = ['deploy/k8s', 'deploy/k8s/gateway', 'deploy/k8s/evaluator', 'deploy/k8s/loadbalancer'].flatMap((d) => k8sObjects(d)).map(({ obj }) => `${obj.kind}/${obj.metadata.name}`);
    expect(new Set(all).size).toBe(all.length);
  });

  it('the gateway shape is one namespace; the sidecar example is the application\'s', () => {
    for (const dir of ['deploy/k8s', 'deploy/k8s/gateway', 'deploy/k8s/evaluator', 'deploy/k8s/loadbalancer']) {
      expect(yamlDoc<Kustomization>(`${dir}/kustomization.yaml`).namespace, dir).toBe('observability');
    }
    expect(yamlDoc<Kustomization>('deploy/k8s/sidecar/kustomization.yaml').namespace).toBe('shop');
    const ns = k8sObjects('deploy/k8s').find(({ obj }) => obj.kind === 'Namespace');
    expect(ns?.obj.metadata.name).toBe('observability');
  });
});
