/**
 * The real service over loopback, spoken to by a grpc-js client built from Envoy's own protos, with Envoy-shaped
 * CheckRequests (Istio SPIFFE principal, jwt_authn metadata, transaction Bundle body).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { CheckInputSchema } from '../../authz/index.js';
import { createCheckClient, toGrpcCheckRequest, type CheckClient } from '../../generator/call/index.js';
import { exampleRequest, MIXED_CHECKS, startTestServer, type TestServer } from '../helpers/server.js';

function req(name: string, mutate?: (a: Record<string, unknown>) => void): Record<string, unknown> {
  const input = CheckInputSchema.parse(exampleRequest(name));
  const g = toGrpcCheckRequest(input);
  mutate?.(g['attributes'] as Record<string, unknown>);
  return g;
}

function headerValue(res: Record<string, unknown>, key: string): string | undefined {
  const ok = (res['ok_response'] ?? res['denied_response']) as { headers?: Array<{ header: { key: string; value: string } }> } | undefined;
  return ok?.headers?.find((h) => h.header.key === key)?.header.value;
}

const meta = (fields: Record<string, string>) => ({
  fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, { stringValue: v, kind: 'stringValue' }])),
});

describe('ext_authz Check over gRPC', () => {
  let s: TestServer;
  let client: CheckClient;
  beforeAll(async () => {
    s = await startTestServer();
    client = createCheckClient(s.addr);
  });
  afterAll(async () => {
    client.close();
    await s.stop();
  });

  test('allows a transaction Bundle from the scribe with jwt_authn claims: exact CheckResponse', async () => {
    const res = await client.check(req('scribe-note-transaction.json'));
    const id = headerValue(res, 'x-phiguard-decision-id') ?? '';
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const v = s.server.policies.current().version;
    expect(res).toEqual({
      status: { code: 0 },
      ok_response: {
        headers: [
          { header: { key: 'x-phiguard-decision', value: 'allow' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          { header: { key: 'x-phiguard-decision-id', value: id }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          { header: { key: 'x-phiguard-agent', value: 'ambient-scribe' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          { header: { key: 'x-phiguard-rule', value: 'note-transaction' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
        ],
      },
      http_response: 'ok_response',
      dynamic_metadata: meta({ decision: 'allow', decision_id: id, agent: 'ambient-scribe', rule: 'note-transaction', reason: 'rule-allow', policy_version: v }),
    });
  });

  test('denies a population query with a FHIR OperationOutcome: exact CheckResponse, no PHI', async () => {
    const res = await client.check(req('scribe-population-search.json'));
    const id = headerValue(res, 'x-phiguard-decision-id') ?? '';
    const v = s.server.policies.current().version;
    const denied = res['denied_response'] as { body: string };
    expect(res).toEqual({
      status: { code: 7, message: 'phiguard: rule-deny (rule no-population-queries)' },
      denied_response: {
        status: { code: 'Forbidden' },
        headers: [
          { header: { key: 'content-type', value: 'application/fhir+json' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          { header: { key: 'x-phiguard-decision-id', value: id }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          { header: { key: 'x-phiguard-decision', value: 'deny' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
        ],
        body: denied.body,
      },
      http_response: 'denied_response',
      dynamic_metadata: meta({ decision: 'deny', decision_id: id, agent: 'ambient-scribe', rule: 'no-population-queries', reason: 'rule-deny', policy_version: v }),
    });
    expect(JSON.parse(denied.body)).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{
        severity: 'error',
        code: 'forbidden',
        details: { coding: [{ system: 'https://phiguard.io/fhir/CodeSystem/decision-reason', code: 'rule-deny' }], text: 'Searches must be scoped to one patient' },
        diagnostics: `phiguard decision ${id}: rule "no-population-queries" of agent policy "ambient-scribe"`,
      }],
    });
    expect(denied.body).not.toMatch(/p-1001|loinc|Practitioner/);
  });

  test.each([
    ['scribe-read-encounter.json', 0, undefined],
    ['cds-vitals-search.json', 0, undefined],
    ['prior-auth-audit-deny.json', 0, undefined],
    ['unknown-agent.json', 7, 'Forbidden'],
    ['hostile-dot-segment.json', 7, 'BadRequest'],
  ])('%s -> grpc status %d, HTTP %s', async (file, code, http) => {
    const res = await client.check(req(file));
    expect((res['status'] as { code: number }).code).toBe(code);
    if (http) expect((res['denied_response'] as { status: { code: string } }).status.code).toBe(http);
  });

  test('audit mode allows and labels the decision audit-deny', async () => {
    const res = await client.check(req('prior-auth-audit-deny.json'));
    expect(headerValue(res, 'x-phiguard-decision')).toBe('audit-deny');
  });

  test('a CheckRequest without attributes is denied (fail closed)', async () => {
    const res = await client.check({});
    expect((res['status'] as { code: number }).code).toBe(7);
    expect(JSON.parse((res['denied_response'] as { body: string }).body).issue[0].details.coding[0].code).toBe('internal-error');
  });

  test('agent-set decision headers cannot forge an allow: the service overwrites them', async () => {
    const res = await client.check(req('unknown-agent.json', (a) => {
      ((a['request'] as Record<string, Record<string, Record<string, string>>>)['http'] ?? {})['headers'] = { 'x-phiguard-decision': 'allow' };
    }));
    expect((res['status'] as { code: number }).code).toBe(7);
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
    const res = await client.check(req('scribe-read-encounter.json', (a) => {
      a['metadata_context'] = { filter_metadata: { 'envoy.filters.http.jwt_authn': { fields: { jwt_payload: { structValue: payload } } } } };
    }));
    expect(headerValue(res, 'x-phiguard-decision')).toBe('allow');
  });

  test('grpc.health.v1 reports SERVING for the server and the Authorization service', async () => {
    const { service } = await import('grpc-health-check');
    const Client = grpc.makeClientConstructor(service, 'grpc.health.v1.Health');
    const hc = new Client(s.addr, grpc.credentials.createInsecure()) as unknown as { check(r: unknown, cb: (e: unknown, r: { status: string }) => void): void; close(): void };
    const status = async (svc: string) => new Promise<string>((resolve, reject) => hc.check({ service: svc }, (e, r) => (e ? reject(e instanceof Error ? e : new Error('health check failed')) : resolve(r.status))));
    expect(await status('')).toBe('SERVING');
    expect(await status('envoy.service.auth.v3.Authorization')).toBe('SERVING');
    hc.close();
  });

  test('metrics count decisions by agent, decision and rule', async () => {
    const m = await s.metrics();
    expect(m).toMatch(/phiguard_decisions_total\{agent="ambient-scribe",decision="allow",reason="rule-allow",rule="note-transaction"\} [1-9]/);
    expect(m).toMatch(/phiguard_check_duration_seconds_bucket/);
    expect(m).toMatch(/^phiguard_policy_stale 0$/m);
  });
});

describe('many checks in flight on one connection (decided together per event-loop turn)', () => {
  test('every answer belongs to its own request: decision, rule, decision id and audit record', async () => {
    const s = await startTestServer();
    const client = createCheckClient(s.addr);
    const kinds = MIXED_CHECKS;
    const n = 120;
    const order = Array.from({ length: n }, (_, i) => kinds[(i * 7 + Math.floor(i / 5)) % kinds.length]!);
    const responses = await Promise.all(order.map((k) => client.check(req(k.file))));
    const ids = new Set<string>();
    responses.forEach((res, i) => {
      const k = order[i]!;
      expect((res['status'] as { code: number }).code).toBe(k.code);
      const id = headerValue(res, 'x-phiguard-decision-id') ?? '';
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      ids.add(id);
      const md = res['dynamic_metadata'] as { fields: Record<string, { stringValue?: string }> };
      expect(md.fields['rule']?.stringValue).toBe(k.rule);
      expect(md.fields['decision_id']?.stringValue).toBe(id);
    });
    expect(ids.size).toBe(n);
    client.close();
    await s.server.close();
    const records = new Map(s.auditRecords().map((r) => [r['decisionId'], r]));
    responses.forEach((res, i) => {
      const r = records.get(headerValue(res, 'x-phiguard-decision-id'));
      expect(r?.['decision']).toBe(order[i]!.code === 0 ? 'allow' : 'deny');
      expect(r?.['rule']).toBe(order[i]!.rule);
    });
    await s.stop();
  });
});

describe('audit trail and shutdown', () => {
  test('one record per decision, patient ids in, bodies and tokens out; SIGTERM-style close drains and flushes', async () => {
    const s = await startTestServer();
    const client = createCheckClient(s.addr);
    const bundle = req('scribe-note-transaction.json', (a) => {
      const http = (a['request'] as { http: { headers: Record<string, string> } }).http;
      http.headers['authorization'] = 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.secret-token-material';
    });
    const n = 40;
    // Fire many checks and close while they are in flight: every one must be answered and audited.
    const pending = Array.from({ length: n }, (_, i) => client.check(i % 2 === 0 ? req('scribe-read-encounter.json') : req('scribe-population-search.json')));
    await client.check(bundle);
    const closing = s.server.close();
    const responses = await Promise.all(pending);
    await closing;
    client.close();
    expect(responses).toHaveLength(n);
    const records = s.auditRecords();
    expect(records).toHaveLength(n + 1);
    const tx = records.find((r) => r['interaction'] === 'transaction');
    expect(tx).toMatchObject({
      format: 'phiguard.audit/v1', type: 'decision', agent: 'ambient-scribe', principal: 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe',
      clinician: 'Practitioner/dr-okafor', authSource: 'jwt_authn', patients: ['p-1001'], decision: 'allow', rule: 'note-transaction', mode: 'enforce',
      requestId: 'b2a4f3de-9b6e-4c1f-8a0e-2f9d6c1e4a77', status: 200,
    });
    expect(tx?.['entries']).toEqual([
      { interaction: 'create', resourceType: 'DocumentReference', id: '', patients: ['p-1001'] },
      { interaction: 'create', resourceType: 'Provenance', id: '', patients: ['p-1001'] },
    ]);
    expect(typeof tx?.['latencyUs']).toBe('number');
    const text = JSON.stringify(records);
    expect(text).not.toContain('secret-token-material');
    expect(text).not.toContain('preliminary'); // a value from the Bundle body
    await s.stop();
  });

  test('when the audit sink cannot be written, every request is denied (no PHI access without an audit record)', async () => {
    const s = await startTestServer({ auditFile: '/nonexistent-dir/phiguard/audit.jsonl' });
    const client = createCheckClient(s.addr);
    await new Promise((r) => setTimeout(r, 100)); // the open error arrives asynchronously
    const res = await client.check(req('scribe-read-encounter.json'));
    expect((res['status'] as { code: number }).code).toBe(7);
    expect((res['denied_response'] as { status: { code: string } }).status.code).toBe('ServiceUnavailable');
    const ready = await fetch(`http://127.0.0.1:${s.server.metricsPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(await s.metrics()).toMatch(/phiguard_audit_rejected_total [1-9]/);
    client.close();
    await s.stop();
  });
});
