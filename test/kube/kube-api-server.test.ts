/**
 * The loopback API server (test/helpers/kube-api-server.ts) speaks the API as client-node expects it, and the
 * reflector (authz/kube/reflector.ts) follows the watch contract over it: bookmarks, a clean close resumed from the
 * last version, a 410 that forces a relist, and a 500 that client-node's own informer would stop on.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../authz/kube/kube-config.js';
import { kubeRequest } from '../../authz/kube/kube-request.js';
import { startReflector, statusOf } from '../../authz/kube/reflector.js';
import { startKubeApiServer, type KubeApiServer } from '../helpers/kube-api-server.js';
import { builtinResource } from '../helpers/kube-schemas.js';
import { tempDir } from '../helpers/temp.js';

let server: KubeApiServer;
const t = tempDir();

const cm = (
  name: string,
  data: Record<string, string>,
  labels: Record<string, string> = {},
): {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  data: Record<string, string>;
} => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'ns1', labels },
  data,
});

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  server = await startKubeApiServer([await builtinResource('v1', 'ConfigMap', 'configmaps', true)], t.dir);
});
afterAll(async () => {
  await server.close();
  t.remove();
});

describe('the loopback API server through client-node', () => {
  test('discovery, server-side apply with a field manager, get, dry run, conflict, 404, 403', async () => {
    const kc = loadKubeConfig(server.kubeconfig);
    const api = KubernetesObjectApi.makeApiClient(kc);
    const created = await api.patch(
      cm('a', { k: 'v' }),
      undefined,
      undefined,
      'mgr-1',
      undefined,
      PatchStrategy.ServerSideApply,
    );
    expect((created.metadata as { resourceVersion?: string }).resourceVersion).toBe(String(server.resourceVersion()));
    expect(server.requests.some((r) => r.path === '/api/v1' && r.method === 'GET')).toBe(true); // discovery
    const apply = server.requests.find((r) => r.method === 'PATCH');
    expect(apply?.contentType).toBe('application/apply-patch+yaml');
    expect(apply?.query.get('fieldManager')).toBe('mgr-1');
    // dry run: answered with the result, nothing stored
    const dry = await api.patch(
      cm('a', { k: 'dry' }),
      undefined,
      'All',
      'mgr-1',
      undefined,
      PatchStrategy.ServerSideApply,
    );
    expect((dry as unknown as { data: Record<string, string> }).data['k']).toBe('dry');
    expect((server.get('v1', 'ConfigMap', 'ns1', 'a') as unknown as { data: Record<string, string> }).data['k']).toBe(
      'v',
    );
    // another manager changing mgr-1's field: 409 naming the field and the manager; force takes it over
    const conflict = await api
      .patch(cm('a', { k: 'other' }), undefined, undefined, 'mgr-2', undefined, PatchStrategy.ServerSideApply)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(statusOf(conflict)).toBe(409);
    expect(String((conflict as { body?: unknown }).body)).toContain('conflict with \\"mgr-1\\": .data.k');
    await api.patch(cm('a', { k: 'other' }), undefined, undefined, 'mgr-2', true, PatchStrategy.ServerSideApply);
    // a manager that stops applying a field removes it
    await api.patch(
      cm('b', { x: '1', y: '2' }),
      undefined,
      undefined,
      'mgr-1',
      undefined,
      PatchStrategy.ServerSideApply,
    );
    await api.patch(cm('b', { x: '1' }), undefined, undefined, 'mgr-1', undefined, PatchStrategy.ServerSideApply);
    expect((server.get('v1', 'ConfigMap', 'ns1', 'b') as unknown as { data: object }).data).toEqual({ x: '1' });
    const missing = await api
      .read({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'nope', namespace: 'ns1' } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(statusOf(missing)).toBe(404);
    server.forbid('get', 'configmaps');
    const denied = await kubeRequest(kc, 'GET', '/api/v1/namespaces/ns1/configmaps/a');
    expect(denied.status).toBe(403);
    expect(denied.body['reason']).toBe('Forbidden');
    // an apply without a field manager is refused, as by the API server
    const noManager = await kubeRequest(kc, 'PATCH', '/api/v1/namespaces/ns1/configmaps/a', {
      body: JSON.stringify(cm('a', {})),
      contentType: 'application/apply-patch+yaml',
    });
    expect(noManager.status).toBe(422);
    // an object that fails its schema is a 422 and recorded
    const invalid = await kubeRequest(kc, 'PATCH', '/api/v1/namespaces/ns1/configmaps/c', {
      query: { fieldManager: 'm' },
      body: JSON.stringify({ ...cm('c', {}), data: { k: 7 } }),
      contentType: 'application/apply-patch+yaml',
    });
    expect(invalid.status).toBe(422);
    expect(server.rejected).toHaveLength(1);
  });

  test('the reflector mirrors the collection through bookmarks, a clean close, a 410 relist and a 500', async () => {
    const kc = loadKubeConfig(server.kubeconfig);
    const seen: string[][] = [];
    const errors: number[] = [];
    const r = startReflector({
      kc,
      apiVersion: 'v1',
      kind: 'ConfigMap',
      path: '/api/v1/namespaces/ns1/configmaps',
      namespace: 'ns1',
      labelSelector: 'app=x',
      initialBackoffMs: 50,
      onChange: (objs) => seen.push(objs.map((o) => o.metadata?.name ?? '').sort()),
      onError: (e) => errors.push(statusOf(e) ?? 0),
    });
    const names = (): string =>
      r
        .objects()
        .map((o) => o.metadata?.name ?? '')
        .sort()
        .join(',');
    await r.synced;
    expect(names()).toBe('');
    server.put(cm('w1', { a: '1' }, { app: 'x' }));
    server.put(cm('other', { a: '1' }, { app: 'y' })); // outside the selector
    await until('w1', () => names() === 'w1');
    // a bookmark moves the mirror's version without an event
    await until('watch open', () => server.openWatches() === 1);
    server.put(cm('other', { a: '2' }, { app: 'y' }));
    server.bookmark();
    await until('bookmark', () => r.resourceVersion() === String(server.resourceVersion()));
    // a clean close: the watch resumes from the last version (no list), and sees what changed meanwhile
    const lists = (): number =>
      server.requests.filter((q) => q.method === 'GET' && q.path.endsWith('/configmaps') && !q.query.has('watch'))
        .length;
    const listsBefore = lists();
    server.closeWatches();
    server.put(cm('w2', { a: '1' }, { app: 'x' }));
    await until('w2 after a clean close', () => names() === 'w1,w2');
    expect(lists()).toBe(listsBefore);
    // 410 Gone: the reflector lists again and misses nothing
    await until('watch open', () => server.openWatches() === 1);
    server.expireWatches();
    server.put(cm('w3', { a: '1' }, { app: 'x' }));
    await until('w3 after a relist', () => names() === 'w1,w2,w3');
    expect(lists()).toBe(listsBefore + 1);
    // a 500 on the watch and on the list: retried with backoff, never given up
    await until('watch open', () => server.openWatches() === 1);
    server.fail({ watch: true, status: 500, times: 2 });
    server.closeWatches();
    server.remove('v1', 'ConfigMap', 'ns1', 'w1');
    await until('w1 removed after two 500s', () => names() === 'w2,w3');
    expect(errors.filter((c) => c === 500)).toHaveLength(2);
    server.fail({ watch: false, method: 'GET', pathPrefix: '/api/v1/namespaces/ns1/configmaps', status: 500 });
    await until('watch open', () => server.openWatches() === 1);
    server.expireWatches();
    server.put(cm('w4', { a: '1' }, { app: 'x' }));
    await until('w4 after a failed relist', () => names() === 'w2,w3,w4');
    expect(errors.filter((c) => c === 500)).toHaveLength(3);
    expect(r.restarts()).toBe(3);
    r.close();
  });
});
