/**
 * `phiguard check`: runs every rule over the manifests and phiguard's own inputs; returns findings sorted by file
 * and line. Pure apart from reading the optional policy directory and BAA registry.
 */
import type { BaaRegistry, CompiledPolicySet } from '../../authz/index.js';
import { readBaaRegistry } from '../../authz/egress/index.js';
import { formatFieldPath, formatFinding, type Finding } from '../../authz/model/index.js';
import { POLICY_FINDING_CODES, readPolicyDir } from '../../authz/policy/index.js';
import type { CrdValidator } from '../cilium/index.js';
import { RULE_BY_ID, type RuleId } from './catalog.js';
import { extractWorkloads, type CheckContext } from './context.js';
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

/** Every finding of `error`, reported under `ruleId` where it was found (its file and line). */
function reportFindings(
  report: CheckContext['report'],
  ruleId: RuleId,
  error: { message: string; findings: readonly Finding[] },
  file: string,
): void {
  if (error.findings.length === 0) report(ruleId, { file, line: 1 }, error.message);
  for (const f of error.findings) report(ruleId, { file: f.file || file, line: f.line ?? 1 }, formatFinding(f));
}

export function runCheck(docs: readonly ManifestDoc[], options: CheckOptions = {}): Finding<RuleId>[] {
  const findings: Finding<RuleId>[] = [];
  const report: CheckContext['report'] = (ruleId, where, message, pathParts) => {
    const rule = RULE_BY_ID.get(ruleId);
    const line = pathParts && 'lineOf' in where ? where.lineOf(pathParts) : where.line;
    const path = pathParts ? formatFieldPath(pathParts) : '';
    findings.push({ code: ruleId, severity: rule?.severity ?? 'error', file: where.file, line, path, message });
  };

  let registry: BaaRegistry | undefined;
  if (options.baaFile !== undefined) {
    const r = readBaaRegistry(options.baaFile);
    if (r.ok) registry = r.value;
    else reportFindings(report, 'PHG002', r.error, options.baaFile);
  }
  let policySet: CompiledPolicySet | undefined;
  if (options.policiesDir !== undefined) {
    const r = readPolicyDir(options.policiesDir);
    if (r.ok) {
      policySet = r.value.set;
      for (const w of r.value.warnings)
        if (w.code === POLICY_FINDING_CODES.broadUnresolvedOptIn)
          report('PHG004', { file: w.file, line: w.line ?? 1 }, formatFinding(w));
    } else reportFindings(report, 'PHG001', r.error, options.policiesDir);
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
  const byPlace = (a: Finding, b: Finding): number =>
    a.file < b.file
      ? -1
      : a.file > b.file
        ? 1
        : (a.line ?? 0) - (b.line ?? 0) || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0);
  return findings.sort(byPlace);
}
