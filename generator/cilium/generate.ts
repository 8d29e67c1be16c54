/**
 * Envelopes -> one CiliumNetworkPolicy (cilium.io/v2) per workload, following ../shared/cilium/generator-rules.md
 * (Cilium v1.19). Pure and deterministic: same inputs, byte-identical output. User documentation: docs/cilium.md.
 *
 * Per workload:
 * - DNS: one L7 DNS rule toward the cluster DNS whose allow-list is every recorded name (the envelope's `dnsNames`
 *   and the hosts of allowed egress) plus its search-list expansions (dns-names.ts) — never `*`.
 * - Destinations, read as the egress lane reads them (canonical-host.ts, and `isInternalName` with the same
 *   `--internal-domains` default as `serve`):
 *   - a recorded in-cluster peer: `toEndpoints` by namespace plus labels or service account;
 *   - an in-cluster name without a recorded peer: not allowed (toFQDNs cannot select pods), an error finding;
 *   - an internal name outside the cluster (`fhir.hospital.internal` under `.internal`): `toFQDNs`, no BAA needed;
 *   - an outside name: `toFQDNs` only when an active BAA covers host and port at `at`; in egress-gateway mode no
 *     toFQDNs at all, only `toEndpoints` to the gateway pods (outside traffic leaves through the gateway's ext_authz);
 *   - an IP literal inside `--internal-cidrs` (as `serve` reads it): `toCIDRSet` with that one address;
 *   - any other IP literal: not allowed, an error finding.
 * - L7 per rule (l7-choice.ts): HTTP rules only for plaintext outside the mesh on a non-TLS port; `serverNames` for
 *   TLS to a DNS name; otherwise L4. The reason for each rule is in the `phiguard.io/rules` annotation.
 * - Mesh (Istio sidecar): the sidecar's own egress to istiod (15012: xDS and certificates).
 * - egressDeny: every cloud metadata address (exact /32, /128) and `toEntities: [kube-apiserver]`.
 * - Ingress (option): default-deny, allowing only the callers other envelopes of the same run recorded.
 * Recorded traffic the policy does not allow becomes a finding with the envelope evidence; `error` findings make
 * `phiguard generate cilium` exit 1.
 */
import { createHash } from 'node:crypto';
import type { BaaRegistry, CanonicalHost, Envelope, EnvelopeEgress } from '../../authz/index.js';
import {
  canonicalHost,
  isApiServerName,
  metadataEndpointAt,
  metadataTargetOf,
  METADATA_ENDPOINTS,
  METADATA_HOSTS,
} from '../../authz/index.js';
import {
  cidrContains,
  DEFAULT_INTERNAL_SUFFIXES,
  isInternalName,
  parseCidr,
  type Cidr,
} from '../../authz/egress/index.js';
import type { Finding, FindingSeverity } from '../../authz/model/index.js';
import { isDnsName, searchListNames, searchListPatterns, type DnsSearch } from './dns-names.js';
import { chooseL7, type L7Choice } from './l7-choice.js';
import { matchLabelsOf, podSelectorText, type PodSelector } from './pod-selector.js';

/** Whether workloads run an Istio sidecar: detected from their pod labels, or set for all. */
export const MESH_MODES = ['auto', 'istio', 'none'] as const;
export type MeshMode = (typeof MESH_MODES)[number];

/** The Istio egress gateway outside traffic must leave through, and the gateway pods' listener ports. */
export interface EgressGateway {
  selector: PodSelector;
  ports: readonly number[];
}

/** istiod as a sidecar reaches it: its pods and the name the sidecar resolves (its discoveryAddress host). */
export interface Istiod {
  selector: PodSelector;
  host: string;
}

