/**
 * The egress lane through the real gRPC service: BAA coverage at the moment of contact, hot registry reload, AI-BOM
 * first-contact events, the hard denies for cloud metadata endpoints and the Kubernetes API server, and the
 * operator's internal address blocks (--internal-cidrs).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createCheckClient, type CheckClient } from '../../generator/call/index.js';
import { cli, eventually } from '../helpers/cli.js';
import {
  startTestServer,
  startWithExampleRegistry,
  TOPOLOGIES,
  type ServiceUnderTest,
  type TestServer,
} from '../helpers/server.js';
import { policyYaml, tempDir, timelessRegistry } from '../helpers/temp.js';

const SCRIBE = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';
const PA = 'spiffe://cluster.local/ns/prior-auth/sa/pa-bot';
const FAILED_RELOAD = /^phiguard_baa_registry_reloads_total\{result="failure"\} [1-9]/m;

function req(principal: string, host: string, reqPath: string, method = 'POST', destination?: string) {
  return {
    attributes: {
      source: { principal },
      ...(destination
        ? { destination: { address: { socket_address: { address: destination, port_value: 80 } } } }
        : {}),
      request: { http: { method, path: reqPath, host, scheme: 'https', headers: {} } },
    },
  };
}

/** Rewrites the registry in place with payer B's terminated agreement active. */
function activatePayerB(registry: string): void {
  writeFileSync(
    registry,
    readFileSync(registry, 'utf8')
      .replace('status: terminated', 'status: active')
      .replace('expires: "2026-03-01"', 'expires: "2099-03-01"'),
  );
}

async function decision(c: CheckClient, r: Record<string, unknown>) {
  const res = await c.check(r);
  const denied = res['denied_response'] as { body: string } | undefined;
  return {
    code: (res['status'] as { code: number }).code,
    reason: denied
      ? (JSON.parse(denied.body) as { issue: Array<{ details: { coding: Array<{ code: string }>; text: string } }> })
          .issue[0]?.details.coding[0]?.code
      : undefined,
  };
}

describe('egress lane', () => {
  let s: TestServer & { registry: string };
  let client: CheckClient;

  beforeAll(async () => {
    s = await startWithExampleRegistry(startTestServer);
    client = createCheckClient(s.addr);
  });
  afterAll(async () => {
    client.close();
    await s.stop();
  });

  test('a policy-allowed call to a BAA-covered endpoint is allowed; its coverage and registry version are audited', async () => {
    const call = req(SCRIBE, 'contoso-health.openai.azure.com', '/openai/deployments/scribe-gpt/chat/completions');
    expect(await decision(client, call)).toEqual({ code: 0, reason: undefined });
    expect(await decision(client, call)).toEqual({ code: 0, reason: undefined });
  });

  test('an endpoint whose BAA was terminated is denied even for an audit-mode agent', async () => {
    expect(await decision(client, req(PA, 'api.payer-b-clearinghouse.example', '/v2/eligibility'))).toEqual({
      code: 7,
      reason: 'baa-not-covered',
    });
    expect(await decision(client, req(PA, 'east.pas.payer-a.example', '/pas/Claim/$submit'))).toEqual({
      code: 0,
      reason: undefined,
    });
  });

  test.each([
    ['AWS/GCP/Azure IMDS by address', '169.254.169.254', undefined],
    ['IMDS reached by destination IP under another name', 'innocent.example', '169.254.169.254'],
    ['GCP metadata by name', 'metadata.google.internal', undefined],
    ['the Kubernetes API server', 'kubernetes.default.svc', undefined],
  ])('%s is denied whatever the policy says (audit-mode agent)', async (_n, host, dest) => {
    expect(await decision(client, req(PA, host, '/latest/meta-data/iam/security-credentials/', 'GET', dest))).toEqual({
      code: 7,
      reason: 'protected-endpoint',
    });
  });

  test('a registry change takes effect within the reload interval; a broken registry keeps the last good one', async () => {
    const payerB = req(PA, 'api.payer-b-clearinghouse.example', '/v2/eligibility');
    expect(await decision(client, payerB)).toEqual({ code: 7, reason: 'baa-not-covered' });
    activatePayerB(s.registry);
    // Written in place, so reloaded off the Check path once the file has been unchanged for the settle interval
    // (1000 ms), seen by the file watch or, failing that, the 1 s poll; no restart.
    await eventually(async () => (await decision(client, payerB)).code === 0);
    writeFileSync(s.registry, 'apiVersion: phiguard.io/v1alpha1\nkind: BAARegistry\nspec: [broken\n');
    await eventually(async () => FAILED_RELOAD.test(await s.metrics()));
    expect(await decision(client, payerB)).toEqual({ code: 0, reason: undefined }); // last good registry
  });

  test('the audit trail carries coverage, registry version and one AI-BOM record per first contact', async () => {
    await s.server.close();
    const records = s.auditRecords();
    const egress = records.filter((r) => r['type'] === 'decision' && r['egress'] !== null);
    expect(
      egress.find((r) => (r['egress'] as { host: string }).host === 'contoso-health.openai.azure.com'),
    ).toMatchObject({
      decision: 'allow',
      egress: {
        host: 'contoso-health.openai.azure.com',
        port: 443,
        covered: true,
        vendor: 'Contoso Health Azure OpenAI tenant',
        agreementId: 'BAA-2025-0042',
        registryVersion: expect.stringMatching(/^[0-9a-f]{16}$/),
      },
    });
    const bom = records.filter((r) => r['type'] === 'aibom-first-contact');
    expect(bom.map((r) => [r['agent'], r['endpoint'], r['covered'], r['baaStatus']])).toEqual([
      ['ambient-scribe', 'contoso-health.openai.azure.com:443', true, 'active-agreement'],
      ['prior-auth', 'api.payer-b-clearinghouse.example:443', false, 'terminated'],
      ['prior-auth', 'east.pas.payer-a.example:443', true, 'active-agreement'],
    ]);
  });
});

