/**
 * `--decisions thread` (the default of `phiguard serve`): grpc-js on the main thread, decisions on the decision
 * thread. The real service over loopback with a grpc-js client built from Envoy's protos: every example request gets
 * the same CheckResponse as from the service in one thread (decision id aside), answers stay paired with their
 * requests across batches, close drains and flushes, and a failed decision thread denies (fail closed).
 */
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { CheckInputSchema, startThreadedAuthzServer, StartupError, ServerConfigSchema, createLogger } from '../../authz/index.js';
import { createCheckClient, toGrpcCheckRequest, type CheckClient } from '../../generator/call/index.js';
import { exampleRequest, MIXED_CHECKS, startTestServer, startThreadedTestServer, type TestServer, type ThreadedTestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const req = (name: string): Record<string, unknown> => toGrpcCheckRequest(CheckInputSchema.parse(exampleRequest(name)));
const code = (res: Record<string, unknown>): number => (res['status'] as { code: number }).code;
function decisionId(res: Record<string, unknown>): string {
  const r = (res['ok_response'] ?? res['denied_response']) as { headers?: Array<{ header: { key: string; value: string } }> } | undefined;
  return r?.headers?.find((h) => h.header.key === 'x-phiguard-decision-id')?.header.value ?? '';
}
/** The response with its decision id (headers, metadata, OperationOutcome text) replaced by a placeholder. */
const normalized = (res: Record<string, unknown>): unknown => JSON.parse(JSON.stringify(res).split(decisionId(res)).join('<decision-id>'));
const meta = (res: Record<string, unknown>, key: string): string | undefined =>
  (res['dynamic_metadata'] as { fields: Record<string, { stringValue?: string }> } | undefined)?.fields[key]?.stringValue;

const EXAMPLES = readdirSync('examples/requests').filter((f) => f.endsWith('.json')).sort();
const BAA = { baaRegistry: 'examples/baa/registry.yaml' };

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

  test('/readyz and /metrics come from the decision thread', async () => {
    await tc.check(req('scribe-read-encounter.json'));
    const r = await threaded.readyz();
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ready: true, auditHealthy: true, draining: false, policyStale: false });
    expect(await threaded.metrics()).toMatch(/^phiguard_decisions_total\{agent="ambient-scribe",decision="allow",reason="rule-allow",rule="read-chart-of-context-patient"\} [1-9]/m);
  });
});

describe('answers stay with their requests', () => {
  test.each([1, 7, 16, 256])('120 mixed checks in flight on one connection, batches of %d: decision, rule, id and audit record each its own', async (chunk) => {
    const s = await startThreadedTestServer({}, { chunk });
    const client = createCheckClient(s.addr);
    const kinds = MIXED_CHECKS;
    const order = Array.from({ length: 120 }, (_, i) => kinds[(i * 7 + Math.floor(i / 5)) % kinds.length]!);
    const responses = await Promise.all(order.map((k) => client.check(req(k.file))));
    responses.forEach((res, i) => {
      expect(code(res)).toBe(order[i]!.code);
      expect(meta(res, 'rule')).toBe(order[i]!.rule);
      expect(meta(res, 'decision_id')).toBe(decisionId(res));
    });
    expect(new Set(responses.map(decisionId)).size).toBe(120);
    client.close();
    await s.service.close();
    const records = new Map(s.auditRecords().map((r) => [r['decisionId'], r]));
    expect(records.size).toBe(120);
    responses.forEach((res, i) => {
      const r = records.get(decisionId(res));
      expect(r?.['decision']).toBe(order[i]!.code === 0 ? 'allow' : 'deny');
      expect(r?.['rule']).toBe(order[i]!.rule);
      expect(typeof r?.['latencyUs']).toBe('number');
    });
    await s.stop();
  });
});

