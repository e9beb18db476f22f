import { describe, expect, it } from 'vitest';
import { expandEnvText, typeLikeYaml } from '../../../src/config/env.js';
import { closest, editDistance } from '../../../src/config/did-you-mean.js';

describe('expandEnvText', () => {
  it('leaves text without references alone', () => {
    expect(expandEnvText('http://a:4318/$x', {})).toEqual({ value: 'http://a:4318/$x', problems: [], whole: false });
  });

  it('expands several references and marks a lone reference as whole', () => {
    expect(expandEnvText('${env:H}:${env:P}', { H: 'h', P: '1' }).value).toBe('h:1');
    expect(expandEnvText('${env:P}', { P: '1' })).toEqual({ value: '1', problems: [], whole: true });
    expect(expandEnvText('${env:P}x', { P: '1' }).whole).toBe(false);
  });

  it('keeps a default that contains colons and slashes', () => {
    expect(expandEnvText('${env:HOP:-http://127.0.0.1:14318}', {}).value).toBe('http://127.0.0.1:14318');
    expect(expandEnvText('${env:HOP:-}', {}).value).toBe('');
  });

  it('reports unterminated references and bad names', () => {
    expect(expandEnvText('a${env:X', {}).problems[0]!.message).toMatch(/unterminated "\$\{"/);
    expect(expandEnvText('${env:1X}', {}).problems[0]!.message).toMatch(/not an environment variable name/);
    expect(expandEnvText('${}', {}).problems[0]!.message).toMatch(/not a valid reference/);
  });
});

describe('typeLikeYaml', () => {
  it('reads numbers and booleans like the YAML 1.2 core schema, and leaves other text alone', () => {
    expect(['4318', '-1', '1.5', '1e3', '0x1F', '0o17', 'true', 'False'].map(typeLikeYaml)).toEqual([4318, -1, 1.5, 1000, 31, 15, true, false]);
    expect(['', 'null', '~', 'yes', '4318/tcp', '1_000', ' 1'].map(typeLikeYaml)).toEqual(['', 'null', '~', 'yes', '4318/tcp', '1_000', ' 1']);
  });
});

describe('did you mean', () => {
  it('counts a transposition as one edit', () => {
    expect(editDistance('recievers', 'receivers')).toBe(1);
    expect(editDistance('otlp', 'otlphttp')).toBe(4);
  });

  it('suggests only plausible typos', () => {
    expect(closest('exporter', ['receivers', 'exporters', 'service'])).toBe('exporters');
    expect(closest('OTLP', ['otlp', 'debug'])).toBe('otlp');
    expect(closest('kafka', ['otlp', 'debug', 'otlphttp'])).toBeUndefined();
  });
});
