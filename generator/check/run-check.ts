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
import { applySuppressions, objectId, type Baseline, type CheckFinding } from './suppress.js';
import { envoyRules } from './rules-envoy.js';
import { istioRules } from './rules-istio.js';
import { kubernetesRules, phiguardRules } from './rules-workloads.js';

export interface CheckOptions {
  validators?: Readonly<Record<string, CrdValidator>>;
  baaFile?: string;
  policiesDir?: string;
  /** A policy set already compiled (AgentPolicies read from a cluster), used when no `policiesDir` is given. */
  policySet?: CompiledPolicySet;
  agentSelector?: Record<string, string>;
  agentNamespaces?: readonly string[];
  defaultNamespace?: string;
  trustDomain?: string;
  now?: Date;
  /** A baseline file already read (`readBaseline`): findings it names are marked suppressed. */
  baseline?: { file: string; value: Baseline };
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

/** The findings of every rule, sorted by file and line, with suppressions applied; see `runCheckReport`. */
export function runCheck(docs: readonly ManifestDoc[], options: CheckOptions = {}): CheckFinding[] {
  return runCheckReport(docs, options).findings;
}

/**
 * Runs every rule over `docs` and phiguard's inputs named in `options`. Returns the findings sorted by file and line
 * (suppressed ones included and marked) and notes (baseline entries that matched nothing). Does not throw for
 * invalid inputs: an unreadable registry or policy directory is a finding.
 */
export function runCheckReport(
  docs: readonly ManifestDoc[],
  options: CheckOptions = {},
): { findings: CheckFinding[]; notes: string[] } {
  const findings: CheckFinding[] = [];
  const finding = (
    ruleId: RuleId,
    where: ManifestDoc | { file: string; line: number },
    message: string,
    pathParts?: ReadonlyArray<string | number>,
  ): CheckFinding => {
    const rule = RULE_BY_ID.get(ruleId);
    const doc = 'lineOf' in where ? where : undefined;
    return {
      code: ruleId,
      severity: rule?.severity ?? 'error',
      file: where.file,
      line: doc && pathParts ? doc.lineOf(pathParts) : where.line,
      ...(doc ? { document: doc.index, object: objectId(doc) } : {}),
      path: pathParts ? formatFieldPath(pathParts) : '',
      message,
    };
  };
  const report: CheckContext['report'] = (ruleId, where, message, pathParts) => {
    findings.push(finding(ruleId, where, message, pathParts));
  };

  let registry: BaaRegistry | undefined;
  if (options.baaFile !== undefined) {
    const r = readBaaRegistry(options.baaFile);
    if (r.ok) registry = r.value;
    else reportFindings(report, 'PHG002', r.error, options.baaFile);
  }
  let policySet: CompiledPolicySet | undefined = options.policySet;
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
  const suppressed = applySuppressions(findings, docs, options.baseline, (doc, message) =>
    finding('PHG005', doc, message, ['metadata', 'annotations']),
  );
  const byPlace = (a: Finding, b: Finding): number =>
    a.file < b.file
      ? -1
      : a.file > b.file
        ? 1
        : (a.line ?? 0) - (b.line ?? 0) || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0);
  return { findings: suppressed.findings.sort(byPlace), notes: suppressed.notes };
}
