/**
 * Every PromQL expression of the package (the PrometheusRule's alerts and the Grafana dashboard's panels) against
 * what a running phiguard really exposes. `phiguard serve` runs as a process (as in the pod: the decision thread,
 * process metrics), receives example Checks, a call to the cloud metadata endpoint (a deny that contains the agent), a
 * rejected and then an accepted policy reload and a rejected BAA registry reload; a second service writes its audit
 * trail to /dev/full (ENOSPC). Their /metrics are scraped and parsed; each expression is parsed with Prometheus's own
 * PromQL grammar (@prometheus-io/lezer-promql) and every metric it names must be exposed, with every label it
 * matches or groups by, and every `reason`/`decision` value it matches must be one phiguard can emit.
 *
 * Labels a scrape adds (job, pod, ...) are not the service's; they come from the ServiceMonitor's target
 * (https://prometheus-operator.dev/docs/api-reference/api/#monitoring.coreos.com/v1.ServiceMonitor) and are allowed
 * as such, as is Prometheus's own `up`.
 */
import { appendFileSync, cpSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect } from '@jest/globals';
import { parser } from '@prometheus-io/lezer-promql';
import { CheckInputSchema, DECISION_REASONS } from '../../authz/index.js';
import { PROXY_AUDIT_RESULTS } from '../../authz/service/metrics.js';
import { createCheckClient, toGrpcCheckRequest } from '../../generator/call/index.js';
import { eventually } from '../helpers/cli.js';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.js';
import { exampleRequest, startTestServer } from '../helpers/server.js';
import { tempDir, timelessRegistry } from '../helpers/temp.js';
import { arr, at, render, testWhenKubectl, type Obj } from './render.js';

/** Labels of the scrape target (Prometheus Operator ServiceMonitor) and of histograms, not of the service's samples. */
const TARGET_LABELS = new Set(['job', 'instance', 'namespace', 'service', 'pod', 'container', 'endpoint']);
/** Series Prometheus makes itself for every target. */
const PROMETHEUS_SERIES = new Set(['up']);
/** Closed label values phiguard emits (authz/model/decision.ts). */
const CLOSED_VALUES: Record<string, ReadonlySet<string>> = {
  reason: new Set(Object.values(DECISION_REASONS)),
  decision: new Set(['allow', 'deny', 'audit-deny']),
  result: new Set(['success', 'failure', ...PROXY_AUDIT_RESULTS]),
};
/** Grafana's interval variables, which PromQL does not know, as a duration. */
const grafanaToPromql = (e: string): string => e.replace(/\$__(rate_interval|interval|range)/g, '5m');

interface Expression {
  where: string;
  expr: string;
}

const base = render('deploy/base');
const rules = arr(
  at(
    base.find((d) => d['kind'] === 'PrometheusRule'),
    'spec',
    'groups',
  ),
).flatMap((g) => arr(g['rules']).map((r) => ({ where: `alert ${String(r['alert'])}`, expr: String(r['expr']) })));
const dashboardMap = base.find(
  (d) => d['kind'] === 'ConfigMap' && at(d, 'metadata', 'name') === 'phiguard-grafana-dashboard',
);
const dashboardJson = at(dashboardMap, 'data', 'phiguard.json');
const dashboard = JSON.parse(typeof dashboardJson === 'string' ? dashboardJson : '{"panels":[]}') as {
  panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
};
const panels = dashboard.panels.flatMap((p) =>
  (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: grafanaToPromql(t.expr) })),
);
const EXPRESSIONS: Expression[] = [...rules, ...panels];

/** Metric sample names → the label names seen on them, from a Prometheus text exposition. */
function parseExposition(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+$/.exec(line);
    if (!m?.[1]) continue;
    const labels = out.get(m[1]) ?? new Set<string>();
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) if (l[1]) labels.add(l[1]);
    out.set(m[1], labels);
  }
  return out;
}

interface Selector {
  metric: string;
  matchers: Array<{ label: string; op: string; value: string }>;
}

