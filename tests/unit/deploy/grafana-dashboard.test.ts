/**
 * deploy/grafana/dashboards/pulse-journeys.json: valid JSON for the grafana-clickhouse-datasource plugin, and SQL
 * that only names tables and columns of deploy/clickhouse/schema.sql, reads them with FINAL, and uses only the
 * dashboard's own variables and the plugin's macros. The panels the issue asks for are there, and the latency
 * heatmap's buckets are the bounds Pulse writes (LATENCY_BOUNDS_MS).
 */
import { describe, expect, it } from 'vitest';
import { LATENCY_BOUNDS_MS } from '../../../src/journeys/runtime/sli.js';
import { checkSql, dashboardStatements, expandGrafana, schemaColumns } from './dashboard-sql.js';
import { read } from './deploy-files.js';

interface Target {
  refId: string;
  datasource: { type: string; uid: string };
  editorType?: string;
  queryType?: string;
  format?: number;
  rawSql: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  options?: Record<string, unknown>;
}
interface Variable {
  name: string;
  type: string;
  query: unknown;
  multi?: boolean;
  includeAll?: boolean;
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
  annotations: { list: Array<{ name: string; datasource: { type: string; uid: string }; target?: Target; builtIn?: number }> };
}

const PLUGIN = 'grafana-clickhouse-datasource';
const dashboard = JSON.parse(read('deploy/grafana/dashboards/pulse-journeys.json')) as Dashboard;
const schema = schemaColumns(read('deploy/clickhouse/schema.sql'));
const variables = new Set(dashboard.templating.list.map((v) => v.name));
const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');

const statements = dashboardStatements(dashboard);

describe('Grafana dashboard pulse-journeys.json', () => {
  it('is a dashboard with a stable uid, unique panel ids and panels inside the 24-column grid', () => {
    expect(dashboard.uid).toBe('pulse-journeys');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
  });

  it('has the panels the issue asks for', () => {
    const byType = (type: string) => queryPanels.filter((p) => p.type === type).map((p) => p.title);
    const titles = queryPanels.map((p) => p.title).join('\n');
    expect(titles).toMatch(/Success ratio per journey/);
    expect(titles).toMatch(/Success ratio by \$\{segment_key\}/);
    expect(byType('table').some((t) => /Segments/.test(t)), 'success ratio by segment as a table').toBe(true);
    expect(titles).toMatch(/Error budget left/);
    expect(titles).toMatch(/Burn rate/);
    expect(byType('barchart').some((t) => /Failure reasons/.test(t))).toBe(true);
    expect(byType('heatmap')).toHaveLength(1);
    expect(dashboard.annotations.list.some((a) => a.datasource.type === PLUGIN && /journey_alerts/.test(a.target?.rawSql ?? ''))).toBe(true);
  });

  it('has the journey, segment_key and segment_value variables, chained, on the ClickHouse data source variable', () => {
    const v = (name: string) => dashboard.templating.list.find((x) => x.name === name)!;
    expect(v('datasource').type).toBe('datasource');
    expect(v('datasource').query).toBe(PLUGIN);
    for (const name of ['journey', 'segment_key', 'segment_value']) expect(v(name).type, name).toBe('query');
    expect(String(v('segment_key').query)).toContain('${journey:singlequote}');
    expect(String(v('segment_value').query)).toContain('${segment_key:singlequote}');
    expect(v('journey').includeAll && v('segment_value').includeAll).toBe(true);
  });

  it('every query goes to the ClickHouse data source in SQL mode, with a format matching its query type', () => {
    for (const p of queryPanels) {
      expect(p.datasource, p.title).toEqual({ type: PLUGIN, uid: '${datasource}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        expect(t.datasource, p.title).toEqual({ type: PLUGIN, uid: '${datasource}' });
        expect(t.editorType, p.title).toBe('sql');
        expect({ timeseries: 0, table: 1 }[t.queryType ?? ''], `${p.title}: queryType ${t.queryType}, format ${t.format}`).toBe(t.format);
        if (t.queryType === 'timeseries') expect(t.rawSql, `${p.title}: a time series needs a "time" column`).toMatch(/^SELECT\s+(?:time|\S[\s\S]*?\bAS time)\s*,/);
      }
    }
  });

  it('panel titles use only defined variables', () => {
    for (const p of queryPanels) {
      for (const m of p.title.matchAll(/\$\{?(\w+)/g)) expect(variables, p.title).toContain(m[1]);
    }
  });

  for (const s of statements) {
    it(`${s.where}: SQL names only tables and columns of deploy/clickhouse/schema.sql`, () => {
      const expanded = expandGrafana(s.sql, variables);
      expect(expanded.problems).toEqual([]);
      const result = checkSql(expanded.sql, schema, s.requireFinal);
      expect(result.problems).toEqual([]);
      expect(result.tables.every((t) => t.startsWith('pulse.journey_'))).toBe(true);
    });
  }

  it('the latency heatmap has one column per bucket Pulse writes, in order, plus +Inf', () => {
    const heatmap = queryPanels.find((p) => p.type === 'heatmap')!;
    const sql = heatmap.targets![0]!.rawSql;
    const columns = [...sql.matchAll(/AS `([^`]+)`/g)].map((m) => m[1]);
    expect(columns).toEqual([...LATENCY_BOUNDS_MS.map(String), '+Inf']);
    expect(sql).toContain('sumForEach(latency_counts)');
    expect(heatmap.options?.calculate).toBe(false); // the buckets are given, Grafana must not re-bucket
  });

  it('the objective (not in journey_sli) comes from journey_alerts, else from variables — and the panels say so', () => {
    for (const p of queryPanels.filter((x) => /Error budget|Burn rate over/.test(x.title))) {
      const sql = p.targets![0]!.rawSql;
      expect(sql, p.title).toMatch(/argMax\(objective_target, event_time\)[\s\S]*FROM pulse\.journey_alerts FINAL/);
      expect(sql, p.title).toContain('${objective_target}');
      expect(p.description, p.title).toMatch(/not stored with the SLI rows[\s\S]*dashboard variables/);
    }
  });

  it('the SQL checker itself catches unknown columns, tables, functions, variables and a missing FINAL', () => {
    const check = (sql: string, final = true) => checkSql(expandGrafana(sql, variables).sql, schema, final).problems.join('\n');
    expect(check('SELECT segment_val FROM pulse.journey_sli FINAL')).toMatch(/"segment_val"/);
    expect(check('SELECT journey FROM pulse.journey_slis FINAL')).toMatch(/pulse\.journey_slis is not in/);
    expect(check('SELECT sumForeach(latency_counts) FROM pulse.journey_sli FINAL')).toMatch(/sumForeach/);
    expect(check('SELECT journey FROM pulse.journey_sli')).toMatch(/without FINAL/);
    expect(check('SELECT trace_id FROM pulse.journey_sli FINAL')).toMatch(/"trace_id"/);
    expect(expandGrafana('SELECT 1 WHERE j = ${jorney}', variables).problems).toEqual(['unknown variable ${jorney}']);
    expect(expandGrafana('SELECT 1 WHERE $__timeFiltr(t)', variables).problems).toEqual(['unknown macro $__timeFiltr']);
    expect(check("SELECT sum(n) AS x FROM pulse.journey_sli FINAL ARRAY JOIN failure_reasons AS r, failure_reason_counts AS n WHERE $__timeFilter(window_start)")).toBe('');
  });
});
