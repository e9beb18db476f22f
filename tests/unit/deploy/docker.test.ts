/**
 * deploy/docker/Dockerfile, read statically (there is no Docker engine to build it with here): multi-stage on
 * node:20-bookworm-slim, production dependencies only in the runtime stage, non-root, a HEALTHCHECK against the
 * health port of the config it starts with, EXPOSE = the ports that config listens on, a VOLUME at its data_dir,
 * and every file it COPYs present in the repository and not excluded by .dockerignore. Also: one image name,
 * tagged with package.json's version, wherever an image is named.
 */
import { describe, expect, it } from 'vitest';
import {
  IMAGE,
  VERSION,
  dockerIgnored,
  dockerInstructions,
  execForm,
  exists,
  filesUnder,
  healthPort,
  isDirectory,
  loadPulseConfig,
  once,
  publicPorts,
  read,
  yamlDoc,
  yamlFilesUnder,
  type ComposeFile,
  type Instruction,
} from './deploy-files.js';

const DOCKERFILE = 'deploy/docker/Dockerfile';
const instructions = dockerInstructions(read(DOCKERFILE));
const runtimeStage = Math.max(...instructions.map((i) => i.stage));
const inRuntime = (op: string): Instruction[] => instructions.filter((i) => i.op === op && i.stage === runtimeStage);
const one = (op: string): Instruction => {
  const found = inRuntime(op);
  expect(found, `one ${op} in the runtime stage`).toHaveLength(1);
  return found[0]!;
};

/** ARG defaults declared before the first FROM, substituted into FROM lines. */
function baseImages(): string[] {
  const args = new Map<string, string>();
  for (const i of instructions.filter((x) => x.op === 'ARG' && x.stage === -1)) {
    const [name, value] = i.args.split('=');
    if (name && value) args.set(name, value);
  }
  return instructions.filter((i) => i.op === 'FROM').map((i) => i.args.split(/\s+/)[0]!.replace(/\$\{(\w+)\}/g, (_, n: string) => args.get(n) ?? ''));
}

/** COPY instructions (without --from) of the runtime stage and their sources in the build context. */
function contextCopies(): Array<{ sources: string[]; target: string }> {
  return instructions
    .filter((i) => i.op === 'COPY' && !i.args.includes('--from='))
    .map((i) => {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      return { sources: words.slice(0, -1), target: words[words.length - 1]! };
    });
}

const workdir = one('WORKDIR').args;
const entrypoint = execForm(one('ENTRYPOINT').args);
const cmd = execForm(one('CMD').args);
const configPath = cmd[cmd.indexOf('--config') + 1]!;
/** The image's own config: the file COPY puts at the path CMD starts Pulse with. */
const imageConfigFile = contextCopies().find((c) => c.target === configPath)?.sources[0];

