/**
 * The filter's memory stays bounded: 100,000 streams (in-proxy denies, and deferred requests answered, failed or
 * left to the stream's end) leave the module's linear memory where it was after the first 10,000, and no stream
 * or call-out state behind.
 */
import { expect, test } from '@jest/globals';
import { examplePolicies, hostFor, programFor, runFilter } from './filter-harness.js';
import { checkResponse } from './wire.js';

const CDS = 'spiffe://cluster.local/ns/cds/sa/sepsis-advisor';
const host = 'fhir.hospital.internal';

test('memory is bounded over 100,000 streams', async () => {
  const h = await hostFor(await programFor(examplePolicies(), false));
  const allow = checkResponse({ code: 0, headers: [['x-phiguard-decision', 'allow']] });
  const deny = checkResponse({ code: 7, status: 403, body: '{"resourceType":"OperationOutcome"}' });
  const requests = [
    { method: 'GET', path: '/fhir/Observation/%2e%2e/Patient', principal: CDS, headers: {}, host },
    { method: 'DELETE', path: '/fhir/Observation/o-1', principal: CDS, headers: {}, host },
    { method: 'GET', path: '/fhir/Observation?patient=p-1&category=vital-signs', principal: CDS, headers: {}, host },
    { method: 'GET', path: '/fhir/Condition?patient=p-1', principal: CDS, headers: {}, host },
    { method: 'GET', path: '/fhir/_history', principal: CDS, headers: {}, host },
    { method: 'GET', path: '/fhir/Patient/p-1', principal: 'spiffe://cluster.local/ns/x/sa/y', headers: {}, host },
  ];
  let atTenThousand = 0;
  for (let i = 0; i < 100_000; i++) {
    const r = requests[i % requests.length];
    if (!r) throw new Error('no request');
    const a = runFilter(h, { ...r, headers: { 'x-request-id': `req-${i}` } });
    if (a.kind === 'defer') {
      const end = i % 4;
      if (end === 0) h.completeGrpc(a.token, allow);
      else if (end === 1) h.completeGrpc(a.token, deny);
      else if (end === 2) h.failGrpc(a.token, 4);
      // end 3: the stream ends (client gone) before the answer; the call is dropped with it.
      h.finish(a.stream);
      if (end === 3) h.grpcCalls.delete(a.token);
    }
    if (i === 9_999) atTenThousand = h.memory.buffer.byteLength;
  }
  expect(h.openStreams()).toBe(0);
  expect(h.grpcCalls.size).toBe(0);
  expect(atTenThousand).toBeGreaterThan(0);
  expect(h.memory.buffer.byteLength).toBe(atTenThousand);
}, 300_000);
