/** Envelope merge is associative and commutative, so replicas can be merged in any order and grouping. */
import { describe, expect, test } from '@jest/globals';
import { ENVELOPE_API_VERSION, readEnvelopes, serializeEnvelope, type Envelope } from '../../authz/index.js';
import { mergeAll, mergeEnvelopes } from '../../generator/envelope/index.js';
import { hllAdd, hllEncode, hllNew, hllCount } from '../../authz/observe/index.js';
import { KEY_PURPOSES, privacyKeyOf } from '../../authz/privacy/index.js';

/** Sketches hold keyed digests of patient ids, as the recorder adds them (a fixed test key). */
const key = privacyKeyOf(Buffer.alloc(32, 7));
const patient = (id: string): Buffer => key.digest(KEY_PURPOSES.envelopePatients, id);

let seed = 7;
const rand = (): number => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

function randomEnvelope(source: string): Envelope {
  const minutes: Record<string, number> = {};
  for (let i = 0; i < 20; i++)
    minutes[
      `2026-11-${String(16 + Math.floor(rand() * 3)).padStart(2, '0')}T${String(Math.floor(rand() * 24)).padStart(2, '0')}:${String(Math.floor(rand() * 60)).padStart(2, '0')}`
    ] = 1 + Math.floor(rand() * 9);
  const regs = hllNew();
  for (let i = 0; i < 30; i++) hllAdd(regs, patient(`p-${Math.floor(rand() * 100)}`));
  const start = `2026-11-${String(16 + Math.floor(rand() * 3)).padStart(2, '0')}T00:00:00.000Z`;
  return {
    apiVersion: ENVELOPE_API_VERSION,
    kind: 'Envelope',
    metadata: { name: 'scribe', namespace: 'ns' },
    spec: {
      workload: {
        kind: 'Deployment',
        name: 'scribe',
        namespace: 'ns',
        serviceAccount: pick(['', 'scribe']),
        principal: '',
        podLabels: rand() > 0.5 ? { app: 'scribe' } : {},
      },
      observation: { start, end: '2026-11-19T00:00:00.000Z', sources: [source], requests: Math.floor(rand() * 1000) },
      fhir: Array.from({ length: 3 }, () => ({
        resourceType: pick(['Patient', 'Observation', 'Encounter']),
        interaction: pick(['read', 'search-type']),
        operation: '',
        count: Math.floor(rand() * 50),
      })).filter(
        (f, i, a) => a.findIndex((g) => g.resourceType === f.resourceType && g.interaction === f.interaction) === i,
      ),
      minutes,
      patientsHourly: { [`2026-11-16T${String(Math.floor(rand() * 3)).padStart(2, '0')}`]: hllEncode(regs) },
      egress: [
        {
          host: pick(['a.example', 'b.example']),
          port: 443,
          protocol: 'TCP',
          transports: [pick(['tls', 'plaintext'] as const)],
          methods: [pick(['GET', 'POST'])],
          paths: [pick(['/x', '/y/{id}'])],
          count: Math.floor(rand() * 10),
        },
      ],
      dnsNames: [pick(['a.example', 'b.example'])],
      breakGlass: rand() > 0.5 ? { 'code-blue': 1 } : {},
    },
  };
}

const m = (a: Envelope, b: Envelope): Envelope => {
  const r = mergeEnvelopes(a, b);
  if (!r.ok) throw r.error;
  return r.value;
};
const canon = (e: Envelope): string => serializeEnvelope(e);

describe('envelope merge', () => {
  test.each(Array.from({ length: 25 }, (_, i) => i))('is associative and commutative (random case %d)', () => {
    const [a, b, c] = [randomEnvelope('r1'), randomEnvelope('r2'), randomEnvelope('r3')];
    expect(canon(m(a, m(b, c)))).toBe(canon(m(m(a, b), c)));
    expect(canon(m(a, b))).toBe(canon(m(b, a)));
    const all = mergeAll([a, b, c]);
    expect(canon(all.ok ? all.value : a)).toBe(canon(m(m(c, a), b)));
  });

  test('adds counts, unions sets, widens the window', () => {
    const a = randomEnvelope('r1');
    const b = { ...randomEnvelope('r2'), spec: { ...randomEnvelope('r2').spec, workload: a.spec.workload } };
    const r = m(a, b);
    expect(r.spec.observation.requests).toBe(a.spec.observation.requests + b.spec.observation.requests);
    expect(r.spec.observation.sources).toEqual(['r1', 'r2']);
    expect(
      r.spec.observation.start <= a.spec.observation.start && r.spec.observation.start <= b.spec.observation.start,
    ).toBe(true);
    const total = (e: Envelope) => Object.values(e.spec.minutes).reduce((x, y) => x + y, 0);
    expect(total(r)).toBe(total(a) + total(b));
  });

  test('patient sketches merge without double counting (register-wise max)', () => {
    const x = hllNew();
    for (let i = 0; i < 200; i++) hllAdd(x, patient(`p-${i}`));
    const y = hllNew();
    for (let i = 100; i < 300; i++) hllAdd(y, patient(`p-${i}`));
    const a = randomEnvelope('r1');
    const ea = { ...a, spec: { ...a.spec, patientsHourly: { '2026-11-16T09': hllEncode(x) } } };
    const eb = { ...a, spec: { ...a.spec, patientsHourly: { '2026-11-16T09': hllEncode(y) } } };
    const merged = m(ea, eb);
    const est = hllCount(new Uint8Array(Buffer.from(merged.spec.patientsHourly['2026-11-16T09'] ?? '', 'base64')));
    expect(Math.abs(est - 300) / 300).toBeLessThan(0.2); // 300 distinct, not 400
  });

  test('envelopes of different workloads do not merge', () => {
    const a = randomEnvelope('r1');
    const b = { ...a, spec: { ...a.spec, workload: { ...a.spec.workload, name: 'other' } } };
    expect(mergeEnvelopes(a, b).ok).toBe(false);
  });

  test('the example scribe replicas merge in either order to the same envelope', () => {
    const files = readEnvelopes('examples/envelopes').flatMap((r) =>
      r.ok && r.value.envelope.spec.workload.name === 'ambient-scribe' ? [r.value.envelope] : [],
    );
    expect(files).toHaveLength(2);
    const [a, b] = files as [Envelope, Envelope];
    expect(canon(m(a, b))).toBe(canon(m(b, a)));
    expect(m(a, b).spec.observation.sources).toEqual(['phiguard/a', 'phiguard/b']);
  });
});
