/**
 * Prometheus metrics (prom-client), on a registry of our own (not the global one).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  /** The full /metrics text: prom-client's registry plus the per-Check metrics. */
  exposition(): Promise<string>;
  /** Decisions and Check latency (the per-Check metrics, see DecisionMetrics). */
  hot: DecisionMetrics;
  reloads: Counter<'result'>;
  policyStale: Gauge;
  policyInfo: Gauge<'version'>;
  auditRejected: Counter;
  baaReloads: Counter<'result'>;
  contained: Gauge<'agent' | 'action'>;
  auditErrors: Counter<'code'>;
  jwksReloadFailures: Counter;
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

export function createDecisionMetrics(): DecisionMetrics {
  const counters = new Map<string, CounterCell>();
  const histograms = new Map<string, HistogramCell>();
  return {
    record(agent, decision, reason, rule, seconds) {
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
    },
    decisions(l) {
      return counters.get(`${l.agent}\u0000${l.decision}\u0000${l.reason}\u0000${l.rule}`)?.n ?? 0;
    },
    text() {
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
      return `${out.join('\n')}\n`;
    },
  };
}

export function createMetrics(auditBuffered: () => number, opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'phiguard_' });
  const hot = createDecisionMetrics();
  const m: Metrics = {
    registry,
    hot,
    exposition: async () => `${await registry.metrics()}\n${hot.text()}`,
    reloads: new Counter({
      name: 'phiguard_policy_reloads_total',
      help: 'Policy reload attempts by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    policyStale: new Gauge({
      name: 'phiguard_policy_stale',
      help: 'Whether the last policy reload failed, leaving an older policy set in force (1 = stale)',
      registers: [registry],
    }),
    policyInfo: new Gauge({
      name: 'phiguard_policy_info',
      help: 'The policy set version in force (value 1)',
      labelNames: ['version'],
      registers: [registry],
    }),
    contained: new Gauge({
      name: 'phiguard_contained',
      help: 'Agents in a containment state (1), by action',
      labelNames: ['agent', 'action'],
      registers: [registry],
    }),
    baaReloads: new Counter({
      name: 'phiguard_baa_registry_reloads_total',
      help: 'BAA registry reload attempts by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    auditRejected: new Counter({
      name: 'phiguard_audit_rejected_total',
      help: 'Decisions denied because the audit sink could not accept the record',
      registers: [registry],
    }),
    jwksReloadFailures: new Counter({
      name: 'phiguard_jwks_file_reload_failures_total',
      help: 'JWKS file reloads rejected (the last good key set stays in force)',
      registers: [registry],
    }),
    auditErrors: new Counter({
      name: 'phiguard_audit_errors_total',
      help: 'Audit sink I/O errors',
      labelNames: ['code'],
      registers: [registry],
    }),
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
