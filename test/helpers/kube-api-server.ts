/**
 * A loopback HTTPS server that speaks the Kubernetes API for the endpoints phiguard uses, so the cluster side is
 * tested end to end without a cluster (none can run here). It follows the API conventions
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/):
 * - discovery: `/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>` (APIVersions, APIGroupList, APIResourceList);
 * - list (a `<Kind>List` with `metadata.resourceVersion`, `labelSelector` by equality and existence) and watch
 *   (`?watch=true`: newline-delimited watch events from `resourceVersion`; `BOOKMARK`s only with
 *   `allowWatchBookmarks=true`; a `resourceVersion` older than the compaction point gets an `ERROR` event carrying a
 *   410 Gone Status and the stream ends, as etcd compaction does; `timeoutSeconds`);
 * - get, create (POST), delete, and PATCH: server-side apply (`application/apply-patch+yaml`, `fieldManager`
 *   required, `force`, managed fields per leaf with 409 Conflict naming the other manager's fields, removal of the
 *   fields a manager stops applying), JSON merge patch (`application/merge-patch+json`), `dryRun=All` (validated,
 *   answered, not stored); strategic merge patch is 415 as for custom resources;
 * - the `status` subresource (the main resource ignores `status`, `/status` changes only `status`), `generation`
 *   bumped on a change outside metadata and status;
 * - bearer-token authentication (401), per-verb denials (403 Forbidden), 404 NotFound, and injected faults (a 500 on
 *   the next matching request, a watch closed cleanly, a watch expired with 410);
 * - every object written is validated against the schema registered for its kind (the real one: kubernetes-models
 *   for built-in kinds, the CRD's openAPIV3Schema for custom resources): an invalid object is a 422 Invalid, and is
 *   recorded in `rejected` so a test can assert that phiguard sent none.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { selfSignedLoopbackCertificate } from './kube-cert.js';

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    generation?: number;
    uid?: string;
    creationTimestamp?: string;
    managedFields?: unknown[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
};

/** A resource the server serves. `validate` returns the schema errors of an object (none: valid). */
export interface KubeResource {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  /** Has a `status` subresource. */
  status?: boolean;
  validate?: (obj: unknown) => string[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string;
  body: string;
  status: number;
}

export interface Fault {
  method?: string;
  /** The request path starts with this. */
  pathPrefix?: string;
  /** Only watch requests (true) or only non-watch ones (false). */
  watch?: boolean;
  status: number;
  /** How many matching requests fail (default 1). */
  times?: number;
}

export interface KubeApiServer {
  url: string;
  /** A kubeconfig file (context `loopback`) trusting the server's certificate, with the bearer token. */
  kubeconfig: string;
  token: string;
  requests: RecordedRequest[];
  /** Objects a write carried that failed their schema (the 422s), with the errors. */
  rejected: Array<{ object: unknown; errors: string[] }>;
  /** Stores an object as another client would (create or replace), and notifies watches. */
  put(obj: KubeObject): KubeObject;
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
  remove(apiVersion: string, kind: string, namespace: string | undefined, name: string): void;
  list(apiVersion: string, kind: string): KubeObject[];
  /** Fails the next matching request(s) with this status. */
  fail(fault: Fault): void;
  /** Denies a verb on a resource (plural, optionally `plural/subresource`) with 403 Forbidden. */
  forbid(verb: string, resource: string): void;
  /** Sends a BOOKMARK at the current resourceVersion to every watch that asked for bookmarks. */
  bookmark(): void;
  /** Ends every open watch cleanly (as the API server does at its timeout). */
  closeWatches(): void;
  /** Compacts history to now: every open watch gets an ERROR 410 Gone and ends; older versions cannot be watched. */
  expireWatches(): void;
  openWatches(): number;
  resourceVersion(): number;
  close(): Promise<void>;
}

interface Watcher {
  res: KubeResource;
  namespace: string | undefined;
  selector: string | undefined;
  bookmarks: boolean;
  response: ServerResponse;
}

interface StoredEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
}

