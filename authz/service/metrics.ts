/**
 * Prometheus metrics (prom-client), on a registry of our own (not the global one). docs/operations.md lists every
 * metric with its labels; test/service/signals-metrics.test.ts holds that table equal to what /metrics exposes.
 *
 * Conventions (https://prometheus.io/docs/practices/naming/, https://prometheus.io/docs/practices/instrumentation/):
 * - The process metrics keep prom-client's standard names (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`
 *   ...), so standard Node.js dashboards work; everything of phiguard's own starts with `phiguard_`.
 * - `phiguard_build_info{version,node}` is 1 (the info-metric pattern).
 * - A counter whose label sets are known at start exists at 0 from the start ("avoid missing metrics"), so `rate()`
 *   and ratios have a series before the first event: the decision counter for each configured agent's rules and
 *   default deny, the answers by code, the JWKS fetches by result, break-glass by agent, class and result.
 */
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { KeySetStatus } from '../identity/index.js';
import { BUILTIN_RULES, DECISION_REASONS, decisionLabel, type Decision, type LaneUse } from '../model/index.js';

/**
 * What the per-Check metrics read of an answered decision: what another decision thread of the process (the bulk
 * thread) reports of each of its answers, too.
 */
export type AnsweredDecision = Pick<Decision, 'outcome' | 'mode' | 'agent' | 'rule' | 'reason' | 'status'> & {
  readonly lane?: Pick<LaneUse, 'class'> | undefined;
  readonly laneAttempts?: readonly string[] | undefined;
};
import type { CompiledPolicySet } from '../policy/index.js';

export interface Metrics {
  registry: Registry;
  /** The full /metrics text: prom-client's registry plus the per-Check metrics. */
  exposition(): Promise<string>;
  /** Decisions and Check latency (the per-Check metrics, see DecisionMetrics). */
  hot: DecisionMetrics;
  reloads: Counter<'result'>;
  auditRejected: Counter;
  baaReloads: Counter<'result'>;
  contained: Gauge<'agent' | 'action'>;
  auditErrors: Counter<'code'>;
  jwksReloadFailures: Counter;
  jwksFetches: Counter<'result'>;
  /** Access-log entries the proxy audit receiver handled, by result (proxy-audit.ts `PROXY_AUDIT_RESULTS`). */
  proxyAudit: Counter<'result'>;
  /**
   * Reads the sources the gauges report at scrape time: the policy set in force and whether it is stale, the JWKS
   * key sets. A gauge read from its source cannot disagree with /readyz, which reads the same.
   */
  watch(sources: Partial<MetricSources>): void;
}

/** What the scrape-time gauges read. */
export interface MetricSources {
  policies: { current(): CompiledPolicySet; stale(): boolean };
  keySets: () => readonly KeySetStatus[];
}

/** The service's version (package.json next to the code, in the source tree and in dist/ alike), or "unknown". */
function serviceVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'phiguard' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here: look one level up
    }
  }
  return 'unknown';
}

const DURATION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1];

/** Label value escaping of the Prometheus text format (exposition_formats.md: backslash, double quote, newline). */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * The two metrics written on every Check: `phiguard_decisions_total` and `phiguard_check_duration_seconds`.
 *
 * prom-client hashes the labels object on every `inc`/`observe`, label children included (a child re-enters its
 * parent with the labels), a cost the Check path pays on every decision. These two are plain counters in
 * maps keyed by the label tuple, rendered in the Prometheus text format (exposition_formats.md) at scrape time
 * and appended to prom-client's output for everything else.
 */
export interface DecisionMetrics {
  record(agent: string, decision: string, reason: string, rule: string, seconds: number): void;
  /**
   * One answer handed to the transport: its decision (`record`), its CheckResponse status code
   * (`phiguard_grpc_checks_total`), break-glass use and attempts (`phiguard_break_glass_total`), and when the last
   * audit-unavailable deny was (readiness).
   */
  answered(d: AnsweredDecision, seconds: number): void;
  /** Creates the decision series of a policy set's agents at 0 (their rules and default deny), keeping the others. */
  declare(set: CompiledPolicySet): void;
  /** When the last Check denied for want of an audit record was answered (epoch ms), or -Infinity. */
  lastAuditDenyMs(): number;
  /** Prometheus text exposition of both metrics. */
  text(): string;
  /** The decisions counter's value for a label set (tests, bench). */
  decisions(labels: { agent: string; decision: string; reason: string; rule: string }): number;
}

