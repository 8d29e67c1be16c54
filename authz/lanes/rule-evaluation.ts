/**
 * Evaluating one compiled CEL program, and building a decision of an agent's policy. Shared by the policy-rules
 * lane and the break-glass lane.
 */
import type { RequestAttributesModel } from '../model/index.js';
import type { Decision, DecisionReason, RuleTrace } from '../model/index.js';
import type { CompiledAgent, CompiledRule } from '../policy/index.js';

/** A program's result: a bool, or the reason it has none (an errored deny denies; an errored allow does not allow). */
export type Evaluation = { ok: true; value: boolean } | { ok: false; error: string };

/** Runs a program over the attributes. Never throws. */
export function evaluate(program: CompiledRule['program'], ctx: RequestAttributesModel): Evaluation {
  try {
    const v = program(ctx as unknown as Record<string, unknown>);
    if (typeof v !== 'boolean') return { ok: false, error: 'expression did not return a bool' };
    return { ok: true, value: v };
  } catch (e) {
    // Engine messages describe the expression but may quote request values: keep the first line and strip quoted
    // strings, so no PHI leaves through the trace.
    const msg = e instanceof Error ? (e.message.split('\n')[0] ?? '') : 'evaluation error';
    return { ok: false, error: msg.replace(/"[^"]*"/g, '"…"') };
  }
}

/**
 * A decision of an agent's policy. In `audit` mode a deny of a valid request is recorded as the verdict and enforced
 * as allow; a request the FHIR parser marked invalid is denied in every mode (`enforce`).
 * Built as one object literal: this runs for every Check, and spreads of a base object cost far more in V8.
 */
export function agentDecision(
  agent: CompiledAgent,
  policyVersion: string,
  trace: RuleTrace[],
  verdict: 'allow' | 'deny',
  rule: string,
  reason: DecisionReason,
  status: number,
  message: string,
  enforce = false,
): Decision {
  const audited = agent.mode === 'audit' && verdict === 'deny' && !enforce;
  return {
    outcome: audited ? 'allow' : verdict,
    verdict,
    mode: audited ? 'audit' : 'enforce',
    agent: agent.name,
    rule,
    reason,
    status,
    message,
    policyVersion,
    trace,
  };
}
