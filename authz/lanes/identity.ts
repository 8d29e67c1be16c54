/**
 * The identity lane: a bearer token that was presented and failed verification is an attack or a
 * misconfiguration, so it is denied in every mode, before any policy rule runs (RFC 6750 §3.1 `invalid_token`).
 * A request without a token goes on with no verified claims (`auth.source == "none"`). A token that could not be
 * verified because the issuer's keys are unavailable is not judged: it is denied `keys-unavailable` (503, retryable).
 */
import { KEYS_UNAVAILABLE } from '../identity/index.js';
import { BUILTIN_RULES, DECISION_REASONS, denyDecision } from '../model/index.js';
import type { Gate } from './lane.js';

export const identityLane: Gate = (ctx) => {
  if (ctx.claims.kind !== 'invalid') return undefined;
  if (ctx.claims.reason === KEYS_UNAVAILABLE)
    return denyDecision({
      agent: ctx.agent.name,
      rule: BUILTIN_RULES.keysUnavailable,
      reason: DECISION_REASONS.keysUnavailable,
      status: 503,
      message: 'Denied: the token signing keys are unavailable; retry later',
      policyVersion: ctx.snapshot.policies.version,
    });
  return denyDecision({
    agent: ctx.agent.name,
    rule: BUILTIN_RULES.invalidToken,
    reason: DECISION_REASONS.invalidToken,
    status: 401,
    message: `Denied: bearer token rejected (${ctx.claims.reason})`,
    policyVersion: ctx.snapshot.policies.version,
  });
};
