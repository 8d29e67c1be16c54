/** `buildWasmProgram`: which agents get a table, and which rules the proxy can read (visible-rules.ts). */
import { describe, expect, test } from '@jest/globals';
import { readPolicyDir } from '../../authz/policy/index.js';
import { buildWasmProgram, ruleVisibility } from '../../generator/wasm/index.js';
import { policyYaml, tempDir } from '../helpers/temp.js';

const RULES = `    - name: no-deletes
      deny: request.method == "DELETE"
`;

async function excludedFor(files: Record<string, string>): Promise<Array<{ agent: string; why: string }>> {
  const t = tempDir(files);
  try {
    const loaded = readPolicyDir(t.dir);
    if (!loaded.ok) throw loaded.error;
    const p = await buildWasmProgram(loaded.value.set, {
      fhirBasePaths: ['/fhir'],
      authzCluster: 'phiguard',
      timeoutMs: 200,
      allowInProxy: false,
      hosts: ['fhir.local'],
      deferHeaders: ['authorization'],
    });
    return p.excluded;
  } finally {
    t.remove();
  }
}

describe('agents without a table', () => {
  test.each([
    [
      'selected by namespace',
      { 'a.yaml': policyYaml('a', RULES, 'namespace: a') },
      'selected by namespace or service account, not by a principal',
    ],
    [
      'two policies naming one principal',
      {
        'a.yaml': policyYaml('a', RULES, 'principal: spiffe://cluster.local/ns/x/sa/y'),
        'b.yaml': policyYaml('b', RULES, 'principal: spiffe://cluster.local/ns/x/sa/y\n    namespace: x'),
      },
      'another policy names the same principal',
    ],
    [
      'a principal that is not an Istio SPIFFE id',
      { 'a.yaml': policyYaml('a', RULES, 'principal: spiffe://cluster.local/workload/a') },
      'not an Istio SPIFFE id',
    ],
  ])('%s', async (_name, files, why) => {
    const excluded = await excludedFor(files);
    expect(excluded.length).toBeGreaterThan(0);
    for (const e of excluded) expect(e.why).toContain(why);
  });
});

describe('which rules the proxy can read', () => {
  test.each([
    ['request.method == "DELETE"', 'valid', true, []],
    ['fhir.interaction in ["read", "vread"] && fhir.resourceType == "Medication"', 'valid', true, []],
    [
      'fhir.isFhir && !(request.host in ["a.example", "b.example:8080"])',
      'valid',
      true,
      ['a.example', 'b.example:8080'],
    ],
    ['request.host == "a.example"', 'valid', true, ['a.example']],
    ['request.host.endsWith(".example")', 'valid', false, []],
    ['size(fhir.patients) != 1', 'valid', true, []],
    ['"p-1" in fhir.patients', 'valid', false, []],
    ['"p-1" in fhir.patients', 'invalid', true, []],
    ['fhir.id == "x"', 'valid', false, []],
    ['fhir.invalidReason == "dot-segment"', 'invalid', false, []],
    ['fhir.base == "/fhir"', 'invalid', false, []],
    ['claims.sub == "x"', 'valid', false, []],
    ['request.headers["x"] == "y"', 'valid', false, []],
    ['fhir["interaction"] == "read"', 'valid', false, []],
    ['fhir.interaction == r"read"', 'valid', false, []],
    ['fhir.interaction == """read"""', 'valid', false, []],
    ['request.host in ["a\\u002eexample"]', 'valid', false, []],
    ['"fhir.id" == fhir.interaction', 'valid', true, []],
    ['fhir . id == "x"', 'valid', false, []],
    ['now > timestamp("2026-01-01T00:00:00Z")', 'valid', false, []],
    ['source.namespace == "cds"', 'valid', false, []],
    ['auth.source == "none"', 'valid', false, []],
  ] as const)('%s (%s): %s', (expression, context, visible, hosts) => {
    expect(ruleVisibility(expression, context)).toEqual({ visible, hosts: visible ? hosts : [] });
  });
});
