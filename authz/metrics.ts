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
  auditErrors: Counter<'code'>;
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
    auditRejected: new Counter({ name: 'phiguard_audit_rejected_total', help: 'Decisions denied because the audit sink could not accept the record', registers: [registry] }),
    auditErrors: new Counter({ name: 'phiguard_audit_errors_total', help: 'Audit sink I/O errors', labelNames: ['code'], registers: [registry] }),
  };
  new Gauge({ name: 'phiguard_audit_buffered_bytes', help: 'Audit bytes queued, not yet written', registers: [registry], collect() { this.set(auditBuffered()); } });
  return m;
}
