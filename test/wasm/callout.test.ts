/**
 * The call-out path against the real service: requests the filter defers go, as the CheckRequest bytes the module
 * built, over a real gRPC call to phiguard's ext_authz Check (test/helpers/server.ts), and the module applies the
 * CheckResponse bytes the service sent: its headers on an allow, its status and OperationOutcome on a deny.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { ProxyWasmHost } from './proxy-wasm-host.js';
import { examplePolicies, hostFor, programFor, rawCheck, runFilter } from './filter-harness.js';

const CDS = 'spiffe://cluster.local/ns/cds/sa/sepsis-advisor';
const host = 'fhir.hospital.internal';

describe('deferred requests through the real ext_authz service', () => {
  let server: TestServer;
  let client: grpc.Client;
  let h: ProxyWasmHost;
  beforeAll(async () => {
    server = await startTestServer();
    client = new grpc.Client(server.addr, grpc.credentials.createInsecure());
    h = await hostFor(await programFor(examplePolicies(), false));
  }, 120_000);
  afterAll(async () => {
    client.close();
    await server.stop();
  });

  async function throughService(path: string): Promise<ReturnType<typeof runFilter>> {
    const a = runFilter(h, { method: 'GET', path, principal: CDS, headers: { 'x-request-id': 'req-7' }, host });
    if (a.kind !== 'defer') throw new Error(`expected ${path} to be deferred, got ${a.kind}`);
    const call = h.grpcCalls.get(a.token);
    if (!call) throw new Error('no call');
    h.completeGrpc(a.token, await rawCheck(client, call.message));
    return a;
  }

  test('an allow continues the request with the service’s decision headers', async () => {
    const a = await throughService('/fhir/Observation?patient=p-1001&category=vital-signs');
    expect(a.stream.continued).toBe(true);
    expect(a.stream.localResponse).toBeUndefined();
    expect(a.stream.headers).toContainEqual(['x-phiguard-decision', 'allow']);
    expect(a.stream.headers).toContainEqual(['x-phiguard-rule', 'vitals-and-labs']);
    h.finish(a.stream);
  });

  test('a deny answers with the service’s status and OperationOutcome', async () => {
    const a = await throughService('/fhir/Observation?category=vital-signs');
    expect(a.stream.continued).toBe(false);
    expect(a.stream.localResponse?.status).toBe(403);
    const body = JSON.parse(a.stream.localResponse?.body ?? '{}') as { issue: Array<{ diagnostics: string }> };
    expect(body.issue[0]?.diagnostics).toContain('rule "one-patient-per-search" of agent policy "cds-sepsis"');
    expect(a.stream.localResponse?.headers).toContainEqual(['content-type', 'application/fhir+json']);
    h.finish(a.stream);
  });

  test('the service audits the deferred decisions', async () => {
    const deadline = Date.now() + 5000;
    let text = '';
    while (Date.now() < deadline) {
      text = JSON.stringify(server.auditRecords());
      if (text.includes('one-patient-per-search') && text.includes('vitals-and-labs')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(text).toContain('one-patient-per-search');
    expect(text).toContain('vitals-and-labs');
  });
});
