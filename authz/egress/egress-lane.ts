/**
 * The egress lane: the same ext_authz service on the outbound path (Istio egress gateway or sidecar outbound).
 *
 * - Cloud metadata endpoints and the Kubernetes API server are denied for agents whatever the policy says, in every
 *   mode, unless the agent's policy names an explicit exception (which the decision and audit record carry). The
 *   `:authority` and the destination socket address are both checked, each in its canonical reading
 *   (canonical-host.ts), so no spelling of a protected address (`2852039166`, `[::ffff:a9fe:a9fe]:80`) gets past.
 * - A request to an outside host is allowed only if the policy allows it AND an active BAA covers host:port at the
 *   moment of contact (45 CFR §164.504(e)). Without a registry, outside egress is denied (fail closed). The registry
 *   version is recorded with every egress decision.
 * - Internal: a name under an internal suffix, a single-label name (`fhir-server`, resolved through the pod's DNS
 *   search path to an in-cluster Service), `localhost`, and an IP literal inside an operator's internal CIDR block.
 *   Any other IP literal is outside, private and loopback ranges included: an address says nothing about who holds
 *   it (a node, a NAT gateway, another tenant's pod), so it needs the operator's word or a BAA. A host no resolver
 *   reads (`1.2.3.4.5`, `[::g]`) is outside too. Without an authority, the destination address is the host.
 */
import type { EgressDecisionInfo, RequestAttributesModel } from '../model/index.js';

export type { EgressDecisionInfo } from '../model/index.js';
import type { BaaRegistry } from './baa-registry.js';
import {
  addressKeys,
  canonicalAuthority,
  canonicalHost,
  cidrContains,
  parseCidr,
  type CanonicalHost,
  type Cidr,
} from './canonical-host.js';
import { isApiServerName, metadataTargetOf, type HardDenyTarget } from './protected-endpoints.js';

/** Internal host suffixes when none are configured: in-cluster names and private DNS zones. */
export const DEFAULT_INTERNAL_SUFFIXES: readonly string[] = [
  '.svc.cluster.local',
  '.svc',
  '.cluster.local',
  '.internal',
  '.local',
  '.localdomain',
];

/**
 * Where a request goes. `hard` names every protected target the authority or the destination address reaches (a
 * policy exception must cover each); `host` is canonical (canonical-host.ts), never the spelling as written.
 */
export type EgressClass =
  | { kind: 'internal' }
  | { kind: 'hard'; targets: readonly HardDenyTarget[]; host: string }
  | { kind: 'outside'; host: string; port: number };

export interface EgressOptions {
  /** Host suffixes that are in-cluster or internal (e.g. `.svc.cluster.local`, `.hospital.internal`). */
  internalSuffixes: readonly string[];
  /**
   * Address blocks whose IP literals are internal (e.g. the pod and Service CIDRs, `10.0.0.0/8`; `phiguard serve
   * --internal-cidrs`). None by default: an IP literal is outside. A block that does not parse marks nothing
   * internal. A protected endpoint inside a block stays `hard`: protected targets are classified first.
   */
  internalCidrs?: readonly string[];
  /** API server addresses (KUBERNETES_SERVICE_HOST), treated like kubernetes.default, in any spelling. */
  apiServerAddresses?: readonly string[];
}

/** The options' address lists, read once per options object (the snapshot keeps one). */
interface Prepared {
  cidrs: readonly Cidr[];
  apiServer: readonly string[];
}
const PREPARED = new WeakMap<EgressOptions, Prepared>();

function prepared(opts: EgressOptions): Prepared {
  let p = PREPARED.get(opts);
  if (p === undefined) {
    p = {
      cidrs: (opts.internalCidrs ?? []).flatMap((c) => parseCidr(c) ?? []),
      apiServer: (opts.apiServerAddresses ?? [])
        .map((a) => canonicalHost(a))
        .filter((h) => h.kind !== 'none')
        .map((h) => h.host),
    };
    PREPARED.set(opts, p);
  }
  return p;
}

/** The protected targets a set of hosts reaches, each once. */
function hardTargets(hosts: readonly CanonicalHost[], p: Prepared): HardDenyTarget[] {
  const out: HardDenyTarget[] = [];
  const add = (t: HardDenyTarget): void => {
    if (!out.includes(t)) out.push(t);
  };
  for (const h of hosts) {
    const meta = metadataTargetOf(h);
    if (meta !== undefined) add(meta);
    if (isApiServerName(h) || (p.apiServer.length > 0 && addressKeys(h).some((k) => p.apiServer.includes(k))))
      add('kube-apiserver');
  }
  return out;
}

function isInternal(h: CanonicalHost, opts: EgressOptions, p: Prepared): boolean {
  switch (h.kind) {
    case 'none':
      return true; // neither an authority nor a destination address: nothing is reached
    case 'name':
      return isInternalName(h.host, opts.internalSuffixes);
    case 'ipv4':
    case 'ipv6':
      return p.cidrs.some((c) => cidrContains(c, h));
    case 'invalid':
      return false;
  }
}

/**
 * Classifies a request's destination: internal, a protected endpoint (hard deny), or outside (BAA coverage).
 *
 * @param attrs - the attribute model (`request.host` is the `:authority`; `destination` the upstream socket)
 * @param opts - internal suffixes and blocks, API server addresses
 * @returns the class; an outside host is canonical and its port the explicit, connected or scheme default one.
 */
export function classifyEgress(attrs: RequestAttributesModel, opts: EgressOptions): EgressClass {
  const p = prepared(opts);
  const auth = canonicalAuthority(attrs.request.host);
  const dest = canonicalHost(attrs.destination.address);
  const targets = hardTargets(auth.alternate ? [auth.host, auth.alternate, dest] : [auth.host, dest], p);
  const host = auth.host.kind === 'none' ? dest : auth.host;
  if (targets.length > 0) return { kind: 'hard', targets, host: host.host };
  if (isInternal(host, opts, p)) return { kind: 'internal' };
  const port =
    auth.port ??
    (attrs.destination.port > 0n ? Number(attrs.destination.port) : attrs.request.scheme === 'http' ? 80 : 443);
  return { kind: 'outside', host: host.host, port };
}

/**
 * Whether a canonical host name is internal: `localhost`, a single label (resolved through the pod's DNS search path
 * to an in-cluster Service), or a name under an internal suffix. The one reading of "internal" shared by the egress
 * lane (`serve --internal-domains`) and `generate cilium --internal-domains`.
 *
 * @param host - a canonical host name (lower case, no trailing dot; canonicalHost)
 * @param internalSuffixes - e.g. DEFAULT_INTERNAL_SUFFIXES
 */
export function isInternalName(host: string, internalSuffixes: readonly string[]): boolean {
  return (
    host === 'localhost' || !host.includes('.') || internalSuffixes.some((s) => underSuffix(host, s.toLowerCase()))
  );
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
