/**
 * Signals that do not lie: each failure the service can be in, produced for real in both topologies (one thread, and
 * the decision thread serving /metrics), and seen the same way through `/metrics`, `/readyz` and `/healthz`:
 * - a rejected policy reload restored with the same content (same version) clears `phiguard_policy_stale` and
 *   `/readyz` `policyStale` together;
 * - an audit sink that failed (ENOSPC on /dev/full) fails liveness and readiness, and says why;
 * - the audit queue past `--audit-max-buffer-bytes` (Checks denied `audit-unavailable`) fails readiness, not liveness;
 * - a JWKS URL that does not answer: tokens are denied `keys-unavailable` (503), not `invalid-token`; the fetches and
 *   the key set show in metrics; readiness waits for the first key set and then keeps a lost one to its body;
 * - the trace context of a Check (traceparent, B3, x-request-id) is in its audit record, and a malformed one is not.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { CheckInputSchema } from '../../authz/index.js';
import { createCheckClient, toGrpcCheckRequest } from '../../generator/call/index.js';
import { eventually } from '../helpers/cli.js';
import { exampleRequest, TOPOLOGIES, type ServiceUnderTest } from '../helpers/server.js';

type Obj = Record<string, unknown>;

/** The value of one sample of a Prometheus text exposition, or undefined when it is not exposed. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[3]);
  }
  return undefined;
}

/** The scribe's chart read (an allow), with these extra request headers. */
function scribeRead(headers: Record<string, string> = {}): Obj {
  const input = exampleRequest('scribe-read-encounter.json') as { attributes: { request: { http: Obj } } };
  const http = input.attributes.request.http;
  http['headers'] = { ...(http['headers'] as Record<string, string>), ...headers };
  // Envoy sets the request id (`attributes.request.http.id`) from x-request-id.
  if (headers['x-request-id'] !== undefined) http['id'] = headers['x-request-id'];
  return toGrpcCheckRequest(CheckInputSchema.parse(input));
}

const codeOf = (r: Obj): number => (r['status'] as { code: number }).code;
/** The deny's HTTP status, as the client decodes Envoy's StatusCode enum (its name: Forbidden, ServiceUnavailable). */
const httpStatusOf = (r: Obj): unknown =>
  ((r['denied_response'] as Obj | undefined)?.['status'] as { code?: unknown } | undefined)?.code;

