/**
 * `phiguard check`: runs every rule over the manifests and phiguard's own inputs; returns findings sorted by file
 * and line. Pure apart from reading the optional policy directory and BAA registry.
 */
import { formatFinding, loadBaaRegistry, loadPolicyDir, type BaaRegistry, type CompiledPolicySet } from '../../authz/index.js';
import type { CrdValidator } from '../cilium/index.js';
import { RULE_BY_ID, type Severity } from './catalog.js';
import { extractWorkloads, type CheckContext, type CheckFinding } from './context.js';
import type { ManifestDoc } from './manifests.js';
import { ciliumRules } from './rules-cilium.js';
import { envoyRules, istioRules } from './rules-mesh.js';
import { kubernetesRules, phiguardRules } from './rules-workloads.js';

export interface CheckOptions {
  validators?: Readonly<Record<string, CrdValidator>>;
  baaFile?: string;
  policiesDir?: string;
  agentSelector?: Record<string, string>;
  agentNamespaces?: readonly string[];
  defaultNamespace?: string;
  trustDomain?: string;
  now?: Date;
}

export const SEVERITY_RANK: Record<Severity, number> = { note: 0, warning: 1, error: 2 };

export function runCheck(docs: readonly ManifestDoc[], options: CheckOptions = {}): CheckFinding[] {
  const findings: CheckFinding[] = [];
  const report: CheckContext['report'] = (ruleId, where, message, pathParts) => {
    const rule = RULE_BY_ID.get(ruleId);
    const line = pathParts && 'lineOf' in where ? where.lineOf(pathParts) : where.line;
    findings.push({ ruleId, severity: rule?.severity ?? 'error', message, file: where.file, line });
  };

  let registry: BaaRegistry | undefined;
  if (options.baaFile !== undefined) {
    const r = loadBaaRegistry(options.baaFile);
    if (r.ok) registry = r.registry;
    else report('PHG002', { file: options.baaFile, line: 1 }, r.error);
  }
  let policySet: CompiledPolicySet | undefined;
  if (options.policiesDir !== undefined) {
    const r = loadPolicyDir(options.policiesDir);
    if (r.ok) policySet = r.set;
    else for (const f of r.findings) report('PHG001', { file: f.file, line: 1 }, formatFinding(f));
  }

  const workloads = extractWorkloads(docs, {
    agentSelector: options.agentSelector ?? { 'phiguard.io/agent': 'true' },
    agentNamespaces: options.agentNamespaces ?? [],
    defaultNamespace: options.defaultNamespace ?? 'default',
  });
  const ctx: CheckContext = {
    docs: [...docs],
    workloads,
    agents: workloads.filter((w) => w.isAgent),
    validators: options.validators ?? {},
    registry,
    policySet,
    trustDomain: options.trustDomain ?? 'cluster.local',
    now: options.now ?? new Date(),
    report,
  };
  ciliumRules(ctx);
  istioRules(ctx);
  envoyRules(ctx);
  kubernetesRules(ctx);
  phiguardRules(ctx);
  return findings.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0)));
}