interface CounterCell {
  agent: string;
  decision: string;
  reason: string;
  rule: string;
  n: number;
}
interface HistogramCell {
  counts: Float64Array;
  sum: number;
  n: number;
}

/**
 * The HTTP statuses a deny is known to carry, created at 0: invalid requests, invalid tokens, policy denies, rate
 * limits, and the 503s (audit unavailable, keys unavailable). A rule's own status appears once answered. The code
 * is the CheckResponse status (google.rpc.Code, as Envoy's ext_authz reads it): OK for an allow, PERMISSION_DENIED
 * for a deny (transport/check-response.ts).
 */
const KNOWN_DENY_STATUSES = ['400', '401', '403', '429', '503'] as const;

/**
 * What became of an access-log entry carrying a decision of the proxy-wasm filter (service/proxy-audit.ts):
 * `recorded` with the decision the service makes for the same request, `recorded-divergent` with a decision the
 * service would not make (the entry's decision is recorded: it is what the proxy enforced), `unwritten` (the audit
 * target refused it: lost), `rejected-reporter` (a caller not allowed to report), `invalid` (not a decision the
 * filter writes).
 */
export const PROXY_AUDIT_RESULTS = [
  'recorded',
  'recorded-divergent',
  'unwritten',
  'rejected-reporter',
  'invalid',
] as const;

/** Break-glass results: the lane opened, or why a class the token tried did not (lanes/break-glass.ts). */
export const BREAK_GLASS_RESULTS = [
  'opened',
  'activation-not-met',
  'invalid-time',
  'not-yet-active',
  'expired',
  'out-of-scope',
] as const;

const key3 = (a: string, b: string, c: string): string => `${a}\u0000${b}\u0000${c}`;

/** A counter of string label tuples, rendered in the text format. */
function createLabelCounter(labelNames: readonly string[]): {
  inc(values: readonly string[], by?: number): void;
  text(name: string): string[];
} {
  const cells = new Map<string, { values: readonly string[]; n: number }>();
  return {
    inc(values, by = 1) {
      const k = values.join('\u0000');
      const c = cells.get(k);
      if (c) c.n += by;
      else cells.set(k, { values, n: by });
    },
    text(name) {
      const out: string[] = [];
      for (const c of cells.values()) {
        const labels = labelNames.map((l, i) => `${l}="${labelValue(c.values[i] ?? '')}"`).join(',');
        out.push(`${name}{${labels}} ${c.n}`);
      }
      return out;
    },
  };
}

/** The text exposition of the decision counter and the duration histogram. */
function decisionsText(counters: Map<string, CounterCell>, histograms: Map<string, HistogramCell>): string[] {
  const out = [
    '# HELP phiguard_decisions_total Check decisions by agent, decision, reason and rule',
    '# TYPE phiguard_decisions_total counter',
  ];
  for (const c of counters.values()) {
    const labels = `agent="${labelValue(c.agent)}",decision="${labelValue(c.decision)}"`;
    out.push(
      `phiguard_decisions_total{${labels},reason="${labelValue(c.reason)}",rule="${labelValue(c.rule)}"} ${c.n}`,
    );
  }
  out.push(
    '# HELP phiguard_check_duration_seconds Time spent deciding one Check (server side)',
    '# TYPE phiguard_check_duration_seconds histogram',
  );
  for (const [decision, h] of histograms) {
    const d = labelValue(decision);
    let cum = 0;
    DURATION_BUCKETS.forEach((le, i) => {
      cum += h.counts[i] ?? 0;
      out.push(`phiguard_check_duration_seconds_bucket{le="${le}",decision="${d}"} ${cum}`);
    });
    out.push(`phiguard_check_duration_seconds_bucket{le="+Inf",decision="${d}"} ${h.n}`);
    out.push(
      `phiguard_check_duration_seconds_sum{decision="${d}"} ${h.sum}`,
      `phiguard_check_duration_seconds_count{decision="${d}"} ${h.n}`,
    );
  }
  return out;
}

