import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type Harness, startHarness } from '../support/harness.js';

/**
 * The observability examples (examples/observability/) only name metrics the server really exports.
 * The real server is started, serves a few operations (one with an error), and its `/metrics` is
 * scraped; every metric name in every PromQL expression of the alert rules and of the Grafana dashboard
 * (panels, rows' panels, variables) must be one of the families it lists. A dashboard or a rule over a
 * misspelled or renamed metric shows nothing and never fires, silently: this is what catches it. The
 * rules and panels are also held to the parts Prometheus and Grafana need, and the checker to reporting
 * a name that is not exported.
 */

const dir = new URL('../../examples/observability/', import.meta.url);
const ALERTS = 'alerts.yml';
const DASHBOARD = 'grafana-dashboard.json';

/** What the server's metrics are named like: its own, and prom-client's default process and Node.js ones. */
const METRIC_NAME = /\b(users_subgraph_\w+|process_\w+|nodejs_\w+)\b/g;

/** One PromQL expression and where it was found, for a failure message that says which panel or rule. */
interface Expression {
  where: string;
  expr: string;
}

interface Rule {
  alert?: unknown;
  expr?: unknown;
  for?: unknown;
  labels?: { severity?: unknown };
  annotations?: { summary?: unknown; description?: unknown };
}

interface Target {
  refId?: string;
  expr?: unknown;
  datasource?: { uid?: string };
}

interface Panel {
  id?: unknown;
  type?: string;
  title?: unknown;
  datasource?: { uid?: string };
  targets?: Target[];
  panels?: Panel[];
}

interface Dashboard {
  schemaVersion?: number;
  __inputs?: Array<{ name?: string; type?: string; pluginId?: string }>;
  templating?: { list?: Array<{ name?: string; type?: string; query?: unknown }> };
  panels?: Panel[];
}

/**
 * The series names a scrape can hold, from its `# TYPE` lines: a family is listed there even before it
 * has a sample (a labelled counter nobody incremented yet), which the sample lines would miss. A histogram
 * `foo` is queried as `foo_bucket`, `foo_sum` and `foo_count`, never as `foo`; a summary as `foo`,
 * `foo_sum`, `foo_count`; a counter as `foo_total` (prom-client's counters carry it in their name already).
 */
function exportedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const match of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = match as unknown as [string, string, string];
    switch (type) {
      case 'histogram':
        for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
        break;
      case 'summary':
        for (const suffix of ['', '_sum', '_count']) names.add(name + suffix);
        break;
      case 'counter':
        names.add(name.endsWith('_total') ? name : `${name}_total`);
        break;
      default:
        names.add(name);
    }
  }
  return names;
}

/** The metric names one expression uses. */
function metricNamesIn(expr: string): string[] {
  return [...expr.matchAll(METRIC_NAME)].map((match) => match[1]!);
}

/** Every name the expressions use that the scrape does not export, with where it was used. */
function unexported(expressions: readonly Expression[], exported: ReadonlySet<string>): Array<{ where: string; name: string }> {
  return expressions.flatMap(({ where, expr }) =>
    metricNamesIn(expr)
      .filter((name) => !exported.has(name))
      .map((name) => ({ where, name })),
  );
}

function rulesOf(file: unknown): Rule[] {
  const groups = (file as { groups?: Array<{ rules?: Rule[] }> }).groups ?? [];
  return groups.flatMap((group) => group.rules ?? []);
}

/** Every panel, those of collapsed rows too (Grafana keeps a collapsed row's panels inside it). */
function panelsOf(dashboard: Dashboard): Panel[] {
  const walk = (panels: readonly Panel[]): Panel[] => panels.flatMap((panel) => [panel, ...walk(panel.panels ?? [])]);
  return walk(dashboard.panels ?? []);
}

const isRow = (panel: Panel) => panel.type === 'row';

function dashboardExpressions(dashboard: Dashboard): Expression[] {
  const fromPanels = panelsOf(dashboard).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ where: `panel "${String(panel.title)}" ${target.refId}`, expr: String(target.expr) })),
  );
  // A query variable's `label_values(metric, label)` names a metric too: a wrong one leaves the picker empty.
  const fromVariables = (dashboard.templating?.list ?? [])
    .filter((variable) => variable.type === 'query')
    .map((variable) => {
      const query = variable.query as string | { query?: string };
      return { where: `variable $${variable.name}`, expr: typeof query === 'string' ? query : String(query.query) };
    });
  return [...fromPanels, ...fromVariables];
}

