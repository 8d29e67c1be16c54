/**
 * The AgentPolicy CRD is generated from the policy schema and stays so (the drift test), is a valid, structural
 * CustomResourceDefinition (kubernetes-models, plus the structural rules the API server enforces), and accepts every
 * example policy file as an object's spec while refusing what the file schema refuses.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { parse, parseAllDocuments } from 'yaml';
import { listPolicyFiles } from '../../authz/policy/index.js';
import { AGENT_POLICY_CRD_FILE, agentPolicyCrdYaml } from '../../generator/kube/crd-file.js';
import { crdResource } from '../helpers/kube-schemas.js';

const crd = parse(readFileSync(AGENT_POLICY_CRD_FILE, 'utf8')) as Record<string, unknown>;

/** Keywords a structural schema may not hold, and nodes with properties but no type. */
function structuralViolations(node: unknown, at = ''): string[] {
  if (Array.isArray(node)) return node.flatMap((n, i) => structuralViolations(n, `${at}[${i}]`));
  if (typeof node !== 'object' || node === null) return [];
  const o = node as Record<string, unknown>;
  const out: string[] = [];
  for (const k of ['$schema', '$ref', 'propertyNames', 'const', 'patternProperties', 'definitions', '$defs'])
    if (k in o) out.push(`${at}: ${k}`);
  if ('properties' in o && o['type'] !== 'object') out.push(`${at}: properties without type: object`);
  if ('properties' in o && 'additionalProperties' in o) out.push(`${at}: properties and additionalProperties`);
  if ('items' in o && o['type'] !== 'array') out.push(`${at}: items without type: array`);
  for (const [k, v] of Object.entries(o)) out.push(...structuralViolations(v, `${at}.${k}`));
  return out;
}

describe('the AgentPolicy CRD', () => {
  test(`${AGENT_POLICY_CRD_FILE} is what npm run generate:crd writes from the policy schema`, () => {
    expect(readFileSync(AGENT_POLICY_CRD_FILE, 'utf8')).toBe(agentPolicyCrdYaml());
  });

  test('validates as an apiextensions.k8s.io/v1 CustomResourceDefinition and is structural', () => {
    expect(() => new CustomResourceDefinition(crd as never).validate()).not.toThrow();
    expect(structuralViolations(crd)).toEqual([]);
    // the negative control: a non-structural node is found
    expect(structuralViolations({ properties: { a: { propertyNames: {} } } })).toHaveLength(2);
  });

  const resource = crdResource(crd);
  const files = listPolicyFiles('examples/policies');
  test.each(files)('accepts the spec of %s as an AgentPolicy object', (file) => {
    for (const d of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const doc = d.toJS() as { metadata: Record<string, unknown>; spec: unknown };
      const obj = { ...doc, metadata: { name: doc.metadata['name'], namespace: 'x' } };
      expect(resource.validate?.(obj)).toEqual([]);
    }
  });

  test.each([
    ['an unknown tier', { tier: 'bogus' }, '/spec/tier'],
    ['an unknown field (pruned by the API server, so refused)', { tierr: 'live' }, 'tierr'],
    ['no rules', { rules: undefined }, 'rules'],
    [
      'a selector namespace that is no DNS label',
      { selector: { namespace: 'Not_A_Label' } },
      '/spec/selector/namespace',
    ],
  ])('refuses %s', (_name, change, where) => {
    const spec = { selector: { namespace: 'x' }, tier: 'live', rules: [{ name: 'r', allow: 'true' }], ...change };
    const errors =
      resource.validate?.({
        apiVersion: 'phiguard.io/v1alpha1',
        kind: 'AgentPolicy',
        metadata: { name: 'a', namespace: 'x' },
        spec,
      }) ?? [];
    expect(errors.join('\n')).toContain(where);
  });
});
