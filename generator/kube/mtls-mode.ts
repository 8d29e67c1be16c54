/**
 * The effective Istio mTLS mode of a workload from the PeerAuthentications that apply to it, in Istio's precedence
 * (https://istio.io/latest/docs/reference/config/security/peer_authentication/): a policy in the workload's
 * namespace whose selector matches its pod labels, then the namespace-wide one (no selector), then the mesh-wide one
 * (no selector, in the root namespace); `UNSET` inherits from the next level; with none, Istio's default is
 * PERMISSIVE. Port-level overrides of the workload policy are reported beside the mode.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

export interface MtlsMode {
  /** STRICT, PERMISSIVE or DISABLE; `PERMISSIVE (default)` when no policy sets one. */
  mode: string;
  /** `namespace/name` of the PeerAuthentication that decides it. */
  from?: string;
  /** Ports whose mode differs (`8080=PERMISSIVE`). */
  ports: string[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parts(p: KubernetesObject): { ns: string; selector: Record<string, string> | undefined; mode: string } {
  const spec = (p as { spec?: unknown }).spec;
  const s = isObj(spec) ? spec : {};
  const sel = isObj(s['selector']) && isObj(s['selector']['matchLabels']) ? s['selector']['matchLabels'] : undefined;
  const labels =
    sel && Object.keys(sel).length > 0
      ? Object.fromEntries(Object.entries(sel).map(([k, v]) => [k, String(v)]))
      : undefined;
  const mode = isObj(s['mtls']) && typeof s['mtls']['mode'] === 'string' ? s['mtls']['mode'].toUpperCase() : '';
  return { ns: p.metadata?.namespace ?? '', selector: labels, mode: mode === 'UNSET' ? '' : mode };
}

export function effectiveMtls(
  peerAuthentications: readonly KubernetesObject[],
  namespace: string,
  podLabels: Record<string, string>,
  rootNamespace: string,
): MtlsMode {
  const pas = peerAuthentications.map((p) => ({ p, ...parts(p) }));
  const workload = pas.find(
    (x) => x.ns === namespace && x.selector && Object.entries(x.selector).every(([k, v]) => podLabels[k] === v),
  );
  const ns = pas.find((x) => x.ns === namespace && !x.selector);
  const mesh = pas.find((x) => x.ns === rootNamespace && !x.selector);
  const decided = [workload, ns, mesh].find((x) => x !== undefined && x.mode !== '');
  const ports: string[] = [];
  const portLevel = (workload?.p as { spec?: { portLevelMtls?: unknown } } | undefined)?.spec?.portLevelMtls;
  if (isObj(portLevel))
    for (const [port, cfg] of Object.entries(portLevel))
      if (isObj(cfg) && typeof cfg['mode'] === 'string') ports.push(`${port}=${cfg['mode'].toUpperCase()}`);
  if (!decided) return { mode: 'PERMISSIVE (default)', ports };
  return {
    mode: decided.mode,
    from: `${decided.ns}/${decided.p.metadata?.name ?? ''}`,
    ports,
  };
}
