/**
 * Records each agent's behavioral envelope from the decisions the service makes (any mode). Only traffic that was
 * allowed to flow is recorded (in audit mode, that is everything). Per decision: a few counter updates and a
 * HyperLogLog add — no I/O; snapshots are written every `flushMs` and on shutdown, one cumulative file per replica
 * (`<ns>.<workload>.<replica>.envelope.yaml`, mode 0600), for `phiguard envelope merge`.
 *
 * Distinct patients go into the hourly sketches as HMAC-SHA256 digests under the privacy key; without a key the
 * envelope records no patient sketch at all (docs/privacy.md).
 */
import path from 'node:path';
import { DECISION_REASONS, type Decision, type RequestAttributesModel } from '../model/index.js';
import { ENVELOPE_API_VERSION, type Envelope, type EnvelopeEgress, type Workload } from './envelope.js';
import { serializeEnvelope, envelopeFileName } from './envelope-io.js';
import { hllAdd, hllEncode, hllNew } from './hll.js';
import { fhirPathTemplate, genericPathTemplate } from './path-template.js';
import { parseSpiffeId } from '../identity/index.js';
import { canonicalAuthority, canonicalHost } from '../egress/index.js';
import { ensurePrivateDir, KEY_PURPOSES, writePrivateFile, type PrivacyKey } from '../privacy/index.js';

export interface RecorderOptions {
  dir: string;
  replica: string;
  flushMs: number;
  /** Workload identity for an agent policy name (from the policy's spec.workload, or derived). */
  workloadFor: (agent: string, attrs: RequestAttributesModel) => Workload;
  onError?: (code: string) => void;
  /** Keys the distinct-patient sketches; without it no patient sketch is recorded. */
  privacyKey?: PrivacyKey | undefined;
}

interface EgressAcc {
  host: string;
  port: number;
  transports: Set<'tls' | 'plaintext'>;
  methods: Set<string>;
  paths: Set<string>;
  count: number;
  peer: EnvelopeEgress['peer'];
}

interface Acc {
  workload: Workload;
  /** Epoch milliseconds; keys below are epoch minutes / hours (numbers: no date formatting per request). */
  start: number;
  end: number;
  requests: number;
  fhir: Map<string, { resourceType: string; interaction: string; operation: string; count: number }>;
  minutes: Map<number, number>;
  hours: Map<number, Uint8Array>;
  breakGlass: Map<string, number>;
  egress: Map<string, EgressAcc>;
}

export interface EnvelopeRecorder {
  observe(attrs: RequestAttributesModel, decision: Decision): void;
  /** The envelopes recorded so far. */
  snapshot(): Envelope[];
  /** Writes snapshots now. Returns the files written. */
  flush(): string[];
  close(): void;
}

const MAX_PATHS = 200;

/**
 * The envelope's view of the destination: the host in its canonical reading (egress/canonical-host.ts: the same one
 * the egress lane and the generator use, so `0xA9FEA9FE` is recorded as 169.254.169.254), the destination address
 * when there is no authority; the connected port first (what Cilium sees), then the authority's.
 */
function hostAndPort(attrs: RequestAttributesModel): { host: string; port: number } {
  const a = canonicalAuthority(attrs.request.host);
  const port =
    attrs.destination.port > 0n
      ? Number(attrs.destination.port)
      : (a.port ?? (attrs.request.scheme === 'https' ? 443 : 80));
  const host = a.host.kind !== 'none' ? a.host.host : canonicalHost(attrs.destination.address).host;
  return { host: host === '' ? 'unknown' : host, port };
}

function accumulator(
  accs: Map<string, Acc>,
  agent: string,
  attrs: RequestAttributesModel,
  options: RecorderOptions,
): Acc {
  const now = attrs.now.getTime();
  let acc = accs.get(agent);
  if (!acc) {
    acc = {
      workload: options.workloadFor(agent, attrs),
      start: now,
      end: now,
      requests: 0,
      fhir: new Map(),
      minutes: new Map(),
      hours: new Map(),
      egress: new Map(),
      breakGlass: new Map(),
    };
    accs.set(agent, acc);
  }
  return acc;
}

/** Patient ids' keyed digests, memoized (bounded) so a Check pays a map lookup, not an HMAC, for a known patient. */
type Digests = (patient: string) => Uint8Array;
const MAX_MEMO = 8192;

function keyedDigests(key: PrivacyKey): Digests {
  const memo = new Map<string, Uint8Array>();
  return (p) => {
    let d = memo.get(p);
    if (d === undefined) {
      if (memo.size >= MAX_MEMO) memo.clear();
      d = key.digest(KEY_PURPOSES.envelopePatients, p).subarray(0, 8);
      memo.set(p, d);
    }
    return d;
  };
}

/** FHIR interactions by type, and distinct patients per hour (HyperLogLog sketches of keyed digests). */
function observeFhir(acc: Acc, f: RequestAttributesModel['fhir'], now: number, digests: Digests | undefined): void {
  if (!f.isFhir || !f.valid) return;
  const bump = (resourceType: string, interaction: string, operation: string): void => {
    const k = `${resourceType}|${interaction}|${operation}`;
    const cur = acc.fhir.get(k);
    if (cur) cur.count++;
    else acc.fhir.set(k, { resourceType, interaction, operation, count: 1 });
  };
  bump(f.resourceType, f.interaction, f.operation);
  for (const e of f.entries) bump(e.resourceType, e.interaction, e.operation);
  if (f.patients.length === 0 || digests === undefined) return;
  const hour = Math.floor(now / 3_600_000);
  let regs = acc.hours.get(hour);
  if (!regs) {
    regs = hllNew();
    acc.hours.set(hour, regs);
  }
  for (const p of f.patients) hllAdd(regs, digests(p));
}

