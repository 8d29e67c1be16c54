/**
 * The attribute model is one contract: every field the authorizer builds is declared to CEL (so policies can use
 * it and typos are load errors), and every declared field is built (so no policy reads a field that is never set).
 */
import { describe, expect, test } from '@jest/globals';
import { CEL_VARIABLES } from '../../authz/model/attributes.js';
import { authorizerFor } from '../helpers/authorize.js';
import { policyYaml } from '../helpers/temp.js';

function shape(v: unknown): unknown {
  if (v instanceof Date) return 'google.protobuf.Timestamp';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'string';
  return v;
}

describe('attribute model', () => {
  test('built attributes and CEL declarations have exactly the same fields and types', async () => {
    const a = authorizerFor(policyYaml('x', '    - name: r\n      allow: "true"'));
    const { attributes } = await a.authorize({
      method: 'GET',
      path: '/fhir/Patient/p-1',
      principal: 'spiffe://cluster.local/ns/x/sa/x',
    });
    const built = attributes as unknown as Record<string, unknown>;
    expect(Object.keys(built).sort()).toEqual(Object.keys(CEL_VARIABLES).sort());
    for (const [name, decl] of Object.entries(CEL_VARIABLES)) {
      const value = built[name];
      if (typeof decl === 'string') {
        if (decl.startsWith('map<') || decl.startsWith('list<')) expect(typeof value).toBe('object');
        else expect(shape(value)).toBe(decl);
        continue;
      }
      const obj = value as Record<string, unknown>;
      expect(Object.keys(obj).sort()).toEqual(Object.keys(decl).sort());
      for (const [field, t] of Object.entries(decl as Record<string, string | Record<string, string>>)) {
        if (typeof t === 'object') expect(Object.keys(obj[field] as object).sort()).toEqual(Object.keys(t).sort());
        else if (t.startsWith('map<') || t.startsWith('list<')) expect(typeof obj[field]).toBe('object');
        else expect([name, field, shape(obj[field])]).toEqual([name, field, t]);
      }
    }
  });

  test('every declared field is usable from a policy expression', () => {
    const fields: string[] = [];
    for (const [name, decl] of Object.entries(CEL_VARIABLES)) {
      if (typeof decl === 'string') fields.push(name);
      else for (const f of Object.keys(decl)) fields.push(`${name}.${f}`);
    }
    const rules = fields.map((f, i) => `    - name: r${i}\n      allow: 'type(${f}) == type(${f})'`).join('\n');
    expect(() => authorizerFor(policyYaml('x', rules))).not.toThrow();
  });
});
