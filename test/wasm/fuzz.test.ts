/**
 * Seeded fuzzing of the in-proxy request-line parser: hostile and random `:method`/`:path` never trap the module,
 * an in-proxy answer is always the service's, and nothing the FHIR parser marks invalid is allowed in the proxy
 * under policies without `allowInvalid`.
 */
import { describe, expect, test } from '@jest/globals';
import type { ExplainRequest } from '../../generator/explain/index.js';
import { readPolicyDir } from '../../authz/policy/index.js';
import { createFhirRequestParser } from '../../authz/fhir/index.js';
import { examplePolicies, FHIR_BASES, hostFor, programFor, runFilter, serviceDecision } from './filter-harness.js';
import { checkResponse } from './wire.js';

/** mulberry32: a small seeded PRNG, so a failure replays from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = [
  '/',
  '/',
  '/',
  'fhir',
  'R4',
  'Patient',
  'Observation',
  'Medication',
  'Encounter',
  'p-1',
  'x'.repeat(70),
  'metadata',
  '_history',
  '_search',
  '$everything',
  '$',
  '*',
  '.',
  '..',
  '%2e',
  '%2E%2e',
  '%2f',
  '%5C',
  '%',
  '%z',
  '%zz',
  '%41',
  '%c3%a9',
  '%00',
  '%20',
  '%7f',
  '?',
  '?patient=p-1',
  '#',
  '&',
  '=',
  ' ',
  '\t',
  '\u0001',
  '\u007f',
  'é',
  '\\',
  '//',
  'patient',
  'PATIENT',
  ';',
  '@',
  ':',
  '~',
];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'get', 'CONNECT', '', 'G E T'];
const PRINCIPALS = [
  'spiffe://cluster.local/ns/cds/sa/sepsis-advisor',
  'spiffe://cluster.local/ns/pharmacy/sa/formulary-bot',
];
const HOSTS = ['fhir.hospital.internal', 'fhir-server.fhir.svc.cluster.local:8080', 'other.example'];

function randomRequest(next: () => number): ExplainRequest {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  const n = 1 + Math.floor(next() * 8);
  let path = next() < 0.8 ? '/fhir' : '';
  for (let i = 0; i < n; i++) path += (next() < 0.5 ? '/' : '') + pick(TOKENS);
  if (next() < 0.05) path = String.fromCharCode(...Array.from({ length: 12 }, () => 1 + Math.floor(next() * 126)));
  return { method: pick(METHODS), path, principal: pick(PRINCIPALS), headers: {}, host: pick(HOSTS) };
}

const parse = createFhirRequestParser({ basePaths: FHIR_BASES });

describe('fuzzing the in-proxy parser', () => {
  test.each([
    ['example policies', 0x5eed1],
    ['fixture agent', 0x5eed2],
  ])(
    '%s, seed %d: no trap, every in-proxy answer is the service’s, no allow of an invalid request',
    async (name, seed) => {
      let set = examplePolicies();
      if (name === 'fixture agent') {
        const loaded = readPolicyDir('test/wasm/fixtures/policies');
        if (!loaded.ok) throw loaded.error;
        set = loaded.value.set;
      }
      const host = await hostFor(await programFor(set, true));
      const next = prng(seed);
      let decided = 0;
      for (let i = 0; i < 4000; i++) {
        const r = randomRequest(next);
        const label = `seed ${seed} #${i}: ${r.method} ${JSON.stringify(r.path)}`;
        const a = runFilter(host, r); // a trap throws a WebAssembly RuntimeError here
        if (a.kind === 'defer') {
          host.failGrpc(a.token, 14);
          host.finish(a.stream);
          continue;
        }
        decided++;
        const d = await serviceDecision(set, r);
        expect({ label, outcome: a.kind, rule: a.rule }).toEqual({ label, outcome: d.outcome, rule: d.rule });
        if (a.kind === 'allow' && name === 'example policies') {
          const fhir = parse({ method: r.method, path: r.path, headers: {}, body: undefined, bodyTruncated: false });
          expect({ label, valid: fhir.valid }).toEqual({ label, valid: true });
        }
      }
      expect(decided).toBeGreaterThan(100);
      expect(host.openStreams()).toBe(0);
    },
    120_000,
  );
});

describe('fuzzing the CheckResponse reader', () => {
  test('random and mutated answers never trap and always end the request one way or the other', async () => {
    const host = await hostFor(await programFor(examplePolicies(), false));
    const next = prng(0x5eed3);
    const valid = checkResponse({ code: 7, status: 403, body: '{"resourceType":"OperationOutcome"}' });
    let continued = 0;
    for (let i = 0; i < 3000; i++) {
      const a = runFilter(host, {
        method: 'GET',
        path: '/fhir/Observation?patient=p-1',
        principal: 'spiffe://cluster.local/ns/cds/sa/sepsis-advisor',
        headers: {},
        host: 'fhir.hospital.internal',
      });
      if (a.kind !== 'defer') throw new Error('expected a deferred request');
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = Uint8Array.from({ length: Math.floor(next() * 64) }, () => Math.floor(next() * 256));
      } else {
        bytes = Uint8Array.from(valid);
        for (let k = 0; k < 1 + Math.floor(next() * 4); k++)
          bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
        if (next() < 0.3) bytes = bytes.slice(0, Math.floor(next() * bytes.length));
      }
      host.completeGrpc(a.token, bytes); // a trap throws here
      expect(a.stream.continued !== (a.stream.localResponse !== undefined)).toBe(true);
      if (a.stream.continued) continued++;
      host.finish(a.stream);
    }
    // Random bytes rarely spell status OK; most answers deny.
    expect(continued).toBeLessThan(300);
  }, 120_000);
});
