/**
 * The Checks the Envoys of deploy/overlays/istio send, through the real gRPC service: the FHIR server's sidecar
 * (every request, CUSTOM `rules: [{}]`, DECODE_AND_MERGE_SLASHES), a TCP filter chain (no HTTP request), and the
 * egress gateway of the BAA lane (the agent's identity over mTLS, the ServiceEntry host as :authority, the Gateway's
 * listener port as the destination). The attribute values come from the manifests, so a change there that phiguard
 * would read differently fails here. No Envoy or Istio runs: the CheckRequests are built as Envoy's ext_authz fills
 * them (attribute_context.proto; the destination is the listener's local address).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { CheckInputSchema } from '../../authz/index.js';
import { createCheckClient, toGrpcCheckRequest, type CheckClient } from '../../generator/call/index.js';
import { exampleRequest, startTestServer, startWithExampleRegistry, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

type Obj = Record<string, unknown>;
interface FhirCase {
  name: string;
  method: string;
  path: string;
  decision: 'allow' | 'deny';
  rule?: string;
}

const CASES = yaml.load(readFileSync('test/integration/istio-wiring.cases.yaml', 'utf8')) as { fhir: FhirCase[] };
const SCRIBE = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';
const gatewayDocs = yaml.loadAll(readFileSync('deploy/overlays/istio/egress-gateway.yaml', 'utf8')) as Obj[];
const byKind = (k: string): Obj => gatewayDocs.find((d) => d['kind'] === k) ?? {};
const ENDPOINT = ((byKind('ServiceEntry')['spec'] as Obj)['hosts'] as string[])[0] ?? '';
const GATEWAY_PORT =
  (byKind('Gateway')['spec'] as { servers: Array<{ port: { number: number } }> }).servers[0]?.port.number ?? 0;

const code = (res: Obj): number => (res['status'] as { code: number }).code;
const metaOf = (res: Obj, key: string): string | undefined =>
  (res['dynamic_metadata'] as { fields: Record<string, { stringValue?: string }> } | undefined)?.fields[key]
    ?.stringValue;
const okHeaders = (res: Obj) =>
  (res['ok_response'] as {
    headers?: Array<{ header: { key: string; value: string } }>;
    headers_to_remove?: string[];
  }) ?? {};

/** The scribe's encounter read with another method and path, as the FHIR server's sidecar sends it. */
function fhirCheck(method: string, reqPath: string): Obj {
  const g = toGrpcCheckRequest(CheckInputSchema.parse(exampleRequest('scribe-read-encounter.json')));
  const http = ((g['attributes'] as Obj)['request'] as { http: Obj }).http;
  http['method'] = method;
  http['path'] = reqPath;
  http['headers'] = { ...(http['headers'] as Obj), ':method': method, ':path': reqPath };
  return g;
}

/** A request of the agent as the egress gateway sends it: mTLS peer = the agent, destination = the gateway listener. */
function gatewayCheck(host: string, port: number, headers: Record<string, string> = {}): Obj {
  return {
    attributes: {
      source: {
        principal: SCRIBE,
        address: { socket_address: { address: '10.8.3.17', port_value: 51234 } },
      },
      destination: { address: { socket_address: { address: '10.8.12.5', port_value: port } } },
      request: {
        http: {
          method: 'POST',
          path: '/openai/deployments/scribe-gpt/chat/completions',
          host,
          scheme: 'http',
          headers: { 'content-type': 'application/json', ...headers },
        },
      },
    },
  };
}

describe('the Checks the shipped Istio manifests produce', () => {
  const t = tempDir();
  let s: TestServer & { registry: string };
  let client: CheckClient;

  beforeAll(async () => {
    const secret = path.join(t.dir, 'api-key');
    writeFileSync(secret, 'sk-from-the-secret\n');
    writeFileSync(
      path.join(t.dir, 'credentials.yaml'),
      `apiVersion: phiguard.io/v1alpha1\nkind: EgressCredentials\nspec:\n  endpoints:\n` +
        `    - host: ${ENDPOINT}\n      header: api-key\n      secretFile: ${secret}\n`,
    );
    s = await startWithExampleRegistry(startTestServer, { egressCredentials: path.join(t.dir, 'credentials.yaml') });
    client = createCheckClient(s.addr);
  });
  afterAll(async () => {
    client.close();
    await s.stop();
    t.remove();
  });

  test.each(CASES.fhir.map((c) => [c.name, c] as const))('FHIR server sidecar: %s', async (_n, c) => {
    const res = await client.check(fhirCheck(c.method, c.path));
    expect(code(res)).toBe(c.decision === 'allow' ? 0 : 7);
    expect(metaOf(res, 'decision')).toBe(c.decision);
    if (c.rule !== undefined) expect(metaOf(res, 'rule')).toBe(c.rule);
  });

  test('a TCP filter chain (the CUSTOM rule applies to connections too): a Check without an HTTP request is denied', async () => {
    const g = fhirCheck('GET', '/');
    delete (g['attributes'] as Obj)['request'];
    const res = await client.check(g);
    expect(code(res)).toBe(7);
    expect(metaOf(res, 'decision')).toBe('deny');
  });

  test(`egress gateway: the agent's call to ${ENDPOINT} on the gateway's port ${GATEWAY_PORT} is allowed, with the provider key replacing the agent's`, async () => {
    const res = await client.check(gatewayCheck(ENDPOINT, GATEWAY_PORT, { 'api-key': 'agent-held-key' }));
    expect(code(res)).toBe(0);
    expect(metaOf(res, 'rule')).toBe('draft-note-with-model');
    const ok = okHeaders(res);
    // The injected key replaces the one the agent sent; the agent's other credentials are removed.
    expect(ok.headers?.find((h) => h.header.key === 'api-key')).toEqual({
      header: { key: 'api-key', value: 'sk-from-the-secret' },
      append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
    });
    expect(ok.headers_to_remove).toContain('authorization');
  });

  test('egress gateway: the same call on a listener port no BAA lists (8443, the older chart) is denied', async () => {
    const res = await client.check(gatewayCheck(ENDPOINT, 8443));
    expect(code(res)).toBe(7);
    expect(metaOf(res, 'reason')).toBe('baa-not-covered');
  });

  test('egress gateway: a host whose agreement has ended is denied whatever the route', async () => {
    const res = await client.check(gatewayCheck('api.payer-b-clearinghouse.example', GATEWAY_PORT));
    expect(code(res)).toBe(7);
  });
});
