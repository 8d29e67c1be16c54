/**
 * Protected endpoints in every spelling. The egress classes of host-forms.cases.yaml through the real authorizer;
 * a seeded property over every representation of every protected address and name (protected-forms.ts), as the
 * `:authority` and as the destination socket address, for an enforcing and an audit-mode agent, through the
 * authorizer and through the real gRPC service; deny answers that never echo the host.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { z } from 'zod';
import {
  CheckInputSchema,
  ClaimsConfigSchema,
  DEFAULT_INTERNAL_SUFFIXES,
  createAuthorizer,
  createClaimsResolver,
  policyOnlySnapshot,
  readPolicyDir,
  type Authorization,
} from '../../authz/index.js';
import type { EgressOptions } from '../../authz/egress/index.js';
import type { CompiledPolicySet } from '../../authz/policy/index.js';
import { createCheckClient, type CheckClient } from '../../generator/call/index.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { policyYaml, tempDir } from '../helpers/temp.js';
import { protectedForms, type ProtectedForm } from './protected-forms.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SCRIBE = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe'; // enforce mode
const PA = 'spiffe://cluster.local/ns/prior-auth/sa/pa-bot'; // audit mode
const LAB = 'spiffe://cluster.local/ns/lab/sa/lab';
const IMDS_PATH = '/latest/meta-data/iam/security-credentials/';
const FHIR_READ = '/fhir/Encounter?patient=p-1001&status=in-progress';
const SEED = 20_251_125;

function policySet(dir: string): CompiledPolicySet {
  const loaded = readPolicyDir(dir);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.error));
  return loaded.value.set;
}
const examples = policySet('examples/policies');

/** The real authorizer over a policy set, with the given egress options. */
function authorizer(set: CompiledPolicySet, egress: EgressOptions = { internalSuffixes: DEFAULT_INTERNAL_SUFFIXES }) {
  const a = createAuthorizer({
    snapshot: () => ({ ...policyOnlySnapshot(set), egress }),
    claims: createClaimsResolver(ClaimsConfigSchema.parse({})),
    fhirBasePaths: ['/fhir'],
  });
  return async (r: Req): Promise<Authorization> => a.authorize(CheckInputSchema.parse(grpcRequest(r)));
}

interface Req {
  principal: string;
  authority: string;
  destination?: string | undefined;
  path?: string;
}

/** A CheckRequest as Envoy sends it (proto JSON of envoy.service.auth.v3.CheckRequest). */
function grpcRequest(r: Req): Record<string, unknown> {
  return {
    attributes: {
      source: { principal: r.principal },
      ...(r.destination !== undefined
        ? { destination: { address: { socket_address: { address: r.destination, port_value: 80 } } } }
        : {}),
      request: {
        http: { method: 'GET', path: r.path ?? IMDS_PATH, host: r.authority, scheme: 'http', headers: {} },
      },
    },
  };
}

/** A protected form as a request: in the authority, or as the destination behind an innocent internal name. */
const requestFor = (f: ProtectedForm, principal: string, reqPath: string): Req =>
  f.place === 'authority'
    ? { principal, authority: f.text, path: reqPath }
    : { principal, authority: 'fhir.hospital.internal', destination: f.text, path: reqPath };