export interface GenerateOptions {
  registry: BaaRegistry | undefined;
  /** Time at which BAA coverage is evaluated. */
  at: Date;
  clusterDomain?: string;
  /** The DNS backend pods' port (5353 on OpenShift). */
  dnsPort?: number;
  /** The cluster DNS pods (default kube-dns in kube-system). */
  dnsSelector?: PodSelector;
  /** Search domains beyond the cluster's own, as in the pods' resolv.conf (node domains). */
  dnsSearch?: readonly string[];
  /** Internal host suffixes, as `serve --internal-domains` (default DEFAULT_INTERNAL_SUFFIXES). */
  internalDomains?: readonly string[];
  /** Blocks whose IP literals are internal, as `serve --internal-cidrs` (default none). */
  internalCidrs?: readonly string[];
  /** Istio sidecars: `auto` (pod labels or a SPIFFE principal, the default), `istio` (every workload), `none`. */
  mesh?: MeshMode;
  /** istiod (default `istio-system/app=istiod`, `istiod.istio-system.svc`). */
  istiod?: Istiod;
  /** Outside traffic only to these gateway pods; no toFQDNs. Implies the mesh for every workload. */
  egressGateway?: EgressGateway;
  /** Default-deny ingress with the callers recorded in the other envelopes of the run. */
  ingress?: boolean;
  /** Named metadata exceptions to honour when the envelope shows the traffic (e.g. `eks-pod-identity`). */
  allowMetadata?: readonly string[];
  generatorVersion?: string;
}

/** The codes generation emits: recorded traffic the generated policy does not allow, and why. */
export const GENERATOR_FINDING_CODES = {
  noEndpointSelector: 'no-endpoint-selector',
  metadataException: 'metadata-exception',
  egressToMetadataEndpoint: 'egress-to-metadata-endpoint',
  egressToKubeApiserver: 'egress-to-kube-apiserver',
  mixedTransport: 'mixed-transport',
  inClusterPeerUnknown: 'in-cluster-peer-unknown',
  egressToIpLiteral: 'egress-to-ip-literal',
  egressNotCoveredByBaa: 'egress-not-covered-by-baa',
  dnsNameInvalid: 'dns-name-invalid',
  ingressNoRecordedCallers: 'ingress-no-recorded-callers',
} as const;
export type GeneratorFindingCode = (typeof GENERATOR_FINDING_CODES)[keyof typeof GENERATOR_FINDING_CODES];
const C = GENERATOR_FINDING_CODES;

export type CiliumPolicy = Record<string, unknown>;

/**
 * Policies, and findings about the envelopes they come from: `workload` names the envelope, `path` its field
 * (`spec.egress[2]`), `evidence` what was recorded. Envelopes are merged from replicas, so `file` is ''.
 */
export interface GenerateResult {
  policies: Array<{ name: string; namespace: string; policy: CiliumPolicy }>;
  findings: Finding<GeneratorFindingCode>[];
}

/** kube-dns / CoreDNS as kubeadm, EKS, GKE and AKS label it (the upstream examples' selector). */
export const DEFAULT_DNS_SELECTOR: PodSelector = { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } };

/**
 * istiod as the Istio Helm charts label it (`app: istiod`) and the host a sidecar dials by default
 * (`discoveryAddress: istiod.istio-system.svc:15012`).
 */
export const DEFAULT_ISTIOD: Istiod = {
  selector: { namespace: 'istio-system', labels: { app: 'istiod' } },
  host: 'istiod.istio-system.svc',
};

/**
 * istiod's xDS and CA port, TLS (Istio docs, ops/deployment/application-requirements "Ports used by Istio"). 15017
 * (webhooks) is called by the API server, 15010 is plaintext xDS and 15014 monitoring: a sidecar needs none of them.
 */
export const ISTIOD_XDS_PORT = 15012;

/**
 * The egress gateway's container port for the BAA lane: 443, where the `istio/gateway` chart's pods listen (Service
 * 443 -> 443). docs/deploy.md: the gateway must listen on the port the BAA registry covers, because phiguard reads the
 * destination port from the gateway's listener.
 */
export const DEFAULT_EGRESS_GATEWAY_PORTS: readonly number[] = [443];

