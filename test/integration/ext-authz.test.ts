/**
 * The real service over loopback, spoken to by a grpc-js client built from Envoy's own protos, with Envoy-shaped
 * CheckRequests (Istio SPIFFE principal, jwt_authn metadata, transaction Bundle body). Every test here runs in both
 * topologies the service has (TOPOLOGIES: `inline`, one thread; `thread`, decisions on the decision thread); what
 * only the decision thread has (its failure path, its parity with inline) is in decision-thread.test.ts.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { CheckInputSchema, isPhiguardError } from '../../authz/index.js';
import { createCheckClient, toGrpcCheckRequest, type CheckClient } from '../../generator/call/index.js';
import {
  healthClient,
  exampleRequest,
  heldJwks,
  MIXED_CHECKS,
  startTestServer,
  startThreadedTestServer,
  TOPOLOGIES,
  type ServiceUnderTest,
} from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

function req(name: string, mutate?: (a: Record<string, unknown>) => void): Record<string, unknown> {
  const input = CheckInputSchema.parse(exampleRequest(name));
  const g = toGrpcCheckRequest(input);
  mutate?.(g['attributes'] as Record<string, unknown>);
  return g;
}

function headerValue(res: Record<string, unknown>, key: string): string | undefined {
  const ok = (res['ok_response'] ?? res['denied_response']) as
    { headers?: Array<{ header: { key: string; value: string } }> } | undefined;
  return ok?.headers?.find((h) => h.header.key === key)?.header.value;
}
const code = (res: Record<string, unknown>): number => (res['status'] as { code: number }).code;
const decisionId = (res: Record<string, unknown>): string => headerValue(res, 'x-phiguard-decision-id') ?? '';
const metaOf = (res: Record<string, unknown>, key: string): string | undefined =>
  (res['dynamic_metadata'] as { fields: Record<string, { stringValue?: string }> } | undefined)?.fields[key]
    ?.stringValue;

const meta = (fields: Record<string, string>) => ({
  fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, { stringValue: v, kind: 'stringValue' }])),
});

/** The scribe's Bundle with a bearer token beside its jwt_authn claims: the token must never reach the audit trail. */
const SECRET_TOKEN = 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.secret-token-material';
const bundleWithToken = () =>
  req('scribe-note-transaction.json', (a) => {
    (a['request'] as { http: { headers: Record<string, string> } }).http.headers['authorization'] = SECRET_TOKEN;
  });

