/**
 * Containment through the API: two replicas' containment stores (each its own client and watch) share states
 * through the labelled ConfigMaps on the loopback API server (every ConfigMap written validated with
 * kubernetes-models). What one replica enters is in force at the other within a measured bound (the staleness
 * bound, printed and asserted); `phiguard contain lift --cluster` lifts it at both, and both report who lifted it and
 * why; a watch broken by 500s and a 410 still delivers; a write the API refuses keeps the state in force locally.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  containmentObjectName,
  loadKubeConfig,
  startClusterContainmentStore,
  type ClusterContainmentOptions,
} from '../../authz/kube/index.js';
import type { ContainmentEnd, ContainmentState, ContainmentStore } from '../../authz/containment/index.js';
import { cli } from '../helpers/cli.js';
import { startKubeApiServer, type KubeApiServer } from '../helpers/kube-api-server.js';
import { builtinResource } from '../helpers/kube-schemas.js';
import { tempDir } from '../helpers/temp.js';

const NS = 'phiguard';
const t = tempDir();
let api: KubeApiServer;
let a: ContainmentStore;
let b: ContainmentStore;
const ended: Array<{ replica: string; agent: string; end: ContainmentEnd }> = [];

const open = (replica: string, extra: Partial<ClusterContainmentOptions> = {}): Promise<ContainmentStore> =>
  startClusterContainmentStore({
    kc: loadKubeConfig(api.kubeconfig),
    namespace: NS,
    initialBackoffMs: 20,
    onChange: (agent, state, end) => {
      if (state === undefined && end) ended.push({ replica, agent, end: end.end });
    },
    ...extra,
  });

const entry = (agent: string, replica: string, minutes = 30): Parameters<ContainmentStore['enter']>[0] => ({
  agent,
  action: 'stop',
  trigger: 'baa-violation',
  since: new Date().toISOString(),
  until: new Date(Date.now() + minutes * 60_000).toISOString(),
  decisionId: `d-${agent}`,
  replica,
});

async function until(what: string, f: () => boolean, ms = 5000): Promise<number> {
  const start = performance.now();
  while (!f()) {
    if (performance.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
  return performance.now() - start;
}

beforeAll(async () => {
  api = await startKubeApiServer([await builtinResource('v1', 'ConfigMap', 'configmaps', true)], t.dir);
  a = await open('a');
  b = await open('b');
});
afterAll(async () => {
  a.close();
  b.close();
  await api.close();
  t.remove();
});

describe('containment shared through the API', () => {
  test('an entry at one replica is in force at the other within the measured bound', async () => {
    const lags: number[] = [];
    for (let i = 0; i < 20; i++) {
      const agent = `agent-${i}`;
      const start = performance.now();
      const state = a.enter(entry(agent, 'a'), () => []);
      expect(a.get(agent, Date.now())).toEqual(state); // in force here at once
      await until(`${agent} at b`, () => b.get(agent, Date.now()) !== undefined);
      lags.push(performance.now() - start);
      expect(b.get(agent, Date.now())).toEqual(state);
    }
    const sorted = [...lags].sort((x, y) => x - y);
    const max = sorted[sorted.length - 1] ?? 0;
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    process.stderr.write(
      `containment through the API, entry at replica a -> in force at replica b: median ${median.toFixed(1)} ms, max ${max.toFixed(1)} ms over ${lags.length}\n`,
    );
    expect(max).toBeLessThan(1000);
    const cm = api.get('v1', 'ConfigMap', NS, containmentObjectName('agent-0'));
    expect(cm?.metadata.labels?.['phiguard.io/containment']).toBe('true');
    expect(JSON.parse((cm?.['data'] as Record<string, string>)['state.json'] ?? '{}')).toMatchObject({
      agent: 'agent-0',
      action: 'stop',
    });
    expect(api.rejected).toEqual([]);
  });

  test('contain lift --cluster: lifted at both replicas, each reporting who and why', async () => {
    const start = performance.now();
    const r = await cli([
      'contain',
      'lift',
      'agent-3',
      '--cluster',
      NS,
      '--kubeconfig',
      api.kubeconfig,
      '--by',
      'dr-oncall',
      '--reason',
      'false positive: INC-42',
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('lifted containment of agent-3 (stop), by dr-oncall: false positive: INC-42');
    await until(
      'lift at both',
      () => a.get('agent-3', Date.now()) === undefined && b.get('agent-3', Date.now()) === undefined,
    );
    const lag = performance.now() - start;
    process.stderr.write(`contain lift --cluster -> lifted at both replicas: ${lag.toFixed(1)} ms\n`);
    for (const replica of ['a', 'b'])
      expect(ended.find((e) => e.replica === replica && e.agent === 'agent-3')?.end).toMatchObject({
        how: 'lifted',
        by: 'dr-oncall',
        reason: 'false positive: INC-42',
      });
    const again = await cli([
      'contain',
      'lift',
      'agent-3',
      '--cluster',
      NS,
      '--kubeconfig',
      api.kubeconfig,
      '--reason',
      'x',
    ]);
    expect(again.code).toBe(1);
    expect(again.out).toContain('agent-3 was not contained');
    expect((await cli(['contain', 'lift', 'agent-3', '--reason', 'x'])).code).toBe(2);
  });

  test('a watch broken by a 500 and a 410 still delivers; a new replica starts with the states in force', async () => {
    api.fail({ pathPrefix: `/api/v1/namespaces/${NS}/configmaps`, watch: true, status: 500, times: 2 });
    api.closeWatches();
    a.enter(entry('after-500', 'a'), () => []);
    await until('after-500 at b', () => b.get('after-500', Date.now()) !== undefined, 10_000);
    api.expireWatches();
    a.enter(entry('after-410', 'a'), () => []);
    await until('after-410 at b', () => b.get('after-410', Date.now()) !== undefined, 10_000);
    const c = await open('c');
    try {
      expect(c.list(Date.now()).map((s: ContainmentState) => s.agent)).toEqual(
        expect.arrayContaining(['agent-0', 'after-500', 'after-410']),
      );
      expect(c.get('agent-3', Date.now())).toBeUndefined();
    } finally {
      c.close();
    }
  });

  test('a write the API refuses: in force at the entering replica, retried until it lands', async () => {
    api.fail({ method: 'PATCH', pathPrefix: `/api/v1/namespaces/${NS}/configmaps`, status: 500, times: 1 });
    const errors: string[] = [];
    const d = await open('d', { onWriteError: (agent) => errors.push(agent) });
    try {
      d.enter(entry('refused-once', 'd'), () => []);
      expect(d.get('refused-once', Date.now())).toBeDefined();
      await until('refused-once at b', () => b.get('refused-once', Date.now()) !== undefined, 10_000);
      expect(errors).toEqual(['refused-once']);
    } finally {
      d.close();
    }
  });
});
