/**
 * The CEL fast path against cel-js, its authority: generated, type-checked policy expressions evaluated over real
 * attribute models (the FHIR request-model table through the real authorizer) with ordinary and hostile claims.
 * Wherever the fast path answers, cel-js must give the same bool; everywhere, the wrapped program must give exactly
 * what cel-js gives (value or error).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { z } from 'zod';
import {
  ClaimsConfigSchema,
  createAuthorizer,
  policyOnlySnapshot,
  createClaimsResolver,
  type RequestAttributesModel,
} from '../../authz/index.js';
import { readPolicyDir } from '../../authz/policy/index.js';
import { checkInputFor } from '../../generator/explain/index.js';
import { compileExpression } from '../../authz/policy/compile-expression.js';
import { CelKeyError, fastOnly, isBail } from '../../authz/policy/cel-fast-path.js';
import { celEvalEnvironment, re2Matches } from '../../authz/policy/cel-env.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** mulberry32: a seeded PRNG, so a failure reproduces. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = [
  'fhir.interaction',
  'fhir.resourceType',
  'fhir.id',
  'fhir.operation',
  'fhir.invalidReason',
  'fhir.compartment.type',
  'request.method',
  'request.host',
  'agent.name',
  'auth.source',
  'auth.subject',
  'request.headers["content-type"]',
  'request.headers["x-test"]',
];
const DYN = [
  'claims.patient',
  'claims.role',
  'claims.n',
  'claims.flag',
  'claims.roles',
  'claims.obj',
  'claims.constructor',
  'claims.nothing',
];
const STRING_LITERALS = [
  '"read"',
  '"search-type"',
  '"Patient"',
  '"Observation"',
  '""',
  '"p-1"',
  '"GET"',
  '"physician"',
  '"$everything"',
  '"a\\"b"',
  '"é"',
];
const BOOLS = [
  'fhir.isFhir',
  'fhir.valid',
  'fhir.patientCompartment',
  'fhir.bodyComplete',
  'fhir.bodyParsed',
  'true',
  'false',
];
const LISTS = [
  'fhir.patients',
  'fhir.patientsUnresolved',
  'fhir.includes',
  '["read", "vread", "search-type"]',
  '["Patient", "Observation"]',
  '[]',
];

function generator(rnd: () => number): () => string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const str = (vars: string[]): string => {
    const r = rnd();
    if (vars.length > 0 && r < 0.25) return pick(vars);
    if (r < 0.55) return pick(STRINGS);
    if (r < 0.7) return pick(DYN);
    if (r < 0.85) return pick(STRING_LITERALS);
    // String concatenation, with operands of every kind (an int or a missing claim on either side).
    return `(${pick([...STRING_LITERALS, ...DYN])} + ${pick([...STRINGS, ...DYN, ...vars])})`;
  };
  const list = (vars: string[]): string =>
    rnd() < 0.2
      ? `[${str(vars)}, ${pick(STRING_LITERALS)}]`
      : rnd() < 0.15
        ? pick(['claims.roles', 'claims.obj', 'claims.n'])
        : pick(LISTS);
  const int = (vars: string[]): string =>
    pick([
      `size(${list(vars)})`,
      `${list(vars)}.size()`,
      'size(fhir.entries)',
      '0',
      '1',
      '2',
      'request.size',
      'destination.port',
    ]);
  const bool = (depth: number, vars: string[]): string => {
    if (depth > 3) return pick(BOOLS);
    const r = Math.floor(rnd() * 17);
    const d = depth + 1;
    switch (r) {
      case 0:
        return pick(BOOLS);
      case 1:
        return `${str(vars)} == ${str(vars)}`;
      case 2:
        return `${str(vars)} != ${str(vars)}`;
      case 3:
        return `${str(vars)} in ${list(vars)}`;
      case 4:
        return `${str(vars)} in request.headers`;
      case 5:
        return `${str(vars)}.${pick(['startsWith', 'endsWith', 'contains'])}(${str(vars)})`;
      case 6:
        return `${int(vars)} ${pick(['==', '!=', '<', '<=', '>', '>='])} ${int(vars)}`;
      case 7:
        return `!(${bool(d, vars)})`;
      case 8:
        return `(${bool(d, vars)}) && (${bool(d, vars)})`;
      case 9:
        return `(${bool(d, vars)}) || (${bool(d, vars)})`;
      case 10:
        return `(${bool(d, vars)}) ? (${bool(d, vars)}) : (${bool(d, vars)})`;
      case 11: {
        const v = `v${depth}`;
        return `${list(vars)}.${pick(['all', 'exists'])}(${v}, ${bool(d, [...vars, v])})`;
      }
      case 12:
        return `has(${pick(['claims.patient', 'claims.role', 'claims.nothing', 'claims.obj.k', 'request.headers.accept', 'claims.constructor'])})`;
      case 13:
        return `fhir.entries.${pick(['all', 'exists'])}(e, e.interaction in ["create", "update"] && e.resourceType ${pick(['==', '!='])} ${pick(STRING_LITERALS)})`;
      case 14:
        return `${str(vars)}.matches(${pick(['"^p-[0-9]+$"', '"read"', '"^$"'])})`;
      case 15:
        return `${pick(DYN)} == ${pick(['1', '1.0', 'true', '"p-1"', 'null'])}`;
      default:
        return `claims.flag ${pick(['==', '!='])} ${pick(BOOLS)}`;
    }
  };
  return () => bool(0, []);
}

const loaded = readPolicyDir(path.join(here, '../../examples/policies'));
if (!loaded.ok) throw loaded.error;
const { set } = loaded.value;
const authorizer = createAuthorizer({
  snapshot: () => policyOnlySnapshot(set),
  claims: createClaimsResolver(ClaimsConfigSchema.parse({})),
  fhirBasePaths: ['/fhir', '/fhir/R4'],
});
const Case = z.object({
  request: z.object({
    method: z.string(),
    path: z.string(),
    headers: z.record(z.string(), z.string()).default({}),
    body: z.string().optional(),
  }),
});
const cases = z.array(Case).parse(yaml.load(readFileSync(path.join(here, '../fhir/request-model.cases.yaml'), 'utf8')));
const claimSets: Array<Record<string, unknown>> = [
  { patient: 'p-1', role: 'physician', n: 3, flag: true, roles: ['physician', 'resident'], obj: { k: 'v' } },
  { patient: 7, role: true, n: 'x', flag: 'yes', roles: [1, 'physician'], obj: ['k'] },
  { patient: null, roles: [], obj: {}, constructor: 'x' },
  { patient: 'p-2', roles: [{ a: 1 }], obj: { constructor: 'evil', k: 1 } },
];

async function contexts(): Promise<RequestAttributesModel[]> {
  const out: RequestAttributesModel[] = [];
  for (const [i, c] of cases.entries()) {
    if (i % 2 === 1) continue;
    const claims = claimSets[i % claimSets.length] ?? {};
    const r = await authorizer.authorize(
      checkInputFor({
        principal: 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe',
        method: c.request.method,
        path: c.request.path,
        headers: {
          ...c.request.headers,
          ...(i % 3 === 0 ? { 'x-test': 'read', accept: 'application/fhir+json' } : {}),
        },
        ...(c.request.body !== undefined ? { body: c.request.body } : {}),
      }),
    );
    // The claims the policy sees are the verified ones; here they are set directly on the model.
    out.push({ ...r.attributes, claims: new Map(Object.entries(claims)) });
  }
  return out;
}

type Outcome = { value: unknown } | { error: string };
const firstLine = (e: unknown): string =>
  e instanceof Error || e instanceof CelKeyError ? (e.message.split('\n')[0] ?? '') : 'not an error';
function run(f: (c: Record<string, unknown>) => unknown, ctx: RequestAttributesModel): Outcome {
  try {
    return { value: f(ctx as unknown as Record<string, unknown>) };
  } catch (e) {
    return { error: firstLine(e) };
  }
}

describe('CEL fast path', () => {
  test('generated expressions: the fast path agrees with cel-js wherever it answers', async () => {
    const ctxs = await contexts();
    const next = generator(prng(20261125));
    let compiled = 0;
    let fastAnswers = 0;
    let evaluations = 0;
    let fastErrors = 0;
    for (let i = 0; i < 1000; i++) {
      const src = next();
      const c = compileExpression(src);
      if (!c.ok) continue; // not type-correct in the strict environment: never evaluated in production either
      compiled++;
      const { fastPath, reference, program } = c.value;
      const fast = fastPath
        ? fastOnly(celEvalEnvironment().parse(src.replace(/\.matches\(/g, '.re2Matches(')).ast, re2Matches)
        : undefined;
      for (const ctx of ctxs) {
        evaluations++;
        const ref = run(reference, ctx);
        expect([src, run(program, ctx)]).toEqual([src, ref]);
        if (!fast) continue;
        try {
          const v = fast(ctx as unknown as Record<string, unknown>);
          fastAnswers++;
          if (v instanceof CelKeyError) {
            fastErrors++;
            expect([src, { error: v.message }]).toEqual([src, ref]);
          } else expect([src, { value: v }]).toEqual([src, ref]);
        } catch (e) {
          expect([src, isBail(e)]).toEqual([src, true]);
        }
      }
    }
    process.stdout.write(
      `fast path: ${compiled} expressions, ${evaluations} evaluations, ${fastAnswers} answered by the fast path (${fastErrors} of them No such key)\n`,
    );
    // Not vacuous: most generated expressions type-check, and the fast path answers most evaluations.
    expect(compiled).toBeGreaterThan(500);
    expect(fastAnswers / evaluations).toBeGreaterThan(0.5);
    // ...and the modelled error (No such key) occurs, so its absorption rules are exercised.
    expect(fastErrors).toBeGreaterThan(500);
  });

  test('every rule of the example policies runs on the fast path', () => {
    for (const agent of set.agents) {
      for (const rule of agent.policy.spec.rules) {
        const src = rule.allow ?? rule.deny ?? '';
        const c = compileExpression(src);
        expect([agent.name, rule.name, c.ok && c.value.fastPath]).toEqual([agent.name, rule.name, true]);
      }
    }
  });

  test('expressions outside the subset stay with cel-js', () => {
    for (const src of [
      'now > timestamp("2026-01-01T00:00:00Z")',
      'double(request.size) > 1.5',
      'fhir.patients.exists_one(p, p == "a")',
      'int(request.size) + 1 > 2',
      '{"a": 1}["a"] == 1',
      'fhir.patients.map(p, p + "x").size() == 1',
    ]) {
      const c = compileExpression(src);
      expect([src, c.ok && !c.value.fastPath]).toEqual([src, true]);
    }
  });
});
