/**
 * What only `--decisions thread` (the default of `phiguard serve`) has: grpc-js on the main thread, decisions on the
 * decision thread. Every example request gets the same CheckResponse as from the service in one thread (decision id
 * aside), and a failed decision thread denies (fail closed). What both topologies share (answers paired with their
 * requests across batches, close drains pending checks and flushes, audit failure, startup failure, answers that
 * come later) runs over both in ext-authz.test.ts; hot reload and the wire in reload-and-wire.test.ts.
 */
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { CheckInputSchema } from '../../authz/index.js';
import { createCheckClient, toGrpcCheckRequest, type CheckClient } from '../../generator/call/index.js';
import {
  healthClient,
  exampleRequest,
  heldJwks,
  startTestServer,
  startThreadedTestServer,
  type TestServer,
  type ThreadedTestServer,
} from '../helpers/server.js';

const req = (name: string): Record<string, unknown> => toGrpcCheckRequest(CheckInputSchema.parse(exampleRequest(name)));
const code = (res: Record<string, unknown>): number => (res['status'] as { code: number }).code;
function decisionId(res: Record<string, unknown>): string {
  const r = (res['ok_response'] ?? res['denied_response']) as
    { headers?: Array<{ header: { key: string; value: string } }> } | undefined;
  return r?.headers?.find((h) => h.header.key === 'x-phiguard-decision-id')?.header.value ?? '';
}
/** The response with its decision id (headers, metadata, OperationOutcome text) replaced by a placeholder. */
const normalized = (res: Record<string, unknown>): unknown =>
  JSON.parse(JSON.stringify(res).split(decisionId(res)).join('<decision-id>'));
const meta = (res: Record<string, unknown>, key: string): string | undefined =>
  (res['dynamic_metadata'] as { fields: Record<string, { stringValue?: string }> } | undefined)?.fields[key]
    ?.stringValue;

const EXAMPLES = readdirSync('examples/requests')
  .filter((f) => f.endsWith('.json'))
  .sort();
const BAA = { baaRegistry: 'examples/baa/registry.yaml' };
const ISS = 'https://idp.hospital.example';
/** A check that carries only a bearer token: its claims need the token verified (asynchronous the first time). */
const bearerCheck = (token: string) => ({
  attributes: {
    source: { principal: 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe' },
    request: {
      http: {
        method: 'GET',
        path: '/fhir/Encounter?patient=p-1001',
        host: 'fhir.hospital.internal',
        headers: { authorization: `Bearer ${token}` },
      },
    },
  },
});

describe('the same decisions as the service in one thread', () => {
  let threaded: ThreadedTestServer;
  let inline: TestServer;
  let tc: CheckClient;
  let ic: CheckClient;
  beforeAll(async () => {
    threaded = await startThreadedTestServer(BAA);
    inline = await startTestServer(BAA);
    tc = createCheckClient(threaded.addr);
    ic = createCheckClient(inline.addr);
  });
  afterAll(async () => {
    tc.close();
    ic.close();
    await threaded.stop();
    await inline.stop();
  });

  test('there are example requests to compare', () => {
    expect(EXAMPLES.length).toBeGreaterThanOrEqual(7);
  });

  test.each(EXAMPLES)('%s: the exact CheckResponse of the inline service', async (file) => {
    const [t, i] = await Promise.all([tc.check(req(file)), ic.check(req(file))]);
    expect(decisionId(t)).toMatch(/^[0-9a-f-]{36}$/);
    expect(decisionId(t)).not.toBe(decisionId(i));
    expect(normalized(t)).toEqual(normalized(i));
  });
});

describe('fail closed when the decision thread is gone', () => {
  test('pending and later checks are answered (pending ones and later ones denied), gRPC health turns NOT_SERVING, onFailure is told, /readyz no longer answers', async () => {
    const failures: string[] = [];
    const pair = await generateKeyPair('ES256', { extractable: true });
    const idp = await heldJwks(
      JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }),
    );
    const s = await startThreadedTestServer(
      { jwksUri: idp.uri, jwtIssuer: ISS, jwtAudience: ['phiguard'] },
      { onFailure: (c) => failures.push(c) },
    );
    const client = createCheckClient(s.addr);
    const hc = await healthClient(s.addr);
    const health = hc.status;
    expect(code(await client.check(req('scribe-read-encounter.json')))).toBe(0);
    expect(await health('envoy.service.auth.v3.Authorization')).toBe('SERVING');
    // Pending on the decision thread for sure: bearer tokens it verifies for the first time wait for the JWKS, which
    // the IdP holds back. A check sent after them on the same connection answered means they are inside the service.
    const tokens = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        new SignJWT({ patient: 'p-1001' })
          .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
          .setIssuer(ISS)
          .setAudience('phiguard')
          .setSubject(`Practitioner/held-${i}`)
          .setIssuedAt()
          .setExpirationTime('10m')
          .sign(pair.privateKey),
      ),
    );
    let answered = 0;
    const pending = tokens.map((t) =>
      client.check(bearerCheck(t)).finally(() => {
        answered++;
      }),
    );
    await idp.requested;
    expect(code(await client.check(req('scribe-read-encounter.json')))).toBe(0);
    expect(answered).toBe(0);
    // Checks in flight while the thread goes: each is answered, with its decision or with the internal-error deny;
    // the pending ones can only be answered with the deny.
    const inFlight = Array.from({ length: 60 }, () => client.check(req('scribe-read-encounter.json')));
    await s.thread().terminate();
    for (const r of await Promise.all(inFlight))
      expect(meta(r, 'rule')).toBe(code(r) === 0 ? 'read-chart-of-context-patient' : 'internal-error');
    for (const r of await Promise.all(pending))
      expect([code(r), meta(r, 'decision'), meta(r, 'rule')]).toEqual([7, 'deny', 'internal-error']);
    const res = await client.check(req('scribe-read-encounter.json'));
    expect(code(res)).toBe(7);
    expect(meta(res, 'rule')).toBe('internal-error');
    expect(meta(res, 'decision')).toBe('deny');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/^decision-thread-exited/);
    await expect(s.readyz()).rejects.toThrow();
    expect(await health('')).toBe('NOT_SERVING');
    expect(await health('envoy.service.auth.v3.Authorization')).toBe('NOT_SERVING');
    hc.close();
    client.close();
    await s.stop();
    idp.release();
    await idp.close();
  });
});
