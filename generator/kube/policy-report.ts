/**
 * `check --cluster`'s findings as `wgpolicyk8s.io/v1alpha2` PolicyReports, one per namespace read (a namespace with
 * no findings gets an empty report, so a fixed problem disappears from it), named `phiguard-check`. Each finding is a
 * result: `policy` phiguard-check, `rule` the rule id, `result` fail (error) or warn (warning, note), skip when a
 * baseline or annotation suppresses it, `severity` high/medium/low, the object as its resource. The shape follows the
 * upstream CRD (github.com/kubernetes-sigs/wg-policy-prototypes, policy-report/crd/v1alpha2). Findings on
 * cluster-scoped objects (ClusterRoleBindings, CiliumClusterwideNetworkPolicies) belong in a ClusterPolicyReport,
 * which is not written: they appear in the text, JSON and SARIF output only.
 */
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { kubeRequest } from '../../authz/kube/index.js';
import { serverSideApply } from './server-side-apply.js';
import { RULE_BY_ID, type CheckFinding, type ManifestDoc } from '../check/index.js';

export const POLICY_REPORT = {
  apiVersion: 'wgpolicyk8s.io/v1alpha2',
  kind: 'PolicyReport',
  name: 'phiguard-check',
} as const;

const SEVERITY = { error: 'high', warning: 'medium', note: 'low' } as const;

export function policyReports(
  findings: readonly CheckFinding[],
  docs: readonly ManifestDoc[],
  namespaces: readonly string[],
  now: Date,
): KubernetesObject[] {
  const byFile = new Map(docs.map((d) => [d.file, d.value]));
  const results = new Map<string, Array<Record<string, unknown>>>(namespaces.map((n) => [n, []]));
  for (const f of findings) {
    const v = byFile.get(f.file);
    const meta = v?.['metadata'] as { name?: string; namespace?: string } | undefined;
    const ns = meta?.namespace;
    if (v === undefined || ns === undefined || ns === '') continue;
    const list = results.get(ns) ?? [];
    results.set(ns, list);
    list.push({
      policy: POLICY_REPORT.name,
      rule: f.code,
      ...(RULE_BY_ID.get(f.code) ? { category: RULE_BY_ID.get(f.code)?.name } : {}),
      result: f.suppression ? 'skip' : f.severity === 'error' ? 'fail' : 'warn',
      severity: SEVERITY[f.severity as keyof typeof SEVERITY] ?? 'info',
      message: f.message,
      source: 'phiguard',
      scored: true,
      resources: [
        { apiVersion: String(v['apiVersion']), kind: String(v['kind']), name: meta?.name ?? '', namespace: ns },
      ],
      timestamp: { seconds: Math.floor(now.getTime() / 1000), nanos: 0 },
      ...(f.path !== '' ? { properties: { path: f.path } } : {}),
    });
  }
  return [...results.keys()].sort().map((ns) => {
    const r = results.get(ns) ?? [];
    const count = (what: string): number => r.filter((x) => x['result'] === what).length;
    return {
      apiVersion: POLICY_REPORT.apiVersion,
      kind: POLICY_REPORT.kind,
      metadata: {
        name: POLICY_REPORT.name,
        namespace: ns,
        labels: { 'app.kubernetes.io/managed-by': 'phiguard' },
      },
      summary: { fail: count('fail'), warn: count('warn'), skip: count('skip') },
      results: r,
    } as KubernetesObject;
  });
}

/** Whether the API server serves PolicyReport in wgpolicyk8s.io/v1alpha2 (discovery). */
export async function policyReportServed(kc: KubeConfig): Promise<boolean> {
  const r = await kubeRequest(kc, 'GET', `/apis/${POLICY_REPORT.apiVersion}`);
  if (r.status !== 200) return false;
  const resources = (r.body['resources'] ?? []) as Array<{ name?: string; kind?: string }>;
  return resources.some((x) => x.name === 'policyreports' && x.kind === POLICY_REPORT.kind);
}

/**
 * Writes the PolicyReports (server-side apply as field manager `phiguard-check`, `auto` when the CRD is served) and
 * returns what goes to stdout: in text output, the reports as YAML when they were not applied; a line per report
 * applied goes to stderr, as do notes for machine formats (JSON, SARIF), which stay parseable.
 */
export async function policyReportOutput(
  kc: KubeConfig,
  findings: readonly CheckFinding[],
  cluster: { docs: readonly ManifestDoc[]; namespaces: readonly string[] },
  options: { mode: 'auto' | 'print'; format: string; now: Date },
): Promise<string> {
  const reports = policyReports(findings, cluster.docs, cluster.namespaces, options.now);
  if (reports.length === 0) return '';
  if (options.mode === 'auto' && (await policyReportServed(kc))) {
    const items = reports.map((o) => ({ object: o, source: 'check --cluster' }));
    const { results } = await serverSideApply(kc, items, {
      dryRun: false,
      force: true,
      fieldManager: 'phiguard-check',
    });
    for (const r of results)
      process.stderr.write(`${r.name}: ${r.error ? `not applied: ${r.error.message}` : r.outcome}\n`);
    return '';
  }
  if (options.format !== 'text') {
    if (options.mode === 'auto')
      process.stderr.write('note: PolicyReport (wgpolicyk8s.io/v1alpha2) is not served; none applied\n');
    return '';
  }
  return reports.map((r) => `---\n${stringify(r)}`).join('');
}
