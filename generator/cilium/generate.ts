/**
 * Envelopes -> one CiliumNetworkPolicy (cilium.io/v2) per workload, following ../shared/cilium/generator-rules.md
 * (Cilium v1.19). Pure and deterministic: same inputs, byte-identical output.
 *
 * Per workload:
 * - egress allow: BAA-covered outside endpoints by `toFQDNs` (matchName; matchPattern only when the envelope says
 *   so) with the DNS L7 rule toward the cluster DNS that makes toFQDNs work (allow-list built from the recorded
 *   names and their search-list expansions — never `*`); in-cluster peers by `toEndpoints`; ports from the envelope.
 *   Plaintext HTTP gets L7 rules (method + anchored path regex tolerating a query string); TLS gets `serverNames`
 *   (L7 HTTP on TLS would need interception).
 * - egressDeny: every cloud metadata address (exact /32, /128) and `toEntities: [kube-apiserver]`.
 * - `enableDefaultDeny: {egress: true, ingress: false}`: egress is default-deny on purpose; ingress is untouched.
 * Endpoints without an active BAA are not allowed: they become findings with the envelope evidence.
 * Recorded hosts are read as the egress lane reads them (authz/egress/canonical-host.ts): `0xA9FEA9FE`,
 * `[::ffff:a9fe:a9fe]` and `METADATA.GOOGLE.INTERNAL.` are metadata endpoints, `2852039166` is no DNS name.
 */
import { createHash } from 'node:crypto';
import type { BaaRegistry, CanonicalHost, Envelope, EnvelopeEgress } from '../../authz/index.js';
import {
  canonicalHost,
  isApiServerName,
  metadataEndpointAt,
  metadataTargetOf,
  METADATA_ENDPOINTS,
} from '../../authz/index.js';
import type { Finding, FindingSeverity } from '../../authz/model/index.js';