describe('deploy/docker/Dockerfile', () => {
  it('is multi-stage on node:20-bookworm-slim: build with dev dependencies, runtime with production ones only', () => {
    expect(baseImages().length).toBeGreaterThanOrEqual(2);
    expect(new Set(baseImages())).toEqual(new Set(['node:20-bookworm-slim']));
    const runs = instructions.filter((i) => i.op === 'RUN');
    expect(runs.some((r) => r.stage < runtimeStage && /npm ci\b(?!.*--omit=dev)/.test(r.args)), 'a build stage installs dev dependencies').toBe(true);
    expect(runs.some((r) => r.stage < runtimeStage && /npm run build/.test(r.args)), 'a build stage compiles').toBe(true);
    expect(runs.filter((r) => r.stage === runtimeStage).some((r) => /\bnpm\b/.test(r.args)), 'no npm in the runtime stage').toBe(false);
    const fromStages = inRuntime('COPY').filter((c) => c.args.includes('--from='));
    const depsStage = /--from=(\w+)\s+\S*node_modules/.exec(fromStages.map((c) => c.args).join('\n'))?.[1];
    expect(depsStage, 'node_modules comes from another stage').toBeDefined();
    const depsIndex = instructions.find((i) => i.op === 'FROM' && new RegExp(`\\bAS ${depsStage}$`, 'i').test(i.args))!.stage;
    expect(runs.filter((r) => r.stage === depsIndex).map((r) => r.args).join('\n')).toMatch(/npm ci .*--omit=dev/);
    expect(fromStages.some((c) => /\/dist\s/.test(c.args)), 'dist/ comes from the build stage').toBe(true);
  });

  it('runs as a non-root user', () => {
    const user = one('USER').args.split(':')[0]!;
    expect(user).toMatch(/^\d+$/); // numeric, so Kubernetes can verify runAsNonRoot
    expect(Number(user)).toBeGreaterThan(0);
  });

  it('starts `pulse start --config` with a config the image contains, through bin/pulse in WORKDIR', () => {
    expect(entrypoint).toEqual(['node', `${workdir}/bin/pulse`]);
    expect(contextCopies().some((c) => c.sources.includes('bin/pulse') && `${workdir}/${c.target.replace(/^\.\//, '')}` === `${workdir}/bin/pulse`)).toBe(true);
    expect(cmd.slice(0, 2)).toEqual(['start', '--config']);
    expect(imageConfigFile).toBe('deploy/docker/pulse.yaml');
    // bin/pulse imports ../dist/cli.js; cli.js reads ../package.json (the version).
    expect(contextCopies().some((c) => c.sources.includes('package.json') && c.target === './')).toBe(true);
  });

  const imageConfig = once(() => loadPulseConfig(read('deploy/docker/pulse.yaml'), 'deploy/docker/pulse.yaml', {}, { '/etc/pulse/journeys': 'config/journeys' }).config);

  it('its default config loads, with the journeys the image copies to the directory it names', () => {
    const journeys = contextCopies().find((c) => c.sources.includes('config/journeys'));
    expect(journeys?.target).toBe('/etc/pulse/journeys');
    expect([...imageConfig().connectors.values()].map((c) => (c.config as { directory: string }).directory)).toEqual([journeys!.target]);
  });

  it('EXPOSEs exactly the ports its config listens on', () => {
    const exposed = inRuntime('EXPOSE')
      .flatMap((e) => e.args.split(/\s+/))
      .map((p) => Number(p.split('/')[0]))
      .sort((a, b) => a - b);
    expect(exposed).toEqual(publicPorts(imageConfig()));
  });

  it('HEALTHCHECK asks /healthz on the health port, with node (no curl in the slim image)', () => {
    const hc = one('HEALTHCHECK').args;
    const command = execForm(hc.slice(hc.indexOf('CMD') + 3).trim());
    expect(command[0]).toBe('node');
    expect(command.join(' ')).toContain(`127.0.0.1:${healthPort(imageConfig())}/healthz`);
    expect(command.join(' ')).toMatch(/process\.exit\(1\)/); // an error or a timeout fails the check
  });

  it('declares service.data_dir as a VOLUME owned by the runtime user', () => {
    const volumes = execForm(one('VOLUME').args);
    expect(volumes).toEqual([imageConfig().service.dataDir]);
    const user = one('USER').args;
    expect(inRuntime('RUN').some((r) => r.args.includes(`chown ${user} ${imageConfig().service.dataDir}`))).toBe(true);
  });

  it('labels the image with package.json\'s version', () => {
    expect(one('LABEL').args).toContain(`org.opencontainers.image.version="${VERSION}"`);
  });
});

describe('.dockerignore', () => {
  const patterns = read('.dockerignore').split('\n');

  it('keeps everything the Dockerfile COPYs from the build context', () => {
    for (const { sources } of contextCopies()) {
      for (const source of sources) {
        expect(exists(source), `${source} exists`).toBe(true);
        const files = isDirectory(source) ? filesUnder(source) : [source];
        for (const f of files) expect(dockerIgnored(patterns, f), `${f} is excluded by .dockerignore`).toBe(false);
      }
    }
  });

  it('leaves out what the image must not carry or the build does not need', () => {
    for (const path of ['node_modules/yaml/package.json', 'dist/cli.js', '.git/HEAD', '.pulse/data/x', 'tests/unit/deploy/docker.test.ts', 'deploy/k8s/gateway/deployment.yaml']) {
      expect(dockerIgnored(patterns, path), path).toBe(true);
    }
  });

  it('matches like Docker (sanity of the matcher the test above relies on)', () => {
    expect(dockerIgnored(['deploy', '!deploy/docker/pulse.yaml'], 'deploy/docker/pulse.yaml')).toBe(false);
    expect(dockerIgnored(['deploy', '!deploy/docker/pulse.yaml'], 'deploy/docker/Dockerfile')).toBe(true);
    expect(dockerIgnored(['**/node_modules'], 'a/b/node_modules/c')).toBe(true);
    expect(dockerIgnored(['*.log'], 'src/x.log')).toBe(false);
    expect(dockerIgnored(['*.log'], 'x.log')).toBe(true);
  });
});

describe('image name', () => {
  it(`is ${IMAGE} wherever the pulse image is named`, () => {
    const named: string[] = [];
    for (const file of yamlFilesUnder('deploy')) {
      for (const m of read(file).matchAll(/\bimage:\s*(\S*pulse\S*)/g)) named.push(`${file}: ${m[1]}`);
    }
    for (const m of read(DOCKERFILE).matchAll(/-t\s+(\S+)/g)) named.push(`${DOCKERFILE}: ${m[1]}`);
    expect(named.length).toBeGreaterThanOrEqual(4); // Dockerfile usage, compose, gateway, sidecar
    for (const n of named) expect(n.slice(n.indexOf(': ') + 2), n).toBe(IMAGE);
    expect(yamlDoc<ComposeFile>('deploy/compose/compose.yaml').services.pulse?.image).toBe(IMAGE);
  });
});
