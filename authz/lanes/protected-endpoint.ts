/**
 * The protected-endpoint lane: cloud metadata services and the Kubernetes API server (egress/protected-endpoints.ts,
 * each entry cited there) are denied for agents whatever the policy says, in every mode, unless the agent's policy
 * names an explicit exception for that target (e.g. `eks-pod-identity`), which the decision and its audit record
 * then carry.
 */
import { DECISION_REASONS, denyDecision } from '../model/index.js';
import type { AgentLaneContext, Condition, Gate } from './lane.js';

function exceptionFor(ctx: AgentLaneContext): string | undefined {
  const eg = ctx.egress;
  if (eg.kind !== 'hard') return undefined;
  return ctx.agent.policy.spec.egressExceptions.find((e) => e.target === eg.target)?.target;
}

export const protectedEndpointLane: Gate = (ctx) => {
  const eg = ctx.egress;
  if (eg.kind !== 'hard' || exceptionFor(ctx) !== undefined) return undefined;
  return denyDecision({
    agent: ctx.agent.name,
    rule: `protected:${eg.target}`,
    reason: DECISION_REASONS.protectedEndpoint,
    message: `Denied: ${eg.target} is never reachable for agents`,
    policyVersion: ctx.snapshot.policies.version,
  });
};

/** Marks a decision reached through a policy exception for a protected endpoint. */
export const protectedExceptionLane: Condition = (ctx, decided) => {
  const exception = exceptionFor(ctx);
  if (exception !== undefined) decided.exception = exception;
  return undefined;
};
