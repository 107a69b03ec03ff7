import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parser } from '@prometheus-io/lezer-promql';
import { parse } from 'yaml';
import { z } from 'zod';
import type { Database } from '../src/db/create-database.ts';
import { createPrometheus } from '../src/http/prometheus.ts';
import { createTestDatabase, installed } from './helpers.ts';

const ops = (path: string) => new URL(`../ops/${path}`, import.meta.url);
const read = (path: string) => readFileSync(ops(path), 'utf8');

/** Labels Prometheus adds to every scraped series, and the histogram bucket label. */
const TARGET_LABELS = ['instance', 'job'];

/** Every series name our processes export (a histogram's _bucket, _count and _sum), with its labels. */
async function exportedSeries(db: Database): Promise<Map<string, Set<string>>> {
  const series = new Map<string, Set<string>>([['up', new Set(TARGET_LABELS)]]);
  for (const metric of createPrometheus(db).registry.getMetricsAsArray()) {
    const m = metric as unknown as { name: string; labelNames?: string[]; constructor: { name: string } };
    const labels = new Set([...(m.labelNames ?? []), ...TARGET_LABELS]);
    if (m.constructor.name === 'Histogram') {
      series.set(`${m.name}_bucket`, new Set([...labels, 'le']));
      series.set(`${m.name}_count`, labels);
      series.set(`${m.name}_sum`, labels);
    } else series.set(m.name, labels);
  }
  return series;
}

/**
 * Parses a PromQL expression with Prometheus' own grammar (@prometheus-io/lezer-promql) and
 * checks it against what the code exports: no syntax error, every metric exported, every
 * label it names (matchers, by/without/on/ignoring) carried by one of its metrics.
 * Returns the labels its metrics carry, for the annotation and legend templates.
 */
function checkExpr(expr: string, series: Map<string, Set<string>>, where: string): Set<string> {
  const problems: string[] = [];
  const names: string[] = [];
  const labelNames: string[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      const text = expr.slice(node.from, node.to);
      if (node.type.isError) problems.push(`syntax error at ${node.from}: ${JSON.stringify(expr.slice(node.from, node.from + 20))}`);
      else if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') names.push(text);
      else if (node.name === 'LabelName') labelNames.push(text);
    },
  });
  const carried = new Set<string>();
  for (const name of names) {
    const labels = series.get(name);
    if (!labels) problems.push(`no process exports ${name}`);
    else for (const l of labels) carried.add(l);
  }
  for (const label of labelNames) if (!carried.has(label)) problems.push(`no metric of the expression has the label ${label}`);
  if (names.length === 0) problems.push('no metric in the expression');
  assert.deepEqual(problems, [], `${where}: ${expr}`);
  return carried;
}

const duration = z.string().regex(/^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$/, 'a Prometheus duration such as 5m');
/** A Prometheus rule file (https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/), strictly. */
const alertingRule = z.strictObject({
  alert: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
  expr: z.string().min(1),
  for: duration.optional(),
  keep_firing_for: duration.optional(),
  labels: z.strictObject({ severity: z.enum(['warning', 'critical']) }).catchall(z.string()),
  annotations: z.strictObject({ summary: z.string().min(1), description: z.string().min(1) }),
});
const ruleFile = z.strictObject({
  groups: z.array(z.strictObject({ name: z.string().min(1), interval: duration.optional(), rules: z.array(alertingRule).min(1) })).min(1),
});

