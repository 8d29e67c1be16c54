/**
 * The egress lane: the same ext_authz service on the outbound path (Istio egress gateway or sidecar outbound).
 *
 * - Cloud metadata endpoints and the Kubernetes API server are denied for agents whatever the policy says, in every
 *   mode, unless the agent's policy names an explicit exception (which the decision and audit record carry).
 * - A request to an outside host (`:authority` not under an internal domain) is allowed only if the policy allows it
 *   AND an active BAA covers host:port at the moment of contact (45 CFR §164.504(e)). Without a registry, outside
 *   egress is denied (fail closed). The registry version is recorded with every egress decision.
 */
import type { EgressDecisionInfo, RequestAttributesModel } from '../model/index.js';

export type { EgressDecisionInfo } from '../model/index.js';
import type { BaaRegistry } from './baa-registry.js';
import { isApiServerHost, metadataTarget } from './protected-endpoints.js';

/** Internal host suffixes when none are configured: in-cluster names and private DNS zones. */
export const DEFAULT_INTERNAL_SUFFIXES: readonly string[] = [
  '.svc.cluster.local',
  '.svc',
  '.cluster.local',
  '.internal',
  '.local',
  '.localdomain',
];

export type EgressClass =
  | { kind: 'internal' }
  | { kind: 'hard'; target: string; host: string }
  | { kind: 'outside'; host: string; port: number };

export interface EgressOptions {
  /** Host suffixes that are in-cluster or internal (e.g. `.svc.cluster.local`, `.hospital.internal`). */
  internalSuffixes: readonly string[];
  /** API server addresses (KUBERNETES_SERVICE_HOST), treated like kubernetes.default. */
  apiServerAddresses?: readonly string[];
}

/** Splits an `:authority` into its lower-cased host (as written, brackets included) and explicit port, if any. */
export function splitAuthority(authority: string): { host: string; port: number | undefined } {
  const a = authority.toLowerCase();
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(a);
  return { host: m?.[1] ?? a, port: m?.[2] !== undefined ? Number(m[2]) : undefined };
}

export function hostPort(attrs: RequestAttributesModel): { host: string; port: number } {
  const a = splitAuthority(attrs.request.host);
  let host = a.host;
  if (host.startsWith('[') || host.endsWith(']')) host = host.replace(/^\[|\]$/g, '');
  if (host.endsWith('.')) host = host.slice(0, -1);
  const port =
    a.port ??
    (attrs.destination.port > 0n ? Number(attrs.destination.port) : attrs.request.scheme === 'http' ? 80 : 443);
  return { host, port };
}

export function classifyEgress(attrs: RequestAttributesModel, opts: EgressOptions): EgressClass {
  const { host, port } = hostPort(attrs);
  const dest = attrs.destination.address.toLowerCase();
  const hard = hardTarget(host, opts) ?? hardTarget(dest, opts);
  if (hard) return hard;
  // A single-label name (`fhir-server`) resolves through the pod's search path to an in-cluster Service.
  const singleLabel = !host.includes('.') && !host.includes(':');
  if (host === '' || host === 'localhost' || singleLabel || opts.internalSuffixes.some((s) => underSuffix(host, s)))
    return { kind: 'internal' };
  return { kind: 'outside', host, port };
}

function hardTarget(h: string, opts: EgressOptions): EgressClass | undefined {
  const meta = metadataTarget(h);
  if (meta !== undefined) return { kind: 'hard', target: meta, host: h };
  if (isApiServerHost(h) || (h !== '' && (opts.apiServerAddresses ?? []).includes(h)))
    return { kind: 'hard', target: 'kube-apiserver', host: h };
  return undefined;
}

/** `host` is the suffix's own name (`.svc` -> `svc`) or ends with it. */
function underSuffix(host: string, suffix: string): boolean {
  if (host.endsWith(suffix)) return true;
  return suffix.startsWith('.') ? host.length === suffix.length - 1 && suffix.endsWith(host) : host === suffix;
}

export function coverageInfo(
  registry: BaaRegistry | undefined,
  host: string,
  port: number,
  at: Date,
): EgressDecisionInfo {
  if (!registry)
    return {
      host,
      port,
      covered: false,
      reason: 'no-baa-registry',
      vendor: '',
      agreementId: '',
      registryVersion: 'none',
    };
  const c = registry.coverage(host, port, at);
  return c.covered
    ? {
        host,
        port,
        covered: true,
        reason: 'active-agreement',
        vendor: c.vendor,
        agreementId: c.agreementId,
        registryVersion: registry.version,
      }
    : {
        host,
        port,
        covered: false,
        reason: c.reason,
        vendor: c.vendor ?? '',
        agreementId: c.agreementId ?? '',
        registryVersion: registry.version,
      };
}
