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
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { BaaRegistry, Envelope, EnvelopeEgress } from '../../authz/index.js';
import { isApiServerHost, METADATA_ENDPOINTS, METADATA_HOSTS } from '../../authz/index.js';

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

export interface GeneratorFinding {
  severity: 'error' | 'warning' | 'info';
  code: string;
  workload: string;
  message: string;
  evidence?: Record<string, unknown>;
}

export type CiliumPolicy = Record<string, unknown>;

export interface GenerateResult {
  policies: Array<{ name: string; namespace: string; policy: CiliumPolicy }>;
  findings: GeneratorFinding[];
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

function dnsName(h: string): boolean {
  return isIP(h) === 0 && /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(h);
}

function policyName(e: Envelope): string {
  return `phiguard-${e.spec.workload.name}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63).replace(/-+$/, '');
}

function l7For(e: EnvelopeEgress): { http?: Array<{ method: string; path: string }>; serverNames?: string[]; mixed: boolean } {
  const tls = e.transports.includes('tls');
  const plain = e.transports.includes('plaintext');
  if (tls && plain) return { mixed: true };
  if (plain && e.methods.length > 0 && e.paths.length > 0) {
    const rules: Array<{ method: string; path: string }> = [];
    for (const m of [...e.methods].sort()) for (const p of [...e.paths].sort()) rules.push({ method: escapeRegex(m), path: pathRegex(p) });
    return { http: rules, mixed: false };
  }
  if (tls && dnsName(e.host)) return { serverNames: [e.host.toLowerCase()], mixed: false };
  return { mixed: false };
}

function toPortsFor(e: EnvelopeEgress, l7: ReturnType<typeof l7For>): Array<Record<string, unknown>> {
  const entry: Record<string, unknown> = { ports: [{ port: String(e.port), protocol: e.protocol }] };
  if (l7.serverNames) entry['serverNames'] = l7.serverNames;
  if (l7.http) entry['rules'] = { http: l7.http };
  return [entry];
}

/** Generates policies for a set of envelopes (one per workload; merge replicas first). */
export function generateCilium(envelopes: readonly Envelope[], options: GenerateOptions): GenerateResult {
  const findings: GeneratorFinding[] = [];
  const policies: GenerateResult['policies'] = [];
  const domain = options.clusterDomain ?? 'cluster.local';
  const allowMeta = new Set(options.allowMetadata ?? []);
  const metadataIps = new Map(METADATA_ENDPOINTS.map((m) => [m.cidr.split('/')[0] ?? '', m]));
  const sorted = [...envelopes].sort((a, b) => (`${a.spec.workload.namespace}/${a.spec.workload.name}` < `${b.spec.workload.namespace}/${b.spec.workload.name}` ? -1 : 1));

  for (const env of sorted) {
    const w = env.spec.workload;
    const wname = `${w.namespace}/${w.name}`;
    const find = (severity: GeneratorFinding['severity'], code: string, message: string, evidence?: Record<string, unknown>): void => {
      findings.push(evidence ? { severity, code, workload: wname, message, evidence } : { severity, code, workload: wname, message });
    };
    const selector: Record<string, string> = Object.keys(w.podLabels).length > 0
      ? sortedObject(w.podLabels)
      : w.serviceAccount !== '' ? { 'io.cilium.k8s.policy.serviceaccount': w.serviceAccount } : {};
    if (Object.keys(selector).length === 0) {
      find('error', 'no-endpoint-selector', 'the envelope names neither pod labels nor a service account; no policy generated');
      continue;
    }

    const egressRules: Array<Record<string, unknown>> = [];
    const dnsAllow = new Map<string, Record<string, string>>();
    const usedExceptions = new Set<string>();
    const inCluster = (h: string): boolean => h.endsWith(`.svc.${domain}`) || h.endsWith('.svc');

    for (const e of [...env.spec.egress].sort((a, b) => (`${a.host}|${a.port}|${a.protocol}` < `${b.host}|${b.port}|${b.protocol}` ? -1 : 1))) {
      const host = e.host.toLowerCase().replace(/\.$/, '');
      const evidence = { host, port: e.port, count: e.count, methods: e.methods, paths: e.paths.slice(0, 20), transports: e.transports };
      const meta = metadataIps.get(host);
      if (meta || METADATA_HOSTS.has(host)) {
        if (meta?.exception !== undefined && allowMeta.has(meta.exception)) {
          usedExceptions.add(meta.exception);
          const cidr = meta.cidr;
          egressRules.push({ toCIDR: [cidr], toPorts: [{ ports: [{ port: String(e.port), protocol: e.protocol }] }] });
          find('info', 'metadata-exception', `explicit exception ${meta.exception}: ${cidr} allowed (recorded in the envelope)`, evidence);
        } else {
          find('warning', 'egress-to-metadata-endpoint', `the envelope shows traffic to a cloud metadata endpoint (${host}); it stays denied`, evidence);
        }
        continue;
      }
      if (isApiServerHost(host, domain)) {
        find('warning', 'egress-to-kube-apiserver', 'the envelope shows traffic to the Kubernetes API server; it stays denied', evidence);
        continue;
      }
      const l7 = l7For(e);
      if (l7.mixed) find('warning', 'mixed-transport', `both TLS and plaintext seen on ${host}:${e.port}; L4 rule only`, evidence);
      if (e.peer !== undefined || inCluster(host)) {
        if (e.peer === undefined) {
          find('warning', 'in-cluster-peer-unknown', `in-cluster destination ${host} has no recorded peer identity; not allowed`, evidence);
          continue;
        }
        const labels: Record<string, string> = { 'k8s:io.kubernetes.pod.namespace': e.peer.namespace };
        if (Object.keys(e.peer.labels).length > 0) Object.assign(labels, e.peer.labels);
        else if (e.peer.serviceAccount !== '') labels['k8s:io.cilium.k8s.policy.serviceaccount'] = e.peer.serviceAccount;
        egressRules.push({ toEndpoints: [{ matchLabels: sortedObject(labels) }], toPorts: toPortsFor(e, l7.serverNames ? { mixed: false } : l7) });
        if (dnsName(host)) dnsAllow.set(`p:*.*.svc.${domain}`, { matchPattern: `*.*.svc.${domain}` });
        continue;
      }
      if (!dnsName(host)) {
        find('warning', 'egress-to-ip-literal', `outside destination ${host} has no DNS name; FQDN policy cannot cover it`, evidence);
        continue;
      }
      const cov = options.registry?.coverage(host, e.port, options.at) ?? { covered: false as const, reason: 'no-agreement' as const };
      if (!cov.covered) {
        find('error', 'egress-not-covered-by-baa', `${host}:${e.port} is not covered by an active BAA (${cov.reason}); not allowed`, { ...evidence, ...(cov.vendor !== undefined ? { vendor: cov.vendor, agreementId: cov.agreementId } : {}) });
        continue;
      }
      const selectorFqdn = e.fqdnPattern !== undefined ? { matchPattern: e.fqdnPattern } : { matchName: host };
      egressRules.push({ toFQDNs: [selectorFqdn], toPorts: toPortsFor(e, l7) });
      if (e.fqdnPattern !== undefined) dnsAllow.set(`p:${e.fqdnPattern}`, { matchPattern: e.fqdnPattern });
      else {
        dnsAllow.set(`n:${host}`, { matchName: host });
        // Search-list expansions (ndots:5) are queried first; a refused expansion can fail resolution.
        dnsAllow.set(`p:${host}.*.svc.${domain}`, { matchPattern: `${host}.*.svc.${domain}` });
        dnsAllow.set(`n:${host}.svc.${domain}`, { matchName: `${host}.svc.${domain}` });
        dnsAllow.set(`n:${host}.${domain}`, { matchName: `${host}.${domain}` });
      }
    }

    const egress: Array<Record<string, unknown>> = [];
    if (dnsAllow.size > 0) {
      egress.push({
        toEndpoints: [{ matchLabels: sortedObject(options.dnsSelector ?? DEFAULT_DNS) }],
        toPorts: [{ ports: [{ port: String(options.dnsPort ?? 53), protocol: 'ANY' }], rules: { dns: [...dnsAllow.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v) } }],
      });
    }
    egress.push(...egressRules);

    const denied = METADATA_ENDPOINTS.filter((m) => m.exception === undefined || !usedExceptions.has(m.exception)).map((m) => ({ cidr: m.cidr }));
    const spec: Record<string, unknown> = {
      description: `phiguard: egress envelope of ${w.kind} ${wname} (${env.spec.observation.start} .. ${env.spec.observation.end})`,
      endpointSelector: { matchLabels: selector },
      enableDefaultDeny: { egress: true, ingress: false },
    };
    if (egress.length > 0) spec['egress'] = egress;
    spec['egressDeny'] = [{ toCIDRSet: denied }, { toEntities: ['kube-apiserver'] }];

    // Provenance: a hash of the envelope's recorded data (its JSON; the readable YAML summary is derived from it).
    const envHash = createHash('sha256').update(JSON.stringify(env.spec)).digest('hex').slice(0, 16);
    policies.push({
      name: policyName(env),
      namespace: w.namespace,
      policy: {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: {
          name: policyName(env),
          namespace: w.namespace,
          labels: { 'app.kubernetes.io/managed-by': 'phiguard' },
          annotations: {
            'phiguard.io/baa-registry-version': options.registry?.version ?? 'none',
            'phiguard.io/generator': `phiguard ${options.generatorVersion ?? '0.1.0'}`,
            'phiguard.io/source-envelope': `${wname} sha256:${envHash}`,
          },
        },
        spec,
      },
    });
  }
  findings.sort((a, b) => (`${a.workload}|${a.code}|${a.message}` < `${b.workload}|${b.code}|${b.message}` ? -1 : 1));
  return { policies, findings };
}
