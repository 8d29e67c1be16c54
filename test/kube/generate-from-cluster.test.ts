/**
 * `generate cilium --from-cluster` against the loopback API server: each CiliumNetworkPolicy selects the workload's
 * pods by the live Deployment's own selector (not the envelope's labels, nor the template's version label); a
 * workload the cluster does not have keeps its envelope labels and fails the run (exit 1).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { cli } from '../helpers/cli.js';
import { startKubeApiServer, type KubeApiServer } from '../helpers/kube-api-server.js';
import { seed } from '../helpers/kube-cluster.js';
import { builtinResource } from '../helpers/kube-schemas.js';
import { tempDir } from '../helpers/temp.js';

const t = tempDir();
let api: KubeApiServer;

beforeAll(async () => {
  const resources = [await builtinResource('apps/v1', 'Deployment', 'deployments', true)];
  api = await startKubeApiServer(resources, t.dir);
  seed(api, resources, 'test/kube/fixtures/from-cluster/cluster.yaml');
});
afterAll(async () => {
  await api.close();
  t.remove();
});

const selectorOf = (file: string): unknown =>
  (parse(readFileSync(file, 'utf8')) as { spec: { endpointSelector: unknown } }).spec.endpointSelector;

describe('generate cilium --from-cluster', () => {
  test("the endpointSelector is the live workload's selector; a workload not in the cluster fails the run", async () => {
    const out = path.join(t.dir, 'cnp');
    const r = await cli([
      'generate',
      'cilium',
      '--envelopes',
      'examples/envelopes',
      '--out',
      out,
      '--baa',
      'examples/baa/registry.yaml',
      '--from-cluster',
      '--kubeconfig',
      api.kubeconfig,
    ]);
    expect(r.code).toBe(1);
    expect(selectorOf(path.join(out, 'scribe.phiguard-ambient-scribe.yaml'))).toEqual({
      matchLabels: { app: 'scribe', tier: 'agent' },
    });
    expect(selectorOf(path.join(out, 'cds.phiguard-sepsis-advisor.yaml'))).toEqual({
      matchLabels: { 'app.kubernetes.io/name': 'sepsis-advisor' },
    });
    expect(r.err).toContain(
      'from cluster: Deployment scribe/ambient-scribe: pods selected by {"app":"scribe","tier":"agent"} as scribe-runner',
    );
    expect(r.err).toContain(
      "error: from cluster: Deployment prior-auth/pa-bot: not in the cluster; its envelope's labels are used",
    );
    expect(selectorOf(path.join(out, 'prior-auth.phiguard-pa-bot.yaml'))).toEqual({
      matchLabels: { 'app.kubernetes.io/name': 'pa-bot' },
    });
  });
});
