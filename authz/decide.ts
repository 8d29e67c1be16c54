/**
 * The pure decision function: attributes + compiled agent policy -> Decision. No I/O, no gRPC, never throws.
 *
 * Semantics: deny wins. Every deny rule is evaluated first; the first that is true (or errors — fail closed)
 * decides. Then allow rules in order; the first true one allows. Nothing matched: default deny.
 * Requests the FHIR parser marked invalid are only allowed by rules that set `allowInvalid`.
 * In `audit` mode a deny is recorded as the verdict but enforced as allow.
 */
import type { RequestAttributesModel } from './attributes.js';
import { BUILTIN_RULES, DECISION_REASONS, type Decision, type RuleTrace } from './decision.js';
import type { CompiledAgent, CompiledRule } from './policy/index.js';

export interface DecideOptions {
  /** Evaluate every rule and return the full trace (explain); otherwise stop at the deciding rule. */
  fullTrace?: boolean;
}

function evaluate(rule: CompiledRule, ctx: RequestAttributesModel): { value: boolean } | { error: string } {
  try {
    const v = rule.program(ctx as unknown as Record<string, unknown>);
    if (typeof v !== 'boolean') return { error: 'expression did not return a bool' };
    return { value: v };
  } catch (e) {
    // Engine messages describe the expression, but may quote values from the request: keep only the first line
    // and strip quoted strings, so no PHI leaves through the trace.
    const msg = e instanceof Error ? (e.message.split('\n')[0] ?? '') : 'evaluation error';
    return { error: msg.replace(/"[^"]*"/g, '"…"') };
  }
}

export function decide(agent: CompiledAgent, attrs: RequestAttributesModel, policyVersion: string, options: DecideOptions = {}): Decision {
  const full = options.fullTrace === true;
  // The hot path keeps only the deciding rule's entry; explain (fullTrace) records every rule.
  const trace: RuleTrace[] = [];
  const base = { agent: agent.name, policyVersion, trace };
  let decided: Decision | undefined;

  for (const rule of agent.denyRules) {
    const r = evaluate(rule, attrs);
    if ('error' in r) {
      trace.push({ rule: rule.name, effect: 'deny', result: 'error', error: r.error });
      decided ??= {
        ...base, outcome: 'deny', verdict: 'deny', mode: 'enforce', rule: rule.name, reason: DECISION_REASONS.ruleError,
        status: rule.status, message: rule.message ?? `Denied: rule "${rule.name}" could not be evaluated`,
      };
    } else {
      trace.push({ rule: rule.name, effect: 'deny', result: r.value });
      if (r.value) {
        decided ??= {
          ...base, outcome: 'deny', verdict: 'deny', mode: 'enforce', rule: rule.name, reason: DECISION_REASONS.ruleDeny,
          status: rule.status, message: rule.message ?? `Denied by rule "${rule.name}"`,
        };
      }
    }
    if (decided && !full) break;
  }

  const invalid = !attrs.fhir.valid;
  for (const rule of agent.allowRules) {
    if (decided && !full) break;
    if (invalid && !rule.allowInvalid) {
      trace.push({ rule: rule.name, effect: 'allow', result: false, skipped: 'invalid-request' });
      continue;
    }
    const r = evaluate(rule, attrs);
    if ('error' in r) {
      trace.push({ rule: rule.name, effect: 'allow', result: 'error', error: r.error });
      continue;
    }
    trace.push({ rule: rule.name, effect: 'allow', result: r.value });
    if (r.value && !decided) {
      decided = {
        ...base, outcome: 'allow', verdict: 'allow', mode: 'enforce', rule: rule.name, reason: DECISION_REASONS.ruleAllow,
        status: 200, message: '',
      };
    }
  }

  decided ??= invalid
    ? {
        ...base, outcome: 'deny', verdict: 'deny', mode: 'enforce', rule: BUILTIN_RULES.defaultDeny, reason: DECISION_REASONS.invalidRequest,
        status: 400, message: `Invalid FHIR request (${attrs.fhir.invalidReason})`,
      }
    : {
        ...base, outcome: 'deny', verdict: 'deny', mode: 'enforce', rule: BUILTIN_RULES.defaultDeny, reason: DECISION_REASONS.noRuleMatched,
        status: 403, message: 'Denied: no rule allows this request',
      };

  if (agent.mode === 'audit' && decided.verdict === 'deny') {
    return { ...decided, outcome: 'allow', mode: 'audit' };
  }
  return decided;
}