const apiVersionOf = (r: KubeResource): string => (r.group === '' ? r.version : `${r.group}/${r.version}`);

function statusBody(code: number, reason: string, message: string, details?: Record<string, unknown>): string {
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  });
}

/** Equality-based and existence label selectors (`a=b,c!=d,e,!f`). */
export function matchesSelector(labels: Record<string, string> | undefined, selector: string | undefined): boolean {
  if (selector === undefined || selector === '') return true;
  const l = labels ?? {};
  return selector.split(',').every((term) => {
    const t = term.trim();
    const ne = /^([^!=]+)!=(.*)$/.exec(t);
    if (ne) return l[ne[1] ?? ''] !== ne[2];
    const eq = /^([^!=]+)==?(.*)$/.exec(t);
    if (eq) return l[eq[1] ?? ''] === eq[2];
    if (t.startsWith('!')) return !(t.slice(1) in l);
    return t in l;
  });
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Leaf paths of an applied configuration (objects merge by key; lists and scalars are leaves, as atomic lists). */
function leaves(v: Json, prefix: string[] = [], out = new Map<string, Json>()): Map<string, Json> {
  if (isObject(v) && Object.keys(v).length > 0) {
    for (const [k, x] of Object.entries(v)) leaves(x, [...prefix, k], out);
  } else {
    out.set(JSON.stringify(prefix), v);
  }
  return out;
}

function getAt(obj: Record<string, Json>, p: string[]): Json | undefined {
  let cur: Json | undefined = obj;
  for (const k of p) cur = isObject(cur) ? cur[k] : undefined;
  return cur;
}

function setAt(obj: Record<string, Json>, p: string[], value: Json): void {
  let cur = obj;
  p.slice(0, -1).forEach((k) => {
    if (!isObject(cur[k])) cur[k] = {};
    cur = cur[k];
  });
  cur[p[p.length - 1] ?? ''] = value;
}

function deleteAt(obj: Record<string, Json>, p: string[]): void {
  const parents: Array<[Record<string, Json>, string]> = [];
  let cur: Json | undefined = obj;
  for (const k of p.slice(0, -1)) {
    if (!isObject(cur)) return;
    parents.push([cur, k]);
    cur = cur[k];
  }
  if (!isObject(cur)) return;
  delete cur[p[p.length - 1] ?? ''];
  for (const [parent, k] of parents.reverse()) {
    const child = parent[k];
    if (isObject(child) && Object.keys(child).length === 0) delete parent[k];
  }
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k] ?? null, v);
  }
  return out;
}

/** The part of an object a write may change: everything but status (main resource), or only status (`/status`). */
function scopeOf(p: string[], sub: string | undefined, hasStatus: boolean): boolean {
  if (p[0] === 'metadata') return sub === undefined && (p[1] === 'labels' || p[1] === 'annotations');
  if (p[0] === 'apiVersion' || p[0] === 'kind') return false;
  if (!hasStatus) return true;
  return sub === 'status' ? p[0] === 'status' : p[0] !== 'status';
}

/** managedFields entries (FieldsV1) from the owner map. */
function managedFields(owners: Map<string, string>, apiVersion: string): unknown[] {
  const byManager = new Map<string, Record<string, Json>>();
  for (const [key, manager] of owners) {
    const tree = byManager.get(manager) ?? {};
    byManager.set(manager, tree);
    const p = (JSON.parse(key) as string[]).map((k) => `f:${k}`);
    setAt(tree, p, {});
  }
  return [...byManager].map(([manager, fieldsV1]) => ({
    manager,
    operation: manager.endsWith('#update') ? 'Update' : 'Apply',
    apiVersion,
    fieldsType: 'FieldsV1',
    fieldsV1,
  }));
}