/** The selectors and grouping labels of an expression; throws on a syntax error. */
function analyse(expr: string): { selectors: Selector[]; grouping: string[] } {
  const tree = parser.parse(expr);
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  const text = (from: number, to: number) => expr.slice(from, to);
  const c = tree.cursor();
  do {
    if (c.type.isError) throw new Error(`syntax error at ${c.from}: ${expr}`);
    if (c.name === 'VectorSelector') {
      const node = c.node;
      const id = node.getChild('Identifier');
      const matchers: Selector['matchers'] = [];
      for (const lm of node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
        const name = lm.getChild('LabelName');
        const op = lm.getChild('MatchOp');
        const value = lm.getChild('StringLiteral');
        if (!name || !op || !value) throw new Error(`unreadable matcher in ${expr}`);
        matchers.push({
          label: text(name.from, name.to),
          op: text(op.from, op.to),
          value: JSON.parse(text(value.from, value.to)) as string,
        });
      }
      selectors.push({ metric: id ? text(id.from, id.to) : '', matchers });
    }
    if (c.name === 'GroupingLabels') {
      for (const l of c.node.getChildren('LabelName')) grouping.push(text(l.from, l.to));
    }
  } while (c.next());
  return { selectors, grouping };
}

/** What is wrong with one expression against the exposed metrics ([] when nothing). */
function problems(e: Expression, exposed: Map<string, Set<string>>): string[] {
  const out: string[] = [];
  const { selectors, grouping } = analyse(e.expr);
  if (selectors.length === 0) out.push('names no metric');
  const labelsInExpr = new Set<string>(TARGET_LABELS);
  for (const s of selectors) {
    if (s.metric === '') {
      out.push('a selector without a metric name');
      continue;
    }
    const labels = PROMETHEUS_SERIES.has(s.metric) ? new Set<string>() : exposed.get(s.metric);
    if (labels === undefined) {
      out.push(`${s.metric} is not exposed`);
      continue;
    }
    for (const l of labels) labelsInExpr.add(l);
    for (const m of s.matchers) {
      if (!labels.has(m.label) && !TARGET_LABELS.has(m.label)) out.push(`${s.metric} has no label ${m.label}`);
      const closed = CLOSED_VALUES[m.label];
      const values = m.op === '=~' || m.op === '!~' ? m.value.split('|') : [m.value];
      if (closed) for (const v of values) if (!closed.has(v)) out.push(`${m.label}="${v}" is never emitted`);
    }
  }
  for (const g of grouping) if (!labelsInExpr.has(g)) out.push(`groups by ${g}, which no metric here has`);
  return out;
}

function checkOf(file: string): Obj {
  return toGrpcCheckRequest(CheckInputSchema.parse(exampleRequest(file)));
}

