/**
 * The maps CEL sees are plain data: a query parameter, header or claim named like an Object.prototype member is only
 * a key. A parameter named `__proto__` once replaced the prototype of `fhir.params`, after which CEL typed the map as
 * a list and `"_revinclude" in fhir.params` was false, so a deny rule let the request through; one named
 * `constructor` made cel-js refuse the map. `fhir.params`, `request.headers` and `claims` are `Map`s.
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
    '    - name: no-blocked-header',
    '      deny: \'has(request.headers.x_block) || "x-block" in request.headers\'',
    '    - name: no-suspended-clinician',
    '      deny: \'"suspended" in claims && claims.suspended == true\'',
    '    - name: no-restricted-context',
    '      deny: \'"ctx" in claims && claims.ctx.restricted == true\'',
    '    - name: read-with-key',
    '      allow: \'"marker" in fhir.params && fhir.params["marker"][0] == "1"\'',
    '      allowUnresolved: ["unknown-parameter:*"]',
    '    - name: read-with-header',
    '      allow: \'request.headers["x-marker"] == "1" && claims.role == "physician"\'',
  ].join('\n'),
  `principal: ${P}`,
);
const authorizer = authorizerFor(policy);
const KEYS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf'];

describe('CEL sees plain data', () => {
  test.each(KEYS)('parameter %s: a deny rule still sees _revinclude next to it', async (key) => {
    const a = await authorizer.authorize({
      method: 'GET',
      path: `/fhir/Patient?_id=p-1&${encodeURIComponent(key)}=x&_revinclude=Group:member&marker=1`,
      principal: P,
    });
    expect(a.decision).toMatchObject({ outcome: 'deny', rule: 'no-revinclude' });
    expect(a.attributes.fhir.params.get(key)).toEqual(['x']);
  });

  test.each(KEYS)('parameter %s is an ordinary key: the allow rule reads its neighbour', async (key) => {
    const a = await authorizer.authorize({
      method: 'GET',
      path: `/fhir/Patient?_id=p-1&${encodeURIComponent(key)}=x&marker=1`,
      principal: P,
    });
    expect(a.decision).toMatchObject({ outcome: 'allow', rule: 'read-with-key' });
  });

  test.each(KEYS)('header %s is an ordinary key: deny and allow rules read their neighbours', async (key) => {
    const claims = { role: 'physician' };
    const blocked = await authorizer.authorize({
      method: 'GET',
      path: '/fhir/Patient/p-1',
      principal: P,
      headers: { [key]: 'x', 'x-block': '1', 'x-marker': '1' },
      claims,
    });
    expect(blocked.decision).toMatchObject({ outcome: 'deny', rule: 'no-blocked-header' });
    const allowed = await authorizer.authorize({
      method: 'GET',
      path: '/fhir/Patient/p-1',
      principal: P,
      headers: { [key]: 'x', 'x-marker': '1' },
      claims,
    });
    expect(allowed.decision).toMatchObject({ outcome: 'allow', rule: 'read-with-header' });
    expect(allowed.attributes.request.headers.get(key.toLowerCase())).toBe('x');
  });

  test.each(KEYS)('claim %s is an ordinary key: deny and allow rules read their neighbours', async (key) => {
    const suspended = await authorizer.authorize({
      method: 'GET',
      path: '/fhir/Patient/p-1',
      principal: P,
      headers: { 'x-marker': '1' },
      claims: JSON.parse(`{"${key}":"x","suspended":true,"role":"physician"}`) as Record<string, unknown>,
    });
    expect(suspended.decision).toMatchObject({ outcome: 'deny', rule: 'no-suspended-clinician' });
    const allowed = await authorizer.authorize({
      method: 'GET',
      path: '/fhir/Patient/p-1',
      principal: P,
      headers: { 'x-marker': '1' },
      claims: JSON.parse(`{"${key}":"x","role":"physician"}`) as Record<string, unknown>,
    });
    expect(allowed.decision).toMatchObject({ outcome: 'allow', rule: 'read-with-header' });
  });

  test.each(KEYS)('nested claim key %s is an ordinary key', async (key) => {
    const claims = (restricted: boolean): Record<string, unknown> =>
      JSON.parse(`{"role":"physician","ctx":{"${key}":"x","restricted":${restricted}}}`) as Record<string, unknown>;
    const request = { method: 'GET', path: '/fhir/Patient/p-1', principal: P, headers: { 'x-marker': '1' } };
    const denied = await authorizer.authorize({ ...request, claims: claims(true) });
    expect(denied.decision).toMatchObject({ outcome: 'deny', rule: 'no-restricted-context' });
    const allowed = await authorizer.authorize({ ...request, claims: claims(false) });
    expect(allowed.decision).toMatchObject({ outcome: 'allow', rule: 'read-with-header' });
  });
});
