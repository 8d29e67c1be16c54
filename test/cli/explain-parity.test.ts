/**
 * `phiguard explain` decides as the service does: the same CheckRequests, sent through the real gRPC service (with the
 * example policies and a BAA registry) and given to `explain --check-request` with the same policies and registry,
 * get the same decision, rule and reason. Egress, protected endpoints and unresolved patient scope included.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CheckInputSchema } from '../../authz/index.js';
import { createCheckClient, toGrpcCheckRequest, type CheckClient } from '../../generator/call/index.js';
import { cli, eventually } from '../helpers/cli.js';
import { exampleRequest, startTestServer, startWithExampleRegistry, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const SCRIBE = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';
const PA = 'spiffe://cluster.local/ns/prior-auth/sa/pa-bot';
const CLAIMS = { sub: 'Practitioner/dr-okafor', patient: 'p-1001' };

function request(principal: string, host: string, method: string, p: string, extra: Record<string, unknown> = {}) {
  return {
    attributes: {
      source: { principal },
      request: {
        time: '2026-11-25T14:03:11.120Z',
        http: { method, path: p, host, scheme: 'https', headers: {}, ...extra },
      },
      metadata_context: { filter_metadata: { 'envoy.filters.http.jwt_authn': { jwt_payload: CLAIMS } } },
    },
  };
}

const FHIR = 'fhir.hospital.internal';
const CASES: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
  ...[
    'cds-vitals-search.json',
    'hostile-dot-segment.json',
    'prior-auth-audit-deny.json',
    'scribe-note-transaction.json',
    'scribe-population-search.json',
    'scribe-read-encounter.json',
    'unknown-agent.json',
  ].map((f) => [f, exampleRequest(f)] as const),
  [
    'covered model endpoint',
    request(SCRIBE, 'contoso-health.openai.azure.com', 'POST', '/openai/deployments/scribe-gpt/chat/completions'),
  ],
  ['uncovered outside host', request(SCRIBE, 'api.uncovered.example', 'POST', '/v1/chat')],
  ['IMDS in hex', request(SCRIBE, '0xA9FEA9FE', 'GET', '/latest/meta-data/iam/security-credentials/')],
  ['IMDS in audit mode', request(PA, '2852039166:80', 'GET', '/latest/meta-data/')],
  ['read by id of another type', request(SCRIBE, FHIR, 'GET', '/fhir/Observation/obs-2002')],
  ['unknown parameter', request(SCRIBE, FHIR, 'GET', '/fhir/Patient?name=Smith&patient=p-1001')],
  ['revinclude Group:member', request(SCRIBE, FHIR, 'GET', '/fhir/Patient?_id=p-1001&_revinclude=Group:member')],
  [
    'XML create naming the context patient in the query',
    request(SCRIBE, FHIR, 'POST', '/fhir/DocumentReference?patient=p-1001', {
      headers: { 'content-type': 'application/fhir+xml' },
      body: '<DocumentReference xmlns="http://hl7.org/fhir"/>',
    }),
  ],
];

describe('explain decides as the service does', () => {
  const t = tempDir();
  let s: TestServer & { registry: string };
  let client: CheckClient;

  beforeAll(async () => {
    s = await startWithExampleRegistry(startTestServer);
    client = createCheckClient(s.addr);
  });
  afterAll(async () => {
    client.close();
    await s.stop();
    t.remove();
  });

  test.each(CASES)('%s', async (name, checkRequest) => {
    const before = s.auditRecords().filter((r) => r['type'] === 'decision').length;
    await client.check(toGrpcCheckRequest(CheckInputSchema.parse(checkRequest)));
    let served: Record<string, unknown> | undefined;
    await eventually(async () => {
      served = s.auditRecords().filter((r) => r['type'] === 'decision')[before];
      return Promise.resolve(served !== undefined);
    });
    const file = path.join(t.dir, `${name.replace(/[^a-z0-9]+/gi, '-')}.json`);
    writeFileSync(file, JSON.stringify(checkRequest));
    const r = await cli([
      'explain',
      '--policies',
      s.policiesDir,
      '--baa-registry',
      s.registry,
      '--check-request',
      file,
    ]);
    expect(r.code).toBe(0);
    const explained = (
      JSON.parse(r.out) as { decision: { outcome: string; verdict: string; rule: string; reason: string } }
    ).decision;
    const label = explained.outcome === 'allow' && explained.verdict === 'deny' ? 'audit-deny' : explained.outcome;
    expect({ decision: label, rule: explained.rule, reason: explained.reason }).toEqual({
      decision: served?.['decision'],
      rule: served?.['rule'],
      reason: served?.['reason'],
    });
  });
});
