/**
 * Objects read from the API server, in the shapes the file-based tools use: a live object becomes a ManifestDoc
 * (its `file` is `cluster:<Kind>/<namespace>/<name>`, its line 1), so `check`'s rules and `discover` run on live
 * objects exactly as on rendered manifests. Listing a kind the cluster does not serve (a CRD not installed) is not
 * an error: the kind is reported missing.
 */
import { ApiException, KubernetesObjectApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { ManifestDoc } from '../check/index.js';

export interface LiveKind {
  apiVersion: string;
  kind: string;
  /** Cluster-scoped kinds (ClusterRole, ...) are listed once, whatever the namespaces. */
  clusterScoped?: boolean;
}

export interface LiveList {
  kind: LiveKind;
  items: KubernetesObject[];
  /** Why nothing was listed: the kind is not served, or the request failed (403 included). */
  missing?: string;
}

/** The message of an API error: the Status `message` when the body is one, else the error's text. */
export function apiErrorMessage(e: unknown): string {
  if (e instanceof ApiException) {
    const body: unknown = e.body;
    let parsed: unknown = body;
    if (typeof body === 'string') {
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = body;
      }
    }
    const message =
      typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string'
        ? (parsed as { message: string }).message
        : String(parsed);
    return `${e.code}: ${message}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** The HTTP status of an API error, when it is one. */
export const apiErrorCode = (e: unknown): number | undefined => (e instanceof ApiException ? e.code : undefined);

/** `cluster:<Kind>/<namespace>/<name>` (cluster-scoped: `cluster:<Kind>/<name>`). */
export function liveSource(o: KubernetesObject): string {
  const ns = o.metadata?.namespace;
  return `cluster:${o.kind ?? ''}/${ns !== undefined && ns !== '' ? `${ns}/` : ''}${o.metadata?.name ?? ''}`;
}

/** A live object as a manifest document; list items carry no apiVersion/kind, so the list's are filled in. */
export function liveDoc(o: KubernetesObject, kind: LiveKind, index = 0): ManifestDoc {
  const value = { ...o, apiVersion: o.apiVersion ?? kind.apiVersion, kind: o.kind ?? kind.kind } as Record<
    string,
    unknown
  >;
  return { file: liveSource(value), index, line: 1, value, lineOf: () => 1 };
}

/** Lists each kind in each namespace (undefined: all namespaces; cluster-scoped kinds are listed once). */
export async function listKinds(
  kc: KubeConfig,
  kinds: readonly LiveKind[],
  namespaces: readonly string[] | undefined,
): Promise<LiveList[]> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const out: LiveList[] = [];
  for (const kind of kinds) {
    const items: KubernetesObject[] = [];
    let missing: string | undefined;
    for (const ns of kind.clusterScoped === true ? [undefined] : (namespaces ?? [undefined])) {
      try {
        const list = await api.list(kind.apiVersion, kind.kind, ns);
        for (const o of list.items)
          items.push({ ...o, apiVersion: o.apiVersion ?? kind.apiVersion, kind: o.kind ?? kind.kind });
      } catch (e) {
        missing = apiErrorMessage(e);
        break;
      }
    }
    out.push(missing !== undefined ? { kind, items: [], missing } : { kind, items });
  }
  return out;
}
