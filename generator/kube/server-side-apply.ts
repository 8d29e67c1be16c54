/**
 * Server-side apply of a set of objects as one field manager
 * (https://kubernetes.io/docs/reference/using-api/server-side-apply/): every object is first applied with
 * `dryRun=All`, so the API server validates and merges all of them before any is written; only when every dry run
 * succeeds are they applied for real (unless only the dry run was asked for). A conflict with another manager's
 * fields (409) stops the set unless `force` takes those fields over, as `kubectl apply --server-side
 * --force-conflicts` does. Each result carries the diff from the live object to the server's answer.
 */
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { objectName, type ApplyItem } from './apply-set.js';
import { apiErrorCode, apiErrorMessage } from './live-objects.js';
import { diffObjects, type FieldChange } from './object-diff.js';

export const FIELD_MANAGER = 'phiguard';

export interface ApplyResult {
  item: ApplyItem;
  name: string;
  /** `created`, `configured`, `unchanged` (dry run: what it would be), or `failed`. */
  outcome: 'created' | 'configured' | 'unchanged' | 'failed';
  changes: FieldChange[];
  /** The API server's refusal (409 Conflict, 422 Invalid, 403 Forbidden, ...). */
  error?: { code: number | undefined; message: string };
}

export interface ApplyOptions {
  dryRun: boolean;
  force: boolean;
  fieldManager?: string;
}

async function readLive(api: KubernetesObjectApi, o: KubernetesObject): Promise<KubernetesObject | undefined> {
  try {
    return await api.read({
      apiVersion: o.apiVersion ?? '',
      kind: o.kind ?? '',
      metadata: { name: o.metadata?.name ?? '', ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}) },
    });
  } catch (e) {
    if (apiErrorCode(e) === 404) return undefined;
    throw e;
  }
}

/** Applies `items`; the results in order, and whether anything was written. */
export async function serverSideApply(
  kc: KubeConfig,
  items: readonly ApplyItem[],
  options: ApplyOptions,
): Promise<{ results: ApplyResult[]; written: boolean }> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const manager = options.fieldManager ?? FIELD_MANAGER;
  const patch = (o: KubernetesObject, dryRun: boolean): Promise<KubernetesObject> =>
    api.patch(o, undefined, dryRun ? 'All' : undefined, manager, options.force, PatchStrategy.ServerSideApply);
  const results: ApplyResult[] = [];
  for (const item of items) {
    const name = objectName(item.object);
    try {
      const live = await readLive(api, item.object);
      const next = await patch(item.object, true);
      const changes = diffObjects(live, next);
      results.push({
        item,
        name,
        outcome: live === undefined ? 'created' : changes.length > 0 ? 'configured' : 'unchanged',
        changes,
      });
    } catch (e) {
      results.push({
        item,
        name,
        outcome: 'failed',
        changes: [],
        error: { code: apiErrorCode(e), message: apiErrorMessage(e) },
      });
    }
  }
  if (options.dryRun || results.some((r) => r.outcome === 'failed')) return { results, written: false };
  for (const r of results) {
    if (r.outcome === 'unchanged') continue;
    try {
      await patch(r.item.object, false);
    } catch (e) {
      r.outcome = 'failed';
      r.error = { code: apiErrorCode(e), message: apiErrorMessage(e) };
    }
  }
  return { results, written: true };
}