describe('shutdown, audit and startup', () => {
  test('close while checks are in flight: every one answered and audited, tokens and bodies kept out', async () => {
    const s = await startThreadedTestServer();
    const client = createCheckClient(s.addr);
    const bundle = req('scribe-note-transaction.json');
    ((bundle['attributes'] as { request: { http: { headers: Record<string, string> } } }).request.http.headers)['authorization'] = 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.secret-token-material';
    const pending = Array.from({ length: 40 }, (_, i) => client.check(req(i % 2 === 0 ? 'scribe-read-encounter.json' : 'scribe-population-search.json')));
    await client.check(bundle);
    const closing = s.service.close();
    const responses = await Promise.all(pending);
    await closing;
    client.close();
    expect(responses.map(code).filter((c) => c === 0)).toHaveLength(20);
    const records = s.auditRecords();
    expect(records).toHaveLength(41);
    expect(records.find((r) => r['interaction'] === 'transaction')).toMatchObject({ decision: 'allow', rule: 'note-transaction', patients: ['p-1001'], clinician: 'Practitioner/dr-okafor' });
    const text = JSON.stringify(records);
    expect(text).not.toContain('secret-token-material');
    expect(text).not.toContain('preliminary');
    await s.stop();
  });

  test('an audit target that cannot be written: every request denied 503, /readyz 503', async () => {
    const s = await startThreadedTestServer({ auditFile: '/nonexistent-dir/phiguard/audit.jsonl' });
    const client = createCheckClient(s.addr);
    const res = await client.check(req('scribe-read-encounter.json'));
    expect(code(res)).toBe(7);
    expect((res['denied_response'] as { status: { code: string } }).status.code).toBe('ServiceUnavailable');
    expect((await s.readyz()).status).toBe(503);
    expect(await s.metrics()).toMatch(/phiguard_audit_rejected_total [1-9]/);
    client.close();
    await s.stop();
  });

  test('a policy directory that does not load: StartupError naming the file, nothing listening', async () => {
    const t = tempDir({ 'bad.yaml': 'apiVersion: phiguard.io/v1alpha1\nkind: AgentPolicy\nmetadata: {name: x}\nspec: {selector: {}, rules: [{name: r, allow: "fhir.resourcetype == 1"}]}\n' });
    const config = ServerConfigSchema.parse({ port: 0, metricsPort: 0, policies: t.dir, auditFile: path.join(t.dir, 'audit.jsonl'), logLevel: 'silent' });
    const started = startThreadedAuthzServer(config, { logger: createLogger('silent'), defaultMetrics: false });
    await expect(started).rejects.toBeInstanceOf(StartupError);
    const e = await started.catch((x: unknown) => x);
    expect(e instanceof StartupError && e.findings.some((f) => f.file.endsWith('bad.yaml'))).toBe(true);
    t.remove();
  });
});

describe('fail closed when the decision thread is gone', () => {
  test('pending and later checks are answered (later ones denied), gRPC health turns NOT_SERVING, onFailure is told, /readyz no longer answers', async () => {
    const failures: string[] = [];
    const s = await startThreadedTestServer({}, { onFailure: (c) => failures.push(c) });
    const client = createCheckClient(s.addr);
    const { service } = await import('grpc-health-check');
    const Health = grpc.makeClientConstructor(service, 'grpc.health.v1.Health');
    const hc = new Health(s.addr, grpc.credentials.createInsecure()) as unknown as { check(r: unknown, cb: (e: unknown, r: { status: string }) => void): void; close(): void };
    const health = async (svc: string) => new Promise<string>((resolve, reject) => hc.check({ service: svc }, (e, r) => (e ? reject(e instanceof Error ? e : new Error('health check failed')) : resolve(r.status))));
    expect(code(await client.check(req('scribe-read-encounter.json')))).toBe(0);
    expect(await health('envoy.service.auth.v3.Authorization')).toBe('SERVING');
    // Checks in flight while the thread goes: each is answered, with its decision or with the internal-error deny.
    const inFlight = Array.from({ length: 60 }, () => client.check(req('scribe-read-encounter.json')));
    await s.thread().terminate();
    for (const r of await Promise.all(inFlight)) expect(meta(r, 'rule')).toBe(code(r) === 0 ? 'read-chart-of-context-patient' : 'internal-error');
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
  });
});

describe('answers that come later (a bearer token verified for the first time)', () => {
  test('allowed with the verified clinician in the audit record; a bad signature denied', async () => {
    const t = tempDir();
    const pair = await generateKeyPair('ES256', { extractable: true });
    const jwksFile = path.join(t.dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
    const s = await startThreadedTestServer({ jwksFile, jwtIssuer: 'https://idp.hospital.example', jwtAudience: ['phiguard'] });
    const client = createCheckClient(s.addr);
    const sign = (key: CryptoKey) => new SignJWT({ patient: 'p-1001' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://idp.hospital.example')
      .setAudience('phiguard').setSubject('Practitioner/dr-okafor').setIssuedAt().setExpirationTime('10m').sign(key);
    const check = (token: string) => ({ attributes: { source: { principal: 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe' }, request: { http: { method: 'GET', path: '/fhir/Encounter?patient=p-1001', host: 'fhir.hospital.internal', headers: { authorization: `Bearer ${token}` } } } } });
    const good = await sign(pair.privateKey);
    const bad = await sign((await generateKeyPair('ES256')).privateKey);
    const [a, b] = await Promise.all([client.check(check(good)), client.check(check(bad))]);
    expect(code(a)).toBe(0);
    expect(code(b)).toBe(7);
    client.close();
    await s.service.close();
    const byId = new Map(s.auditRecords().map((r) => [r['decisionId'], r]));
    expect(byId.get(decisionId(a))).toMatchObject({ decision: 'allow', clinician: 'Practitioner/dr-okafor' });
    expect(byId.get(decisionId(b))).toMatchObject({ decision: 'deny' });
    expect(JSON.stringify([...byId.values()])).not.toContain(good);
    await s.stop();
    t.remove();
  });
});
