/**
 * The maps CEL sees are plain data: a query parameter or claim named like an Object.prototype member is only a key.
 * A parameter named `__proto__` once replaced the prototype of `fhir.params`, after which CEL typed the map as a list
 * and `"_revinclude" in fhir.params` was false, so a deny rule let the request through.
 */
import { describe, expect, test } from '@jest/globals';
import { authorizerFor } from '../helpers/authorize.js';
import { policyYaml } from '../helpers/temp.js';

const P = 'spiffe://cluster.local/ns/lab/sa/lab';
const policy = policyYaml(
  'lab',
  [
    '    - name: no-revinclude',
    '      deny: \'"_revinclude" in fhir.params\'',
    '    - name: read-with-key',
    '      allow: \'"marker" in fhir.params\'',
    '      allowUnresolved: ["unknown-parameter:*"]',
  ].join('\n'),
  `principal: ${P}`,
);
const authorizer = authorizerFor(policy);
const KEYS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString'];

describe('CEL sees plain data', () => {
  test.each(KEYS)('a deny rule still sees _revinclude when a parameter named %s is sent too', async (key) => {
    const a = await authorizer.authorize({
      method: 'GET',
      path: `/fhir/Patient?_id=p-1&${encodeURIComponent(key)}=x&_revinclude=Group:member&marker=1`,
      principal: P,
    });
    expect(a.decision.outcome).toBe('deny');
    expect(Object.getPrototypeOf(a.attributes.fhir.params)).toBeNull();
    expect(Object.hasOwn(a.attributes.fhir.params, key)).toBe(true);
  });

  test.each(['__proto__', 'prototype', 'hasOwnProperty', 'toString'])(
    'a parameter named %s is an ordinary key: the allow rule reads its neighbour',
    async (key) => {
      const a = await authorizer.authorize({
        method: 'GET',
        path: `/fhir/Patient?_id=p-1&${encodeURIComponent(key)}=x&marker=1`,
        principal: P,
      });
      expect(a.decision).toMatchObject({ outcome: 'allow', rule: 'read-with-key' });
    },
  );

  test('a parameter named constructor keeps CEL from typing the map: rules over it error, and nothing is allowed', async () => {
    const a = await authorizer.authorize({
      method: 'GET',
      path: '/fhir/Patient?_id=p-1&constructor=x&marker=1',
      principal: P,
    });
    expect(a.decision.outcome).toBe('deny');
  });
});
