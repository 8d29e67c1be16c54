/**
 * The egress rate-limit lane: an allowed outside request beyond the agent policy's `egressRateLimit` is denied
 * with 429. Buckets are per replica (the fleet-wide ceiling is replicas × the limit). The lane reads the bucket;
 * taking the token is an effect of the allow (effects/).
 */
import { DECISION_REASONS, denyDecision } from '../model/index.js';
import type { Condition } from './lane.js';

export const rateLimitLane: Condition = (ctx, decided) => {
  const limit = ctx.agent.policy.spec.egressRateLimit;
  const buckets = ctx.snapshot.rateLimits;
  if (ctx.egress.kind !== 'outside' || decided.outcome !== 'allow' || limit === undefined || buckets === undefined) {
    return undefined;
  }
  if (buckets.available(ctx.agent.name, limit, ctx.attributes.now.getTime())) return undefined;
  const d = denyDecision({
    agent: ctx.agent.name,
    rule: 'egress-rate-limit',
    reason: DECISION_REASONS.rateLimited,
    status: 429,
    message: `Denied: egress rate limit of ${limit.requests} requests per ${limit.perSeconds}s exceeded`,
    policyVersion: ctx.snapshot.policies.version,
  });
  if (decided.egress !== undefined) d.egress = decided.egress;
  return d;
};
