/**
 * Containment state as Kubernetes objects: one ConfigMap per contained agent in the service's namespace, named
 * `phiguard-containment-<agent>-<hash>`, labelled `phiguard.io/containment=true`, whose `data["state.json"]` is the
 * same ContainmentState a state file holds (authz/containment/containment.ts, validated with its schema on every
 * read). Why a ConfigMap rather than a custom resource or a Lease: docs/kubernetes.md ("Containment through the
 * API"). Writes are server-side applies; a lift rewrites the state as lifted (who, why, when) and drops the patient
 * context, as `liftContainment` does for a file.
 */
import { createHash } from 'node:crypto';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { ContainmentStateSchema, inForce, type ContainmentState, type LiftRecord } from '../containment/index.js';
import { err, ok, PhiguardError, type Result } from '../model/index.js';
import { kubeRequest } from './kube-request.js';

export const CONTAINMENT_LABEL = 'phiguard.io/containment';
export const CONTAINMENT_KEY = 'state.json';
/** The annotation naming the agent (the object name is a DNS label derived from it). */
export const CONTAINMENT_AGENT_ANNOTATION = 'phiguard.io/agent';

/** `phiguard-containment-<agent as a DNS label, cut>-<8 hex of its SHA-256>`: unique, at most 63 characters. */
export function containmentObjectName(agent: string): string {
  const slug = agent
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 32);
  const hash = createHash('sha256').update(agent).digest('hex').slice(0, 8);
  return `phiguard-containment-${slug === '' ? 'agent' : slug}-${hash}`;
}

/** The `message` of a Status body. */
const messageOf = (body: Record<string, unknown>): string =>
  typeof body['message'] === 'string' ? body['message'] : '';

export const configMapsPath = (namespace: string): string => `/api/v1/namespaces/${namespace}/configmaps`;

/** The ConfigMap holding a state. */
export function containmentObject(namespace: string, state: ContainmentState): KubernetesObject & { data: object } {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: containmentObjectName(state.agent),
      namespace,
      labels: { [CONTAINMENT_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'phiguard' },
      annotations: { [CONTAINMENT_AGENT_ANNOTATION]: state.agent },
    },
    data: { [CONTAINMENT_KEY]: JSON.stringify(state) },
  };
}

/** The state a ConfigMap holds, or why not (not one of phiguard's, or not a valid state). */
export function stateOf(o: KubernetesObject): Result<ContainmentState> {
  const text = (o as { data?: Record<string, string> }).data?.[CONTAINMENT_KEY];
  const where = `configmap ${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  if (text === undefined) return err(new PhiguardError('data', `${where}: no ${CONTAINMENT_KEY}`));
  try {
    const r = ContainmentStateSchema.safeParse(JSON.parse(text));
    if (r.success) return ok(r.data);
    return err(new PhiguardError('data', `${where}: not a containment state (${r.error.issues[0]?.message ?? ''})`));
  } catch (e) {
    return err(new PhiguardError('data', `${where}: not JSON`, { cause: e }));
  }
}

/** Server-side applies a state (field manager `manager`; `force` takes over the fields another writer applied). */
export async function applyContainmentState(
  kc: KubeConfig,
  namespace: string,
  state: ContainmentState,
  manager: string,
  force = true,
): Promise<void> {
  const o = containmentObject(namespace, state);
  const r = await kubeRequest(kc, 'PATCH', `${configMapsPath(namespace)}/${o.metadata?.name ?? ''}`, {
    query: { fieldManager: manager, ...(force ? { force: 'true' } : {}) },
    contentType: 'application/apply-patch+yaml',
    body: JSON.stringify(o),
  });
  if (r.status !== 200 && r.status !== 201)
    throw new PhiguardError('io', `configmap ${namespace}/${o.metadata?.name ?? ''}: ${r.status} ${messageOf(r.body)}`);
}

/** The states in the namespace (those that parse), or an `io` error when they cannot be listed. */
export async function listContainmentStates(kc: KubeConfig, namespace: string): Promise<Result<ContainmentState[]>> {
  const r = await kubeRequest(kc, 'GET', configMapsPath(namespace), {
    query: { labelSelector: `${CONTAINMENT_LABEL}=true` },
  });
  if (r.status !== 200)
    return err(new PhiguardError('io', `configmaps in ${namespace}: ${r.status} ${messageOf(r.body)}`));
  const items = (r.body['items'] ?? []) as KubernetesObject[];
  return ok(
    items.flatMap((o) => {
      const s = stateOf(o);
      return s.ok ? [s.value] : [];
    }),
  );
}

/**
 * Lifts an agent's containment through the API: the state is rewritten as lifted (by, reason, at) without its
 * patient context, so every replica sees the lift and reports who ended it. `undefined` when the agent is not
 * contained.
 */
export async function liftClusterContainment(
  kc: KubeConfig,
  namespace: string,
  agent: string,
  lift: LiftRecord,
  manager = 'phiguard-contain',
): Promise<Result<ContainmentState | undefined>> {
  const name = containmentObjectName(agent);
  const r = await kubeRequest(kc, 'GET', `${configMapsPath(namespace)}/${name}`);
  if (r.status === 404) return ok(undefined);
  if (r.status !== 200)
    return err(new PhiguardError('io', `configmap ${namespace}/${name}: ${r.status} ${messageOf(r.body)}`));
  const cur = stateOf(r.body);
  if (!cur.ok) return cur;
  if (!inForce(cur.value, Date.parse(lift.at))) return ok(undefined);
  const lifted: ContainmentState = { ...cur.value, contextPatients: [], salt: '', lifted: lift };
  try {
    await applyContainmentState(kc, namespace, lifted, manager, true);
  } catch (e) {
    return err(e instanceof PhiguardError ? e : new PhiguardError('io', String(e)));
  }
  return ok(lifted);
}