/** Break-glass by agent, class and result: lanes opened (`opened`), and why a class a token tried did not open. */
function createBreakGlassCounter(): {
  answered(d: AnsweredDecision): void;
  declare(set: CompiledPolicySet): void;
  text(): string[];
} {
  const counter = createLabelCounter(['agent', 'class', 'result']);
  const seen = new Set<string>();
  return {
    answered(d) {
      if (d.lane !== undefined && d.reason === DECISION_REASONS.breakGlass)
        counter.inc([d.agent, d.lane.class, 'opened']);
      for (const attempt of d.laneAttempts ?? []) {
        const i = attempt.lastIndexOf(':');
        counter.inc([d.agent, attempt.slice(0, i), attempt.slice(i + 1)]);
      }
    },
    declare(set) {
      for (const a of set.agents)
        for (const lane of a.lanes) {
          const k = key3(a.name, lane.class, '');
          if (seen.has(k)) continue;
          seen.add(k);
          for (const result of BREAK_GLASS_RESULTS) counter.inc([a.name, lane.class, result], 0);
        }
    },
    text: () => [
      '# HELP phiguard_break_glass_total Break-glass lanes opened, and classes a verified token tried that did not ' +
        'open (by why)',
      '# TYPE phiguard_break_glass_total counter',
      ...counter.text('phiguard_break_glass_total'),
    ],
  };
}

export function createDecisionMetrics(): DecisionMetrics {
  const counters = new Map<string, CounterCell>();
  const histograms = new Map<string, HistogramCell>();
  const codes = createLabelCounter(['code', 'http_status']);
  for (const status of KNOWN_DENY_STATUSES) codes.inc(['PERMISSION_DENIED', status], 0);
  codes.inc(['OK', '200'], 0);
  const breakGlass = createBreakGlassCounter();
  let lastAuditDeny = Number.NEGATIVE_INFINITY;
  const declareDecision = (agent: string, decision: string, reason: string, rule: string): void => {
    const key = `${agent}\u0000${decision}\u0000${reason}\u0000${rule}`;
    if (!counters.has(key)) counters.set(key, { agent, decision, reason, rule, n: 0 });
  };
  const record: DecisionMetrics['record'] = (agent, decision, reason, rule, seconds) => {
    const key = `${agent}\u0000${decision}\u0000${reason}\u0000${rule}`;
    const c = counters.get(key);
    if (c) c.n++;
    else counters.set(key, { agent, decision, reason, rule, n: 1 });
    let h = histograms.get(decision);
    if (!h) {
      h = { counts: new Float64Array(DURATION_BUCKETS.length), sum: 0, n: 0 };
      histograms.set(decision, h);
    }
    // Buckets are cumulative at render time; here each observation counts in the first bucket it fits.
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[i] ?? Infinity)) i++;
    if (i < DURATION_BUCKETS.length) h.counts[i] = (h.counts[i] ?? 0) + 1;
    h.sum += seconds;
    h.n++;
  };
  return {
    record,
    answered(d, seconds) {
      const label = decisionLabel(d);
      record(d.agent, label, d.reason, d.rule, seconds);
      codes.inc(d.outcome === 'allow' ? ['OK', '200'] : ['PERMISSION_DENIED', String(d.status)]);
      if (d.reason === DECISION_REASONS.auditUnavailable) lastAuditDeny = Date.now();
      if (d.lane !== undefined || d.laneAttempts !== undefined) breakGlass.answered(d);
    },
    declare(set) {
      for (const a of set.agents) {
        const denied = a.mode === 'audit' ? 'audit-deny' : 'deny';
        for (const r of a.allowRules) declareDecision(a.name, 'allow', DECISION_REASONS.ruleAllow, r.name);
        for (const r of a.denyRules) declareDecision(a.name, denied, DECISION_REASONS.ruleDeny, r.name);
        declareDecision(a.name, denied, DECISION_REASONS.noRuleMatched, BUILTIN_RULES.defaultDeny);
      }
      breakGlass.declare(set);
      declareDecision('', 'deny', DECISION_REASONS.unknownAgent, BUILTIN_RULES.unknownPrincipal);
    },
    lastAuditDenyMs: () => lastAuditDeny,
    decisions(l) {
      return counters.get(`${l.agent}\u0000${l.decision}\u0000${l.reason}\u0000${l.rule}`)?.n ?? 0;
    },
    text() {
      const out = decisionsText(counters, histograms);
      out.push(
        '# HELP phiguard_grpc_checks_total Check answers handed to the transport, by CheckResponse status code and ' +
          'HTTP status',
        '# TYPE phiguard_grpc_checks_total counter',
        ...codes.text('phiguard_grpc_checks_total'),
        ...breakGlass.text(),
      );
      return `${out.join('\n')}\n`;
    },
  };
}