export async function startKubeApiServer(resources: KubeResource[], dir: string): Promise<KubeApiServer> {
  const cert = selfSignedLoopbackCertificate();
  const token = randomBytes(16).toString('hex');
  const objects = new Map<string, KubeObject>();
  /** Per object: leaf path -> manager. */
  const owners = new Map<string, Map<string, string>>();
  const events = new Map<KubeResource, StoredEvent[]>();
  const watchers = new Set<Watcher>();
  const faults: Array<Fault & { left: number }> = [];
  const forbidden = new Set<string>();
  const requests: RecordedRequest[] = [];
  const rejected: KubeApiServer['rejected'] = [];
  let rv = 1;
  let compactedRv = 0;

  const keyOf = (r: KubeResource, ns: string | undefined, name: string): string =>
    `${r.plural}.${r.group}/${r.namespaced ? (ns ?? '') : ''}/${name}`;
  const byKind = (apiVersion: string, kind: string): KubeResource => {
    const r = resources.find((x) => apiVersionOf(x) === apiVersion && x.kind === kind);
    if (!r) throw new Error(`kube-api-server: ${apiVersion} ${kind} is not served`);
    return r;
  };

  const end = (w: Watcher): void => {
    watchers.delete(w);
    w.response.end();
  };
  const send = (w: Watcher, type: string, object: unknown): void => {
    if (w.response.writableEnded) return;
    w.response.write(`${JSON.stringify({ type, object })}\n`);
  };
  const notify = (r: KubeResource, type: StoredEvent['type'], object: KubeObject): void => {
    const list = events.get(r) ?? [];
    events.set(r, list);
    list.push({ rv: Number(object.metadata.resourceVersion), type, object: structuredClone(object) });
    for (const w of watchers) {
      if (w.res !== r) continue;
      if (w.namespace !== undefined && object.metadata.namespace !== w.namespace) continue;
      if (!matchesSelector(object.metadata.labels, w.selector)) continue;
      send(w, type, object);
    }
  };

  const store = (r: KubeResource, obj: KubeObject, previous: KubeObject | undefined): KubeObject => {
    rv += 1;
    obj.metadata.resourceVersion = String(rv);
    objects.set(keyOf(r, obj.metadata.namespace, obj.metadata.name), obj);
    notify(r, previous ? 'MODIFIED' : 'ADDED', obj);
    return obj;
  };

  /** Fills server-set metadata and the generation (bumped when anything but metadata and status changed). */
  const finish = (r: KubeResource, obj: KubeObject, previous: KubeObject | undefined): KubeObject => {
    const { metadata: m0, status: s0, ...rest0 } = previous ?? ({ metadata: {} } as unknown as KubeObject);
    const { metadata: m1, status: s1, ...rest1 } = obj;
    void m0;
    void s0;
    void m1;
    void s1;
    const changed = previous === undefined || JSON.stringify(rest0) !== JSON.stringify(rest1);
    obj.metadata.uid = previous?.metadata.uid ?? randomBytes(8).toString('hex');
    obj.metadata.creationTimestamp = previous?.metadata.creationTimestamp ?? new Date().toISOString();
    obj.metadata.generation = (previous?.metadata.generation ?? 0) + (changed ? 1 : 0);
    if (!r.namespaced) delete obj.metadata.namespace;
    return obj;
  };

  const put = (obj: KubeObject): KubeObject => {
    const r = byKind(obj.apiVersion, obj.kind);
    const previous = objects.get(keyOf(r, obj.metadata.namespace, obj.metadata.name));
    return store(r, finish(r, structuredClone(obj), previous), previous);
  };

  const reply = (res: ServerResponse, code: number, body: string, contentType = 'application/json'): number => {
    res.writeHead(code, { 'content-type': contentType });
    res.end(body);
    return code;
  };
  const failure = (res: ServerResponse, code: number, reason: string, message: string, details?: object): number =>
    reply(res, code, statusBody(code, reason, message, details as Record<string, unknown>));

  const discovery = (pathname: string, res: ServerResponse): number | undefined => {
    if (pathname === '/api') return reply(res, 200, JSON.stringify({ kind: 'APIVersions', versions: ['v1'] }));
    if (pathname === '/apis') {
      const groups = [...new Set(resources.filter((r) => r.group !== '').map((r) => r.group))].map((g) => {
        const versions = [...new Set(resources.filter((r) => r.group === g).map((r) => r.version))].map((v) => ({
          groupVersion: `${g}/${v}`,
          version: v,
        }));
        return { name: g, versions, preferredVersion: versions[0] };
      });
      return reply(res, 200, JSON.stringify({ kind: 'APIGroupList', apiVersion: 'v1', groups }));
    }
    const gv = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(pathname);
    if (!gv) return undefined;
    const group = gv[2] ?? '';
    const version = gv[1] ?? gv[3] ?? '';
    const served = resources.filter((r) => r.group === group && r.version === version);
    if (served.length === 0) return failure(res, 404, 'NotFound', 'the server could not find the requested resource');
    const list = served.flatMap((r) => {
      const main = {
        name: r.plural,
        singularName: r.kind.toLowerCase(),
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
      };
      const status = { name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind };
      return r.status ? [main, { ...status, verbs: ['get', 'patch', 'update'] }] : [main];
    });
    return reply(
      res,
      200,
      JSON.stringify({
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: group ? `${group}/${version}` : version,
        resources: list,
      }),
    );
  };

  const startWatch = (r: KubeResource, ns: string | undefined, q: URLSearchParams, res: ServerResponse): number => {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const w: Watcher = {
      res: r,
      namespace: ns,
      selector: q.get('labelSelector') ?? undefined,
      bookmarks: q.get('allowWatchBookmarks') === 'true',
      response: res,
    };
    const from = q.get('resourceVersion') ?? '';
    const fromRv = Number(from);
    if (from !== '' && from !== '0' && fromRv < compactedRv) {
      res.write(
        `${JSON.stringify({
          type: 'ERROR',
          object: JSON.parse(
            statusBody(410, 'Expired', `too old resource version: ${from} (${compactedRv})`),
          ) as unknown,
        })}\n`,
      );
      res.end();
      return 200;
    }
    const visible = (o: KubeObject): boolean =>
      (ns === undefined || o.metadata.namespace === ns) && matchesSelector(o.metadata.labels, w.selector);
    if (from === '' || from === '0') {
      for (const [k, o] of objects) if (k.startsWith(`${r.plural}.${r.group}/`) && visible(o)) send(w, 'ADDED', o);
    } else {
      for (const e of events.get(r) ?? []) if (e.rv > fromRv && visible(e.object)) send(w, e.type, e.object);
    }
    watchers.add(w);
    res.on('close', () => watchers.delete(w));
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    if (timeout > 0) setTimeout(() => end(w), timeout * 1000).unref();
    return 200;
  };

  const apply = (
    r: KubeResource,
    ns: string | undefined,
    name: string,
    sub: string | undefined,
    q: URLSearchParams,
    contentType: string,
    body: string,
    res: ServerResponse,
  ): number => {
    const key = keyOf(r, ns, name);
    const previous = objects.get(key);
    let patch: Json;
    try {
      patch = (contentType.startsWith('application/apply-patch+yaml') ? YAML.parse(body) : JSON.parse(body)) as Json;
    } catch (e) {
      return failure(res, 400, 'BadRequest', `the body could not be decoded: ${(e as Error).message}`);
    }
    if (!isObject(patch)) return failure(res, 400, 'BadRequest', 'the patch is not an object');
    const manager = q.get('fieldManager') ?? '';
    const ownersNow = new Map(owners.get(key) ?? []);
    let next: Record<string, Json>;
    if (contentType.startsWith('application/apply-patch+yaml')) {
      if (manager === '')
        return failure(
          res,
          422,
          'Invalid',
          'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
        );
      const meta = isObject(patch['metadata']) ? patch['metadata'] : {};
      if (patch['apiVersion'] !== apiVersionOf(r) || patch['kind'] !== r.kind || meta['name'] !== name)
        return failure(res, 400, 'BadRequest', 'apiVersion, kind and metadata.name must match the request path');
      if (r.namespaced && meta['namespace'] !== undefined && meta['namespace'] !== ns)
        return failure(res, 400, 'BadRequest', 'the namespace of the object does not match the request path');
      if (previous === undefined && sub === 'status')
        return failure(res, 404, 'NotFound', `${r.plural}.${r.group} "${name}" not found`, {
          name,
          group: r.group,
          kind: r.plural,
        });
      const applied = new Map([...leaves(patch)].filter(([k]) => scopeOf(JSON.parse(k) as string[], sub, !!r.status)));
      next = structuredClone(
        (previous ?? { apiVersion: apiVersionOf(r), kind: r.kind, metadata: { name } }) as Json,
      ) as Record<string, Json>;
      const conflicts: Array<{ field: string; manager: string }> = [];
      for (const [k, v] of applied) {
        const owner = ownersNow.get(k);
        const current = getAt(next, JSON.parse(k) as string[]);
        if (owner !== undefined && owner !== manager && JSON.stringify(current) !== JSON.stringify(v))
          conflicts.push({ field: (JSON.parse(k) as string[]).join('.'), manager: owner });
      }
      if (conflicts.length > 0 && q.get('force') !== 'true')
        return failure(
          res,
          409,
          'Conflict',
          `Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? 's' : ''}: ${conflicts
            .map((c) => `conflict with "${c.manager}": .${c.field}`)
            .join(', ')}`,
          {
            causes: conflicts.map((c) => ({
              reason: 'FieldManagerConflict',
              message: `conflict with "${c.manager}"`,
              field: `.${c.field}`,
            })),
          },
        );
      for (const [k, owner] of [...ownersNow]) {
        if (owner !== manager || applied.has(k)) continue;
        if (!scopeOf(JSON.parse(k) as string[], sub, !!r.status)) continue;
        deleteAt(next, JSON.parse(k) as string[]); // a field this manager no longer applies is removed
        ownersNow.delete(k);
      }
      for (const [k, v] of applied) {
        setAt(next, JSON.parse(k) as string[], structuredClone(v));
        ownersNow.set(k, manager);
      }
    } else if (contentType.startsWith('application/merge-patch+json')) {
      if (previous === undefined)
        return failure(res, 404, 'NotFound', `${r.plural}.${r.group} "${name}" not found`, {
          name,
          group: r.group,
          kind: r.plural,
        });
      const scoped: Record<string, Json> = {};
      for (const [k, v] of leaves(patch))
        if (scopeOf(JSON.parse(k) as string[], sub, !!r.status)) setAt(scoped, JSON.parse(k) as string[], v);
      next = mergePatch(structuredClone(previous as Json), scoped) as Record<string, Json>;
      for (const k of leaves(scoped).keys()) ownersNow.set(k, `${manager || 'unknown'}#update`);
    } else {
      return failure(
        res,
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format: ${contentType}`,
      );
    }
    const obj = finish(r, next as unknown as KubeObject, previous);
    if (ns !== undefined) obj.metadata.namespace = ns;
    obj.metadata.managedFields = managedFields(ownersNow, apiVersionOf(r));
    const errors = r.validate?.(obj) ?? [];
    if (errors.length > 0) {
      rejected.push({ object: obj, errors });
      return failure(res, 422, 'Invalid', `${r.kind}.${r.group} "${name}" is invalid: ${errors.join('; ')}`);
    }
    if (q.get('dryRun') === 'All') {
      obj.metadata.resourceVersion = previous?.metadata.resourceVersion ?? '';
      return reply(res, previous ? 200 : 201, JSON.stringify(obj));
    }
    owners.set(key, ownersNow);
    store(r, obj, previous);
    return reply(res, previous ? 200 : 201, JSON.stringify(obj));
  };

  const handle = (req: IncomingMessage, body: string, res: ServerResponse): number => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    if (req.headers.authorization !== `Bearer ${token}`) return failure(res, 401, 'Unauthorized', 'Unauthorized');
    const isWatch = q.get('watch') === 'true' || q.get('watch') === '1';
    const fault = faults.find(
      (f) =>
        f.left > 0 &&
        (f.method === undefined || f.method === method) &&
        (f.pathPrefix === undefined || url.pathname.startsWith(f.pathPrefix)) &&
        (f.watch === undefined || f.watch === isWatch),
    );
    if (fault) {
      fault.left -= 1;
      return failure(res, fault.status, fault.status === 500 ? 'InternalError' : 'Unknown', 'injected fault');
    }
    const d = discovery(url.pathname, res);
    if (d !== undefined) return d;
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/(.+)$/.exec(url.pathname);
    if (!m) return failure(res, 404, 'NotFound', 'the server could not find the requested resource');
    const group = m[2] ?? '';
    const version = m[1] ?? m[3] ?? '';
    const segs = (m[4] ?? '').split('/');
    let ns: string | undefined;
    if (segs[0] === 'namespaces' && segs.length >= 3) {
      ns = segs[1];
      segs.splice(0, 2);
    }
    const [plural, name, sub] = segs;
    const r = resources.find((x) => x.group === group && x.version === version && x.plural === plural);
    if (!r) return failure(res, 404, 'NotFound', 'the server could not find the requested resource');
    const verb =
      method === 'GET'
        ? name === undefined
          ? isWatch
            ? 'watch'
            : 'list'
          : 'get'
        : method === 'PATCH'
          ? 'patch'
          : method === 'POST'
            ? 'create'
            : method === 'DELETE'
              ? 'delete'
              : method === 'PUT'
                ? 'update'
                : method.toLowerCase();
    const resourceName = sub ? `${plural}/${sub}` : (plural ?? '');
    if (forbidden.has(`${verb} ${resourceName}`))
      return failure(
        res,
        403,
        'Forbidden',
        `${resourceName}${r.group ? `.${r.group}` : ''} is forbidden: User "system:serviceaccount:test:phiguard" cannot ${verb} resource "${resourceName}" in API group "${r.group}"${ns ? ` in the namespace "${ns}"` : ''}`,
        { kind: plural, group: r.group, ...(name ? { name } : {}) },
      );
    if (sub !== undefined && !(sub === 'status' && r.status))
      return failure(res, 404, 'NotFound', 'the server could not find the requested resource');
    if (name === undefined) {
      if (method === 'GET') {
        if (isWatch) return startWatch(r, ns, q, res);
        const selector = q.get('labelSelector') ?? undefined;
        const items = [...objects]
          .filter(([k]) => k.startsWith(`${r.plural}.${r.group}/`))
          .map(([, o]) => o)
          .filter(
            (o) => (ns === undefined || o.metadata.namespace === ns) && matchesSelector(o.metadata.labels, selector),
          );
        return reply(
          res,
          200,
          JSON.stringify({
            apiVersion: apiVersionOf(r),
            kind: `${r.kind}List`,
            metadata: { resourceVersion: String(rv) },
            items,
          }),
        );
      }
      if (method === 'POST') {
        const obj = JSON.parse(body) as KubeObject;
        if (ns !== undefined) obj.metadata.namespace = ns;
        if (objects.has(keyOf(r, ns, obj.metadata.name)))
          return failure(res, 409, 'AlreadyExists', `${r.plural}.${r.group} "${obj.metadata.name}" already exists`);
        const errors = r.validate?.(obj) ?? [];
        if (errors.length > 0) {
          rejected.push({ object: obj, errors });
          return failure(res, 422, 'Invalid', errors.join('; '));
        }
        const created = finish(r, obj, undefined);
        if (q.get('dryRun') !== 'All') store(r, created, undefined);
        return reply(res, 201, JSON.stringify(created));
      }
      return failure(res, 405, 'MethodNotAllowed', `${method} is not supported on a collection`);
    }
    const key = keyOf(r, ns, name);
    const notFound = (): number =>
      failure(res, 404, 'NotFound', `${r.plural}${r.group ? `.${r.group}` : ''} "${name}" not found`, {
        name,
        group: r.group,
        kind: plural,
      });
    if (method === 'GET') {
      const o = objects.get(key);
      return o ? reply(res, 200, JSON.stringify(o)) : notFound();
    }
    if (method === 'DELETE') {
      const o = objects.get(key);
      if (!o) return notFound();
      if (q.get('dryRun') !== 'All') {
        objects.delete(key);
        owners.delete(key);
        rv += 1;
        o.metadata.resourceVersion = String(rv);
        notify(r, 'DELETED', o);
      }
      return reply(res, 200, JSON.stringify(o));
    }
    if (method === 'PATCH') return apply(r, ns, name, sub, q, req.headers['content-type'] ?? '', body, res);
    return failure(res, 405, 'MethodNotAllowed', `${method} is not supported here`);
  };

  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'https://127.0.0.1');
      let status: number;
      try {
        status = handle(req, body, res);
      } catch (e) {
        status = failure(res, 500, 'InternalError', `kube-api-server: ${(e as Error).message}`);
      }
      requests.push({
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        contentType: req.headers['content-type'] ?? '',
        body,
        status,
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfig = path.join(dir, 'kubeconfig.yaml');
  writeFileSync(
    kubeconfig,
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'loopback',
          cluster: { server: url, 'certificate-authority-data': Buffer.from(cert.certPem).toString('base64') },
        },
      ],
      users: [{ name: 'phiguard', user: { token } }],
      contexts: [{ name: 'loopback', context: { cluster: 'loopback', user: 'phiguard', namespace: 'default' } }],
      'current-context': 'loopback',
    }),
    { mode: 0o600 },
  );

  return {
    url,
    kubeconfig,
    token,
    requests,
    rejected,
    put,
    get: (apiVersion, kind, namespace, name) => {
      const r = byKind(apiVersion, kind);
      return objects.get(keyOf(r, namespace, name));
    },
    remove: (apiVersion, kind, namespace, name) => {
      const r = byKind(apiVersion, kind);
      const key = keyOf(r, namespace, name);
      const o = objects.get(key);
      if (!o) return;
      objects.delete(key);
      owners.delete(key);
      rv += 1;
      o.metadata.resourceVersion = String(rv);
      notify(r, 'DELETED', o);
    },
    list: (apiVersion, kind) => {
      const r = byKind(apiVersion, kind);
      return [...objects].filter(([k]) => k.startsWith(`${r.plural}.${r.group}/`)).map(([, o]) => o);
    },
    fail: (fault) => faults.push({ ...fault, left: fault.times ?? 1 }),
    forbid: (verb, resource) => forbidden.add(`${verb} ${resource}`),
    bookmark: () => {
      for (const w of watchers)
        if (w.bookmarks)
          send(w, 'BOOKMARK', {
            kind: w.res.kind,
            apiVersion: apiVersionOf(w.res),
            metadata: { resourceVersion: String(rv) },
          });
    },
    closeWatches: () => {
      for (const w of [...watchers]) end(w);
    },
    expireWatches: () => {
      rv += 1;
      compactedRv = rv;
      for (const w of [...watchers]) {
        send(w, 'ERROR', JSON.parse(statusBody(410, 'Expired', 'too old resource version')) as unknown);
        end(w);
      }
    },
    openWatches: () => watchers.size,
    resourceVersion: () => rv,
    close: async () => {
      for (const w of [...watchers]) end(w);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