const ISS = 'https://idp.hospital.example';
const SCRIBE = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';
/** A check that carries only a bearer token: its claims need the token verified (asynchronous the first time). */
const bearerCheck = (token: string) => ({
  attributes: {
    source: { principal: SCRIBE },
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
const signToken = (key: CryptoKey, sub: string) =>
  new SignJWT({ patient: 'p-1001' })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(ISS)
    .setAudience('phiguard')
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(key);
const jwksOf = async (key: CryptoKey) =>
  JSON.stringify({ keys: [{ ...(await exportJWK(key)), kid: 'k1', alg: 'ES256', use: 'sig' }] });

/** Runs `fn` against a started service and a client; both are closed and the temp files removed whatever happens. */
async function withService(
  started: Promise<ServiceUnderTest>,
  fn: (s: ServiceUnderTest, client: CheckClient) => Promise<void>,
): Promise<void> {
  const s = await started;
  const client = createCheckClient(s.addr);
  try {
    await fn(s, client);
  } finally {
    client.close();
    await s.stop();
  }
}

describe.each(TOPOLOGIES)('ext_authz Check over gRPC (%s)', (_topology, start) => {
  let s: ServiceUnderTest;
  let client: CheckClient;
  beforeAll(async () => {
    s = await start();
    client = createCheckClient(s.addr);
  });
  afterAll(async () => {
    client.close();
    await s.stop();
  });
  const policyVersion = async () => String((await s.readyz()).body['policyVersion']);

  test('allows a transaction Bundle from the scribe with jwt_authn claims: exact CheckResponse', async () => {
    const res = await client.check(req('scribe-note-transaction.json'));
    const id = decisionId(res);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const v = await policyVersion();
    expect(res).toEqual({
      status: { code: 0 },
      ok_response: {
        headers: [
          { header: { key: 'x-phiguard-decision', value: 'allow' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          { header: { key: 'x-phiguard-decision-id', value: id }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          { header: { key: 'x-phiguard-agent', value: 'ambient-scribe' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          {
            header: { key: 'x-phiguard-rule', value: 'note-transaction' },
            append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
          },
        ],
      },
      http_response: 'ok_response',
      dynamic_metadata: meta({
        decision: 'allow',
        decision_id: id,
        agent: 'ambient-scribe',
        rule: 'note-transaction',
        reason: 'rule-allow',
        policy_version: v,
      }),
    });
  });

  test('denies a population query with a FHIR OperationOutcome: exact CheckResponse, no PHI', async () => {
    const res = await client.check(req('scribe-population-search.json'));
    const id = decisionId(res);
    const v = await policyVersion();
    const denied = res['denied_response'] as { body: string };
    expect(res).toEqual({
      status: { code: 7, message: 'phiguard: rule-deny (rule no-population-queries)' },
      denied_response: {
        status: { code: 'Forbidden' },
        headers: [
          {
            header: { key: 'content-type', value: 'application/fhir+json' },
            append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
          },
          { header: { key: 'x-phiguard-decision-id', value: id }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          { header: { key: 'x-phiguard-decision', value: 'deny' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
        ],
        body: denied.body,
      },
      http_response: 'denied_response',
      dynamic_metadata: meta({
        decision: 'deny',
        decision_id: id,
        agent: 'ambient-scribe',
        rule: 'no-population-queries',
        reason: 'rule-deny',
        policy_version: v,
      }),
    });
    expect(JSON.parse(denied.body)).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'forbidden',
          details: {
            coding: [{ system: 'https://phiguard.io/fhir/CodeSystem/decision-reason', code: 'rule-deny' }],
            text: 'Searches must be scoped to one patient',
          },
          diagnostics: `phiguard decision ${id}: rule "no-population-queries" of agent policy "ambient-scribe"`,
        },
      ],
    });
    expect(denied.body).not.toMatch(/p-1001|loinc|Practitioner/);
  });

  test.each([
    ['scribe-read-encounter.json', 0, undefined],
    ['cds-vitals-search.json', 0, undefined],
    ['prior-auth-audit-deny.json', 0, undefined],
    ['unknown-agent.json', 7, 'Forbidden'],
    ['hostile-dot-segment.json', 7, 'BadRequest'],
  ])('%s -> grpc status %d, HTTP %s', async (file, grpcCode, httpCode) => {
    const res = await client.check(req(file));
    expect(code(res)).toBe(grpcCode);
    if (httpCode) expect((res['denied_response'] as { status: { code: string } }).status.code).toBe(httpCode);
  });

  test('audit mode allows and labels the decision audit-deny', async () => {
    const res = await client.check(req('prior-auth-audit-deny.json'));
    expect(headerValue(res, 'x-phiguard-decision')).toBe('audit-deny');
  });

  test('a CheckRequest without attributes is denied (fail closed)', async () => {
    const res = await client.check({});
    expect(code(res)).toBe(7);
    expect(JSON.parse((res['denied_response'] as { body: string }).body).issue[0].details.coding[0].code).toBe(
      'internal-error',
    );
  });

  test('agent-set decision headers cannot forge an allow: the service overwrites them', async () => {
    const res = await client.check(
      req('unknown-agent.json', (a) => {
        ((a['request'] as Record<string, Record<string, Record<string, string>>>)['http'] ?? {})['headers'] = {
          'x-phiguard-decision': 'allow',
        };
      }),
    );
    expect(code(res)).toBe(7);
  });

  test('unwraps every google.protobuf.Value kind in jwt_authn metadata', async () => {
    const payload = {
      fields: {
        sub: { stringValue: 'Practitioner/dr-okafor' },
        patient: { stringValue: 'p-1001' },
        exp: { numberValue: 1795000000 },
        active: { boolValue: true },
        roles: { listValue: { values: [{ stringValue: 'physician' }] } },
        ctx: { structValue: { fields: { encounter: { stringValue: 'e-77' } } } },
        none: { nullValue: 'NULL_VALUE' },
      },
    };
    const res = await client.check(
      req('scribe-read-encounter.json', (a) => {
        a['metadata_context'] = {
          filter_metadata: { 'envoy.filters.http.jwt_authn': { fields: { jwt_payload: { structValue: payload } } } },
        };
      }),
    );
    expect(headerValue(res, 'x-phiguard-decision')).toBe('allow');
  });

  test('grpc.health.v1 reports SERVING for the server and the Authorization service', async () => {
    const hc = await healthClient(s.addr);
    const status = hc.status;
    expect(await status('')).toBe('SERVING');
    expect(await status('envoy.service.auth.v3.Authorization')).toBe('SERVING');
    hc.close();
  });

  test('/readyz reports ready; /metrics counts decisions by agent, decision and rule', async () => {
    await client.check(req('scribe-read-encounter.json'));
    const r = await s.readyz();
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ready: true, auditHealthy: true, draining: false, policyStale: false });
    const m = await s.metrics();
    expect(m).toMatch(
      /^phiguard_decisions_total\{agent="ambient-scribe",decision="allow",reason="rule-allow",rule="note-transaction"\} [1-9]/m,
    );
    expect(m).toMatch(
      /^phiguard_decisions_total\{agent="ambient-scribe",decision="allow",reason="rule-allow",rule="read-chart-of-context-patient"\} [1-9]/m,
    );
    expect(m).toMatch(/phiguard_check_duration_seconds_bucket/);
    expect(m).toMatch(/^phiguard_policy_stale 0$/m);
  });
});

describe('many checks in flight on one connection (decided together per event-loop turn, or per batch to the decision thread)', () => {
  const starts: Array<[string, () => Promise<ServiceUnderTest>]> = [
    ['inline', () => startTestServer()],
    ...[1, 7, 16, 256].map((chunk): [string, () => Promise<ServiceUnderTest>] => [
      `thread, batches of ${chunk}`,
      () => startThreadedTestServer({}, { chunk }),
    ]),
  ];

  test.each(starts)(
    "%s: 120 mixed checks, every answer its own request's: decision, rule, decision id and audit record",
    (_topology, start) =>
      withService(start(), async (s, client) => {
        const n = 120;
        const order = Array.from(
          { length: n },
          (_, i) => MIXED_CHECKS[(i * 7 + Math.floor(i / 5)) % MIXED_CHECKS.length]!,
        );
        const responses = await Promise.all(order.map((k) => client.check(req(k.file))));
        responses.forEach((res, i) => {
          const k = order[i]!;
          expect(code(res)).toBe(k.code);
          expect(decisionId(res)).toMatch(/^[0-9a-f-]{36}$/);
          expect(metaOf(res, 'rule')).toBe(k.rule);
          expect(metaOf(res, 'decision_id')).toBe(decisionId(res));
        });
        expect(new Set(responses.map(decisionId)).size).toBe(n);
        await s.service.close();
        const records = new Map(s.auditRecords().map((r) => [r['decisionId'], r]));
        expect(records.size).toBe(n);
        responses.forEach((res, i) => {
          const r = records.get(decisionId(res));
          expect(r?.['decision']).toBe(order[i]!.code === 0 ? 'allow' : 'deny');
          expect(r?.['rule']).toBe(order[i]!.rule);
          expect(typeof r?.['latencyUs']).toBe('number');
        });
      }),
  );
});

describe.each(TOPOLOGIES)('audit trail, shutdown and startup (%s)', (_topology, start) => {
  test('close while checks are pending (held on the JWKS fetch): each is answered with its decision and audited; one record per decision, tokens and bodies kept out', async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const stranger = await generateKeyPair('ES256');
    const idp = await heldJwks(await jwksOf(pair.publicKey));
    const s = await start({ jwksUri: idp.uri, jwtIssuer: ISS, jwtAudience: ['phiguard'] });
    const client = createCheckClient(s.addr);
    try {
      // Pending: each token is new to the service, so each check waits for the JWKS, which the IdP holds back.
      const held = Array.from({ length: 12 }, (_, i) => ({ sub: `Practitioner/held-${i}`, signedByIdp: i % 3 !== 2 }));
      const tokens = await Promise.all(
        held.map((h) => signToken(h.signedByIdp ? pair.privateKey : stranger.privateKey, h.sub)),
      );
      let answered = 0;
      const pending = tokens.map((t) =>
        client.check(bearerCheck(t)).finally(() => {
          answered++;
        }),
      );
      await idp.requested;
      // Decided at once (jwt_authn claims), and sent after the pending ones on the same connection: once these are
      // answered, the pending checks are inside the service.
      const n = 40;
      const now = await Promise.all([
        ...Array.from({ length: n }, (_, i) =>
          client.check(req(i % 2 === 0 ? 'scribe-read-encounter.json' : 'scribe-population-search.json')),
        ),
        client.check(bundleWithToken()),
      ]);
      expect(answered).toBe(0);

      let closed = false;
      const closing = s.service.close().then(() => {
        closed = true;
      });
      await new Promise((r) => setTimeout(r, 200));
      expect([answered, closed]).toEqual([0, false]); // close is waiting for the pending checks
      idp.release();
      const responses = await Promise.all(pending);
      await closing;

      // Each pending check got its own decision (not a shutdown error, not the internal-error deny).
      responses.forEach((res, i) => {
        expect([code(res), metaOf(res, 'decision')]).toEqual(held[i]!.signedByIdp ? [0, 'allow'] : [7, 'deny']);
        expect(metaOf(res, 'rule')).toBe(held[i]!.signedByIdp ? 'read-chart-of-context-patient' : 'invalid-token');
      });
      expect(
        now
          .slice(0, n)
          .map(code)
          .filter((c) => c === 0),
      ).toHaveLength(n / 2);
      expect(code(now[n]!)).toBe(0);

      // ...and its audit record, written before close returned.
      const records = s.auditRecords();
      expect(records).toHaveLength(held.length + n + 1);
      const byId = new Map(records.map((r) => [r['decisionId'], r]));
      responses.forEach((res, i) => {
        const h = held[i]!;
        expect(byId.get(decisionId(res))).toMatchObject(
          h.signedByIdp
            ? { decision: 'allow', clinician: h.sub, authSource: 'jwks' }
            : { decision: 'deny', rule: 'invalid-token' },
        );
      });
      const tx = records.find((r) => r['interaction'] === 'transaction');
      expect(tx).toMatchObject({
        format: 'phiguard.audit/v1',
        type: 'decision',
        agent: 'ambient-scribe',
        principal: SCRIBE,
        clinician: 'Practitioner/dr-okafor',
        authSource: 'jwt_authn',
        patients: ['p-1001'],
        decision: 'allow',
        rule: 'note-transaction',
        mode: 'enforce',
        requestId: 'b2a4f3de-9b6e-4c1f-8a0e-2f9d6c1e4a77',
        status: 200,
      });
      expect(tx?.['entries']).toEqual([
        { interaction: 'create', resourceType: 'DocumentReference', id: '', patients: ['p-1001'] },
        { interaction: 'create', resourceType: 'Provenance', id: '', patients: ['p-1001'] },
      ]);
      expect(typeof tx?.['latencyUs']).toBe('number');
      const text = JSON.stringify(records);
      expect(text).not.toContain('secret-token-material');
      for (const t of tokens) expect(text).not.toContain(t.split('.')[2]);
      expect(text).not.toContain('preliminary'); // a value from the Bundle body
    } finally {
      idp.release();
      client.close();
      await s.stop();
      await idp.close();
    }
  });

  test('when the audit sink cannot be written, every request is denied 503 and /readyz is 503 (no PHI access without an audit record)', async () => {
    await withService(start({ auditFile: '/nonexistent-dir/phiguard/audit.jsonl' }), async (s, client) => {
      await new Promise((r) => setTimeout(r, 100)); // the open error may arrive asynchronously
      const res = await client.check(req('scribe-read-encounter.json'));
      expect(code(res)).toBe(7);
      expect((res['denied_response'] as { status: { code: string } }).status.code).toBe('ServiceUnavailable');
      expect((await s.readyz()).status).toBe(503);
      expect(await s.metrics()).toMatch(/phiguard_audit_rejected_total [1-9]/);
    });
  });

  test('a policy directory that does not load: a startup error naming the file, nothing listening', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    const started = start(
      { port },
      {
        'bad.yaml':
          'apiVersion: phiguard.io/v1alpha1\nkind: AgentPolicy\nmetadata: {name: x}\nspec: {selector: {}, rules: [{name: r, allow: "fhir.resourcetype == 1"}]}\n',
      },
    );
    const e = await started.then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(isPhiguardError(e, 'startup')).toBe(true);
    expect(isPhiguardError(e) && e.findings.some((f) => f.file.endsWith('bad.yaml'))).toBe(true);
    const refused = await new Promise<string>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve('connected');
      });
      c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  test('an answer that comes later (a bearer token verified for the first time): allowed with the verified clinician in the audit record; a bad signature denied', async () => {
    const t = tempDir();
    const pair = await generateKeyPair('ES256', { extractable: true });
    const jwksFile = path.join(t.dir, 'jwks.json');
    writeFileSync(jwksFile, await jwksOf(pair.publicKey));
    try {
      await withService(start({ jwksFile, jwtIssuer: ISS, jwtAudience: ['phiguard'] }), async (s, client) => {
        const good = await signToken(pair.privateKey, 'Practitioner/dr-okafor');
        const bad = await signToken((await generateKeyPair('ES256')).privateKey, 'Practitioner/dr-okafor');
        const [a, b] = await Promise.all([client.check(bearerCheck(good)), client.check(bearerCheck(bad))]);
        expect(code(a)).toBe(0);
        expect(code(b)).toBe(7);
        await s.service.close();
        const byId = new Map(s.auditRecords().map((r) => [r['decisionId'], r]));
        expect(byId.get(decisionId(a))).toMatchObject({ decision: 'allow', clinician: 'Practitioner/dr-okafor' });
        expect(byId.get(decisionId(b))).toMatchObject({ decision: 'deny' });
        expect(JSON.stringify([...byId.values()])).not.toContain(good);
      });
    } finally {
      t.remove();
    }
  });
});
