/**
 * A static check of the ClickHouse SQL in the Grafana dashboard, without a server: Grafana variables and the
 * ClickHouse plugin's macros are expanded the way the plugin does, then every table must be one of
 * deploy/clickhouse/schema.sql and every other identifier a column of the tables the query reads, an alias the
 * query defines, a lambda parameter, an SQL keyword, or a function from a known list. A renamed column or a typo
 * (`segment_val`, `sumForeach`) fails here instead of in an empty panel.
 *
 * This is deliberately not an SQL parser: it tokenises, and it is strict about names only. Whether ClickHouse
 * accepts the statements is checked by running them on ClickHouse 18.16 and 26.9's engine
 * (tests/integration/grafana-dashboard-sql.test.ts); this keeps them from drifting from the schema.
 */

/** Macros of the grafana-clickhouse-datasource plugin (pkg/macros) and `$__conditionalAll` (frontend). */
export const PLUGIN_MACROS = ['timeFilter', 'timeFilter_ms', 'timeInterval', 'timeInterval_ms', 'fromTime', 'toTime', 'fromTime_ms', 'toTime_ms', 'interval_s', 'dateFilter', 'dateTimeFilter', 'dt', 'conditionalAll'];

const FROM = 'toDateTime(1700000000)';
const TO = 'toDateTime(1700003600)';

/**
 * Expands Grafana variables (`$name`, `${name}`, `${name:format}`) with sample values and the plugin's macros with
 * what the plugin generates for them. Returns the SQL and the problems: unknown variables or macros.
 */
export function expandGrafana(sql: string, variables: ReadonlySet<string>): { sql: string; problems: string[] } {
  const problems: string[] = [];
  let out = sql.replace(/\$__(\w+)(\(([^()]*)\))?/g, (whole, name: string, _call: string | undefined, arg: string | undefined) => {
    if (!PLUGIN_MACROS.includes(name)) {
      problems.push(`unknown macro $__${name}`);
      return whole;
    }
    switch (name) {
      case 'timeFilter':
        return `${arg} >= ${FROM} AND ${arg} <= ${TO}`;
      case 'timeInterval':
        return `toStartOfInterval(toDateTime(${arg}), INTERVAL 60 second)`;
      case 'fromTime':
        return FROM;
      case 'toTime':
        return TO;
      case 'interval_s':
        return '60';
      default:
        problems.push(`macro $__${name} is known to the plugin but not to this check: add its expansion`);
        return whole;
    }
  });
  out = out.replace(/\$\{(\w+)(?::(\w+))?\}|\$(?!__)(\w+)/g, (whole, braced: string | undefined, format: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    if (!variables.has(name)) {
      problems.push(`unknown variable ${whole}`);
      return whole;
    }
    return format === 'singlequote' ? `'sample'` : '1';
  });
  if (problems.length === 0 && out.includes('$')) problems.push(`"$" left after expansion: ${out.slice(out.indexOf('$'), out.indexOf('$') + 30)}`);
  return { sql: out, problems };
}

/** Table → column names, from the CREATE TABLE statements of deploy/clickhouse/schema.sql. */
export function schemaColumns(schemaSql: string): Map<string, Set<string>> {
  const tables = new Map<string, Set<string>>();
  for (const m of schemaSql.matchAll(/CREATE TABLE IF NOT EXISTS `(\w+)`\.`(\w+)`\s*\(([\s\S]*?)\n\)/g)) {
    const columns = new Set<string>();
    for (const line of m[3]!.split('\n')) {
      const col = /^\s+(\w+)\s+[A-Z]/.exec(line);
      if (col && col[1] !== 'INDEX') columns.add(col[1]!);
    }
    tables.set(`${m[1]}.${m[2]}`, columns);
  }
  return tables;
}

const KEYWORDS = new Set(
  [
    'select', 'distinct', 'from', 'final', 'where', 'and', 'or', 'not', 'in', 'is', 'null', 'as', 'group', 'by', 'order', 'asc', 'desc',
    'limit', 'having', 'array', 'join', 'any', 'all', 'left', 'inner', 'using', 'on', 'interval', 'second', 'minute', 'hour', 'day',
    'week', 'month', 'with', 'case', 'when', 'then', 'else', 'end', 'inf', 'nan',
  ],
);

/** ClickHouse functions the dashboard may use (extend when a query needs another one). */
const FUNCTIONS = new Set([
  'any', 'argMax', 'arrayConcat', 'arrayCumSum', 'arrayFirstIndex', 'arrayJoin', 'arrayMap', 'arrayStringConcat', 'concat', 'count', 'greatest',
  'if', 'ifNull', 'intDiv', 'length', 'now', 'range', 'round', 'sum', 'sumForEach', 'toDateTime', 'toStartOfInterval', 'toUInt32',
  'tupleElement', 'upper',
]);

