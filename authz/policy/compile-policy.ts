/**
 * Compiles validated agent policies into the form the decision core evaluates.
 */
import { createHash } from 'node:crypto';
import type { YamlDocument } from '../config/index.js';
import { formatFieldPath, isBroadUnresolvedPattern, type Finding } from '../model/index.js';
import type { AgentPolicy, Selector } from './schema.js';
import { compileExpression, type CelProgram } from './compile-expression.js';
import { POLICY_FINDING_CODES as CODES, type PolicyFindingCode } from './policy-findings.js';

export interface CompiledRule {
  name: string;
  effect: 'allow' | 'deny';
  expression: string;
  program: CelProgram;
  allowInvalid: boolean;
  /** Unresolved patient-scope reasons (or `kind:*`) this allow rule accepts. */
  allowUnresolved: readonly string[];
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
  allowUnresolved: readonly string[];
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

/** A validated policy document, located (file, document, lines) for findings. */
export type LoadedDocument = YamlDocument<AgentPolicy>;

export function specificityOf(s: Selector): number {
  if (s.principal !== undefined) return 3;
  if (s.serviceAccount !== undefined) return 2;
  return 1;
}

function selectorKey(s: Selector): string {
  return JSON.stringify([s.principal ?? '', s.trustDomain ?? '', s.namespace ?? '', s.serviceAccount ?? '']);
}

/** Records a finding at a field path of the document being compiled (an error unless said otherwise). */
type Report = (
  path: ReadonlyArray<string | number>,
  code: PolicyFindingCode,
  message: string,
  severity?: 'error' | 'warning',
) => void;

/** Warns on each opt-in that lets a request reach patients nobody named. */
function warnBroadOptIns(patterns: readonly string[], path: ReadonlyArray<string | number>, at: Report): void {
  patterns.forEach((p, j) => {
    if (isBroadUnresolvedPattern(p))
      at(
        [...path, j],
        CODES.broadUnresolvedOptIn,
        `allowUnresolved "${p}" lets this rule reach patients the request does not name`,
        'warning',
      );
  });
}

const where = (d: LoadedDocument): string => `${d.file}:${d.line}`;

function compileRules(policy: AgentPolicy, at: Report): { denyRules: CompiledRule[]; allowRules: CompiledRule[] } {
  const names = new Set<string>();
  const denyRules: CompiledRule[] = [];
  const allowRules: CompiledRule[] = [];
  policy.spec.rules.forEach((rule, i) => {
    if (names.has(rule.name))
      at(['spec', 'rules', i, 'name'], CODES.duplicateRule, `rule "${rule.name}" appears twice`);
    names.add(rule.name);
    const effect = rule.deny !== undefined ? 'deny' : 'allow';
    const expression = rule.deny ?? rule.allow ?? '';
    const c = compileExpression(expression);
    if (!c.ok) {
      at(['spec', 'rules', i, effect], CODES.celCompileError, c.error.message);
      return;
    }
    if (effect === 'deny' && rule.allowInvalid) {
      at(['spec', 'rules', i, 'allowInvalid'], CODES.allowInvalidOnDeny, 'allowInvalid applies to allow rules only');
    }
    if (effect === 'deny' && rule.allowUnresolved.length > 0) {
      at(
        ['spec', 'rules', i, 'allowUnresolved'],
        CODES.allowUnresolvedOnDeny,
        'allowUnresolved applies to allow rules only',
      );
    }
    warnBroadOptIns(rule.allowUnresolved, ['spec', 'rules', i, 'allowUnresolved'], at);
    const { allowInvalid, allowUnresolved, status, message } = rule;
    const compiled: CompiledRule = {
      name: rule.name,
      effect,
      expression,
      program: c.value.program,
      allowInvalid,
      allowUnresolved,
      status,
      message,
    };
    (effect === 'deny' ? denyRules : allowRules).push(compiled);
  });
  return { denyRules, allowRules };
}

function compileLanes(policy: AgentPolicy, at: Report): CompiledLane[] {
  const lanes: CompiledLane[] = [];
  const classes = new Set<string>();
  policy.spec.breakGlass.forEach((bg, i) => {
    if (classes.has(bg.class)) {
      at(['spec', 'breakGlass', i, 'class'], CODES.duplicateBreakGlassClass, `class "${bg.class}" appears twice`);
    }
    classes.add(bg.class);
    warnBroadOptIns(bg.allowUnresolved, ['spec', 'breakGlass', i, 'allowUnresolved'], at);
    const act = compileExpression(bg.activation);
    if (!act.ok) at(['spec', 'breakGlass', i, 'activation'], CODES.celCompileError, act.error.message);
    const allow = compileExpression(bg.allow);
    if (!allow.ok) at(['spec', 'breakGlass', i, 'allow'], CODES.celCompileError, allow.error.message);
    if (act.ok && allow.ok) {
      lanes.push({
        class: bg.class,
        activation: act.value.program,
        allow: allow.value.program,
        activatedAtClaim: bg.activatedAtClaim,
        ttlMs: bg.ttlMinutes * 60_000,
        purposeOfUse: bg.purposeOfUse,
        allowUnresolved: bg.allowUnresolved,
      });
    }
  });
  return lanes;
}

/** Compiles documents; returns the set, and findings (all of them, not just the first). */
export function compilePolicies(
  docs: readonly LoadedDocument[],
  contentHash: string,
): { set: CompiledPolicySet; findings: Finding<PolicyFindingCode>[] } {
  const findings: Finding<PolicyFindingCode>[] = [];
  const agents: CompiledAgent[] = [];
  const names = new Map<string, LoadedDocument>();
  const selectors = new Map<string, LoadedDocument>();
  for (const doc of docs) {
    const { value: policy, file, document } = doc;
    const at: Report = (path, code, message, severity = 'error') => {
      const line = doc.lineOf(path);
      findings.push({ code, severity, file, line, document, path: formatFieldPath(path), message });
    };
    const name = policy.metadata.name;
    const prevName = names.get(name);
    if (prevName)
      at(['metadata', 'name'], CODES.duplicateAgent, `agent "${name}" is also defined in ${where(prevName)}`);
    names.set(name, doc);
    const key = selectorKey(policy.spec.selector);
    const prevSel = selectors.get(key);
    if (prevSel) at(['spec', 'selector'], CODES.duplicateSelector, `the same selector is used by ${where(prevSel)}`);
    selectors.set(key, doc);
    // Rules first, then break-glass lanes: findings come in document order.
    const { denyRules, allowRules } = compileRules(policy, at);
    agents.push({
      lanes: compileLanes(policy, at),
      clockSkewMs: policy.spec.breakGlassClockSkewSeconds * 1000,
      name,
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
