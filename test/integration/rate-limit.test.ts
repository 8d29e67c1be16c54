/**
 * The egress rate limit holds for Checks decided together: the lane sees a token available, and the effects step,
 * which takes it, turns an allow into the 429 deny when another Check of the same turn took the last one. Probed
 * with bearer tokens whose verification settles in one turn (an unknown issuer under `jwtOnInvalid: ignore`) and
 * with a plain burst, in both topologies.
 */
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { createCheckClient } from '../../generator/call/index.js';
import { TOPOLOGIES } from '../helpers/server.js';
import { policyYaml, tempDir, timelessRegistry } from '../helpers/temp.js';

const P = 'spiffe://cluster.local/ns/lab/sa/lab';
const HOST = 'contoso-health.openai.azure.com';
const t = tempDir({ 'jwks.json': JSON.stringify({ keys: [] }) });
afterAll(() => t.remove());
const registry = timelessRegistry(path.join(t.dir, 'registry.yaml'));
const policy = {
  'lab.yaml': policyYaml(
    'lab',
    `    - name: model\n      allow: request.host == "${HOST}"`,
    `principal: ${P}`,
    '  egressRateLimit: { requests: 2, perSeconds: 3600 }\n',
  ),
};
const call = (authorization: string | undefined): Record<string, unknown> => ({
  attributes: {
    source: { principal: P },
    request: {
      http: {
        method: 'POST',
        path: '/openai/deployments/scribe-gpt/chat/completions',
        host: HOST,
        scheme: 'https',
        headers: authorization !== undefined ? { authorization } : {},
      },
    },
  },
});

describe.each(TOPOLOGIES)('egress rate limit under concurrency (%s)', (_name, start) => {
  test.each([
    ['a burst of 40 without tokens', undefined],
    ['40 bearer tokens of an unknown issuer, ignored (verification settles in one turn)', 'Bearer aaaa.bbbb.cccc'],
  ])('%s: exactly the limit is allowed, the rest 429', async (_case, authorization) => {
    const s = await start(
      {
        baaRegistry: registry,
        jwksFile: path.join(t.dir, 'jwks.json'),
        jwtIssuer: 'https://idp.hospital.example',
        jwtAudience: ['phiguard'],
        jwtOnInvalid: 'ignore',
      },
      policy,
    );
    const client = createCheckClient(s.addr);
    try {
      const answers = await Promise.all(Array.from({ length: 40 }, () => client.check(call(authorization))));
      const codes = answers.map((a) => (a['status'] as { code: number }).code);
      expect(codes.filter((c) => c === 0)).toHaveLength(2);
      const denied = answers.filter((a) => (a['status'] as { code: number }).code !== 0);
      expect(denied.map((a) => (a['denied_response'] as { status: { code: string } }).status.code)).toEqual(
        Array.from({ length: 38 }, () => 'TooManyRequests'),
      );
      await s.service.close();
      const records = s.auditRecords().filter((r) => r['type'] === 'decision');
      expect(records.filter((r) => r['decision'] === 'allow')).toHaveLength(2);
      expect(records.filter((r) => r['reason'] === 'rate-limited')).toHaveLength(38);
    } finally {
      client.close();
      await s.stop();
    }
  });
});
