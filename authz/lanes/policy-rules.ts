/**
 * The policy-rules lane: the agent policy's CEL rules over the attribute model.
 *
 * An allow needs a resolved patient scope: when `fhir.patientsUnresolved` holds a reason the deciding allow rule (or
 * break-glass class) does not list in `allowUnresolved`, the built-in rule `unresolved-patient-scope` denies.
 *
 * Deny wins. Every deny rule is evaluated first; the first that is true (or errors: fail closed) decides. Then the
 * allow rules in order; the first true one allows. Nothing matched: default deny. A request the FHIR parser marked
 * invalid is allowed only by a rule that sets `allowInvalid`, and is otherwise denied as `invalid-request` (400) in
 * every mode: audit mode relaxes only the denies of valid requests.
 * A standard deny then goes to the break-glass lane, which may replace it.
 */
import {
  BUILTIN_RULES,
  DECISION_REASONS,
  unresolvedPatternCovers,
  type Decision,
  type RuleTrace,
} from '../model/index.js';
import { breakGlassLane } from './break-glass.js';
import type { AgentLaneContext } from './lane.js';
import { agentDecision, evaluate } from './rule-evaluation.js';

function denyRules(ctx: AgentLaneContext, trace: RuleTrace[]): Decision | undefined {
  const { agent, attributes } = ctx;
  const version = ctx.snapshot.policies.version;
  let decided: Decision | undefined;
  for (const rule of agent.denyRules) {
    const r = evaluate(rule.program, attributes);
    trace.push(
      r.ok
        ? { rule: rule.name, effect: 'deny', result: r.value }
        : {
            rule: rule.name,
            effect: 'deny',
            result: 'error',
            error: r.error,
          },
    );
    // A deny rule that is true denies; one that cannot be evaluated denies too (fail closed).
    if (!r.ok || r.value) {
      const reason = r.ok ? DECISION_REASONS.ruleDeny : DECISION_REASONS.ruleError;
      const message = r.ok ? `Denied by rule "${rule.name}"` : `Denied: rule "${rule.name}" could not be evaluated`;
      const d = agentDecision(
        agent,
        version,
        trace,
        'deny',
        rule.name,
        reason,
        rule.status,
        rule.message ?? message,
        !attributes.fhir.valid,
      );
      decided ??= d;
    }
    if (decided !== undefined && !ctx.fullTrace) return decided;
  }
  return decided;
}

function allowRules(ctx: AgentLaneContext, trace: RuleTrace[], denied: Decision | undefined): Decision | undefined {
  const { agent, attributes } = ctx;
  const invalid = !attributes.fhir.valid;
  let decided = denied;
  for (const rule of agent.allowRules) {
    if (decided !== undefined && !ctx.fullTrace) return decided;
    if (invalid && !rule.allowInvalid) {
      trace.push({ rule: rule.name, effect: 'allow', result: false, skipped: 'invalid-request' });
      continue;
    }
    const r = evaluate(rule.program, attributes);
    if (!r.ok) {
      trace.push({ rule: rule.name, effect: 'allow', result: 'error', error: r.error });
      continue;
    }
    trace.push({ rule: rule.name, effect: 'allow', result: r.value });
    if (r.value) {
      decided ??= agentDecision(
        agent,
        ctx.snapshot.policies.version,
        trace,
        'allow',
        rule.name,
        DECISION_REASONS.ruleAllow,
        200,
        '',
      );
    }
  }
  return decided;
}

function defaultDeny(ctx: AgentLaneContext, trace: RuleTrace[]): Decision {
  const { agent, attributes } = ctx;
  const version = ctx.snapshot.policies.version;
  return attributes.fhir.valid
    ? agentDecision(
        agent,
        version,
        trace,
        'deny',
        BUILTIN_RULES.defaultDeny,
        DECISION_REASONS.noRuleMatched,
        403,
        'Denied: no rule allows this request',
      )
    : agentDecision(
        agent,
        version,
        trace,
        'deny',
        BUILTIN_RULES.defaultDeny,
        DECISION_REASONS.invalidRequest,
        400,
        `Invalid FHIR request (${attributes.fhir.invalidReason})`,
        true,
      );
}

/** The opt-ins of the rule or break-glass class that allowed. */
function optInsOf(ctx: AgentLaneContext, d: Decision): readonly string[] {
  if (d.lane !== undefined) return ctx.agent.lanes.find((l) => l.class === d.lane?.class)?.allowUnresolved ?? NONE;
  return ctx.agent.allowRules.find((r) => r.name === d.rule)?.allowUnresolved ?? NONE;
}
const NONE: readonly string[] = [];

/**
 * The built-in guard: an allow stands only if every unresolved reason is one its rule opted in to. Returns the
 * allow (carrying the reasons it accepted), or the `unresolved-patient-scope` deny.
 */
function guardUnresolved(ctx: AgentLaneContext, d: Decision): Decision {
  const reasons = ctx.attributes.fhir.patientsUnresolved;
  if (d.verdict !== 'allow' || reasons.length === 0) return d;
  const optIns = optInsOf(ctx, d);
  const open = reasons.filter((r) => !optIns.some((p) => unresolvedPatternCovers(p, r)));
  if (open.length === 0) {
    d.unresolvedAllowed = reasons;
    return d;
  }
  const trace = [
    ...d.trace,
    { rule: BUILTIN_RULES.unresolvedPatientScope, effect: 'deny' as const, result: true, unresolved: open },
  ];
  return agentDecision(
    ctx.agent,
    d.policyVersion,
    trace,
    'deny',
    BUILTIN_RULES.unresolvedPatientScope,
    DECISION_REASONS.unresolvedPatientScope,
    403,
    'Denied: the patients this request touches cannot be determined from the request',
  );
}

/** The decision of the agent's rules (and break-glass classes). Never throws. */
export function policyRulesLane(ctx: AgentLaneContext): Decision {
  const trace: RuleTrace[] = [];
  const standard = guardUnresolved(ctx, allowRules(ctx, trace, denyRules(ctx, trace)) ?? defaultDeny(ctx, trace));
  const lane = breakGlassLane(ctx, standard);
  return lane === undefined ? standard : guardUnresolved(ctx, lane);
}