function sortedObject<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function policyName(e: Envelope): string {
  return `phiguard-${e.spec.workload.name}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63)
    .replace(/-+$/, '');
}

/** The pods of a workload, as an endpoint selector's matchLabels; {} when the envelope names neither. */
function workloadLabels(w: Envelope['spec']['workload']): Record<string, string> {
  if (Object.keys(w.podLabels).length > 0) return sortedObject(w.podLabels);
  if (w.serviceAccount !== '') return { 'io.cilium.k8s.policy.serviceaccount': w.serviceAccount };
  return {};
}

/**
 * Whether the envelope shows an Istio sidecar: a label Istio's injector sets on a pod it gives a sidecar or that
 * requests one (`sidecar.istio.io/inject`, `security.istio.io/tlsMode`; Istio docs, setup/additional-setup/
 * sidecar-injection), or a SPIFFE principal — the mTLS identity Envoy reports to phiguard, which a workload has
 * only from the mesh. `sidecar.istio.io/inject: "false"` wins. Guessing "mesh" wrongly only adds the istiod rule
 * and leaves HTTP checks to phiguard; guessing "no mesh" wrongly cuts the sidecar off from istiod.
 */
function runsIstioSidecar(w: Envelope['spec']['workload']): boolean {
  const labels = w.podLabels;
  if (labels['sidecar.istio.io/inject'] === 'false') return false;
  return (
    labels['sidecar.istio.io/inject'] === 'true' ||
    labels['security.istio.io/tlsMode'] === 'istio' ||
    w.principal.startsWith('spiffe://')
  );
}

/** In-cluster by name alone: a single label, `*.svc`, or under the cluster domain. toFQDNs cannot select pods. */
function isClusterName(host: string, domain: string): boolean {
  return !host.includes('.') || host.endsWith('.svc') || host === domain || host.endsWith(`.${domain}`);
}

function portsOf(e: EnvelopeEgress): Array<{ port: string; protocol: string }> {
  return [{ port: String(e.port), protocol: e.protocol }];
}

function toPortsFor(e: EnvelopeEgress, l7: L7Choice): Array<Record<string, unknown>> {
  const entry: Record<string, unknown> = { ports: portsOf(e) };
  if (l7.kind === 'sni') entry['serverNames'] = l7.serverNames;
  if (l7.kind === 'http') entry['rules'] = { http: l7.rules };
  return [entry];
}

type Find = (
  severity: FindingSeverity,
  code: GeneratorFindingCode,
  message: string,
  evidence?: Record<string, unknown>,
) => void;

/** What a run shares across workloads. */
interface Generation {
  options: GenerateOptions;
  domain: string;
  internal: readonly string[];
  internalCidrs: readonly Cidr[];
  allowMeta: ReadonlySet<string>;
}

/** One allow rule and why it has the shape it has (the `phiguard.io/rules` annotation). */
interface Planned {
  rule: Record<string, unknown>;
  why: string;
}

/** A workload's egress, being built. */
interface EgressPlan {
  mesh: boolean;
  search: DnsSearch;
  rules: Planned[];
  /** DNS allow-list entries by `n:`/`p:` + name or pattern. */
  dns: Map<string, Record<string, string>>;
  usedExceptions: Set<string>;
  /** Outside hosts routed through the egress gateway. */
  viaGateway: Set<string>;
}

function allowName(plan: EgressPlan, name: string): void {
  for (const n of searchListNames(name, plan.search)) plan.dns.set(`n:${n}`, { matchName: n });
}

/** A wildcard and its expansions (`*.x.<ns>.svc.<domain>`): the resolver appends the search list to it too. */
function allowPattern(plan: EgressPlan, pattern: string): void {
  for (const p of searchListPatterns(pattern, plan.search)) plan.dns.set(`p:${p}`, { matchPattern: p });
}

/** A cloud metadata endpoint: allowed only as an explicit, recorded exception; otherwise it stays denied. */
function planMetadata(
  e: EnvelopeEgress,
  host: CanonicalHost,
  g: Generation,
  plan: EgressPlan,
  find: Find,
  evidence: Record<string, unknown>,
): void {
  const meta = metadataEndpointAt(host);
  if (meta?.exception !== undefined && g.allowMeta.has(meta.exception)) {
    plan.usedExceptions.add(meta.exception);
    plan.rules.push({
      rule: { toCIDR: [meta.cidr], toPorts: [{ ports: portsOf(e) }] },
      why: `L4: metadata exception ${meta.exception} (--allow-metadata, recorded in the envelope)`,
    });
    find(
      'info',
      C.metadataException,
      `explicit exception ${meta.exception}: ${meta.cidr} allowed (recorded in the envelope)`,
      evidence,
    );
  } else {
    find(
      'warning',
      C.egressToMetadataEndpoint,
      `the envelope shows traffic to a cloud metadata endpoint (${host.host}); it stays denied`,
      evidence,
    );
  }
}

/** A DNS name reached directly: toFQDNs, and the names the DNS proxy must let through. */
function planFqdn(e: EnvelopeEgress, host: string, plan: EgressPlan, why: string): void {
  const l7 = chooseL7(e, { mesh: plan.mesh, sniName: host });
  const selectorFqdn = e.fqdnPattern !== undefined ? { matchPattern: e.fqdnPattern } : { matchName: host };
  plan.rules.push({ rule: { toFQDNs: [selectorFqdn], toPorts: toPortsFor(e, l7) }, why: `${why}; ${l7.reason}` });
  allowName(plan, host);
  if (e.fqdnPattern !== undefined) allowPattern(plan, e.fqdnPattern);
}

/** What one recorded egress becomes: an allow rule, or a finding saying why it stays denied. */
function planEgress(e: EnvelopeEgress, g: Generation, plan: EgressPlan, find: Find): void {
  const { options, domain } = g;
  const canon = canonicalHost(e.host);
  const host = canon.host;
  const evidence = {
    host,
    port: e.port,
    count: e.count,
    methods: e.methods,
    paths: e.paths.slice(0, 20),
    transports: e.transports,
  };
  if (metadataTargetOf(canon) !== undefined) {
    planMetadata(e, canon, g, plan, find, evidence);
    return;
  }
  if (isApiServerName(canon, domain)) {
    find(
      'warning',
      C.egressToKubeApiserver,
      'the envelope shows traffic to the Kubernetes API server; it stays denied',
      evidence,
    );
    return;
  }
  const named = canon.kind === 'name' && isDnsName(host);
  if (e.transports.includes('tls') && e.transports.includes('plaintext'))
    find('warning', C.mixedTransport, `both TLS and plaintext seen on ${host}:${e.port}; L4 rule only`, evidence);
  if (e.peer !== undefined) {
    const labels: Record<string, string> = { 'k8s:io.kubernetes.pod.namespace': e.peer.namespace };
    if (Object.keys(e.peer.labels).length > 0) Object.assign(labels, e.peer.labels);
    else if (e.peer.serviceAccount !== '') labels['k8s:io.cilium.k8s.policy.serviceaccount'] = e.peer.serviceAccount;
    const l7 = chooseL7(e, { mesh: plan.mesh, sniName: undefined });
    plan.rules.push({
      rule: { toEndpoints: [{ matchLabels: sortedObject(labels) }], toPorts: toPortsFor(e, l7) },
      why: `${host}:${e.port} in-cluster peer ${e.peer.namespace}/${e.peer.serviceAccount || 'labels'}; ${l7.reason}`,
    });
    if (named) allowName(plan, host);
    return;
  }
  if (named && isClusterName(host, domain)) {
    find(
      'error',
      C.inClusterPeerUnknown,
      `in-cluster destination ${host} has no recorded peer identity; not allowed`,
      evidence,
    );
    return;
  }
  if (!named && canon.kind !== 'name' && g.internalCidrs.some((c) => cidrContains(c, canon))) {
    const cidr = canon.kind === 'ipv4' ? `${canon.host}/32` : `${canon.host}/128`;
    const l7 = chooseL7(e, { mesh: plan.mesh, sniName: undefined });
    plan.rules.push({
      rule: { toCIDRSet: [{ cidr }], toPorts: toPortsFor(e, l7) },
      why: `${host}:${e.port} internal address (--internal-cidrs); ${l7.reason}`,
    });
    return;
  }
  if (!named) {
    find(
      'error',
      C.egressToIpLiteral,
      `outside destination ${host} has no DNS name; FQDN policy cannot cover it`,
      evidence,
    );
    return;
  }
  if (isInternalName(host, g.internal)) {
    planFqdn(e, host, plan, `${host}:${e.port} internal name (--internal-domains), no BAA needed`);
    return;
  }
  const cov = options.registry?.coverage(host, e.port, options.at) ?? {
    covered: false as const,
    reason: 'no-agreement' as const,
  };
  if (!cov.covered) {
    const agreement = cov.vendor !== undefined ? { vendor: cov.vendor, agreementId: cov.agreementId } : {};
    find(
      'error',
      C.egressNotCoveredByBaa,
      `${host}:${e.port} is not covered by an active BAA (${cov.reason}); not allowed`,
      { ...evidence, ...agreement },
    );
    return;
  }
  if (options.egressGateway !== undefined) {
    plan.viaGateway.add(`${host}:${e.port}`);
    allowName(plan, host);
    if (e.fqdnPattern !== undefined) allowPattern(plan, e.fqdnPattern);
    return;
  }
  planFqdn(e, host, plan, `${host}:${e.port} outside, BAA ${cov.agreementId}`);
}

/** The recorded callers of each workload: other envelopes' egress whose peer is that workload. */
interface Caller {
  selector: Record<string, string>;
  name: string;
  ports: Map<string, { port: string; protocol: string }>;
}

function peerIs(peer: NonNullable<EnvelopeEgress['peer']>, w: Envelope['spec']['workload']): boolean {
  if (peer.namespace !== w.namespace) return false;
  const labels = Object.entries(peer.labels);
  if (labels.length > 0) return labels.every(([k, v]) => w.podLabels[k.replace(/^k8s:/, '')] === v);
  return peer.serviceAccount !== '' && peer.serviceAccount === w.serviceAccount;
}

function callersOf(target: Envelope, all: readonly Envelope[]): Caller[] {
  const out = new Map<string, Caller>();
  for (const env of all) {
    if (env === target) continue;
    const labels = workloadLabels(env.spec.workload);
    if (Object.keys(labels).length === 0) continue;
    const selector = sortedObject({ ...labels, 'k8s:io.kubernetes.pod.namespace': env.spec.workload.namespace });
    const name = `${env.spec.workload.namespace}/${env.spec.workload.name}`;
    for (const e of env.spec.egress) {
      if (e.peer === undefined || !peerIs(e.peer, target.spec.workload)) continue;
      const c = out.get(name) ?? { selector, name, ports: new Map() };
      c.ports.set(`${e.port}/${e.protocol}`, { port: String(e.port), protocol: e.protocol });
      out.set(name, c);
    }
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** The policy of one workload: DNS and mesh rules first, then the planned allow rules, and the hard denies. */
function ciliumPolicy(
  env: Envelope,
  selector: Record<string, string>,
  plan: EgressPlan,
  callers: Caller[] | undefined,
  options: GenerateOptions,
): GenerateResult['policies'][number] {
  const w = env.spec.workload;
  const wname = `${w.namespace}/${w.name}`;
  const istiod = options.istiod ?? DEFAULT_ISTIOD;
  const planned: Planned[] = [];
  if (plan.mesh) {
    planned.push({
      rule: {
        toEndpoints: [{ matchLabels: matchLabelsOf(istiod.selector) }],
        toPorts: [{ ports: [{ port: String(ISTIOD_XDS_PORT), protocol: 'TCP' }] }],
      },
      why: `istiod ${podSelectorText(istiod.selector)}:${ISTIOD_XDS_PORT}: the sidecar's xDS and certificates (TLS); L4`,
    });
    allowName(plan, istiod.host);
  }
  planned.push(...plan.rules);
  const gw = options.egressGateway;
  if (gw !== undefined && plan.viaGateway.size > 0)
    planned.push({
      rule: {
        toEndpoints: [{ matchLabels: matchLabelsOf(gw.selector) }],
        toPorts: [{ ports: [...gw.ports].sort((a, b) => a - b).map((p) => ({ port: String(p), protocol: 'TCP' })) }],
      },
      why: `egress gateway ${podSelectorText(gw.selector)} for ${[...plan.viaGateway].sort().join(', ')}; L4: no direct Internet egress`,
    });
  if (plan.dns.size > 0) {
    const dns = [...plan.dns.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v);
    const dnsSel = options.dnsSelector ?? DEFAULT_DNS_SELECTOR;
    planned.unshift({
      rule: {
        toEndpoints: [{ matchLabels: matchLabelsOf(dnsSel) }],
        toPorts: [{ ports: [{ port: String(options.dnsPort ?? 53), protocol: 'ANY' }], rules: { dns } }],
      },
      why: `cluster DNS ${podSelectorText(dnsSel)}: recorded names and their search-list expansions, through the DNS proxy`,
    });
  }

  const denied = METADATA_ENDPOINTS.filter(
    (m) => m.exception === undefined || !plan.usedExceptions.has(m.exception),
  ).map((m) => ({ cidr: m.cidr }));
  const spec: Record<string, unknown> = {
    description: `phiguard: egress envelope of ${w.kind} ${wname} (${env.spec.observation.start} .. ${env.spec.observation.end})`,
    endpointSelector: { matchLabels: selector },
    enableDefaultDeny: { egress: true, ingress: callers !== undefined },
  };
  const reasons = planned.map((p, i) => `egress[${i}] ${p.why}`);
  if (callers !== undefined) {
    spec['ingress'] =
      callers.length > 0
        ? callers.map((c) => ({
            fromEndpoints: [{ matchLabels: c.selector }],
            toPorts: [{ ports: [...c.ports.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, p]) => p) }],
          }))
        : [{}];
    if (callers.length > 0) callers.forEach((c, i) => reasons.push(`ingress[${i}] recorded caller ${c.name}; L4`));
    else reasons.push('ingress[0] no recorded caller: all ingress denied');
  }
  if (planned.length > 0) spec['egress'] = planned.map((p) => p.rule);
  spec['egressDeny'] = [{ toCIDRSet: denied }, { toEntities: ['kube-apiserver'] }];

  // Provenance: a hash of the envelope's recorded data (its JSON; the readable YAML summary is derived from it).
  const envHash = createHash('sha256').update(JSON.stringify(env.spec)).digest('hex').slice(0, 16);
  const annotations: Record<string, string> = {
    'phiguard.io/baa-registry-version': options.registry?.version ?? 'none',
    'phiguard.io/generator': `phiguard ${options.generatorVersion ?? '0.1.0'}`,
    'phiguard.io/mesh': plan.mesh ? 'istio' : 'none',
    'phiguard.io/rules': reasons.join('\n'),
    'phiguard.io/source-envelope': `${wname} sha256:${envHash}`,
  };
  if (gw !== undefined) annotations['phiguard.io/egress-gateway'] = podSelectorText(gw.selector);
  const metadata = {
    name: policyName(env),
    namespace: w.namespace,
    labels: { 'app.kubernetes.io/managed-by': 'phiguard' },
    annotations: sortedObject(annotations),
  };
  return {
    name: policyName(env),
    namespace: w.namespace,
    policy: { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata, spec },
  };
}

