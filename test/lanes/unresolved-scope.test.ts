/**
 * The built-in `unresolved-patient-scope` rule: an allow stands only when every reason in `fhir.patientsUnresolved`
 * is one the deciding allow rule (or break-glass class) opted in to, exactly or as `kind:*`.
 */
import { describe, expect, test } from '@jest/globals';
import { authorizerFor, compilePolicyText } from '../helpers/authorize.js';
import { policyYaml } from '../helpers/temp.js';

const P = 'spiffe://cluster.local/ns/lab/sa/lab';
const rules = `    - name: reads-by-id-of-encounters
      allow: fhir.interaction == "read" && fhir.resourceType == "Encounter"
      allowUnresolved: ["instance-of:Encounter"]
    - name: any-read
      allow: fhir.interaction == "read"
    - name: observation-searches
      allow: fhir.interaction == "search-type" && fhir.resourceType == "Observation"
      allowUnresolved: ["include:*"]`;

const CASES: readonly { path: string; rule: string; outcome: 'allow' | 'deny'; open?: string[] }[] = [
  { path: '/fhir/Patient/p-1', rule: 'any-read', outcome: 'allow' },
  { path: '/fhir/Encounter/e-1', rule: 'reads-by-id-of-encounters', outcome: 'allow' },
  {
    path: '/fhir/Observation/o-1',
    rule: 'unresolved-patient-scope',
    outcome: 'deny',
    open: ['instance-of:Observation'],
  },
  { path: '/fhir/Observation?patient=p-1&_include=Observation:focus', rule: 'observation-searches', outcome: 'allow' },
  {
    path: '/fhir/Observation?code=1&_include=Observation:focus',
    rule: 'unresolved-patient-scope',
    outcome: 'deny',
    open: ['population-query:Observation'],
  },
];

describe('unresolved patient scope', () => {
  const enforce = authorizerFor(policyYaml('lab', rules, `principal: ${P}`));
  const audit = authorizerFor(policyYaml('lab', rules, `principal: ${P}`, '  mode: audit\n'));

  test.each(CASES)('$path: $outcome by $rule', async ({ path, rule, outcome, open }) => {
    const r = await enforce.authorize({ method: 'GET', path, principal: P });
    expect(r.decision).toMatchObject({ outcome, rule });
    if (outcome === 'deny') {
      expect(r.decision).toMatchObject({ reason: 'unresolved-patient-scope', status: 403 });
      expect(r.decision.message).not.toContain('Observation');
      expect(r.decision.trace.at(-1)).toEqual({
        rule: 'unresolved-patient-scope',
        effect: 'deny',
        result: true,
        unresolved: open,
      });
    } else {
      expect(r.decision.unresolvedAllowed ?? []).toEqual(r.attributes.fhir.patientsUnresolved);
    }
  });

  test('audit mode relaxes the built-in deny of a valid request, and records it', async () => {
    const r = await audit.authorize({ method: 'GET', path: '/fhir/Observation/o-1', principal: P });
    expect(r.decision).toMatchObject({
      outcome: 'allow',
      verdict: 'deny',
      mode: 'audit',
      rule: 'unresolved-patient-scope',
    });
  });

  test('a deny rule still wins over an opt-in', async () => {
    const a = authorizerFor(
      policyYaml(
        'lab',
        `    - name: no-encounters
      deny: fhir.resourceType == "Encounter"
${rules}`,
        `principal: ${P}`,
      ),
    );
    const r = await a.authorize({ method: 'GET', path: '/fhir/Encounter/e-1', principal: P });
    expect(r.decision).toMatchObject({ outcome: 'deny', rule: 'no-encounters' });
  });

  test.each([
    ['unknown kind', '["everything"]'],
    ['detail missing', '["instance-of"]'],
    ['detail on a kind without one', '["new-patient:x"]'],
    ['a bare wildcard', '["*"]'],
  ])('an opt-in that is not a reason is a load error: %s', (_what, list) => {
    const r = compilePolicyText(
      policyYaml('lab', `    - name: r\n      allow: "true"\n      allowUnresolved: ${list}`, `principal: ${P}`),
    );
    expect(r.ok).toBe(false);
  });

  test('allowUnresolved on a deny rule is a load error; a broad opt-in is a warning', () => {
    const deny = compilePolicyText(
      policyYaml('lab', `    - name: r\n      deny: "true"\n      allowUnresolved: ["new-patient"]`, `principal: ${P}`),
    );
    expect(deny.ok).toBe(false);
    const broad = compilePolicyText(
      policyYaml(
        'lab',
        `    - name: r\n      allow: "true"\n      allowUnresolved: ["population-query:*"]`,
        `principal: ${P}`,
      ),
    );
    expect(broad.ok && broad.value.warnings.map((w) => [w.code, w.severity])).toEqual([
      ['broad-unresolved-opt-in', 'warning'],
    ]);
  });
});
