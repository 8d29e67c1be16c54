/**
 * The break-glass lane: the agent policy's `breakGlass` classes, consulted only when the standard rules deny a
 * valid request. A class opens only for verified claims (jwt_authn or JWKS, never a header the agent sets), only
 * when its activation condition holds, and only inside [activation, min(activation + TTL, token exp)] ± the clock
 * skew; an activation or `exp` claim that is not a NumericDate (RFC 7519 §2) within the range of a Date opens no lane.
 * The class that allowed is recorded on the decision for the attestation record; an activated class whose
 * window has passed denies with `break-glass-expired`, so the reason is clear. A class whose activation claim
 * (`activatedAtClaim`) the verified token carries but that does not open is a failed attempt: the deny records it as
 * `class:why` (`laneAttempts`, the audit record's `breakGlassAttempts`) for `phiguard report breakglass`.
 */
import { DECISION_REASONS, MAX_TIME_MS, type Decision, type LaneUse } from '../model/index.js';
import type { CompiledAgent } from '../policy/index.js';
import type { AgentLaneContext } from './lane.js';
import { agentDecision, evaluate } from './rule-evaluation.js';

type CompiledLane = CompiledAgent['lanes'][number];

/**
 * A claim's NumericDate (RFC 7519 §2: seconds since the epoch) in milliseconds, or undefined when it is not a number
 * or not a time a Date can hold (ECMA-262 §21.4.1.22: ±8.64e15 ms): such a claim is not a time, whatever signed it.
 */
function claimTimeMs(v: unknown): number | undefined {
  if (typeof v !== 'number') return undefined;
  const ms = v * 1000;
  return Math.abs(ms) <= MAX_TIME_MS ? ms : undefined;
}

/** Why a class the token tried did not open (the `why` of a `class:why` lane attempt). */
type AttemptFailure = 'activation-not-met' | 'invalid-time' | 'not-yet-active' | 'expired' | 'out-of-scope';

/** The lane's window if its activation holds for this request, else why not. */
function activeWindow(
  ctx: AgentLaneContext,
  lane: CompiledLane,
  standard: Decision,
): { use: LaneUse; endMs: number } | AttemptFailure {
  const attrs = ctx.attributes;
  const active = evaluate(lane.activation, attrs);
  if (!active.ok || !active.value) return 'activation-not-met';
  // An activation or an `exp` that is not a time opens no lane (the standard deny stands).
  const start = claimTimeMs(attrs.claims.get(lane.activatedAtClaim));
  if (start === undefined) return 'invalid-time';
  const exp = attrs.claims.get('exp');
  const expMs = exp === undefined ? MAX_TIME_MS : claimTimeMs(exp);
  if (expMs === undefined) return 'invalid-time';
  const end = Math.min(start + lane.ttlMs, expMs, MAX_TIME_MS);
  // An activation in the future is not (yet) a lane.
  if (attrs.now.getTime() + ctx.agent.clockSkewMs < start) return 'not-yet-active';
  const use: LaneUse = {
    class: lane.class,
    purposeOfUse: lane.purposeOfUse,
    activatedAt: new Date(start).toISOString(),
    expiresAt: new Date(end).toISOString(),
    overrode: { rule: standard.rule, reason: standard.reason },
  };
  return { use, endMs: end };
}

/**
 * The break-glass decision replacing a standard deny, or undefined when no class applies. When the token tried a
 * class (carried its activation claim) and none opened, the deny that stands records the attempts.
 */
export function breakGlassLane(ctx: AgentLaneContext, standard: Decision): Decision | undefined {
  const { agent, attributes } = ctx;
  if (agent.lanes.length === 0 || standard.verdict !== 'deny') return undefined;
  if (attributes.auth.source === 'none' || !attributes.fhir.valid) return undefined;
  const version = standard.policyVersion;
  const now = attributes.now.getTime();
  let expired: Decision | undefined;
  const attempts: string[] = [];
  for (const lane of agent.lanes) {
    const tried = attributes.claims.has(lane.activatedAtClaim);
    const window = activeWindow(ctx, lane, standard);
    if (typeof window === 'string') {
      if (tried) attempts.push(`${lane.class}:${window}`);
      continue;
    }
    const { use, endMs } = window;
    if (now - agent.clockSkewMs > endMs) {
      attempts.push(`${lane.class}:expired`);
      // agentDecision applies the agent's mode: an audit-mode agent is still not blocked, but the verdict says why.
      expired ??= Object.assign(
        agentDecision(
          agent,
          version,
          standard.trace,
          'deny',
          `break-glass:${lane.class}`,
          DECISION_REASONS.breakGlassExpired,
          403,
          `Denied: break-glass lane "${lane.class}" expired at ${use.expiresAt}`,
        ),
        { lane: use },
      );
      continue;
    }
    const scope = evaluate(lane.allow, attributes);
    if (scope.ok && scope.value) {
      const d = agentDecision(
        agent,
        version,
        standard.trace,
        'allow',
        `break-glass:${lane.class}`,
        DECISION_REASONS.breakGlass,
        200,
        '',
      );
      d.lane = use;
      return d;
    }
    attempts.push(`${lane.class}:out-of-scope`);
  }
  if (attempts.length === 0) return expired;
  if (expired !== undefined) return Object.assign(expired, { laneAttempts: attempts });
  return { ...standard, laneAttempts: attempts };
}
