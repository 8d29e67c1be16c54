/** Credential injection (agents hold no provider keys) and per-agent egress rate limits, through gRPC. */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createCheckClient, type CheckClient } from '../../generator/call/index.js';
import { eventually } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { policyYaml, tempDir, timelessRegistry } from '../helpers/temp.js';

const P = 'spiffe://cluster.local/ns/lab/sa/lab';
const call = (authorization?: string) => ({
  attributes: {
    source: { principal: P },
    request: {
      http: {
        method: 'POST',
        path: '/openai/deployments/scribe-gpt/chat/completions',
        host: 'contoso-health.openai.azure.com',
        scheme: 'https',
        headers: authorization ? { authorization, 'api-key': 'agent-held-key' } : {},
      },
    },
  },
});

/** The credentials file for one endpoint whose secret is in `secretFile`. */
function credentialsYaml(secretFile: string): string {
  return `apiVersion: phiguard.io/v1alpha1
kind: EgressCredentials
spec:
  endpoints:
    - host: contoso-health.openai.azure.com
      header: api-key
      secretFile: ${secretFile}
`;
}

/** The api-key value injected into an allowed call. */
async function injected(client: CheckClient): Promise<string | undefined> {
  const res = await client.check(call());
  const ok = res['ok_response'] as { headers: Array<{ header: { key: string; value: string } }> } | undefined;
  return ok?.headers.find((h) => h.header.key === 'api-key')?.header.value;
}

describe('egress credentials and rate limits', () => {
  const t = tempDir();
  const secret = path.join(t.dir, 'api-key');
  let s: TestServer;
  let client: CheckClient;

  beforeAll(async () => {
    writeFileSync(secret, 'sk-live-first\n');
    timelessRegistry(path.join(t.dir, 'registry.yaml'));
    writeFileSync(path.join(t.dir, 'credentials.yaml'), credentialsYaml(secret));
    s = await startTestServer(
      { baaRegistry: path.join(t.dir, 'registry.yaml'), egressCredentials: path.join(t.dir, 'credentials.yaml') },
      {
        'lab.yaml': policyYaml(
          'lab',
          '    - name: model\n      allow: request.host == "contoso-health.openai.azure.com"',
          `principal: ${P}`,
          '  egressRateLimit: { requests: 3, perSeconds: 3600 }\n',
        ),
      },
    );
    client = createCheckClient(s.addr);
  });
  afterAll(async () => {
    client.close();
    await s.stop();
    t.remove();
  });

  test("the endpoint credential is injected and the agent's own credentials are stripped", async () => {
    const res = await client.check(call('Bearer agent-token'));
    expect((res['status'] as { code: number }).code).toBe(0);
    const ok = res['ok_response'] as {
      headers: Array<{ header: { key: string; value: string } }>;
      headers_to_remove: string[];
    };
    expect(ok.headers.find((h) => h.header.key === 'api-key')?.header.value).toBe('sk-live-first');
    expect(ok.headers_to_remove).toEqual(['authorization', 'proxy-authorization', 'x-api-key']);
  });

  test('a rotated secret is used at the next request after it changes', async () => {
    // Replaced whole, as a Secret volume update (or any atomic writer) does: it applies without the settle interval.
    writeFileSync(`${secret}.next`, 'sk-live-second\n');
    renameSync(`${secret}.next`, secret);
    await new Promise((r) => setTimeout(r, 1100));
    const res = await client.check(call());
    const ok = res['ok_response'] as { headers: Array<{ header: { key: string; value: string } }> };
    expect(ok.headers.find((h) => h.header.key === 'api-key')?.header.value).toBe('sk-live-second');
  });

  test("over the agent's egress rate limit, requests are denied with 429", async () => {
    const res = await client.check(call()); // third request: still within 3 per hour
    expect((res['status'] as { code: number }).code).toBe(0);
    const over = await client.check(call());
    expect((over['status'] as { code: number }).code).toBe(7);
    expect((over['denied_response'] as { status: { code: string } }).status.code).toBe('TooManyRequests');
  });

  test('credentials never reach the audit trail', async () => {
    await s.server.close();
    const text = readFileSync(s.auditFile, 'utf8');
    expect(text).not.toContain('sk-live');
    expect(text).not.toContain('agent-held-key');
    expect(text).toContain('"reason":"rate-limited"');
  });
});

describe('egress credential secrets and --reload-settle-ms', () => {
  test('a secret written in place is used once it has been unchanged for the configured settle interval', async () => {
    const t = tempDir();
    const secret = t.write('api-key', 'sk-live-first\n');
    const s = await startTestServer(
      {
        baaRegistry: timelessRegistry(path.join(t.dir, 'registry.yaml')),
        egressCredentials: t.write('credentials.yaml', credentialsYaml(secret)),
        reloadSettleMs: 3000,
      },
      {
        'lab.yaml': policyYaml(
          'lab',
          '    - name: model\n      allow: request.host.endsWith(".azure.com")',
          `principal: ${P}`,
        ),
      },
    );
    const client = createCheckClient(s.addr);
    try {
      expect(await injected(client)).toBe('sk-live-first');
      writeFileSync(secret, 'sk-live-second\n');
      const written = performance.now();
      // With the default settle interval (1000 ms) the new secret would be injected about 1.15 s after the write.
      while (performance.now() - written < 2500) {
        expect(await injected(client)).toBe('sk-live-first');
        await new Promise((r) => setTimeout(r, 100));
      }
      await eventually(async () => (await injected(client)) === 'sk-live-second');
    } finally {
      client.close();
      await s.stop();
      t.remove();
    }
  });
});