/** Whether a workload's pods run an Istio sidecar under the run's options. */
function meshFor(env: Envelope, options: GenerateOptions): boolean {
  if (options.egressGateway !== undefined) return true;
  switch (options.mesh ?? 'auto') {
    case 'istio':
      return true;
    case 'none':
      return false;
    case 'auto':
      return runsIstioSidecar(env.spec.workload);
  }
}

/** Generates policies for a set of envelopes (one per workload; merge replicas first). Never throws. */
export function generateCilium(envelopes: readonly Envelope[], options: GenerateOptions): GenerateResult {
  const findings: Finding<GeneratorFindingCode>[] = [];
  const policies: GenerateResult['policies'] = [];
  const g: Generation = {
    options,
    domain: options.clusterDomain ?? 'cluster.local',
    internal: options.internalDomains ?? DEFAULT_INTERNAL_SUFFIXES,
    internalCidrs: (options.internalCidrs ?? []).flatMap((c) => parseCidr(c) ?? []),
    allowMeta: new Set(options.allowMetadata ?? []),
  };
  const workloadOf = (e: Envelope): string => `${e.spec.workload.namespace}/${e.spec.workload.name}`;
  const sorted = [...envelopes].sort((a, b) => (workloadOf(a) < workloadOf(b) ? -1 : 1));

  for (const env of sorted) {
    const w = env.spec.workload;
    let path = 'spec.workload';
    const find: Find = (severity, code, message, evidence) => {
      const f: Finding<GeneratorFindingCode> = { severity, code, workload: workloadOf(env), file: '', path, message };
      findings.push(evidence ? { ...f, evidence } : f);
    };
    const selector = workloadLabels(w);
    if (Object.keys(selector).length === 0) {
      find(
        'error',
        C.noEndpointSelector,
        'the envelope names neither pod labels nor a service account; no policy generated',
      );
      continue;
    }
    const mesh = meshFor(env, options);
    const plan: EgressPlan = {
      mesh,
      search: { namespace: w.namespace, clusterDomain: g.domain, extra: options.dnsSearch ?? [] },
      rules: [],
      dns: new Map(),
      usedExceptions: new Set(),
      viaGateway: new Set(),
    };
    const egressKey = (e: EnvelopeEgress): string => `${e.host}|${e.port}|${e.protocol}`;
    // Sorted for deterministic output; findings name the entry's index in the envelope as given.
    const byKey = env.spec.egress.map((e, i) => ({ e, i })).sort((a, b) => (egressKey(a.e) < egressKey(b.e) ? -1 : 1));
    for (const { e, i } of byKey) {
      path = `spec.egress[${i}]`;
      planEgress(e, g, plan, find);
    }
    env.spec.dnsNames.forEach((raw, i) => {
      path = `spec.dnsNames[${i}]`;
      const h = canonicalHost(raw);
      if (h.kind === 'name' && METADATA_HOSTS.has(h.host)) return; // never resolved for an agent that may not reach it
      if (h.kind !== 'name' || !isDnsName(h.host)) {
        find('warning', C.dnsNameInvalid, `recorded DNS name ${JSON.stringify(raw)} is no DNS name; not allowed`);
        return;
      }
      allowName(plan, h.host);
    });
    path = 'spec.workload';
    let callers: Caller[] | undefined;
    if (options.ingress === true) {
      callers = callersOf(env, sorted);
      if (callers.length === 0)
        find(
          'warning',
          C.ingressNoRecordedCallers,
          'no other envelope of this run records a call to this workload; all ingress is denied',
        );
    }
    policies.push(ciliumPolicy(env, selector, plan, callers, options));
  }
  const order = (f: Finding): string => `${f.workload ?? ''}|${f.code}|${f.message}`;
  findings.sort((a, b) => (order(a) < order(b) ? -1 : 1));
  return { policies, findings };
}
