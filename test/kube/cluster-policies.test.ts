/**
 * `serve --policies-from cluster:demo,other` end to end: the real service (decision thread, gRPC Check) watching
 * AgentPolicy objects on the loopback API server. A policy applied with server-side apply is enforced within a
 * measured bound; an invalid one shows Ready=False/Invalid with the error and its field path while the last good set
 * stays in force (the others show Blocked); an object reaching outside its namespace is Invalid; a 500 on the watch
 * is survived. Every status phiguard writes validates against the CRD (the server refuses anything else).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { kubeRequest, loadKubeConfig } from '../../authz/kube/index.js';
import { createCheckClient, type CheckClient } from '../../generator/call/index.js';
import { startKubeApiServer, type KubeApiServer } from '../helpers/kube-api-server.js';
import { crdResource } from '../helpers/kube-schemas.js';
import { startThreadedTestServer, type ThreadedTestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const t = tempDir();
let api: KubeApiServer;
let svc: ThreadedTestServer;
let client: CheckClient;

const policy = (ns: string, name: string, allow: string, principalNs = ns): Record<string, unknown> => ({
  apiVersion: 'phiguard.io/v1alpha1',
  kind: 'AgentPolicy',
  metadata: { name, namespace: ns },
  spec: {
    selector: { principal: `spiffe://cluster.local/ns/${principalNs}/sa/${name}` },
    tier: 'live',
    rules: [{ name: 'reads', allow }],
  },
});

async function apply(obj: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const m = obj['metadata'] as { name: string; namespace: string };
  return kubeRequest(
    loadKubeConfig(api.kubeconfig),
    'PATCH',
    `/apis/phiguard.io/v1alpha1/namespaces/${m.namespace}/agentpolicies/${m.name}`,
    {
      query: { fieldManager: 'platform-team' },
      body: JSON.stringify(obj),
      contentType: 'application/apply-patch+yaml',
    },
  );
}

const check = async (principal: string, method = 'GET'): Promise<number> => {
  const r = await client.check({
    attributes: {
      source: { principal },
      request: { http: { method, path: '/fhir/Patient/p-1', host: 'fhir.hospital.internal', headers: {} } },
    },
  });
  return (r['status'] as { code: number }).code;
};

const ready = (ns: string, name: string): Record<string, unknown> | undefined =>
  (
    (
      api.get('phiguard.io/v1alpha1', 'AgentPolicy', ns, name)?.['status'] as
        { conditions?: Array<Record<string, unknown>> } | undefined
    )?.conditions ?? []
  ).find((c) => c['type'] === 'Ready');

async function until(what: string, f: () => boolean | Promise<boolean>, ms = 10_000): Promise<number> {
  const start = performance.now();
  while (!(await f())) {
    if (performance.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - start;
}

const DEMO = 'spiffe://cluster.local/ns/demo/sa/demo';

beforeAll(async () => {
  const crd = parse(readFileSync('deploy/crds/agentpolicy.yaml', 'utf8')) as unknown;
  api = await startKubeApiServer([crdResource(crd)], t.dir);
  expect((await apply(policy('demo', 'demo', 'request.method == "GET"'))).status).toBe(201);
  expect((await apply(policy('other', 'other', 'true'))).status).toBe(201);
  svc = await startThreadedTestServer({
    policies: undefined,
    policiesFrom: 'cluster:demo,other',
    kubeconfig: api.kubeconfig,
  });
  client = createCheckClient(svc.addr);
});
afterAll(async () => {
  client.close();
  await svc.stop();
  await api.close();
  t.remove();
});

describe('serve --policies-from cluster', () => {
  test('enforces the listed objects and reports them Ready=True/Compiled with the policy version', async () => {
    expect(await check(DEMO)).toBe(0);
    expect(await check(DEMO, 'DELETE')).toBe(7);
    await until('status', () => ready('demo', 'demo')?.['reason'] === 'Compiled');
    const obj = api.get('phiguard.io/v1alpha1', 'AgentPolicy', 'demo', 'demo');
    const status = obj?.['status'] as { observedGeneration: number; policyVersion: string };
    expect(status.observedGeneration).toBe(obj?.metadata.generation);
    expect(ready('demo', 'demo')?.['message']).toContain(status.policyVersion);
    const statusWrite = api.requests.find((r) => r.method === 'PATCH' && r.path.endsWith('/status'));
    expect(statusWrite?.query.get('fieldManager')).toBe('phiguard-serve');
    expect(statusWrite?.contentType).toBe('application/apply-patch+yaml');
  });

  test('a policy applied through the API is enforced within a measured bound', async () => {
    const samples: number[] = [];
    for (let i = 0; i < 6; i++) {
      const deny = i % 2 === 0;
      const r = await apply(policy('demo', 'demo', deny ? 'request.method == "POST"' : 'request.method == "GET"'));
      expect(r.status).toBe(200);
      samples.push(await until('enforcement', async () => (await check(DEMO)) === (deny ? 7 : 0)));
    }
    const max = Math.max(...samples);
    process.stderr.write(
      `apply -> enforcement (ms): ${samples.map((s) => s.toFixed(0)).join(', ')}; max ${max.toFixed(0)}\n`,
    );
    expect(max).toBeLessThan(1000);
  });

  test('an invalid object: Ready=False/Invalid with the error and field path, the last good set stays, the others Blocked', async () => {
    expect(await check(DEMO)).toBe(0); // the last apply allowed GET
    const r = await apply(policy('demo', 'demo', 'request.method == "DELETE" &&'));
    expect(r.status).toBe(200); // the schema accepts it; the CEL does not compile
    await until('Invalid', () => ready('demo', 'demo')?.['reason'] === 'Invalid');
    expect(ready('demo', 'demo')?.['status']).toBe('False');
    expect(String(ready('demo', 'demo')?.['message'])).toMatch(/^spec\.rules\[0\]\.allow: .*\(cel-compile-error\)/);
    await until('Blocked', () => ready('other', 'other')?.['reason'] === 'Blocked');
    expect(await check(DEMO)).toBe(0); // still the last good set
    expect(await check(DEMO, 'DELETE')).toBe(7);
    await apply(policy('demo', 'demo', 'request.method == "GET"'));
    await until(
      'Compiled again',
      () => ready('demo', 'demo')?.['reason'] === 'Compiled' && ready('other', 'other')?.['reason'] === 'Compiled',
    );
  });

  test('an object selecting an agent of another namespace is Invalid and grants nothing', async () => {
    const OTHER_SEL = policy('other', 'sneaky', 'true', 'demo');
    await apply(OTHER_SEL);
    await until('Invalid', () => ready('other', 'sneaky')?.['reason'] === 'Invalid');
    expect(String(ready('other', 'sneaky')?.['message'])).toContain('spec.selector.principal');
    expect(await check(DEMO, 'DELETE')).toBe(7);
    api.remove('phiguard.io/v1alpha1', 'AgentPolicy', 'other', 'sneaky');
    await until('recovered', () => ready('other', 'other')?.['reason'] === 'Compiled');
  });

  test('a schema-invalid object is refused by the API server (the CRD), so never reaches the service', async () => {
    const bad = policy('demo', 'bad', 'true');
    (bad['spec'] as Record<string, unknown>)['tier'] = 'bogus';
    expect((await apply(bad)).status).toBe(422);
  });

  test('a 500 on the watch, then a 410: the service keeps watching and enforces the next change', async () => {
    // two decision threads (small and bulk Checks), each with its policy store: one watch per thread and namespace
    await until('watches open', () => api.openWatches() === 4);
    api.fail({ watch: true, status: 500, times: 4 });
    api.closeWatches();
    await apply(policy('demo', 'demo', 'request.method == "POST"'));
    await until('enforced after the 500s', async () => (await check(DEMO)) === 7, 15_000);
    await until('watches open again', () => api.openWatches() === 4, 15_000);
    api.expireWatches();
    await apply(policy('demo', 'demo', 'request.method == "GET"'));
    await until('enforced after the relist', async () => (await check(DEMO)) === 0, 15_000);
    expect(api.rejected).toEqual([
      expect.objectContaining({ errors: expect.arrayContaining([expect.stringContaining('tier')]) }),
    ]);
  });
});