export interface SqlCheck {
  /** The pulse.* tables the query reads. */
  readonly tables: string[];
  readonly problems: string[];
}

/** Checks one expanded statement against the schema; `requireFinal`: every table read must be read with FINAL. */
export function checkSql(sql: string, schema: ReadonlyMap<string, ReadonlySet<string>>, requireFinal: boolean): SqlCheck {
  const problems: string[] = [];
  const aliases = new Set<string>();
  // Strings and quoted identifiers out of the way (a quoted identifier is only ever an alias here: AS `1`).
  const text = sql
    .replace(/--[^\n]*/g, ' ')
    .replace(/'(?:[^'\\]|\\.)*'/g, "''")
    .replace(/`([^`]*)`/g, (_, name: string) => {
      aliases.add(name);
      return ' q ';
    });
  const tables: string[] = [];
  for (const m of text.matchAll(/\b(\w+)\.(\w+)\b(\s+FINAL\b)?/g)) {
    const name = `${m[1]}.${m[2]}`;
    if (/^\d+$/.test(m[1]!)) continue; // a decimal number
    if (!schema.has(name)) problems.push(`table ${name} is not in deploy/clickhouse/schema.sql`);
    else if (requireFinal && !m[3]) problems.push(`${name} is read without FINAL (re-sent rows would count twice)`);
    tables.push(name);
  }
  // Tables come after FROM and JOIN (ARRAY JOIN takes array columns, not tables).
  for (const m of text.matchAll(/\b(?:FROM|(?<!ARRAY\s+)JOIN)\s+(?!\()([^\s()]+)/gi)) {
    if (!/^\w+\.\w+$/.test(m[1]!)) problems.push(`reads "${m[1]}", not a database.table of the schema`);
  }
  if (tables.length === 0) problems.push('reads no table');
  const columns = new Set(tables.flatMap((t) => [...(schema.get(t) ?? [])]));
  const tokens = [...text.matchAll(/[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|->|[^\s\w]/g)].map((m) => m[0]);
  // First pass: names the query defines (AS x, lambda parameters).
  tokens.forEach((t, i) => {
    if (/^as$/i.test(t) && tokens[i + 1] !== undefined && /^[A-Za-z_]\w*$/.test(tokens[i + 1]!)) aliases.add(tokens[i + 1]!);
    if (t === '->') {
      if (tokens[i - 1] === ')') {
        for (let j = i - 2; j >= 0 && tokens[j] !== '('; j--) if (/^[A-Za-z_]\w*$/.test(tokens[j]!)) aliases.add(tokens[j]!);
      } else if (tokens[i - 1] !== undefined) {
        aliases.add(tokens[i - 1]!);
      }
    }
  });
  tokens.forEach((t, i) => {
    if (!/^[A-Za-z_]\w*$/.test(t)) return;
    const prev = tokens[i - 1];
    const next = tokens[i + 1];
    if (prev === '.' || next === '.') return; // database.table (checked above) or tuple.1
    if (next === '(' && !KEYWORDS.has(t.toLowerCase())) {
      if (!FUNCTIONS.has(t)) problems.push(`function ${t}() is not in the list of functions the dashboard uses`);
      return;
    }
    if (KEYWORDS.has(t.toLowerCase()) || aliases.has(t) || columns.has(t) || t === 'q') return;
    problems.push(`"${t}" is neither a column of ${tables.join(', ')} nor an alias of the query`);
  });
  return { tables: [...new Set(tables)], problems: [...new Set(problems)] };
}

/** The parts of a Grafana dashboard that hold SQL. */
export interface DashboardWithSql {
  panels: Array<{ type: string; title: string; targets?: Array<{ rawSql: string }> }>;
  annotations: { list: Array<{ name: string; target?: { rawSql: string } }> };
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
}

export interface DashboardStatement {
  where: string;
  sql: string;
  /** Variable queries list distinct values: duplicates do not change them, so FINAL is not required there. */
  requireFinal: boolean;
}

/** Every SQL statement of the dashboard: panels, annotations, variables. */
export function dashboardStatements(d: DashboardWithSql): DashboardStatement[] {
  return [
    ...d.panels.filter((p) => p.type !== 'row').flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, sql: t.rawSql, requireFinal: true }))),
    ...d.annotations.list.filter((a) => a.target).map((a) => ({ where: `annotation "${a.name}"`, sql: a.target!.rawSql, requireFinal: true })),
    ...d.templating.list.filter((v) => v.type === 'query').map((v) => ({ where: `variable ${v.name}`, sql: String(v.query), requireFinal: false })),
  ];
}
