/**
 * HTTP methods are case-sensitive (RFC 9110 §9.1), and audit mode relaxes only the denies of valid requests: an
 * invalid request (a method spelled otherwise, dot segments, ...) is denied in every mode.
 */
import { describe, expect, test } from '@jest/globals';
import { authorizerFor } from '../helpers/authorize.js';
import { policyYaml } from '../helpers/temp.js';

const P = 'spiffe://cluster.local/ns/lab/sa/lab';
const rules = ['    - name: read-anything', '      allow: request.method == "GET"'].join('\n');
const enforce = authorizerFor(policyYaml('lab', rules, `principal: ${P}`));
const audit = authorizerFor(policyYaml('lab', rules, `principal: ${P}`, '  mode: audit\n'));

describe('methods and modes', () => {
  test.each([
    ['get', '/fhir/Patient/p-1'],
    ['GEt', '/fhir/Patient/p-1'],
    ['POſT', '/fhir/Observation'],
    ['GET', '/fhir/Patient/../Patient/p-2'],
  ])('%s %s is invalid and denied, in enforce and in audit mode', async (method, path) => {
    for (const a of [enforce, audit]) {
      const d = (await a.authorize({ method, path, principal: P })).decision;
      expect(d).toMatchObject({ outcome: 'deny', verdict: 'deny', reason: 'invalid-request', status: 400 });
    }
  });

  test('GET is GET: allowed', async () => {
    expect((await enforce.authorize({ method: 'GET', path: '/fhir/Patient/p-1', principal: P })).decision.outcome).toBe(
      'allow',
    );
  });

  test('audit mode still lets a policy deny of a valid request through, marked as such', async () => {
    const d = (await audit.authorize({ method: 'DELETE', path: '/fhir/Patient/p-1', principal: P })).decision;
    expect(d).toMatchObject({ outcome: 'allow', verdict: 'deny', mode: 'audit', reason: 'no-rule-matched' });
  });
});
