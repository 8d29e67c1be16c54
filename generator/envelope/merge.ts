/**
 * Envelope merge: associative and commutative (and idempotent on the sketches), so replicas' envelopes can be
 * combined in any order and grouping. Counts add; sets take the sorted union; windows take min/max; HyperLogLog
 * sketches take the register-wise max. Envelopes of different workloads do not merge.
 */
import type { Envelope, EnvelopeEgress } from '../../authz/observe/index.js';
import { hllDecode, hllEncode, hllMerge } from '../../authz/observe/index.js';
import { err, ok, PhiguardError, type Result } from '../../authz/model/index.js';

const unmergeable = (message: string): Result<never> => err(new PhiguardError('data', message));

const union = (a: readonly string[], b: readonly string[]): string[] => [...new Set([...a, ...b])].sort();

function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return Object.fromEntries(Object.entries(out).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
}

function workloadKey(e: Envelope): string {
  const w = e.spec.workload;
  return `${w.kind}/${w.namespace}/${w.name}`;
}

export function egressKey(e: Pick<EnvelopeEgress, 'host' | 'port' | 'protocol'>): string {
  return `${e.host}|${e.port}|${e.protocol}`;
}

function mergeEgress(a: EnvelopeEgress, b: EnvelopeEgress): EnvelopeEgress {
  const out: EnvelopeEgress = {
    host: a.host,
    port: a.port,
    protocol: a.protocol,
    transports: union(a.transports, b.transports) as EnvelopeEgress['transports'],
    methods: union(a.methods, b.methods),
    paths: union(a.paths, b.paths),
    count: a.count + b.count,
  };
  // Peer: the smallest by canonical JSON, so the choice does not depend on merge order.
  const peers = [a.peer, b.peer]
    .filter((p) => p !== undefined)
    .sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1));
  if (peers[0]) out.peer = peers[0];
  const patterns = [a.fqdnPattern, b.fqdnPattern].filter((p): p is string => p !== undefined).sort();
  if (patterns[0] !== undefined) out.fqdnPattern = patterns[0];
  return out;
}

/** Merges two envelopes of the same workload. */
export function mergeEnvelopes(a: Envelope, b: Envelope): Result<Envelope> {
  if (workloadKey(a) !== workloadKey(b))
    return unmergeable(`different workloads: ${workloadKey(a)} and ${workloadKey(b)}`);
  const wa = a.spec.workload;
  const wb = b.spec.workload;
  const pick = (x: string, y: string): string => (x === '' ? y : y === '' ? x : x < y ? x : y);
  const fhir = new Map<string, Envelope['spec']['fhir'][number]>();
  for (const f of [...a.spec.fhir, ...b.spec.fhir]) {
    const k = `${f.resourceType}|${f.interaction}|${f.operation}`;
    const prev = fhir.get(k);
    fhir.set(k, { ...f, count: (prev?.count ?? 0) + f.count });
  }
  const egress = new Map<string, EnvelopeEgress>();
  for (const e of [...a.spec.egress, ...b.spec.egress]) {
    const k = egressKey(e);
    const prev = egress.get(k);
    egress.set(
      k,
      prev ? mergeEgress(prev, e) : mergeEgress(e, { ...e, transports: [], methods: [], paths: [], count: 0 }),
    );
  }
  const hourly: Record<string, string> = {};
  for (const k of union(Object.keys(a.spec.patientsHourly), Object.keys(b.spec.patientsHourly))) {
    const x = a.spec.patientsHourly[k];
    const y = b.spec.patientsHourly[k];
    const rx = x === undefined ? undefined : hllDecode(x);
    const ry = y === undefined ? undefined : hllDecode(y);
    if ((x !== undefined && !rx) || (y !== undefined && !ry))
      return unmergeable(`invalid patient sketch for hour ${k}`);
    hourly[k] = hllEncode(rx && ry ? hllMerge(rx, ry) : (rx ?? ry ?? new Uint8Array()));
  }
  const labels = { ...wb.podLabels, ...wa.podLabels };
  const sortedLabels = Object.fromEntries(Object.entries(labels).sort(([x], [y]) => (x < y ? -1 : 1)));
  return ok({
    apiVersion: a.apiVersion,
    kind: 'Envelope',
    metadata: { name: a.metadata.name, namespace: a.metadata.namespace },
    spec: {
      workload: {
        kind: wa.kind,
        name: wa.name,
        namespace: wa.namespace,
        serviceAccount: pick(wa.serviceAccount, wb.serviceAccount),
        principal: pick(wa.principal, wb.principal),
        podLabels: sortedLabels,
      },
      observation: {
        start:
          a.spec.observation.start < b.spec.observation.start ? a.spec.observation.start : b.spec.observation.start,
        end: a.spec.observation.end > b.spec.observation.end ? a.spec.observation.end : b.spec.observation.end,
        sources: union(a.spec.observation.sources, b.spec.observation.sources),
        requests: a.spec.observation.requests + b.spec.observation.requests,
      },
      fhir: [...fhir.values()].sort((x, y) =>
        `${x.resourceType}|${x.interaction}|${x.operation}` < `${y.resourceType}|${y.interaction}|${y.operation}`
          ? -1
          : 1,
      ),
      minutes: addCounts(a.spec.minutes, b.spec.minutes),
      patientsHourly: hourly,
      egress: [...egress.values()].sort((x, y) => (egressKey(x) < egressKey(y) ? -1 : 1)),
      dnsNames: union(a.spec.dnsNames, b.spec.dnsNames),
      breakGlass: addCounts(a.spec.breakGlass, b.spec.breakGlass),
    },
  });
}

/** Merges a non-empty list (any order gives the same result). */
export function mergeAll(envelopes: readonly Envelope[]): Result<Envelope> {
  const [first, ...rest] = envelopes;
  if (!first) return unmergeable('nothing to merge');
  // Normalize a single envelope through the same path so output is canonical.
  const empty = {
    ...first.spec,
    fhir: [],
    minutes: {},
    patientsHourly: {},
    egress: [],
    dnsNames: [],
    breakGlass: {},
    observation: { ...first.spec.observation, requests: 0, sources: [] },
  };
  let acc = mergeEnvelopes(first, { ...first, spec: empty });
  for (const e of rest) {
    if (!acc.ok) return acc;
    acc = mergeEnvelopes(acc.value, e);
  }
  return acc;
}
