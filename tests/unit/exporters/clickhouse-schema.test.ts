import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  TABLE_SIGNALS,
  addColumnSql,
  compareColumns,
  createTableSql,
  expectedColumns,
  featuresOf,
  normalizeType,
  renderSchemaFile,
} from '../../../src/exporters/clickhouse/schema.js';

const OLD = featuresOf('18.16.1');
const MODERN = featuresOf('24.8.4.13');
const SCHEMA_SQL = fileURLToPath(new URL('../../../deploy/clickhouse/schema.sql', import.meta.url));

describe('server features', () => {
  it('reads what a version supports from SELECT version()', () => {
    expect(OLD).toMatchObject({ lowCardinality: false, codecs: false, ttl: false, dateTime64: false, skipIndexes: false });
    expect(featuresOf('19.6.2.11')).toMatchObject({ lowCardinality: true, codecs: true, ttl: true, dateTime64: false });
    expect(featuresOf('20.1.2.4')).toMatchObject({ dateTime64: true, skipIndexes: true });
    expect(MODERN).toMatchObject({ lowCardinality: true, codecs: true, ttl: true, dateTime64: true, skipIndexes: true });
    // Something unparsable is taken for a current server rather than refused.
    expect(featuresOf('weird').ttl).toBe(true);
  });
});

describe('DDL', () => {
  it('on 18.16 uses only what it supports: no LowCardinality, CODEC, DateTime64, INDEX or TTL', () => {
    for (const s of TABLE_SIGNALS) {
      const sql = createTableSql(s, 'pulse', `t_${s}`, OLD, 30);
      expect(sql).not.toMatch(/LowCardinality|CODEC|DateTime64|INDEX|TTL/);
      expect(sql).toMatch(/ENGINE = ReplacingMergeTree\(\)/);
      // Duplicates collapse only if they share the whole sorting key: it must end with row_id.
      expect(sql).toMatch(/ORDER BY \([^)]*row_id\)$/m);
    }
  });

  it('on current servers uses LowCardinality, codecs, DateTime64, a trace_id index and the TTL', () => {
    const sql = createTableSql('attempts', 'pulse', 'journey_attempts', MODERN, 30);
    expect(sql).toContain('journey LowCardinality(String)');
    expect(sql).toContain("start_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))");
    expect(sql).toContain('INDEX trace_id_idx trace_id TYPE bloom_filter');
    expect(sql).toMatch(/TTL toDateTime\(start_time\) \+ INTERVAL 30 DAY$/);
    expect(createTableSql('journey_metrics', 'pulse', 'journey_sli', MODERN, 0)).not.toContain('TTL');
  });

  it('every table has the same columns on old and new servers, only their types differ', () => {
    for (const s of TABLE_SIGNALS) {
      expect(expectedColumns(s, OLD).map((c) => c.name)).toEqual(expectedColumns(s, MODERN).map((c) => c.name));
    }
  });

  it('deploy/clickhouse/schema.sql is what schema.ts generates for a current server', () => {
    const generated = renderSchemaFile();
    // PULSE_WRITE_SCHEMA_SQL=1 regenerates the file after a schema change.
    if (process.env.PULSE_WRITE_SCHEMA_SQL === '1') writeFileSync(SCHEMA_SQL, generated);
    const committed = readFileSync(SCHEMA_SQL, 'utf8');
    expect(committed, 'deploy/clickhouse/schema.sql is stale: run PULSE_WRITE_SCHEMA_SQL=1 npx vitest run tests/unit/exporters/clickhouse-schema.test.ts').toBe(
      generated,
    );
  });
});

describe('schema drift', () => {
  const live = (signal: (typeof TABLE_SIGNALS)[number], f = OLD): Map<string, string> =>
    new Map(expectedColumns(signal, f).map((c) => [c.name, c.type]));

  it('accepts a table created on an old server after the server is upgraded', () => {
    const drift = compareColumns(expectedColumns('attempts', MODERN), live('attempts', OLD));
    expect(drift).toEqual({ missing: [], mismatched: [] });
  });

  it('reports missing columns with the ALTER TABLE to run, and incompatible types', () => {
    const table = live('attempts');
    table.delete('span_durations_ms');
    table.set('duration_ms', 'String');
    table.set('extra_column_of_the_user', 'UInt8');
    const drift = compareColumns(expectedColumns('attempts', OLD), table);
    expect(drift.missing.map((c) => c.name)).toEqual(['span_durations_ms']);
    expect(addColumnSql('pulse', 'journey_attempts', drift.missing[0]!)).toBe(
      'ALTER TABLE `pulse`.`journey_attempts` ADD COLUMN span_durations_ms Array(Float64)',
    );
    expect(drift.mismatched.map((m) => [m.column.name, m.actualType])).toEqual([['duration_ms', 'String']]);
  });

  it('normalises the type spellings system.columns shows', () => {
    expect(normalizeType("DateTime64(3, 'UTC')")).toBe('DateTime');
    expect(normalizeType("DateTime('UTC')")).toBe('DateTime');
    expect(normalizeType('Array(LowCardinality(String))')).toBe('Array(String)');
    expect(normalizeType('LowCardinality(Nullable(String))')).toBe('Nullable(String)');
    expect(normalizeType("Enum8('success' = 1, 'failure' = 2)")).toBe(normalizeType("Enum8('success'=1,'failure'=2)"));
    expect(normalizeType('UInt64')).not.toBe(normalizeType('UInt32'));
  });
});

describe('README', () => {
  it('documents every column of every table', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../../src/exporters/clickhouse/README.md', import.meta.url)), 'utf8');
    const schema = readme.split('## Schema')[1]!.split('\n## ')[0]!;
    const tableSection: Record<(typeof TABLE_SIGNALS)[number], string> = {
      attempts: schema.split('### `journey_attempts`')[1]!.split('###')[0]!,
      journey_metrics: schema.split('### `journey_sli`')[1]!.split('###')[0]!,
      alerts: schema.split('### `journey_alerts`')[1]!,
    };
    for (const s of TABLE_SIGNALS) {
      const missing = expectedColumns(s, MODERN).filter((c) => !tableSection[s].includes(`\`${c.name}\``));
      expect(missing.map((c) => c.name), `${s} columns missing from the README`).toEqual([]);
    }
  });
});
