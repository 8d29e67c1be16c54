/**
 * The protected-endpoint lane: cloud metadata services and the Kubernetes API server (egress/protected-endpoints.ts,
 * each entry cited there) are denied for agents whatever the policy says, in every mode (a Gate: it decides before
 * the policy rules, so audit mode never relaxes it), unless the agent's policy names an explicit exception for every
 * target the request reaches (e.g. `eks-pod-identity`), which the decision and its audit record then carry.
 *
 * The deny names the target class (`instance-metadata`), never the host as written: a host name can carry PHI.
 */
import { DECISION_REASONS, denyDecision } from '../model/index.js';
import type { AgentLaneContext, Condition, Gate } from './lane.js';

/** The first target the request reaches that no exception of the agent's policy covers. */
function unexcepted(ctx: AgentLaneContext): string | undefined {
  const eg = ctx.egress;
  if (eg.kind !== 'hard') return undefined;
  const exceptions = ctx.agent.policy.spec.egressExceptions;
  return eg.targets.find((t) => !exceptions.some((e) => e.target === t));
}

export const protectedEndpointLane: Gate = (ctx) => {
  const target = unexcepted(ctx);
  if (target === undefined) return undefined;
  return denyDecision({
    agent: ctx.agent.name,
    rule: `protected:${target}`,
    reason: DECISION_REASONS.protectedEndpoint,
    message: `Denied: ${target} is never reachable for agents`,
    policyVersion: ctx.snapshot.policies.version,
  });
};

/** Marks a decision reached through a policy exception for a protected endpoint. */
export const protectedExceptionLane: Condition = (ctx, decided) => {
  const eg = ctx.egress;
  if (eg.kind === 'hard' && unexcepted(ctx) === undefined) decided.exception = eg.targets.join(',');
  return undefined;
};