describe('egress classes (host-forms.cases.yaml)', () => {
  const ClassCase = z
    .object({
      name: z.string(),
      authority: z.string(),
      destination: z.string().optional(),
      internalSuffixes: z.array(z.string()).optional(),
      internalCidrs: z.array(z.string()).optional(),
      apiServerAddresses: z.array(z.string()).optional(),
      expect: z.string().regex(/^(internal|outside|hard:[a-z-]+)$/),
      host: z.string().optional(),
      port: z.number().optional(),
    })
    .strict();
  const doc = yaml.load(readFileSync(path.join(here, 'host-forms.cases.yaml'), 'utf8')) as { classes: unknown };
  const cases = z.array(ClassCase).parse(doc.classes);

  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    const options: EgressOptions = {
      internalSuffixes: c.internalSuffixes ?? DEFAULT_INTERNAL_SUFFIXES,
      ...(c.internalCidrs ? { internalCidrs: c.internalCidrs } : {}),
      ...(c.apiServerAddresses ? { apiServerAddresses: c.apiServerAddresses } : {}),
    };
    const a = await authorizer(
      examples,
      options,
    )({
      principal: SCRIBE,
      authority: c.authority,
      destination: c.destination,
    });
    const eg = a.context.egress;
    if (c.expect.startsWith('hard:')) {
      expect(eg.kind === 'hard' ? eg.targets : eg.kind).toContain(c.expect.slice(5));
      expect(a.decision).toMatchObject({ outcome: 'deny', reason: 'protected-endpoint' });
      return;
    }
    expect(eg.kind).toBe(c.expect);
    if (eg.kind === 'outside' && c.host !== undefined) expect(eg.host).toBe(c.host);
    if (eg.kind === 'outside' && c.port !== undefined) expect(eg.port).toBe(c.port);
  });
});