/** The ambient scribe's call to an outside host, as the egress gateway sends it. */
function egressCheck(host: string): Obj {
  return {
    attributes: {
      source: { principal: 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe' },
      destination: { address: { socket_address: { address: '10.8.12.5', port_value: 443 } } },
      request: { http: { method: 'POST', path: '/v1/chat', host, scheme: 'http', headers: {} } },
    },
  };
}

const REQUESTS = [
  'scribe-read-encounter.json',
  'scribe-population-search.json',
  'scribe-note-transaction.json',
  'unknown-agent.json',
  'cds-vitals-search.json',
  'prior-auth-audit-deny.json',
];

describe('the PromQL of the alerts and the dashboard against the metrics phiguard exposes', () => {
  const t = tempDir();
  let serve: ServeProcess | undefined;
  let exposed = new Map<string, Set<string>>();

  beforeAll(async () => {
    const policies = path.join(t.dir, 'policies');
    cpSync('examples/policies', policies, { recursive: true });
    const registry = timelessRegistry(path.join(t.dir, 'registry.yaml'));
    serve = await startServeProcess([
      '--policies',
      policies,
      '--baa-registry',
      registry,
      '--containment-dir',
      path.join(t.dir, 'containment'),
      '--audit-file',
      path.join(t.dir, 'audit.jsonl'),
      '--reload-settle-ms',
      '100',
    ]);
    const metricsUrl = /metrics\/health: (http:\/\/\S+\/metrics)/.exec(serve.stderr())?.[1] ?? '';
    const scrape = async () => (await fetch(metricsUrl)).text();
    const client = createCheckClient(serve.address);
    try {
      for (const f of REQUESTS) await client.check(checkOf(f));
      // The cloud metadata endpoint: a protected-endpoint deny, which soft-quarantines the scribe (its trigger).
      await client.check(egressCheck('169.254.169.254'));
      // A changed policy set loads (success); then a policy file that does not load is rejected (failure, stale).
      appendFileSync(path.join(policies, 'ambient-scribe.yaml'), '# reviewed\n');
      await eventually(async () => /phiguard_policy_reloads_total\{result="success"\}/.test(await scrape()), 15_000);
      writeFileSync(
        path.join(policies, 'broken.yaml'),
        'apiVersion: phiguard.io/v1alpha1\nkind: AgentPolicy\nspec: [\n',
      );
      await eventually(async () => /phiguard_policy_reloads_total\{result="failure"\}/.test(await scrape()), 15_000);
      writeFileSync(registry, 'not: [a registry\n');
      await eventually(
        async () => /phiguard_baa_registry_reloads_total\{result="failure"\}/.test(await scrape()),
        15_000,
      );
      await eventually(async () => /phiguard_contained\{[^}]*\} 1/.test(await scrape()), 15_000);
      exposed = parseExposition(await scrape());
    } finally {
      client.close();
    }
    // An audit trail that cannot be written (ENOSPC): the audit error and rejection metrics get their samples.
    const full = await startTestServer({ auditFile: '/dev/full' });
    const c2 = createCheckClient(full.addr);
    try {
      await c2.check(checkOf('scribe-read-encounter.json'));
      await eventually(async () => /phiguard_audit_errors_total\{code=/.test(await full.metrics()));
      for (const [name, labels] of parseExposition(await full.metrics())) {
        const seen = exposed.get(name) ?? new Set<string>();
        for (const l of labels) seen.add(l);
        exposed.set(name, seen);
      }
    } finally {
      c2.close();
      await full.stop();
    }
  }, 120_000);

  afterAll(async () => {
    if (serve) {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
    t.remove();
  });

  testWhenKubectl('the expressions')(
    'the package has expressions for every signal the dashboard and alerts cover',
    () => {
      expect(rules.length).toBeGreaterThan(10);
      expect(panels.length).toBeGreaterThan(10);
    },
  );

  testWhenKubectl('the expressions')('the service exposes the metrics the package relies on, with samples', () => {
    for (const name of [
      'phiguard_decisions_total',
      'phiguard_check_duration_seconds_bucket',
      'phiguard_policy_info',
      'phiguard_policy_stale',
      'phiguard_policy_reloads_total',
      'phiguard_baa_registry_reloads_total',
      'phiguard_contained',
      'phiguard_audit_errors_total',
      'phiguard_audit_rejected_total',
      'phiguard_audit_buffered_bytes',
      'process_start_time_seconds',
    ])
      expect([name, exposed.has(name)]).toEqual([name, true]);
    expect([...(exposed.get('phiguard_decisions_total') ?? [])].sort()).toEqual([
      'agent',
      'decision',
      'reason',
      'rule',
    ]);
  });

  const table = EXPRESSIONS.length > 0 ? EXPRESSIONS : [{ where: '(nothing rendered)', expr: '' }];
  testWhenKubectl('the expressions').each(table.map((e) => [e.where, e] as const))('%s', (_w, e) => {
    expect(problems(e, exposed)).toEqual([]);
  });

  testWhenKubectl('the expressions')('negative controls: a misspelt metric, label or reason is caught', () => {
    const bad = [
      'rate(phiguard_decision_total[5m])',
      'sum by (agnet) (rate(phiguard_decisions_total[5m]))',
      'phiguard_contained{agent_name="x"}',
      'rate(phiguard_decisions_total{reason="baa-violation"}[5m])',
      'sum(rate(phiguard_decisions_total[5m])',
    ];
    for (const expr of bad) {
      let found: string[];
      try {
        found = problems({ where: 'control', expr }, exposed);
      } catch (err) {
        found = [String(err)];
      }
      expect([expr, found.length > 0]).toEqual([expr, true]);
    }
  });
});
