/**
 * Prometheus metrics (prom-client), on a registry of our own (not the global one).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  decisions: Counter<'agent' | 'decision' | 'reason' | 'rule'>;
  checkDuration: Histogram<'decision'>;
  reloads: Counter<'result'>;
  policyStale: Gauge;
  policyInfo: Gauge<'version'>;
  auditRejected: Counter;
  baaReloads: Counter<'result'>;
  contained: Gauge<'agent' | 'action'>;
  auditErrors: Counter<'code'>;
}

/**
 * Records one decision. Label children are cached per label set: prom-client hashes a labels object on every
 * `inc(labels)`, which is measurable on the Check path.
 */
export function createDecisionRecorder(m: Metrics): (agent: string, decision: string, reason: string, rule: string, seconds: number) => void {
  const counters = new Map<string, { inc(): void }>();
  const histograms = new Map<string, { observe(v: number): void }>();
  return (agent, decision, reason, rule, seconds) => {
    const key = `${agent}\u0000${decision}\u0000${reason}\u0000${rule}`;
    let c = counters.get(key);
    if (!c) {
      if (counters.size > 10_000) counters.clear();
      c = m.decisions.labels({ agent, decision, reason, rule });
      counters.set(key, c);
    }
    c.inc();
    let h = histograms.get(decision);
    if (!h) {
      h = m.checkDuration.labels({ decision });
      histograms.set(decision, h);
    }
    h.observe(seconds);
  };
}

export function createMetrics(auditBuffered: () => number, opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'phiguard_' });
  const m: Metrics = {
    registry,
    decisions: new Counter({ name: 'phiguard_decisions_total', help: 'Check decisions by agent, decision, reason and rule', labelNames: ['agent', 'decision', 'reason', 'rule'], registers: [registry] }),
    checkDuration: new Histogram({
      name: 'phiguard_check_duration_seconds', help: 'Time spent deciding one Check (server side)', labelNames: ['decision'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1], registers: [registry],
    }),
    reloads: new Counter({ name: 'phiguard_policy_reloads_total', help: 'Policy reload attempts by result', labelNames: ['result'], registers: [registry] }),
    policyStale: new Gauge({ name: 'phiguard_policy_stale', help: 'Whether the last policy reload failed, leaving an older policy set in force (1 = stale)', registers: [registry] }),
    policyInfo: new Gauge({ name: 'phiguard_policy_info', help: 'The policy set version in force (value 1)', labelNames: ['version'], registers: [registry] }),
    contained: new Gauge({ name: 'phiguard_contained', help: 'Agents in a containment state (1), by action', labelNames: ['agent', 'action'], registers: [registry] }),
    baaReloads: new Counter({ name: 'phiguard_baa_registry_reloads_total', help: 'BAA registry reload attempts by result', labelNames: ['result'], registers: [registry] }),
    auditRejected: new Counter({ name: 'phiguard_audit_rejected_total', help: 'Decisions denied because the audit sink could not accept the record', registers: [registry] }),
    auditErrors: new Counter({ name: 'phiguard_audit_errors_total', help: 'Audit sink I/O errors', labelNames: ['code'], registers: [registry] }),
  };
  new Gauge({ name: 'phiguard_audit_buffered_bytes', help: 'Audit bytes queued, not yet written', registers: [registry], collect() { this.set(auditBuffered()); } });
  return m;
}