function ruleExpressions(file: unknown): Expression[] {
  return rulesOf(file).map((rule) => ({ where: `rule ${String(rule.alert)}`, expr: String(rule.expr) }));
}

const alertsFile: unknown = parse(readFileSync(new URL(ALERTS, dir), 'utf8'));
const dashboard = JSON.parse(readFileSync(new URL(DASHBOARD, dir), 'utf8')) as Dashboard;

describe('the metric name checker', () => {
  const scrape = [
    '# HELP users_subgraph_things_total Things.',
    '# TYPE users_subgraph_things_total counter',
    '# TYPE users_subgraph_wait_seconds histogram',
    'users_subgraph_wait_seconds_bucket{le="+Inf"} 0',
    '# TYPE nodejs_heap_size_used_bytes gauge',
  ].join('\n');
  const exported = exportedNames(scrape);

  it('reads families from # TYPE lines, with the series names a histogram is queried by', () => {
    expect([...exported].sort()).toEqual([
      'nodejs_heap_size_used_bytes',
      'users_subgraph_things_total',
      'users_subgraph_wait_seconds_bucket',
      'users_subgraph_wait_seconds_count',
      'users_subgraph_wait_seconds_sum',
    ]);
  });

  it('reports a name that is not exported, and only that one', () => {
    const planted = [
      { where: 'good', expr: 'histogram_quantile(0.99, sum by (le) (rate(users_subgraph_wait_seconds_bucket{job=~"$job"}[5m])))' },
      { where: 'bad', expr: 'sum(rate(users_subgraph_nonexistent_total[5m])) / sum(rate(users_subgraph_things_total[5m]))' },
      // A histogram's bare name is no series: querying it is a mistake too.
      { where: 'bare histogram', expr: 'rate(users_subgraph_wait_seconds[5m])' },
      // The prefixed default metrics of before 0.2.0 are not the standard names.
      { where: 'prefixed default', expr: 'users_subgraph_nodejs_heap_size_used_bytes' },
    ];
    expect(unexported(planted, exported)).toEqual([
      { where: 'bad', name: 'users_subgraph_nonexistent_total' },
      { where: 'bare histogram', name: 'users_subgraph_wait_seconds' },
      { where: 'prefixed default', name: 'users_subgraph_nodejs_heap_size_used_bytes' },
    ]);
  });

  it("finds the expressions of a collapsed row's panels and of query variables", () => {
    const nested: Dashboard = {
      templating: { list: [{ name: 'job', type: 'query', query: { query: 'label_values(users_subgraph_nonexistent_total, job)' } }] },
      panels: [
        { id: 1, type: 'row', title: 'row', panels: [{ id: 2, title: 'inner', targets: [{ refId: 'A', expr: 'process_nonexistent' }] }] },
      ],
    };
    expect(unexported(dashboardExpressions(nested), exported).map(({ name }) => name)).toEqual([
      'process_nonexistent',
      'users_subgraph_nonexistent_total',
    ]);
  });
});

describe('alerts.yml', () => {
  const rules = rulesOf(alertsFile);

  it('has the alerts the runbook describes, each named once', () => {
    const names = rules.map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(
      expect.arrayContaining([
        'UsersSubgraphRateBudgetNearlySpent',
        'UsersSubgraphCircuitOpen',
        'UsersSubgraphRedisLost',
        'UsersSubgraphHighErrorRatio',
        'UsersSubgraphServingDemo',
        'UsersSubgraphUpstreamRateLimited',
      ]),
    );
    // The README has a runbook line for every alert.
    const readme = readFileSync(new URL('README.md', dir), 'utf8');
    for (const name of names) expect(readme, String(name)).toContain(`\`${String(name)}\``);
  });

  it('gives every rule an alert, an expr, a for, a severity and a summary and description', () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      const where = String(rule.alert);
      expect(rule.alert, where).toMatch(/^UsersSubgraph[A-Z]\w+$/);
      expect(typeof rule.expr === 'string' && rule.expr.trim().length > 0, `${where}: expr`).toBe(true);
      expect(rule.for, `${where}: for`).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning'], `${where}: labels.severity`).toContain(rule.labels?.severity);
      expect(typeof rule.annotations?.summary === 'string' && rule.annotations.summary.length > 0, `${where}: summary`).toBe(true);
      expect(typeof rule.annotations?.description === 'string' && rule.annotations.description.length > 0, `${where}: description`).toBe(
        true,
      );
    }
  });
});

