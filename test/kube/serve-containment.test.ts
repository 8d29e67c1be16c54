/**
 * Two `serve` replicas with `--containment-from cluster:phiguard-system` share a containment through the loopback
 * API server (the ConfigMaps validated with kubernetes-models): a violation at replica A soft-quarantines the agent at
 * A at once and at replica B within a measured bound, with no shared directory; `contain lift --cluster` restores it
 * at both, and A's audit trail records who lifted it and why.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createCheckClient } from '../../generator/call/index.js';
import { cli } from '../helpers/cli.js';
import { startKubeApiServer, type KubeApiServer } from '../helpers/kube-api-server.js';
import { builtinResource } from '../helpers/kube-schemas.js';
import { startTestServer } from '../helpers/server.js';
import { policyYaml, tempDir, timelessRegistry } from '../helpers/temp.js';

const P = 'spiffe://cluster.local/ns/lab/sa/lab';
const out = (host: string): Record<string, unknown> => ({
  attributes: {
    source: { principal: P },
    request: { http: { method: 'POST', path: '/v1/x', host, scheme: 'https', headers: {} } },
  },
});
const rules = `    - name: reads
      allow: fhir.interaction in ["read", "search-type"]
    - name: model
      allow: request.host == "contoso-health.openai.azure.com"`;

const t = tempDir();
let api: KubeApiServer;

beforeAll(async () => {
  api = await startKubeApiServer([await builtinResource('v1', 'ConfigMap', 'configmaps', true)], t.dir);
});
afterAll(async () => {
  await api.close();
  t.remove();
});

const reason = async (c: ReturnType<typeof createCheckClient>, host: string): Promise<string | undefined> => {
  const res = await c.check(out(host));
  const d = res['denied_response'] as { body: string } | undefined;
  return d
    ? (JSON.parse(d.body) as { issue: Array<{ details: { coding: Array<{ code: string }> } }> }).issue[0]?.details
        .coding[0]?.code
    : 'allowed';
};

describe('serve --containment-from cluster', () => {
  test('two replicas share a containment entered at one through the API; a lift through the API ends it at both', async () => {
    timelessRegistry(path.join(t.dir, 'registry.yaml'));
    const files = { 'lab.yaml': policyYaml('lab', rules, `principal: ${P}`) };
    const cfg = {
      containmentFrom: 'cluster:phiguard-system',
      kubeconfig: api.kubeconfig,
      baaRegistry: path.join(t.dir, 'registry.yaml'),
    };
    const a = await startTestServer({ ...cfg, replica: 'r1' }, files);
    const b = await startTestServer({ ...cfg, replica: 'r2' }, files);
    const ca = createCheckClient(a.addr);
    const cb = createCheckClient(b.addr);
    try {
      expect(await reason(cb, 'contoso-health.openai.azure.com')).toBe('allowed');
      const start = performance.now();
      expect(await reason(ca, 'api.unknown-llm.example')).toBe('no-rule-matched');
      expect(await reason(ca, 'contoso-health.openai.azure.com')).toBe('contained');
      let lag = 0;
      while ((await reason(cb, 'contoso-health.openai.azure.com')) !== 'contained') {
        lag = performance.now() - start;
        if (lag > 5000) throw new Error('replica B never saw the containment');
      }
      lag = performance.now() - start;
      process.stderr.write(`serve replicas, violation at A -> contained at B through the API: ${lag.toFixed(1)} ms\n`);
      expect(lag).toBeLessThan(1000);
      const cms = api.list('v1', 'ConfigMap');
      expect(cms).toHaveLength(1);
      expect(api.rejected).toEqual([]);
      const lift = await cli([
        'contain',
        'lift',
        'lab',
        '--cluster',
        'phiguard-system',
        '--kubeconfig',
        api.kubeconfig,
        '--by',
        'dr-oncall',
        '--reason',
        'reviewed: INC-7',
      ]);
      expect(lift.code).toBe(0);
      const liftStart = performance.now();
      while (
        (await reason(ca, 'contoso-health.openai.azure.com')) !== 'allowed' ||
        (await reason(cb, 'contoso-health.openai.azure.com')) !== 'allowed'
      )
        if (performance.now() - liftStart > 5000) throw new Error('the lift did not reach both replicas');
      await a.server.close();
      const records = readFileSync(a.auditFile, 'utf8');
      expect(records).toContain('"type":"containment-entered"');
      expect(records).toMatch(
        /"type":"containment-ended".*dr-oncall.*reviewed: INC-7|"type":"containment-ended".*reviewed: INC-7.*dr-oncall/,
      );
    } finally {
      ca.close();
      cb.close();
      await a.server.close().catch(() => undefined);
      await b.server.close();
    }
  }, 30_000);

  test('--containment-from cluster with --containment-dir as well: the service does not start', async () => {
    await expect(
      startTestServer(
        { containmentFrom: 'cluster:phiguard-system', kubeconfig: api.kubeconfig, containmentDir: t.dir },
        { 'lab.yaml': policyYaml('lab', rules, `principal: ${P}`) },
      ),
    ).rejects.toThrow('--containment-from cluster:phiguard-system and --containment-dir: give one of them');
  });
});