describe.each(TOPOLOGIES)('signals (%s)', (_name, start) => {
  test('policy staleness: a rejected reload restored with the same content is stale no more, in both places', async () => {
    const s = await start({ reloadSettleMs: 100 });
    try {
      const before = await s.metrics();
      expect(sample(before, 'phiguard_policy_stale')).toBe(0);
      const version = (await s.readyz()).body['policyVersion'] as string;
      expect(sample(before, 'phiguard_policy_info', { version })).toBe(1);
      const broken = path.join(s.policiesDir, 'broken.yaml');
      writeFileSync(broken, 'apiVersion: phiguard.io/v1alpha1\nkind: AgentPolicy\nspec: [\n');
      await eventually(async () => sample(await s.metrics(), 'phiguard_policy_stale') === 1, 15_000);
      expect((await s.readyz()).body).toMatchObject({ ready: true, policyStale: true, policyVersion: version });
      // The same files as before: the set in force is current again, though its version did not change.
      rmSync(broken);
      await eventually(async () => sample(await s.metrics(), 'phiguard_policy_stale') === 0, 15_000);
      const after = await s.metrics();
      expect((await s.readyz()).body).toMatchObject({ ready: true, policyStale: false, policyVersion: version });
      expect(sample(after, 'phiguard_policy_info', { version })).toBe(1);
      expect(sample(after, 'phiguard_policy_reloads_total', { result: 'failure' })).toBeGreaterThanOrEqual(1);
      expect((await s.healthz()).status).toBe(200);
    } finally {
      await s.stop();
    }
  });

  test('an audit sink that failed fails liveness and readiness, and every Check is denied 503', async () => {
    if (!existsSync('/dev/full')) {
      console.warn('SKIPPED: no /dev/full on this system');
      return;
    }
    const s = await start({ auditFile: '/dev/full' });
    const c = createCheckClient(s.addr);
    try {
      const r = await c.check(scribeRead());
      expect([codeOf(r), httpStatusOf(r)]).toEqual([7, 'ServiceUnavailable']);
      await eventually(async () => (await s.healthz()).status === 503, 10_000);
      expect((await s.healthz()).body).toEqual({ live: false, reason: 'audit-sink-failed' });
      const ready = await s.readyz();
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ ready: false, auditHealthy: false, auditFailed: true });
      const m = await s.metrics();
      expect(sample(m, 'phiguard_audit_errors_total', { code: 'ENOSPC' })).toBe(1);
      expect(sample(m, 'phiguard_grpc_checks_total', { code: 'PERMISSION_DENIED', http_status: '503' })).toBe(1);
      expect(sample(m, 'phiguard_grpc_checks_total', { code: 'OK', http_status: '200' })).toBe(0);
      expect(
        sample(m, 'phiguard_decisions_total', { decision: 'deny', reason: 'audit-unavailable' }),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      c.close();
      await s.stop();
    }
  });

  test('the audit queue past --audit-max-buffer-bytes fails readiness while it denies, not liveness', async () => {
    const s = await start({ auditMaxBufferBytes: 4096 });
    const c = createCheckClient(s.addr);
    try {
      expect((await s.readyz()).status).toBe(200);
      // Records of ~1 KB, 64 in one go: past 4 KiB queued, the sink refuses records and those Checks are denied.
      const answers = await Promise.all(Array.from({ length: 64 }, () => c.check(scribeRead())));
      const denied = answers.filter((r) => httpStatusOf(r) === 'ServiceUnavailable').length;
      expect(denied).toBeGreaterThan(0);
      const ready = await s.readyz();
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ ready: false, auditHealthy: false, auditFailed: false, auditDenying: true });
      expect((await s.healthz()).status).toBe(200);
      const m = await s.metrics();
      expect(sample(m, 'phiguard_audit_rejected_total')).toBe(denied);
      expect(sample(m, 'phiguard_grpc_checks_total', { code: 'PERMISSION_DENIED', http_status: '503' })).toBe(denied);
      expect(sample(m, 'phiguard_grpc_checks_total', { code: 'OK', http_status: '200' })).toBe(64 - denied);
    } finally {
      c.close();
      await s.stop();
    }
  });

  test('trace context: traceparent, B3 and x-request-id reach the audit record; malformed ones do not', async () => {
    const s = await start();
    const c = createCheckClient(s.addr);
    const cases: Array<[headers: Record<string, string>, traceId: string, spanId: string]> = [
      [
        { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'x-request-id': 'req-w3c' },
        '4bf92f3577b34da6a3ce929d0e0e4736',
        '00f067aa0ba902b7',
      ],
      [
        { b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1', 'x-request-id': 'req-b3' },
        '80f198ee56343ba864fe8b2a57d3eff7',
        'e457b5a2e4d86bd1',
      ],
      [
        { 'x-b3-traceid': '463ac35c9f6413ad', 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-request-id': 'req-b3m' },
        '463ac35c9f6413ad',
        'a2fb4a1d1a96d312',
      ],
      [{ traceparent: '00-<script>-00f067aa0ba902b7-01', 'x-request-id': 'req-bad' }, '', ''],
      [{ traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'x-request-id': 'req-zero' }, '', ''],
    ];
    try {
      for (const [headers] of cases) expect(codeOf(await c.check(scribeRead(headers)))).toBe(0);
      await s.service.close();
      const records = s.auditRecords().filter((r) => r['type'] === 'decision');
      for (const [headers, traceId, spanId] of cases) {
        const r = records.find((x) => x['requestId'] === headers['x-request-id']);
        expect(r).toMatchObject({ traceId, spanId });
      }
      const text = JSON.stringify(records);
      expect(text).not.toContain('<script>');
    } finally {
      c.close();
      await s.stop();
    }
  });
});

/** A JWKS URL on loopback whose answers the test switches: 503 until `serve(jwks)`, and back with `fail()`. */
async function switchableIdp(): Promise<{
  uri: string;
  serve(jwks: string): void;
  fail(): void;
  close(): Promise<void>;
}> {
  let body: string | undefined;
  const idp = http.createServer((_req, res) => {
    if (body === undefined) {
      res.writeHead(503);
      res.end();
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    }
  });
  await new Promise<void>((r) => idp.listen(0, '127.0.0.1', () => r()));
  return {
    uri: `http://127.0.0.1:${(idp.address() as AddressInfo).port}/.well-known/jwks.json`,
    serve: (jwks) => {
      body = jwks;
    },
    fail: () => {
      body = undefined;
    },
    close: () =>
      new Promise<void>((r) => {
        idp.closeAllConnections();
        idp.close(() => r());
      }),
  };
}