describe('every spelling of every protected endpoint is denied (seeded property)', () => {
  const forms = protectedForms(SEED, 120);

  test('the generator covers every entry, both places and the Envoy-split authority', () => {
    // metadata addresses, metadata names, API server names
    expect(new Set(forms.map((f) => f.of)).size).toBe(10 + 5 + 4);
    expect(forms.filter((f) => f.place === 'destination').length).toBeGreaterThan(100);
    expect(forms.some((f) => /^[^[]*:[^:]*:.*:\d+$/.test(f.text) && !f.text.includes('['))).toBe(true);
    expect(protectedForms(SEED, 120)).toEqual(forms); // deterministic
  });

  test.each([
    ['an enforcing agent', SCRIBE, FHIR_READ],
    ['an audit-mode agent', PA, IMDS_PATH],
    ['an audit-mode agent reading FHIR', PA, FHIR_READ],
  ])('through the authorizer: %s', async (_n, principal, reqPath) => {
    const authorize = authorizer(examples);
    const wrong: unknown[] = [];
    for (const f of forms) {
      const { decision, context } = await authorize(requestFor(f, principal, reqPath));
      const targets = context.egress.kind === 'hard' ? context.egress.targets : [];
      const ok =
        decision.outcome === 'deny' &&
        decision.reason === 'protected-endpoint' &&
        decision.rule === `protected:${f.target}` &&
        decision.message === `Denied: ${f.target} is never reachable for agents` &&
        targets.includes(f.target);
      if (!ok) wrong.push({ form: f, egress: context.egress, reason: decision.reason, rule: decision.rule });
    }
    expect(wrong).toEqual([]);
    expect(forms.length).toBeGreaterThan(1000);
  });
});

describe('exceptions cover one target, not another reached at the same time', () => {
  const t = tempDir({
    'lab.yaml': policyYaml(
      'lab',
      '    - name: creds\n      allow: request.path == "/v1/credentials"',
      `principal: ${LAB}`,
      `  egressExceptions:\n    - target: eks-pod-identity\n      reason: EKS Pod Identity (change CR-4411)\n`,
    ),
  });
  const lab = policySet(t.dir);
  t.remove();
  const authorize = authorizer(lab);

  test.each([
    ['0xa9feaa17', undefined],
    ['[::ffff:169.254.170.23]:80', undefined],
    ['eks-pod.example', '0:0:0:0:0:ffff:a9fe:aa17'],
  ])('the excepted endpoint %s (destination %s) is allowed and marked', async (authority, destination) => {
    const { decision } = await authorize({ principal: LAB, authority, destination, path: '/v1/credentials' });
    expect(decision).toMatchObject({ outcome: 'allow', rule: 'creds', exception: 'eks-pod-identity' });
  });

  test('the excepted endpoint as authority with IMDS as the destination is denied', async () => {
    const { decision } = await authorize({
      principal: LAB,
      authority: '169.254.170.23',
      destination: '::ffff:a9fe:a9fe',
      path: '/v1/credentials',
    });
    expect(decision).toMatchObject({ outcome: 'deny', rule: 'protected:instance-metadata' });
  });
});

interface Answer {
  code: number;
  reason: string | undefined;
  text: string | undefined;
  raw: string;
}

async function answer(c: CheckClient, r: Req): Promise<Answer> {
  const res = await c.check(grpcRequest(r));
  const denied = res['denied_response'] as { body: string } | undefined;
  const issue = denied
    ? (JSON.parse(denied.body) as { issue: Array<{ details: { coding: Array<{ code: string }>; text: string } }> })
        .issue[0]
    : undefined;
  return {
    code: (res['status'] as { code: number }).code,
    reason: issue?.details.coding[0]?.code,
    text: issue?.details.text,
    raw: JSON.stringify(res),
  };
}

describe('through the real gRPC service', () => {
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

  test('every spelling is denied with protected-endpoint, enforce and audit mode, and never echoed', async () => {
    const forms = protectedForms(SEED + 1, 24);
    const wrong: unknown[] = [];
    for (let i = 0; i < forms.length; i += 40) {
      const batch = forms.slice(i, i + 40).flatMap((f) => [
        { f, r: requestFor(f, SCRIBE, FHIR_READ) },
        { f, r: requestFor(f, PA, IMDS_PATH) },
      ]);
      const answers = await Promise.all(batch.map(({ r }) => answer(client, r)));
      answers.forEach((a, j) => {
        const f = batch[j]?.f;
        if (!f) return;
        const message = `Denied: ${f.target} is never reachable for agents`;
        const echoed = !message.includes(f.text.toLowerCase()) && a.raw.toLowerCase().includes(f.text.toLowerCase());
        if (a.code !== 7 || a.reason !== 'protected-endpoint' || a.text !== message || echoed)
          wrong.push({ form: f, answer: { code: a.code, reason: a.reason, text: a.text }, echoed });
      });
    }
    expect(wrong).toEqual([]);
    expect(forms.length).toBeGreaterThan(200);
  });

  test.each([
    ['2852039166', FHIR_READ, SCRIBE],
    ['2852039166:80', IMDS_PATH, PA],
    ['0xA9FEA9FE', FHIR_READ, SCRIBE],
    ['0xa9fea9fe', IMDS_PATH, PA],
  ])('the reported authority %s (%s) is the metadata service, not an in-cluster name', async (host, p, principal) => {
    expect(await answer(client, { principal, authority: host, path: p })).toMatchObject({
      code: 7,
      reason: 'protected-endpoint',
      text: 'Denied: instance-metadata is never reachable for agents',
    });
  });

  test.each(['::ffff:169.254.169.254', '::ffff:a9fe:a9fe', '0:0:0:0:0:ffff:a9fe:a9fe', 'fd00:ec2:0:0:0:0:0:254'])(
    'the reported destination address %s is the metadata service',
    async (destination) => {
      const a = await answer(client, { principal: PA, authority: 'innocent.example', destination });
      expect(a).toMatchObject({ code: 7, reason: 'protected-endpoint' });
    },
  );

  test('deny answers name the target class, never the host (a host name can carry PHI)', async () => {
    const phiHost = 'patient-jane-doe.exfil.example';
    const imds = await answer(client, { principal: SCRIBE, authority: phiHost, destination: '::ffff:a9fe:a9fe' });
    expect(imds).toMatchObject({ code: 7, reason: 'protected-endpoint' });
    // The audit-mode agent: its rule denies are let through, so the BAA lane decides.
    const outside = await answer(client, { principal: PA, authority: `${phiHost}:443`, path: FHIR_READ });
    expect(outside).toMatchObject({ code: 7, reason: 'baa-not-covered' });
    const literal = await answer(client, { principal: PA, authority: '0x0a000005', path: FHIR_READ });
    expect(literal).toMatchObject({ code: 7, reason: 'baa-not-covered' });
    for (const a of [imds, outside, literal]) {
      expect(a.raw).not.toMatch(/jane|exfil|0x0a000005|10\.0\.0\.5/i);
    }
  });
});