describe('dashboards and alerts as code (ops/)', () => {
  let db: Database;
  let series: Map<string, Set<string>>;
  before(async () => {
    db = await createTestDatabase();
    series = await exportedSeries(db);
  });
  after(() => db.close());

  test('the alert rules are a valid rule file of valid PromQL over metrics the code exports, and cover what on-call needs', () => {
    const file = ruleFile.parse(parse(read('prometheus/alerts.yml')));
    const rules = file.groups.flatMap((g) => g.rules);
    const names = rules.map((r) => r.alert);
    assert.equal(new Set(names).size, names.length, 'alert names are unique');
    assert.equal(new Set(file.groups.map((g) => g.name)).size, file.groups.length, 'group names are unique');
    for (const rule of rules) {
      const labels = checkExpr(rule.expr, series, rule.alert);
      // A template may only name labels the alert's series can carry.
      for (const text of Object.values(rule.annotations))
        for (const [, label] of text.matchAll(/\$labels\.([A-Za-z_]\w*)/g))
          assert.ok(labels.has(label as string), `${rule.alert}: $labels.${label}`);
    }
    // What the issue asks for: stale feed, risk TRIGGERED, coverage AMBER and RED, reserves
    // deficit, watcher lease lost, settlement slower than its objective.
    const exprOf = (alert: string) => rules.find((r) => r.alert === alert)?.expr ?? '';
    assert.match(exprOf('CoverFeedStale'), /cover_feed_staleness_seconds/);
    assert.match(exprOf('CoverRiskTriggered'), /cover_risks\{state="TRIGGERED"\}/);
    assert.match(exprOf('CoverCoverageAmber'), /status="AMBER"/);
    assert.match(exprOf('CoverCoverageRed'), /status="RED"/);
    assert.match(exprOf('CoverReservesDeficit'), /cover_treasury_reserves\{figure="surplus"\}/);
    assert.match(exprOf('CoverWatcherLeaseLost'), /cover_watcher_lease_held/);
    assert.match(exprOf('CoverSettlementSlow'), /cover_confirmation_to_paid_seconds_bucket\{le="1"\}/);
    assert.match(exprOf('CoverSettlementStuck'), /cover_incident_settling_oldest_seconds/);
    assert.match(exprOf('CoverPayoutsNotCredited'), /cover_claims_uncredited_oldest_seconds/);
    // The checker has teeth: a misspelt metric, an unknown label and a syntax error are refused.
    assert.throws(() => checkExpr('cover_risk{state="TRIGGERED"} > 0', series, 'typo'), /no process exports cover_risk/);
    assert.throws(() => checkExpr('sum by (pool) (cover_risks) > 0', series, 'label'), /label pool/);
    assert.throws(() => checkExpr('rate(cover_payouts_total[5m]', series, 'syntax'), /syntax error/);
    assert.throws(() => ruleFile.parse({ groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'up', fore: '5m' }] }] }));
  });

  test('the Grafana dashboard: panels on the provisioned data source, valid PromQL over exported metrics, a grid that fits', () => {
    const dashboard = JSON.parse(read('grafana/dashboards/cover.json')) as {
      uid: string;
      title: string;
      panels: Array<{
        id: number;
        type: string;
        title: string;
        gridPos: { h: number; w: number; x: number; y: number };
        datasource?: { type: string; uid: string };
        targets?: Array<{ refId: string; expr: string; legendFormat?: string; datasource?: { uid: string } }>;
      }>;
    };
    const source = parse(read('grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: Array<{ uid: string; type: string; url: string }>;
    };
    const [prometheus] = source.datasources;
    assert.equal(prometheus?.type, 'prometheus');
    assert.ok(dashboard.uid && dashboard.title);
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const graphs = dashboard.panels.filter((p) => p.type !== 'row');
    assert.ok(graphs.length >= 15, `${graphs.length} panels`);
    for (const panel of graphs) {
      assert.ok(panel.gridPos.x + panel.gridPos.w <= 24 && panel.gridPos.w > 0 && panel.gridPos.h > 0, `${panel.title} fits the grid`);
      assert.equal(panel.datasource?.uid, prometheus?.uid, `${panel.title} uses the provisioned data source`);
      assert.ok(panel.targets?.length, `${panel.title} has queries`);
      for (const target of panel.targets ?? []) {
        const labels = checkExpr(target.expr, series, panel.title);
        for (const [, label] of (target.legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g))
          assert.ok(labels.has(label as string), `${panel.title}: legend {{${label}}}`);
      }
    }
    // Every metric an operator watches has a panel.
    const queried = graphs.flatMap((p) => p.targets?.map((t) => t.expr) ?? []).join('\n');
    for (const metric of [
      'cover_pool_capital',
      'cover_pool_active_cover',
      'cover_pool_utilisation',
      'cover_pool_coverage_ratio',
      'cover_pool_adequacy_status',
      'cover_backstop_balance',
      'cover_backstop_target',
      'cover_ious_outstanding',
      'cover_risks',
      'cover_feed_staleness_seconds',
      'cover_confirmation_to_paid_seconds_bucket',
      'cover_rpc_errors_total',
      'graphql_subscriptions_open',
      'graphql_operation_duration_seconds_bucket',
      'cover_watcher_lease_held',
      'cover_claims_uncredited_oldest_seconds',
    ])
      assert.match(queried, new RegExp(`\\b${metric}\\b`), metric);
  });

  test('Prometheus scrapes every process of the compose stack and loads the rules; compose mounts what the configs name', () => {
    const config = parse(read('prometheus/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: Array<{
        job_name: string;
        authorization?: { credentials_file?: string };
        static_configs: Array<{ targets: string[] }>;
      }>;
    };
    for (const file of config.rule_files) assert.ok(existsSync(ops(`prometheus/${file}`)), `rule file ${file}`);
    const compose = parse(readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8'), { merge: true }) as {
      services: Record<string, { volumes?: string[]; environment?: Record<string, string>; entrypoint?: string[] }>;
    };
    const targets = config.scrape_configs.flatMap((s) => s.static_configs.flatMap((c) => c.targets)).sort();
    assert.deepEqual(targets, ['api-a:4000', 'api-b:4000', 'watcher:9464']);
    for (const target of targets) assert.ok(compose.services[target.split(':')[0] as string], `${target} is a compose service`);
    assert.equal(compose.services.watcher?.environment?.WATCHER_METRICS_PORT, '9464');
    for (const scrape of config.scrape_configs) assert.equal(scrape.authorization?.credentials_file, '/tmp/metrics-token', scrape.job_name);
    assert.match(compose.services.prometheus?.entrypoint?.join(' ') ?? '', /> \/tmp\/metrics-token/);
    const mounts = (service: string) => (compose.services[service]?.volumes ?? []).map((v) => v.split(':').slice(0, 2));
    for (const [from, to] of [...mounts('prometheus'), ...mounts('grafana')].filter(([from]) => from?.startsWith('./'))) {
      assert.ok(existsSync(new URL(`../${from}`, import.meta.url)), `${from} exists`);
      if (to === '/etc/prometheus/prometheus.yml') assert.equal(from, './ops/prometheus/prometheus.yml');
    }
    assert.deepEqual(
      mounts('prometheus').map(([, to]) => to),
      ['/etc/prometheus/prometheus.yml', '/etc/prometheus/alerts.yml', '/prometheus'],
    );
    const dashboards = parse(read('grafana/provisioning/dashboards/cover.yml')) as { providers: Array<{ options: { path: string } }> };
    assert.ok(mounts('grafana').some(([from, to]) => from === './ops/grafana/dashboards' && to === dashboards.providers[0]?.options.path));
  });

  test("promtool accepts the configuration and the rules and passes the rules' unit tests, where it is installed", (t) => {
    if (!installed('promtool')) {
      // Not a skip: the checks above already ran with Prometheus' grammar; this is an extra check.
      t.diagnostic('promtool is not installed (Debian: apt install prometheus): checked with lezer-promql only');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'promtool-'));
    try {
      for (const f of ['alerts.yml', 'alerts.test.yml']) copyFileSync(ops(`prometheus/${f}`), join(dir, f));
      const token = join(dir, 'metrics-token');
      writeFileSync(token, 'x');
      writeFileSync(join(dir, 'prometheus.yml'), read('prometheus/prometheus.yml').replaceAll('/tmp/metrics-token', token));
      execFileSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { stdio: 'pipe' });
      execFileSync('promtool', ['check', 'rules', join(dir, 'alerts.yml')], { stdio: 'pipe' });
      execFileSync('promtool', ['test', 'rules', join(dir, 'alerts.test.yml')], { stdio: 'pipe' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