/** The destination: host, port, what is on the wire, methods and path templates. */
function observeEgress(acc: Acc, attrs: RequestAttributesModel): void {
  const f = attrs.fhir;
  const { host, port } = hostAndPort(attrs);
  const ek = `${host}|${port}`;
  let eg = acc.egress.get(ek);
  if (!eg) {
    const peerId = parseSpiffeId(attrs.destination.principal);
    const peer = peerId
      ? { namespace: peerId.namespace, serviceAccount: peerId.serviceAccount, labels: {} }
      : undefined;
    eg = { host, port, transports: new Set(), methods: new Set(), paths: new Set(), count: 0, peer };
    acc.egress.set(ek, eg);
  }
  eg.count++;
  // What is on the wire: https, or mesh mTLS (Envoy reports a destination principal only under mTLS).
  eg.transports.add(attrs.request.scheme === 'https' || attrs.destination.principal !== '' ? 'tls' : 'plaintext');
  eg.methods.add(attrs.request.method);
  if (eg.paths.size < MAX_PATHS) {
    eg.paths.add(f.isFhir && f.valid ? fhirPathTemplate(f) : genericPathTemplate(attrs.request.path));
  }
}

const byKey =
  <T>(key: (x: T) => string) =>
  (x: T, y: T): number =>
    key(x) < key(y) ? -1 : 1;

function envelopeOf(a: Acc, replica: string): Envelope {
  return {
    apiVersion: ENVELOPE_API_VERSION,
    kind: 'Envelope',
    metadata: { name: a.workload.name, namespace: a.workload.namespace },
    spec: {
      workload: a.workload,
      observation: {
        start: new Date(a.start).toISOString(),
        end: new Date(a.end).toISOString(),
        sources: [`phiguard/${replica}`],
        requests: a.requests,
      },
      fhir: [...a.fhir.values()].sort(byKey((x) => `${x.resourceType}|${x.interaction}|${x.operation}`)),
      minutes: Object.fromEntries(
        [...a.minutes].sort(([x], [y]) => x - y).map(([k, v]) => [new Date(k * 60_000).toISOString().slice(0, 16), v]),
      ),
      patientsHourly: Object.fromEntries(
        [...a.hours]
          .sort(([x], [y]) => x - y)
          .map(([k, v]) => [new Date(k * 3_600_000).toISOString().slice(0, 13), hllEncode(v)]),
      ),
      egress: [...a.egress.values()].sort(byKey((x) => `${x.host}|${x.port}`)).map((e) => {
        const out: EnvelopeEgress = {
          host: e.host,
          port: e.port,
          protocol: 'TCP',
          transports: [...e.transports].sort(),
          methods: [...e.methods].sort(),
          paths: [...e.paths].sort(),
          count: e.count,
        };
        if (e.peer) out.peer = e.peer;
        return out;
      }),
      dnsNames: [],
      breakGlass: Object.fromEntries([...a.breakGlass].sort(([x], [y]) => (x < y ? -1 : 1))),
    },
  };
}

export function createEnvelopeRecorder(options: RecorderOptions): EnvelopeRecorder {
  const accs = new Map<string, Acc>();
  const digests = options.privacyKey === undefined ? undefined : keyedDigests(options.privacyKey);
  const observe = (attrs: RequestAttributesModel, decision: Decision): void => {
    if (decision.outcome !== 'allow' || decision.agent === '') return;
    const now = attrs.now.getTime();
    const acc = accumulator(accs, decision.agent, attrs, options);
    if (now < acc.start) acc.start = now;
    if (now > acc.end) acc.end = now;
    acc.requests++;
    const lane = decision.lane;
    if (lane && decision.reason === DECISION_REASONS.breakGlass)
      acc.breakGlass.set(lane.class, (acc.breakGlass.get(lane.class) ?? 0) + 1);
    const minute = Math.floor(now / 60_000);
    acc.minutes.set(minute, (acc.minutes.get(minute) ?? 0) + 1);
    observeFhir(acc, attrs.fhir, now, digests);
    observeEgress(acc, attrs);
  };
  const snapshot = (): Envelope[] => [...accs.values()].map((a) => envelopeOf(a, options.replica));
  const flush = (): string[] => {
    const written: string[] = [];
    try {
      ensurePrivateDir(options.dir);
      for (const e of snapshot()) {
        const file = path.join(options.dir, envelopeFileName(e, `.${options.replica}`));
        writePrivateFile(file, serializeEnvelope(e)); // 0600, by rename: readers never see half a file
        written.push(file);
      }
    } catch (e) {
      options.onError?.((e as NodeJS.ErrnoException).code ?? 'error');
    }
    return written;
  };
  const timer = setInterval(flush, options.flushMs);
  timer.unref();
  return { observe, snapshot, flush, close: () => clearInterval(timer) };
}