describe('the BAA registry and --reload-settle-ms', () => {
  test('a registry written in place loads once it has been unchanged for the configured settle interval', async () => {
    const t = tempDir();
    const registry = timelessRegistry(path.join(t.dir, 'registry.yaml'));
    const s = await startTestServer({ baaRegistry: registry, reloadSettleMs: 3000 });
    const c = createCheckClient(s.addr);
    try {
      const payerB = req(PA, 'api.payer-b-clearinghouse.example', '/v2/eligibility');
      expect(await decision(c, payerB)).toEqual({ code: 7, reason: 'baa-not-covered' });
      activatePayerB(registry);
      const written = performance.now();
      // With the default settle interval (1000 ms) the new registry would be in force about 1.15 s after the write.
      while (performance.now() - written < 2500) {
        expect(await decision(c, payerB)).toEqual({ code: 7, reason: 'baa-not-covered' });
        await new Promise((r) => setTimeout(r, 100));
      }
      await eventually(async () => (await decision(c, payerB)).code === 0);
    } finally {
      c.close();
      await s.stop();
      t.remove();
    }
  });
});

describe('egress without a registry, and explicit exceptions', () => {
  test('without a BAA registry, outside egress is denied (fail closed)', async () => {
    const s = await startTestServer();
    const c = createCheckClient(s.addr);
    expect(
      await decision(
        c,
        req(SCRIBE, 'contoso-health.openai.azure.com', '/openai/deployments/scribe-gpt/chat/completions'),
      ),
    ).toEqual({ code: 7, reason: 'baa-not-covered' });
    // The answer never echoes the requested host (a host name can carry PHI); the audit record has it.
    const res = await c.check(
      req(SCRIBE, 'contoso-health.openai.azure.com', '/openai/deployments/scribe-gpt/chat/completions'),
    );
    expect(JSON.stringify(res)).not.toContain('contoso');
    c.close();
    await s.stop();
  });

  test('an explicit, audited exception lifts one hard deny and only that one', async () => {
    const principal = 'spiffe://cluster.local/ns/lab/sa/lab';
    const s = await startTestServer(
      {},
      {
        'lab.yaml': policyYaml(
          'lab',
          '    - name: creds\n      allow: request.path == "/v1/credentials"',
          `principal: ${principal}`,
          `  egressExceptions:\n    - target: eks-pod-identity\n      reason: EKS Pod Identity provides the agent's AWS credentials (change CR-4411)\n`,
        ),
      },
    );
    const c = createCheckClient(s.addr);
    expect(await decision(c, req(principal, '169.254.170.23', '/v1/credentials', 'GET'))).toEqual({
      code: 0,
      reason: undefined,
    });
    expect(await decision(c, req(principal, '169.254.169.254', '/v1/credentials', 'GET'))).toEqual({
      code: 7,
      reason: 'protected-endpoint',
    });
    c.close();
    await s.server.close();
    expect(s.auditRecords().find((r) => r['exception'] === 'eks-pod-identity')).toMatchObject({
      decision: 'allow',
      rule: 'creds',
    });
    await s.stop();
  });
});