describe.each(TOPOLOGIES)('JWKS keys unavailable (%s)', (_name, start) => {
  let pair: { privateKey: CryptoKey; publicKey: CryptoKey };
  let forger: { privateKey: CryptoKey };
  beforeAll(async () => {
    pair = await generateKeyPair('ES256', { extractable: true });
    forger = await generateKeyPair('ES256');
  });
  const token = (key: CryptoKey) =>
    new SignJWT({ patient: 'p-1001' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://idp.test')
      .setAudience('phiguard')
      .setSubject('Practitioner/dr-a')
      .setExpirationTime('10m')
      .sign(key);
  /** The scribe's read with a bearer token and no jwt_authn metadata (the Istio CUSTOM provider's Check). */
  const withToken = (t: string): Obj => {
    const input = exampleRequest('scribe-read-encounter.json') as { attributes: Obj & { request: { http: Obj } } };
    delete input.attributes['metadata_context'];
    const h = input.attributes.request.http;
    h['headers'] = { ...(h['headers'] as Record<string, string>), authorization: `Bearer ${t}` };
    return toGrpcCheckRequest(CheckInputSchema.parse(input));
  };

  let idp: Awaited<ReturnType<typeof switchableIdp>>;
  let s: ServiceUnderTest;
  afterAll(async () => {
    await s.stop();
    await idp.close();
  });

  test('unreachable at start: not ready, tokens denied keys-unavailable 503 (a forged one too), fetch failures counted', async () => {
    idp = await switchableIdp();
    s = await start({ jwksUri: idp.uri, jwtIssuer: 'https://idp.test', jwtAudience: ['phiguard'] });
    const c = createCheckClient(s.addr);
    try {
      const ready = await s.readyz();
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ ready: false, keys: 'not-yet-loaded', auditHealthy: true });
      expect((await s.healthz()).status).toBe(200);
      for (const key of [pair.privateKey, forger.privateKey]) {
        const r = await c.check(withToken(await token(key)));
        expect([codeOf(r), httpStatusOf(r)]).toEqual([7, 'ServiceUnavailable']);
      }
      const m = await s.metrics();
      expect(sample(m, 'phiguard_jwks_fetch_total', { result: 'failure' })).toBeGreaterThanOrEqual(1);
      expect(sample(m, 'phiguard_jwks_fetch_total', { result: 'success' })).toBe(0);
      expect(sample(m, 'phiguard_jwks_keys_available', { source: 'url' })).toBe(0);
      expect(sample(m, 'phiguard_jwks_keys_age_seconds', { source: 'url' })).toBeUndefined();
      expect(
        sample(m, 'phiguard_decisions_total', {
          agent: 'ambient-scribe',
          decision: 'deny',
          reason: 'keys-unavailable',
          rule: 'keys-unavailable',
        }),
      ).toBe(2);
      expect(sample(m, 'phiguard_decisions_total', { reason: 'invalid-token' })).toBeUndefined();
    } finally {
      c.close();
    }
  });

  test('once the keys are fetched: ready, the token verifies, and a forged token is invalid-token (401) again', async () => {
    idp.serve(JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }));
    await eventually(async () => (await s.readyz()).status === 200, 15_000);
    expect((await s.readyz()).body).toMatchObject({ ready: true, keys: 'available' });
    const c = createCheckClient(s.addr);
    try {
      expect(codeOf(await c.check(withToken(await token(pair.privateKey))))).toBe(0);
      const forged = await c.check(withToken(await token(forger.privateKey)));
      expect([codeOf(forged), httpStatusOf(forged)]).toEqual([7, 'Unauthorized']);
      const m = await s.metrics();
      expect(sample(m, 'phiguard_jwks_fetch_total', { result: 'success' })).toBeGreaterThanOrEqual(1);
      expect(sample(m, 'phiguard_jwks_keys_available', { source: 'url' })).toBe(1);
      expect(sample(m, 'phiguard_jwks_keys_age_seconds', { source: 'url' })).toBeLessThan(60);
      expect(sample(m, 'phiguard_decisions_total', { reason: 'invalid-token' })).toBe(1);
    } finally {
      c.close();
    }
    await s.service.close();
    const reasons = s
      .auditRecords()
      .filter((r) => r['type'] === 'decision')
      .map((r) => [r['reason'], r['status']]);
    expect(reasons).toEqual([
      ['keys-unavailable', 503],
      ['keys-unavailable', 503],
      ['rule-allow', 200],
      ['invalid-token', 401],
    ]);
  });
});
