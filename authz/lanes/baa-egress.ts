/**
 * The BAA egress lane: a request to an outside host is allowed only when the policy allows it AND an active
 * Business Associate Agreement covers host:port at the moment of contact (45 CFR §164.502(e), §164.504(e)). A gap
 * is denied in every mode. Every outside request's decision carries its coverage and the registry version, for
 * the audit record. Without a registry, outside egress is denied (fail closed).
 */
import { coverageInfo } from '../egress/index.js';
import { DECISION_REASONS, denyDecision } from '../model/index.js';
import type { Condition } from './lane.js';

export const baaEgressLane: Condition = (ctx, decided) => {
  const eg = ctx.egress;
  if (eg.kind !== 'outside') return undefined;
  const info = coverageInfo(ctx.snapshot.baa, eg.host, eg.port, ctx.attributes.now);
  const d =
    decided.outcome === 'allow' && !info.covered
      ? denyDecision({
          agent: ctx.agent.name,
          rule: 'baa-registry',
          reason: DECISION_REASONS.baaNotCovered,
          // The host stays out of the answer (a host name can carry PHI: `patient-jane-doe.exfil.example`); the
          // audit record carries it.
          message: `Denied: the outside endpoint is not covered by an active Business Associate Agreement (${info.reason})`,
          policyVersion: ctx.snapshot.policies.version,
        })
      : decided;
  d.egress = info;
  return d;
};