describe.each(TOPOLOGIES)('internal address blocks, --internal-cidrs (%s)', (_name, start) => {
  const LAB = 'spiffe://cluster.local/ns/lab/sa/lab';
  const t = tempDir();
  let s: ServiceUnderTest;
  let client: CheckClient;

  beforeAll(async () => {
    s = await start(
      {
        baaRegistry: timelessRegistry(path.join(t.dir, 'registry.yaml')),
        // 169.254.0.0/16 and fd00:ec2::/32 hold metadata endpoints: listing them must not make those reachable.
        internalCidrs: ['10.20.0.0/16', 'fd00:10::/64', '169.254.0.0/16', 'fd00:ec2::/32'],
      },
      {
        'lab.yaml': policyYaml(
          'lab',
          '    - name: status\n      allow: request.path == "/status"',
          `principal: ${LAB}`,
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

  test.each([
    ['10.20.3.4'],
    ['10.20.3.4:8443'],
    ['0x0a140304'],
    ['[::ffff:10.20.3.4]'],
    ['[fd00:10::5]'],
    ['169.254.20.10'],
  ])('a listed address %s is internal: the policy rule alone allows it', async (host) => {
    expect(await decision(client, req(LAB, host, '/status', 'GET'))).toEqual({ code: 0, reason: undefined });
  });

  test.each([['10.21.0.5'], ['192.168.1.10'], ['127.0.0.1'], ['[fd00:11::5]']])(
    'an unlisted address %s is outside: no BAA covers it, so it is denied',
    async (host) => {
      expect(await decision(client, req(LAB, host, '/status', 'GET'))).toEqual({ code: 7, reason: 'baa-not-covered' });
    },
  );

  test.each([
    ['IMDS', '169.254.169.254', undefined],
    ['IMDS as a decimal number', '2852039166', undefined],
    ['the ECS task metadata endpoint', '169.254.170.2', undefined],
    ['IMDS over IPv6', '[fd00:ec2::254]', undefined],
    ['IMDS as the destination of a listed authority', '10.20.3.4', '169.254.169.254'],
  ])('%s inside a listed block stays a protected endpoint', async (_n, host, dest) => {
    expect(await decision(client, req(LAB, host, '/status', 'GET', dest))).toEqual({
      code: 7,
      reason: 'protected-endpoint',
    });
  });
});

describe('--internal-cidrs / PHIGUARD_INTERNAL_CIDRS', () => {
  const serve = (...args: string[]) => cli(['serve', '--policies', 'examples/policies', '--print-config', ...args]);

  test('IPv4 and IPv6 blocks, in any spelling the egress lane reads, are kept in canonical form', async () => {
    const r = await serve('--internal-cidrs', '10.20.0.0/16, FD00:0EC2::/32,2852039166');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as { internalCidrs: string[] }).internalCidrs).toEqual([
      '10.20.0.0/16',
      'fd00:ec2::/32',
      '169.254.169.254/32',
    ]);
  });

  test.each([
    ['10.0.0.0/33', 'is not a CIDR block'],
    ['fhir.hospital.internal', 'is not a CIDR block'],
    ['1.2.3.4.5/32', 'is not a CIDR block'],
    ['10.1/16', '(read as 10.0.0.1/16) has address bits set past its prefix (the block is 10.0.0.0/16)'],
  ])('a bad entry (%s) stops the startup, naming the flag and the entry', async (entry, why) => {
    const r = await serve('--internal-cidrs', `10.20.0.0/16,${entry}`);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain(`--internal-cidrs / PHIGUARD_INTERNAL_CIDRS: ${JSON.stringify(entry)} ${why}`);
  });

  test('the environment variable is read and checked the same way', async () => {
    process.env['PHIGUARD_INTERNAL_CIDRS'] = 'fd00:10::/64,fd00::/129';
    try {
      const r = await serve();
      expect(r.code).toBe(2);
      expect(r.err).toContain('PHIGUARD_INTERNAL_CIDRS: "fd00::/129" is not a CIDR block');
      process.env['PHIGUARD_INTERNAL_CIDRS'] = 'fd00:10::/64';
      expect(JSON.parse((await serve()).out)).toMatchObject({ internalCidrs: ['fd00:10::/64'] });
    } finally {
      delete process.env['PHIGUARD_INTERNAL_CIDRS'];
    }
  });
});
