/**
 * The Check pipeline's one catch: a Check that fails at any stage is denied `internal-error`, and its audit record
 * carries everything known when it failed (the caller, method, host and FHIR view with its patients once the request
 * was decoded, the verified clinician once claims were resolved, the agent once selected). The stages fail here on
 * purpose, through the real pipeline, authorizer, effects and audit sink.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import {
  ClaimsConfigSchema,
  createAuthorizer,
  createClaimsResolver,
  policyOnlySnapshot,
  readPolicyDir,
  type ClaimsResolver,
} from '../../authz/index.js';
import type { Snapshot } from '../../authz/lanes/index.js';
import { createAuditSink, type AuditSink } from '../../authz/audit/index.js';
import { createEffectsApplier } from '../../authz/effects/index.js';
import { createRateLimiter } from '../../authz/egress/index.js';
import { clockMs, createCheckPipeline } from '../../authz/service/check-pipeline.js';
import { createLogger } from '../../authz/service/logger.js';
import { createMetrics } from '../../authz/service/metrics.js';
import { authzRoot, createResponseEncoder } from '../../authz/transport/index.js';
import { toGrpcCheckRequest } from '../../generator/call/index.js';
import { tempDir } from '../helpers/temp.js';

const SCRIBE = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';
const loaded = readPolicyDir('examples/policies');
if (!loaded.ok) throw new Error('example policies did not load');
const policies = loaded.value.set;
const Req = authzRoot().lookupType('envoy.service.auth.v3.CheckRequest');
const Res = authzRoot().lookupType('envoy.service.auth.v3.CheckResponse');

/** A search of p-9999 with jwt_authn claims of a verified clinician, as CheckRequest bytes. */
const requestBytes = (): Buffer => {
  const claims = { sub: 'Practitioner/dr-okafor', patient: 'p-1001', exp: Math.floor(Date.now() / 1000) + 600 };
  const grpc = toGrpcCheckRequest({
    attributes: {
      source: { principal: SCRIBE },
      request: {
        http: {
          id: 'req-1',
          method: 'GET',
          path: '/fhir/Observation?patient=p-9999',
          host: 'fhir.hospital.internal',
          headers: {},
        },
      },
      metadata_context: { filter_metadata: { 'envoy.filters.http.jwt_authn': { jwt_payload: claims } } },
    },
  });
  return Buffer.from(Req.encode(Req.fromObject(grpc)).finish());
};

const boom = (): never => {
  throw new TypeError('injected');
};

