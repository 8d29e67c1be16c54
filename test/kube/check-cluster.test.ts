/**
 * `phiguard check --cluster` end to end against the loopback API server seeded with
 * test/kube/fixtures/discover/cluster.yaml: the same rules find the same problems in the live objects as in the
 * file; the AgentPolicies read from the cluster stand in for --policies (PHG003); the findings become one
 * wgpolicyk8s.io/v1alpha2 PolicyReport per namespace, server-side applied when the CRD is served (the server validates
 * each against the upstream CRD's schema, test/kube/fixtures/wgpolicyk8s-policyreport-v1alpha2.crd.yaml) and printed
 * otherwise (validated here against the same schema).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect } from '@jest/globals';
import { parse, parseAllDocuments } from 'yaml';
import { cli } from '../helpers/cli.js';
import type { KubeApiServer } from '../helpers/kube-api-server.js';
import { startCluster } from '../helpers/kube-cluster.js';
import { crdResource } from '../helpers/kube-schemas.js';
import { sharedDir, testWhenShared } from '../helpers/shared.js';
import { tempDir } from '../helpers/temp.js';

const FIXTURE = 'test/kube/fixtures/discover/cluster.yaml';
const policyReport = crdResource(
  parse(readFileSync('test/kube/fixtures/wgpolicyk8s-policyreport-v1alpha2.crd.yaml', 'utf8')),
);
const cilium = sharedDir('cilium');
const it = testWhenShared(cilium, 'phiguard check --cluster against the Cilium CRD');
const t1 = tempDir();
const t2 = tempDir();
let withReports: KubeApiServer | undefined;
let without: KubeApiServer | undefined;

interface Row {
  ruleId: string;
  object?: string;
  file: string;
  message: string;
}
interface Report {
  metadata: { name: string; namespace: string };
  summary: { fail: number; warn: number; skip: number };
  results: Array<{ rule: string; result: string; severity: string; resources: Array<{ kind: string; name: string }> }>;
}

beforeAll(async () => {
  if (cilium === undefined) return;
  withReports = await startCluster(t1.dir, cilium, FIXTURE, [policyReport]);
  without = await startCluster(t2.dir, cilium, FIXTURE);
});
afterAll(async () => {
  await withReports?.close();
  await without?.close();
  t1.remove();
  t2.remove();
});

const rowsOf = (out: string): Row[] => (JSON.parse(out) as { findings: Row[] }).findings;
const key = (r: Row): string => `${r.ruleId} ${r.object ?? r.file}`;

describe('phiguard check --cluster', () => {
  it('the same rules find the same problems live as in the file; AgentPolicies stand in for --policies', async () => {
    const live = await cli([
      'check',
      '--cluster',
      '--agent-namespaces',
      'cds',
      '--format',
      'json',
      '--policy-reports',
      'none',
      '--kubeconfig',
      without?.kubeconfig ?? '',
    ]);
    const files = await cli(['check', FIXTURE, '--agent-namespaces', 'cds', '--format', 'json']);
    expect(live.code).toBe(1);
    expect(files.code).toBe(1);
    const liveKeys = rowsOf(live.out)
      .map(key)
      .filter((k) => !k.startsWith('PHG'));
    const fileKeys = rowsOf(files.out).map(key);
    expect(liveKeys.sort()).toEqual(fileKeys.sort());
    expect(liveKeys).toEqual(
      expect.arrayContaining([
        'CIL001 StatefulSet/cds/sepsis-advisor',
        'K8S001 RoleBinding/prior-auth/pa-bot-ops',
        'K8S001 ClusterRoleBinding/sepsis-admin',
      ]),
    );
    const phg = rowsOf(live.out).filter((r) => r.ruleId === 'PHG003');
    expect(phg.map((r) => r.object)).toEqual(['StatefulSet/cds/sepsis-advisor']);
  });

  it('PolicyReports are server-side applied when the CRD is served, one per namespace, valid against it', async () => {
    const r = await cli([
      'check',
      '--cluster',
      '--agent-namespaces',
      'cds',
      '--kubeconfig',
      withReports?.kubeconfig ?? '',
    ]);
    expect(r.code).toBe(1);
    expect(r.out).not.toContain('apiVersion: wgpolicyk8s.io');
    for (const ns of ['cds', 'prior-auth', 'scribe', 'web'])
      expect(r.err).toContain(`PolicyReport ${ns}/phiguard-check: created`);
    expect(withReports?.rejected).toEqual([]);
    const reports = (withReports?.list('wgpolicyk8s.io/v1alpha2', 'PolicyReport') ?? []) as unknown as Report[];
    expect(reports.map((x) => x.metadata.namespace).sort()).toEqual([
      'cds',
      'istio-system',
      'prior-auth',
      'scribe',
      'web',
    ]);
    const pa = reports.find((x) => x.metadata.namespace === 'prior-auth');
    expect(pa?.results).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          rule: 'K8S001',
          result: 'fail',
          severity: 'high',
          resources: [expect.objectContaining({ kind: 'RoleBinding', name: 'pa-bot-ops' })],
        }),
      ]),
    );
    const web = reports.find((x) => x.metadata.namespace === 'web');
    expect(web?.results).toEqual([]);
    expect(web?.summary).toEqual({ fail: 0, warn: 0, skip: 0 });
    const managers = (withReports?.get('wgpolicyk8s.io/v1alpha2', 'PolicyReport', 'cds', 'phiguard-check')?.metadata
      .managedFields ?? []) as Array<{ manager: string }>;
    expect(managers.map((m) => m.manager)).toEqual(['phiguard-check']);
  });

  it('without the CRD: printed after the text output, valid against the CRD schema; JSON stays parseable', async () => {
    const r = await cli([
      'check',
      '--cluster',
      '-n',
      'cds,web',
      '--agent-namespaces',
      'cds',
      '--kubeconfig',
      without?.kubeconfig ?? '',
    ]);
    expect(r.code).toBe(1);
    const yaml = r.out.slice(r.out.indexOf('---\n'));
    const docs = parseAllDocuments(yaml).map((d) => d.toJS() as Report);
    expect(docs.map((d) => d.metadata.namespace)).toEqual(['cds', 'web']);
    for (const d of docs) expect(policyReport.validate?.(d)).toEqual([]);
    expect(docs[0]?.results.map((x) => x.rule)).toEqual(expect.arrayContaining(['CIL001', 'IST008']));
    const j = await cli(['check', '--cluster', '--format', 'json', '--kubeconfig', without?.kubeconfig ?? '']);
    expect(() => JSON.parse(j.out) as unknown).not.toThrow();
    expect(j.err).toContain('PolicyReport (wgpolicyk8s.io/v1alpha2) is not served; none applied');
  });

  it('usage: paths and --cluster together, or neither, exit 2', async () => {
    expect((await cli(['check', FIXTURE, '--cluster'])).code).toBe(2);
    expect((await cli(['check'])).code).toBe(2);
  });
});