export interface GenerateOptions {
  registry: BaaRegistry | undefined;
  /** Time at which BAA coverage is evaluated. */
  at: Date;
  clusterDomain?: string;
  dnsPort?: number;
  /** Labels of the cluster DNS pods (default kube-dns in kube-system). */
  dnsSelector?: Record<string, string>;
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

const DEFAULT_DNS = { 'k8s:io.kubernetes.pod.namespace': 'kube-system', 'k8s:k8s-app': 'kube-dns' };

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `/fhir/Observation/{id}` -> `^/fhir/Observation/[^/]+(\?.*)?$` (Envoy matches :path, query included, in full). */
export function pathRegex(template: string): string {
  const parts = template.split(/(\{[a-z]+\})/).map((p) => (/^\{[a-z]+\}$/.test(p) ? '[^/?]+' : escapeRegex(p)));
  return `^${parts.join('')}(\\?.*)?$`;
}

function sortedObject<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function dnsName(h: CanonicalHost): boolean {
  return h.kind === 'name' && /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(h.host);
}

function policyName(e: Envelope): string {
  return `phiguard-${e.spec.workload.name}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63)
    .replace(/-+$/, '');
}

function l7For(
  e: EnvelopeEgress,
  host: CanonicalHost,
): {
  http?: Array<{ method: string; path: string }>;
  serverNames?: string[];
  mixed: boolean;
} {
  const tls = e.transports.includes('tls');
  const plain = e.transports.includes('plaintext');
  if (tls && plain) return { mixed: true };
  if (plain && e.methods.length > 0 && e.paths.length > 0) {
    const rules: Array<{ method: string; path: string }> = [];
    for (const m of [...e.methods].sort())
      for (const p of [...e.paths].sort()) rules.push({ method: escapeRegex(m), path: pathRegex(p) });
    return { http: rules, mixed: false };
  }
  if (tls && dnsName(host)) return { serverNames: [host.host], mixed: false };
  return { mixed: false };
}

function toPortsFor(e: EnvelopeEgress, l7: ReturnType<typeof l7For>): Array<Record<string, unknown>> {
  const entry: Record<string, unknown> = { ports: [{ port: String(e.port), protocol: e.protocol }] };
  if (l7.serverNames) entry['serverNames'] = l7.serverNames;
  if (l7.http) entry['rules'] = { http: l7.http };
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
  allowMeta: ReadonlySet<string>;
}

/** A workload's egress, being built: allow rules, DNS names to let through the proxy, metadata exceptions used. */
interface EgressPlan {
  rules: Array<Record<string, unknown>>;
  dns: Map<string, Record<string, string>>;
  usedExceptions: Set<string>;
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
    plan.rules.push({ toCIDR: [meta.cidr], toPorts: [{ ports: [{ port: String(e.port), protocol: e.protocol }] }] });
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

/** An outside, BAA-covered name: toFQDNs, and the DNS names (with search-list expansions) the proxy must allow. */
function planFqdn(
  e: EnvelopeEgress,
  host: string,
  domain: string,
  plan: EgressPlan,
  l7: ReturnType<typeof l7For>,
): void {
  const selectorFqdn = e.fqdnPattern !== undefined ? { matchPattern: e.fqdnPattern } : { matchName: host };
  plan.rules.push({ toFQDNs: [selectorFqdn], toPorts: toPortsFor(e, l7) });
  if (e.fqdnPattern !== undefined) {
    plan.dns.set(`p:${e.fqdnPattern}`, { matchPattern: e.fqdnPattern });
    return;
  }
  plan.dns.set(`n:${host}`, { matchName: host });
  // Search-list expansions (ndots:5) are queried first; a refused expansion can fail resolution.
  plan.dns.set(`p:${host}.*.svc.${domain}`, { matchPattern: `${host}.*.svc.${domain}` });
  plan.dns.set(`n:${host}.svc.${domain}`, { matchName: `${host}.svc.${domain}` });
  plan.dns.set(`n:${host}.${domain}`, { matchName: `${host}.${domain}` });
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
  const l7 = l7For(e, canon);
  if (l7.mixed)
    find('warning', C.mixedTransport, `both TLS and plaintext seen on ${host}:${e.port}; L4 rule only`, evidence);
  if (e.peer !== undefined || host.endsWith(`.svc.${domain}`) || host.endsWith('.svc')) {
    if (e.peer === undefined) {
      find(
        'warning',
        C.inClusterPeerUnknown,
        `in-cluster destination ${host} has no recorded peer identity; not allowed`,
        evidence,
      );
      return;
    }
    const labels: Record<string, string> = { 'k8s:io.kubernetes.pod.namespace': e.peer.namespace };
    if (Object.keys(e.peer.labels).length > 0) Object.assign(labels, e.peer.labels);
    else if (e.peer.serviceAccount !== '') labels['k8s:io.cilium.k8s.policy.serviceaccount'] = e.peer.serviceAccount;
    plan.rules.push({
      toEndpoints: [{ matchLabels: sortedObject(labels) }],
      toPorts: toPortsFor(e, l7.serverNames ? { mixed: false } : l7),
    });
    if (dnsName(canon)) plan.dns.set(`p:*.*.svc.${domain}`, { matchPattern: `*.*.svc.${domain}` });
    return;
  }
  if (!dnsName(canon)) {
    find(
      'warning',
      C.egressToIpLiteral,
      `outside destination ${host} has no DNS name; FQDN policy cannot cover it`,
      evidence,
    );
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
  planFqdn(e, host, domain, plan, l7);
}

/** The policy of one workload: the DNS rule first, then the planned allow rules, and the hard denies. */
function ciliumPolicy(
  env: Envelope,
  selector: Record<string, string>,
  plan: EgressPlan,
  options: GenerateOptions,
): GenerateResult['policies'][number] {
  const w = env.spec.workload;
  const wname = `${w.namespace}/${w.name}`;
  const egress: Array<Record<string, unknown>> = [];
  if (plan.dns.size > 0) {
    const dns = [...plan.dns.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v);
    egress.push({
      toEndpoints: [{ matchLabels: sortedObject(options.dnsSelector ?? DEFAULT_DNS) }],
      toPorts: [{ ports: [{ port: String(options.dnsPort ?? 53), protocol: 'ANY' }], rules: { dns } }],
    });
  }
  egress.push(...plan.rules);

  const denied = METADATA_ENDPOINTS.filter(
    (m) => m.exception === undefined || !plan.usedExceptions.has(m.exception),
  ).map((m) => ({ cidr: m.cidr }));
  const spec: Record<string, unknown> = {
    description: `phiguard: egress envelope of ${w.kind} ${wname} (${env.spec.observation.start} .. ${env.spec.observation.end})`,
    endpointSelector: { matchLabels: selector },
    enableDefaultDeny: { egress: true, ingress: false },
  };
  if (egress.length > 0) spec['egress'] = egress;
  spec['egressDeny'] = [{ toCIDRSet: denied }, { toEntities: ['kube-apiserver'] }];

  // Provenance: a hash of the envelope's recorded data (its JSON; the readable YAML summary is derived from it).
  const envHash = createHash('sha256').update(JSON.stringify(env.spec)).digest('hex').slice(0, 16);
  const annotations = {
    'phiguard.io/baa-registry-version': options.registry?.version ?? 'none',
    'phiguard.io/generator': `phiguard ${options.generatorVersion ?? '0.1.0'}`,
    'phiguard.io/source-envelope': `${wname} sha256:${envHash}`,
  };
  const metadata = {
    name: policyName(env),
    namespace: w.namespace,
    labels: { 'app.kubernetes.io/managed-by': 'phiguard' },
    annotations,
  };
  return {
    name: policyName(env),
    namespace: w.namespace,
    policy: { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata, spec },
  };
}

/** Generates policies for a set of envelopes (one per workload; merge replicas first). */
export function generateCilium(envelopes: readonly Envelope[], options: GenerateOptions): GenerateResult {
  const findings: Finding<GeneratorFindingCode>[] = [];
  const policies: GenerateResult['policies'] = [];
  const g: Generation = {
    options,
    domain: options.clusterDomain ?? 'cluster.local',
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
    const selector: Record<string, string> =
      Object.keys(w.podLabels).length > 0
        ? sortedObject(w.podLabels)
        : w.serviceAccount !== ''
          ? { 'io.cilium.k8s.policy.serviceaccount': w.serviceAccount }
          : {};
    if (Object.keys(selector).length === 0) {
      find(
        'error',
        C.noEndpointSelector,
        'the envelope names neither pod labels nor a service account; no policy generated',
      );
      continue;
    }
    const plan: EgressPlan = { rules: [], dns: new Map(), usedExceptions: new Set() };
    const egressKey = (e: EnvelopeEgress): string => `${e.host}|${e.port}|${e.protocol}`;
    // Sorted for deterministic output; findings name the entry's index in the envelope as given.
    const byKey = env.spec.egress.map((e, i) => ({ e, i })).sort((a, b) => (egressKey(a.e) < egressKey(b.e) ? -1 : 1));
    for (const { e, i } of byKey) {
      path = `spec.egress[${i}]`;
      planEgress(e, g, plan, find);
    }
    policies.push(ciliumPolicy(env, selector, plan, options));
  }
  const order = (f: Finding): string => `${f.workload ?? ''}|${f.code}|${f.message}`;
  findings.sort((a, b) => (order(a) < order(b) ? -1 : 1));
  return { policies, findings };
}