describe('grafana-dashboard.json', () => {
  const panels = panelsOf(dashboard);
  // Grafana's own variable syntax, not a template string.
  const DATASOURCE = '$' + '{datasource}';

  it('is importable: a schema version, a DS_PROMETHEUS input and the datasource, job and instance variables', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.__inputs).toContainEqual(
      expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }),
    );
    const variables = dashboard.templating?.list ?? [];
    expect(variables.map((variable) => variable.name)).toEqual(expect.arrayContaining(['datasource', 'job', 'instance']));
    expect(variables.find((variable) => variable.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
  });

  it('gives every panel a unique id', () => {
    const ids = panels.map((panel) => panel.id);
    expect(ids.every((id) => typeof id === 'number')).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('gives every panel a title and a query on the datasource variable, filtered by $job and $instance', () => {
    const graphs = panels.filter((panel) => !isRow(panel));
    expect(graphs.length).toBeGreaterThan(20);
    for (const panel of graphs) {
      const where = `panel ${String(panel.id)} "${String(panel.title)}"`;
      expect(typeof panel.title === 'string' && panel.title.length > 0, `${where}: title`).toBe(true);
      expect(panel.datasource?.uid, `${where}: datasource`).toBe(DATASOURCE);
      expect(panel.targets?.length ?? 0, `${where}: targets`).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        expect(target.datasource?.uid, `${where} ${target.refId}: datasource`).toBe(DATASOURCE);
        expect(typeof target.expr === 'string' && target.expr.length > 0, `${where} ${target.refId}: expr`).toBe(true);
        // Each selector of the expression, not just one of them: a ratio filtered on one side only would mix instances.
        const selectors = String(target.expr).match(/\b(?:users_subgraph|process|nodejs)_\w+(\{[^}]*\})?/g) ?? [];
        for (const selector of selectors) expect(selector, `${where} ${target.refId}`).toContain('job=~"$job", instance=~"$instance"');
      }
    }
  });
});

describe('against a running server', () => {
  let h: Harness;
  let exported: Set<string>;
  let scrape: string;

  beforeAll(async () => {
    h = await startHarness();
    // Traffic first, so that the families the operations create are in the scrape as they would be in production.
    const found = await h.gql('{ xUsers(ids: ["1"]) { id } }');
    expect(found.body.errors).toBeUndefined();
    const partial = await h.gql('{ xUsers(ids: ["1", "99999"]) { id } }');
    expect(partial.body.errors?.map((error) => error.extensions?.code)).toEqual(['NOT_FOUND']);
    const invalid = await h.gql('{ noSuchField }');
    expect(invalid.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const res = await fetch(`${h.url}/metrics`);
    expect(res.status).toBe(200);
    scrape = await res.text();
    exported = exportedNames(scrape);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('exports what the checker reads (a sanity check of the scrape)', () => {
    expect(exported).toContain('users_subgraph_upstream_requests_total');
    expect(exported).toContain('users_subgraph_upstream_request_duration_seconds_bucket');
    // The checker's self-test name must stay unexported, or that test proves nothing.
    expect(exported).not.toContain('users_subgraph_nonexistent_total');
  });

  it("counts errors under the codes the error-ratio rule leaves out as the callers'", () => {
    // The rule excludes codes by their value: a code spelled otherwise than the server writes it would count.
    const rule = rulesOf(alertsFile).find((candidate) => candidate.alert === 'UsersSubgraphHighErrorRatio');
    for (const code of ['NOT_FOUND', 'GRAPHQL_VALIDATION_FAILED']) {
      expect(scrape).toMatch(new RegExp(`^users_subgraph_graphql_errors_total\\{[^}]*code="${code}"[^}]*\\} [1-9]`, 'm'));
      expect(String(rule?.expr)).toContain(code);
    }
  });

  it('exports every metric alerts.yml names', () => {
    expect(unexported(ruleExpressions(alertsFile), exported)).toEqual([]);
  });

  it('exports every metric the dashboard names', () => {
    expect(unexported(dashboardExpressions(dashboard), exported)).toEqual([]);
  });
});