/** The gauges read from their sources at scrape time: policy staleness and version, the JWKS key sets. */
function registerSourceGauges(registry: Registry, sources: Partial<MetricSources>): void {
  new Gauge({
    name: 'phiguard_policy_stale',
    help: 'Whether the last policy reload failed, leaving an older policy set in force (1 = stale)',
    registers: [registry],
    collect() {
      this.set(sources.policies?.stale() === true ? 1 : 0);
    },
  });
  new Gauge({
    name: 'phiguard_policy_info',
    help: 'The policy set version in force (value 1)',
    labelNames: ['version'],
    registers: [registry],
    collect() {
      this.reset();
      if (sources.policies !== undefined) this.set({ version: sources.policies.current().version }, 1);
    },
  });
  // Only with a JWKS file or URL configured: without one there is no key set to be unavailable.
  new Gauge({
    name: 'phiguard_jwks_keys_available',
    help: 'Whether a usable JWKS key set is held (1), by source (file or url); absent without a JWKS',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      this.reset();
      for (const k of sources.keySets?.() ?? []) this.set({ source: k.kind }, k.available ? 1 : 0);
    },
  });
  new Gauge({
    name: 'phiguard_jwks_keys_age_seconds',
    help: 'Age of the JWKS key set in force (since it was fetched or loaded), by source; absent until one is held',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      this.reset();
      const now = Date.now();
      for (const k of sources.keySets?.() ?? [])
        if (k.loadedAtMs !== undefined) this.set({ source: k.kind }, Math.max(0, now - k.loadedAtMs) / 1000);
    },
  });
}

/**
 * The service's metrics on a registry of their own. `auditBuffered` is read at scrape time.
 * @param opts.defaultMetrics Process metrics (prom-client's default set, standard names); off in tests that start many.
 */
export function createMetrics(auditBuffered: () => number, opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const hot = createDecisionMetrics();
  const sources: Partial<MetricSources> = {};
  const buildInfo = new Gauge({
    name: 'phiguard_build_info',
    help: 'The running build (value 1): phiguard version and Node.js version',
    labelNames: ['version', 'node'],
    registers: [registry],
  });
  buildInfo.set({ version: serviceVersion(), node: process.versions.node }, 1);
  registerSourceGauges(registry, sources);
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[], zero: string[][] = []) => {
    const c = new Counter<L>({ name, help, labelNames, registers: [registry] });
    for (const values of zero)
      c.inc(Object.fromEntries(labelNames.map((l, i) => [l, values[i] ?? ''])) as Record<L, string>, 0);
    return c;
  };
  const results = [['success'], ['failure']];
  const m: Metrics = {
    registry,
    hot,
    exposition: async () => `${await registry.metrics()}\n${hot.text()}`,
    watch: (s) => Object.assign(sources, s),
    reloads: counter('phiguard_policy_reloads_total', 'Policy reload attempts by result', ['result'], results),
    contained: new Gauge({
      name: 'phiguard_contained',
      help: 'Agents in a containment state (1), by action',
      labelNames: ['agent', 'action'],
      registers: [registry],
    }),
    baaReloads: counter(
      'phiguard_baa_registry_reloads_total',
      'BAA registry reload attempts by result',
      ['result'],
      results,
    ),
    auditRejected: counter(
      'phiguard_audit_rejected_total',
      'Decisions denied because the audit sink could not accept the record',
      [],
    ),
    jwksReloadFailures: counter(
      'phiguard_jwks_file_reload_failures_total',
      'JWKS file reloads rejected (the last good key set stays in force)',
      [],
    ),
    jwksFetches: counter('phiguard_jwks_fetch_total', 'JWKS URL fetches by result', ['result'], results),
    auditErrors: counter('phiguard_audit_errors_total', 'Audit sink I/O errors, by errno code', ['code']),
    proxyAudit: counter(
      'phiguard_proxy_audit_entries_total',
      'Access-log entries of proxy-wasm filter decisions received, by result',
      ['result'],
      PROXY_AUDIT_RESULTS.map((r) => [r]),
    ),
  };
  new Gauge({
    name: 'phiguard_audit_buffered_bytes',
    help: 'Audit bytes queued, not yet written',
    registers: [registry],
    collect() {
      this.set(auditBuffered());
    },
  });
  return m;
}
