/**
 * Compiles validated agent policies into the form the decision core evaluates.
 */
import { createHash } from 'node:crypto';
import type { AgentPolicy, Selector } from './schema.js';
import { compileExpression, type CelProgram } from './compile-expression.js';
import type { Finding } from './finding.js';

export interface CompiledRule {
  name: string;
  effect: 'allow' | 'deny';
  expression: string;
  program: CelProgram;
  allowInvalid: boolean;
  status: number;
  message: string | undefined;
}

export interface CompiledLane {
  class: string;
  activation: CelProgram;
  allow: CelProgram;
  activatedAtClaim: string;
  ttlMs: number;
  purposeOfUse: 'BTG' | 'ETREAT';
}

export interface CompiledAgent {
  lanes: CompiledLane[];
  clockSkewMs: number;
  name: string;
  selector: Selector;
  /** Higher is more specific: principal > namespace+serviceAccount > namespace. */
  specificity: number;
  tier: 'live' | 'batch';
  mode: 'enforce' | 'audit';
  policy: AgentPolicy;
  denyRules: CompiledRule[];
  allowRules: CompiledRule[];
  source: { file: string; document: number };
}

export interface CompiledPolicySet {
  agents: CompiledAgent[];
  /** Content hash of the policy set (sha256 prefix), recorded in every audit record. */
  version: string;
  loadedAt: Date;
}

export interface LoadedDocument {
  file: string;
  document: number;
  policy: AgentPolicy;
}

export function specificityOf(s: Selector): number {
  if (s.principal !== undefined) return 3;
  if (s.serviceAccount !== undefined) return 2;
  return 1;
}

function selectorKey(s: Selector): string {
  return JSON.stringify([s.principal ?? '', s.trustDomain ?? '', s.namespace ?? '', s.serviceAccount ?? '']);
}

/** Compiles documents; returns the set, or findings (all of them, not just the first). */
export function compilePolicies(docs: readonly LoadedDocument[], contentHash: string): { set: CompiledPolicySet; findings: Finding[] } {
  const findings: Finding[] = [];
  const agents: CompiledAgent[] = [];
  const names = new Map<string, LoadedDocument>();
  const selectors = new Map<string, LoadedDocument>();
  for (const doc of docs) {
    const { policy, file, document } = doc;
    const at = (path: string, code: string, message: string): void => {
      findings.push({ code, severity: 'error', file, document, path, message });
    };
    const prevName = names.get(policy.metadata.name);
    if (prevName) at('metadata.name', 'duplicate-agent', `agent "${policy.metadata.name}" is also defined in ${prevName.file}#${prevName.document}`);
    names.set(policy.metadata.name, doc);
    const key = selectorKey(policy.spec.selector);
    const prevSel = selectors.get(key);
    if (prevSel) at('spec.selector', 'duplicate-selector', `the same selector is used by ${prevSel.file}#${prevSel.document}`);
    selectors.set(key, doc);

    const ruleNames = new Set<string>();
    const denyRules: CompiledRule[] = [];
    const allowRules: CompiledRule[] = [];
    policy.spec.rules.forEach((rule, i) => {
      if (ruleNames.has(rule.name)) at(`spec.rules[${i}].name`, 'duplicate-rule', `rule "${rule.name}" appears twice`);
      ruleNames.add(rule.name);
      const effect = rule.deny !== undefined ? 'deny' : 'allow';
      const expression = rule.deny ?? rule.allow ?? '';
      const c = compileExpression(expression);
      if (!c.ok) {
        at(`spec.rules[${i}].${effect}`, 'cel-compile-error', c.message);
        return;
      }
      if (effect === 'deny' && rule.allowInvalid) at(`spec.rules[${i}].allowInvalid`, 'allow-invalid-on-deny', 'allowInvalid applies to allow rules only');
      const compiled: CompiledRule = {
        name: rule.name, effect, expression, program: c.program, allowInvalid: rule.allowInvalid, status: rule.status, message: rule.message,
      };
      (effect === 'deny' ? denyRules : allowRules).push(compiled);
    });
    const lanes: CompiledLane[] = [];
    const classes = new Set<string>();
    policy.spec.breakGlass.forEach((bg, i) => {
      if (classes.has(bg.class)) at(`spec.breakGlass[${i}].class`, 'duplicate-break-glass-class', `class "${bg.class}" appears twice`);
      classes.add(bg.class);
      const act = compileExpression(bg.activation);
      if (!act.ok) at(`spec.breakGlass[${i}].activation`, 'cel-compile-error', act.message);
      const allow = compileExpression(bg.allow);
      if (!allow.ok) at(`spec.breakGlass[${i}].allow`, 'cel-compile-error', allow.message);
      if (act.ok && allow.ok) {
        lanes.push({ class: bg.class, activation: act.program, allow: allow.program, activatedAtClaim: bg.activatedAtClaim, ttlMs: bg.ttlMinutes * 60_000, purposeOfUse: bg.purposeOfUse });
      }
    });
    agents.push({
      lanes,
      clockSkewMs: policy.spec.breakGlassClockSkewSeconds * 1000,
      name: policy.metadata.name,
      selector: policy.spec.selector,
      specificity: specificityOf(policy.spec.selector),
      tier: policy.spec.tier,
      mode: policy.spec.mode,
      policy,
      denyRules,
      allowRules,
      source: { file, document },
    });
  }
  return { set: { agents, version: contentHash, loadedAt: new Date() }, findings };
}

export function hashContent(parts: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
}
