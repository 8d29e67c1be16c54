/**
 * The hand-written decision line must be byte-for-byte `JSON.stringify(decisionRecord(...))`: the record object is
 * the documented format, the line is how the Check path writes it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { z } from 'zod';
import { ClaimsConfigSchema, createAuthorizer, createClaimsResolver, decisionRecord, DECISION_REASONS, loadPolicyDir, type Decision } from '../../authz/index.js';
import { checkInputFor } from '../../generator/explain/index.js';
import { decisionLine, decisionRow } from '../../authz/audit/index.js';
import { DecisionRowSchema } from '../../authz/audit/decision-row.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const loaded = loadPolicyDir(path.join(here, '../../examples/policies'));
if (!loaded.ok) throw new Error('example policies did not load');
const set = loaded.set;
const authorizer = createAuthorizer({ policies: { current: () => set }, claims: createClaimsResolver(ClaimsConfigSchema.parse({})), fhirBasePaths: ['/fhir', '/fhir/R4'] });

const Case = z.object({ name: z.string(), request: z.object({ method: z.string(), path: z.string(), headers: z.record(z.string(), z.string()).default({}), body: z.string().optional() }) });
const cases = z.array(Case).parse(yaml.load(readFileSync(path.join(here, '../fhir/request-model.cases.yaml'), 'utf8')));
const principals = ['spiffe://cluster.local/ns/scribe/sa/ambient-scribe', 'spiffe://cluster.local/ns/cds/sa/sepsis-watch', 'spiffe://cluster.local/ns/unknown/sa/x'];

const at = new Date('2026-11-25T10:00:00.123Z');
const same = (id: string, d: Decision, a: Parameters<typeof decisionRecord>[2], us: number, t: Date): void => {
  expect(decisionLine(id, d, a, us, t)).toBe(JSON.stringify(decisionRecord(id, d, a, us, t)));
  // The row crosses to the writer thread as a structured clone and is validated there: every row must pass.
  expect(DecisionRowSchema.safeParse(structuredClone(decisionRow(id, d, a, us, t.getTime()))).success).toBe(true);
};

describe('decision audit line', () => {
  test.each(cases.map((c) => [c.name, c] as const))('request-model case: %s', async (_n, c) => {
    for (const principal of principals) {
      const r = await authorizer.authorize(checkInputFor({ principal, method: c.request.method, path: c.request.path, headers: c.request.headers, ...(c.request.body !== undefined ? { body: c.request.body } : {}) }));
      same('0b7e3a5e-6f0a-4c8e-9d5e-2b8f0a1c3d4e', r.decision, r.attributes, 137, at);
    }
  });

  test('decisions with a lane, egress coverage, an exception, no attributes, and hostile strings', async () => {
    const r = await authorizer.authorize(checkInputFor({ principal: principals[0] ?? '', method: 'GET', path: '/fhir/Patient/p-"1"\\\u0001é😀', headers: {} }));
    const d: Decision = {
      ...r.decision, agent: 'a"b', rule: 'break-glass:code-blue', reason: DECISION_REASONS.breakGlass, exception: 'eks-pod-identity',
      lane: { class: 'code-blue', purposeOfUse: 'BTG', activatedAt: at.toISOString(), expiresAt: at.toISOString(), overrode: { rule: 'x', reason: DECISION_REASONS.ruleDeny } },
      egress: { host: 'api.example.com', port: 443, covered: false, reason: 'agreement-expired', vendor: 'V "q"', agreementId: 'BAA-1', registryVersion: 'sha256:1' },
    };
    same('id-\u2028', d, r.attributes, Number.NaN, at);
    same('x', { ...d, outcome: 'deny', verdict: 'deny', status: 451, mode: 'audit' }, undefined, 0, at);
    same('x', { ...d, outcome: 'allow', verdict: 'deny', mode: 'audit' }, r.attributes, 12, new Date(at.getTime() + 1));
  });
});
