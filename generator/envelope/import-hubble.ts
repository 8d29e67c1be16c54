/**
 * Hubble flow export (`hubble observe -o json`, one JSON object per line, flow under `flow` or at the top level)
 * -> envelopes per source workload, so clusters already running Cilium can start from what they observed.
 *
 * Used fields (flow.proto, observer API): `time`, `verdict`, `traffic_direction`, `is_reply`, `source` /
 * `destination` (`namespace`, `labels` as `k8s:key=value`, `pod_name`, `workloads[{name, kind}]`),
 * `destination_names`, `l4.TCP|UDP.destination_port`, `l7.http{method,url}`, `l7.dns{query}`.
 * Only forwarded egress requests from pods count (not replies, not drops).
 */
import { z } from 'zod';
import { ENVELOPE_API_VERSION, genericPathTemplate, type Envelope, type EnvelopeEgress } from '../../authz/index.js';
import { mergeAll } from './merge.js';

const Endpoint = z
  .object({
    namespace: z.string().optional(),
    labels: z.array(z.string()).optional(),
    pod_name: z.string().optional(),
    workloads: z.array(z.object({ name: z.string(), kind: z.string().optional() }).loose()).optional(),
  })
  .loose();

const Flow = z
  .object({
    time: z.string().optional(),
    verdict: z.string().optional(),
    traffic_direction: z.string().optional(),
    is_reply: z.boolean().optional(),
    source: Endpoint.optional(),
    destination: Endpoint.optional(),
    IP: z.object({ destination: z.string().optional() }).loose().optional(),
    destination_names: z.array(z.string()).optional(),
    l4: z
      .object({
        TCP: z.object({ destination_port: z.number().optional() }).loose().optional(),
        UDP: z.object({ destination_port: z.number().optional() }).loose().optional(),
      })
      .loose()
      .optional(),
    l7: z
      .object({
        type: z.string().optional(),
        http: z.object({ method: z.string().optional(), url: z.string().optional() }).loose().optional(),
        dns: z.object({ query: z.string().optional() }).loose().optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

/** What an import produced (it never fails: unusable lines are counted, by reason). */
export interface HubbleImport {
  envelopes: Envelope[];
  /** Lines that could not be used, by reason (counts, never content). */
  skipped: Record<string, number>;
  lines: number;
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod']);

function labelsOf(list: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list ?? []) {
    const m = /^(?:k8s:)?([^=]+)=(.*)$/.exec(l);
    if (m?.[1] === undefined || m[2] === undefined) continue;
    out[m[1]] = m[2];
  }
  return out;
}

/** Pod labels worth selecting on: drop namespace, cilium-internal and controller hash labels. */
function selectable(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (
      k.startsWith('io.kubernetes.') ||
      k.startsWith('io.cilium.') ||
      k === 'pod-template-hash' ||
      k.startsWith('reserved:') ||
      k === 'controller-revision-hash'
    )
      continue;
    out[k] = v;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export function importHubble(text: string): HubbleImport {
  const skipped: Record<string, number> = {};
  const skip = (why: string): void => {
    skipped[why] = (skipped[why] ?? 0) + 1;
  };
  const perEnvelope: Envelope[] = [];
  let lines = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    lines++;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      skip('not-json');
      continue;
    }
    const candidate: unknown = typeof raw === 'object' && raw !== null && 'flow' in raw ? raw.flow : raw;
    const parsed = Flow.safeParse(candidate);
    if (!parsed.success) {
      skip('not-a-flow');
      continue;
    }
    const f = parsed.data;
    if (f.is_reply === true) {
      skip('reply');
      continue;
    }
    if (f.verdict !== undefined && f.verdict !== 'FORWARDED') {
      skip('not-forwarded');
      continue;
    }
    if (f.traffic_direction !== undefined && f.traffic_direction !== 'EGRESS') {
      skip('not-egress');
      continue;
    }
    const src = f.source;
    if (!src?.namespace) {
      skip('source-not-a-pod');
      continue;
    }
    const srcLabels = labelsOf(src.labels);
    const wl = src.workloads?.[0];
    const name = wl?.name ?? src.pod_name?.replace(/-[a-z0-9]{8,10}-[a-z0-9]{5}$/, '') ?? '';
    if (name === '') {
      skip('source-workload-unknown');
      continue;
    }
    const time = f.time ?? '1970-01-01T00:00:00Z';
    const dst = f.destination;
    const port = f.l4?.TCP?.destination_port ?? f.l4?.UDP?.destination_port ?? 0;
    const protocol = f.l4?.UDP ? 'UDP' : 'TCP';
    const dstLabels = labelsOf(dst?.labels);
    const isDnsQuery = f.l7?.dns?.query !== undefined;
    const env: Envelope = {
      apiVersion: ENVELOPE_API_VERSION,
      kind: 'Envelope',
      metadata: { name, namespace: src.namespace },
      spec: {
        workload: {
          kind:
            wl?.kind !== undefined && WORKLOAD_KINDS.has(wl.kind)
              ? (wl.kind as Envelope['spec']['workload']['kind'])
              : 'Deployment',
          name,
          namespace: src.namespace,
          serviceAccount: srcLabels['io.cilium.k8s.policy.serviceaccount'] ?? '',
          principal: '',
          podLabels: selectable(srcLabels),
        },
        observation: {
          start: new Date(time).toISOString(),
          end: new Date(time).toISOString(),
          sources: ['hubble'],
          requests: 1,
        },
        fhir: [],
        minutes: { [new Date(time).toISOString().slice(0, 16)]: 1 },
        patientsHourly: {},
        egress: [],
        dnsNames: isDnsQuery ? [String(f.l7?.dns?.query).replace(/\.$/, '').toLowerCase()] : [],
        breakGlass: {},
      },
    };
    // DNS lookups toward the cluster DNS are recorded as names; the DNS rule itself is generated.
    const toClusterDns = dstLabels['k8s-app'] === 'kube-dns' || (port === 53 && dst?.namespace === 'kube-system');
    if (!toClusterDns && port > 0) {
      const host = (
        f.destination_names?.[0] ??
        (dst?.namespace !== undefined && dst.workloads?.[0]
          ? `${dst.workloads[0].name}.${dst.namespace}.svc.cluster.local`
          : (f.IP?.destination ?? ''))
      )
        .replace(/\.$/, '')
        .toLowerCase();
      if (host === '') {
        skip('destination-unknown');
        continue;
      }
      const http = f.l7?.http;
      const eg: EnvelopeEgress = {
        host,
        port,
        protocol,
        // L7 HTTP visible to Hubble means plaintext on the wire; 443 without L7 is taken as TLS.
        transports: http ? ['plaintext'] : port === 443 ? ['tls'] : [],
        methods: http?.method !== undefined ? [http.method] : [],
        paths: http?.url !== undefined ? [genericPathTemplate(new URL(http.url, 'http://x').pathname)] : [],
        count: 1,
      };
      if (dst?.namespace !== undefined)
        eg.peer = {
          namespace: dst.namespace,
          serviceAccount: dstLabels['io.cilium.k8s.policy.serviceaccount'] ?? '',
          labels: selectable(dstLabels),
        };
      env.spec.egress.push(eg);
    }
    perEnvelope.push(env);
  }
  // Group per workload and merge (the same associative merge replicas use).
  const groups = new Map<string, Envelope[]>();
  for (const e of perEnvelope) {
    const k = `${e.spec.workload.namespace}/${e.spec.workload.name}`;
    groups.set(k, [...(groups.get(k) ?? []), e]);
  }
  const envelopes: Envelope[] = [];
  for (const k of [...groups.keys()].sort()) {
    const m = mergeAll(groups.get(k) ?? []);
    if (m.ok) envelopes.push(m.value);
  }
  return { envelopes, skipped, lines };
}