describe('a Check that fails is recorded with what was known', () => {
  const t = tempDir();
  const open: AuditSink[] = [];
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });

  async function run(
    parts: {
      snapshot?: () => Snapshot;
      claims?: ClaimsResolver;
      audit?: (real: AuditSink) => AuditSink;
      /** Sees the record file when the answer is handed over. */
      onAnswer?: (file: string) => void;
    },
    bytes: unknown = requestBytes(),
  ): Promise<{ code: number; records: Array<Record<string, unknown>>; message: string }> {
    const file = path.join(t.dir, `audit-${Math.random()}.jsonl`);
    const sink = createAuditSink({ target: file });
    open.push(sink);
    const authorizer = createAuthorizer({
      claims: parts.claims ?? createClaimsResolver(ClaimsConfigSchema.parse({})),
      fhirBasePaths: ['/fhir'],
      snapshot: parts.snapshot ?? (() => policyOnlySnapshot(policies)),
    });
    const audit = parts.audit ? parts.audit(sink) : sink;
    const effects = createEffectsApplier(
      {
        audit,
        auditEvents: undefined,
        rateLimiter: createRateLimiter(),
        containment: undefined,
        replicaId: 'test',
        onContained: () => undefined,
        onAuditRejected: () => undefined,
      },
      clockMs,
    );
    const pipeline = createCheckPipeline({
      authorizer,
      commit: (done) => audit.commit(done),
      effects,
      responses: createResponseEncoder(),
      metrics: createMetrics(() => 0, { defaultMetrics: false }),
      observers: [],
      log: createLogger('silent'),
      policyVersion: () => policies.version,
    });
    const answer = await new Promise<Buffer>((resolve) =>
      pipeline.decideBatch([
        {
          request: bytes,
          t0: clockMs(),
          reply: (b) => {
            parts.onAnswer?.(file);
            resolve(b);
          },
        },
      ]),
    );
    await sink.close();
    const res = Res.toObject(Res.decode(answer), { defaults: true }) as {
      status: { code: number; message: string };
    };
    const records = readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { code: res.status.code, records, message: res.status.message };
  }

  /** What the request says, known from the moment it is decoded. */
  const REQUEST = {
    requestId: 'req-1',
    principal: SCRIBE,
    method: 'GET',
    host: 'fhir.hospital.internal',
    interaction: 'search-type',
    resourceType: 'Observation',
    patients: ['p-9999'],
    decision: 'deny',
    reason: 'internal-error',
    rule: 'internal-error',
    policyVersion: policies.version,
  };

  test('the snapshot fails after claims were resolved: the request and the verified clinician are recorded', async () => {
    const r = await run({ snapshot: boom });
    expect(r.code).toBe(7);
    expect(r.records).toEqual([
      expect.objectContaining({
        ...REQUEST,
        agent: '',
        clinician: 'Practitioner/dr-okafor',
        authSource: 'jwt_authn',
      }),
    ]);
  });

  test('a lane fails after the agent was selected: the agent is recorded too', async () => {
    const r = await run({
      snapshot: () => ({ ...policyOnlySnapshot(policies), containment: { get: boom } }),
    });
    expect(r.records).toEqual([
      expect.objectContaining({ ...REQUEST, agent: 'ambient-scribe', clinician: 'Practitioner/dr-okafor' }),
    ]);
  });

  test.each([
    ['throws', boom],
    ['rejects', () => Promise.reject(new TypeError('injected'))],
  ])('claims resolution %s: the request is recorded, with no clinician', async (_n, resolve) => {
    const r = await run({ claims: { resolve, close: () => undefined } });
    expect(r.code).toBe(7);
    expect(r.records).toEqual([expect.objectContaining({ ...REQUEST, agent: '', clinician: '', authSource: 'none' })]);
  });

  test('the effects fail: the internal-error deny is recorded with the request it answered', async () => {
    let calls = 0;
    const r = await run({
      audit: (real) => ({
        ...real,
        writeDecision: (row) => (++calls === 1 ? boom() : real.writeDecision(row)),
      }),
    });
    expect(r.code).toBe(7);
    expect(r.records).toEqual([
      expect.objectContaining({ ...REQUEST, agent: 'ambient-scribe', clinician: 'Practitioner/dr-okafor' }),
    ]);
  });

  test('the answer leaves only after its record is written to the file (a killed process loses no answered one)', async () => {
    let seen: string[] = [];
    const r = await run({ onAnswer: (file) => (seen = readFileSync(file, 'utf8').split('\n').filter(Boolean)) });
    expect(seen).toHaveLength(1);
    expect(r.records).toHaveLength(1);
  });

  test('a commit that waits holds the answer; a commit that fails turns it into an audit-unavailable deny', async () => {
    let release: ((written: boolean) => void) | undefined;
    let answered = false;
    const pending = run({
      audit: (real) => ({ ...real, commit: (done) => (release = done) }),
      onAnswer: () => (answered = true),
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toBe(false);
    release?.(false);
    const r = await pending;
    expect(answered).toBe(true);
    expect(r.code).toBe(7);
    expect(r.message).toMatch(/audit-unavailable|audit/);
  });

  test('bytes that are not a CheckRequest: denied and recorded, with nothing to say about the request', async () => {
    const r = await run({}, Buffer.from([0x0a, 0xff, 0xff]));
    expect(r.code).toBe(7);
    expect(r.records).toEqual([
      expect.objectContaining({ reason: 'internal-error', principal: '', method: '', patients: [] }),
    ]);
  });
});
