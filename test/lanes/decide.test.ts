import { describe, expect, test } from '@jest/globals';
import { authorizerFor } from '../helpers/authorize.js';
import { policyYaml } from '../helpers/temp.js';

const P = 'spiffe://cluster.local/ns/scribe/sa/scribe';
const policy = policyYaml(
  'scribe',
  `    - name: allow-reads
      allow: fhir.interaction == "read"
      allowUnresolved: ["instance-of:Condition"]
    - name: no-patient-9
      deny: '"p-9" in fhir.patients'
      status: 451
      message: Restricted record
    - name: claim-check
      deny: fhir.resourceType == "Condition" && claims.role != "physician"
    - name: broken-allow
      allow: fhir.resourceType == "Encounter" && claims.missing == "x"
    - name: invalid-ok
      allow: fhir.invalidReason == "dot-segment" && request.headers["x-test"] == "1"
      allowInvalid: true`,
);

describe('decide', () => {
  const a = authorizerFor(policy);

  test('an allow rule allows', async () => {
    const r = await a.authorize({ method: 'GET', path: '/fhir/Patient/p-1', principal: P });
    expect(r.decision).toMatchObject({
      outcome: 'allow',
      verdict: 'allow',
      rule: 'allow-reads',
      reason: 'rule-allow',
      mode: 'enforce',
      agent: 'scribe',
    });
  });

  test("deny wins over an allow listed before it, with the rule's status and message", async () => {
    const r = await a.authorize({ method: 'GET', path: '/fhir/Patient/p-9', principal: P });
    expect(r.decision).toMatchObject({
      outcome: 'deny',
      rule: 'no-patient-9',
      reason: 'rule-deny',
      status: 451,
      message: 'Restricted record',
    });
  });

  test('a deny rule that errors denies (fail closed)', async () => {
    // claims.role is absent: evaluating the deny rule errors.
    const r = await a.authorize({ method: 'GET', path: '/fhir/Condition/c-1', principal: P });
    expect(r.decision).toMatchObject({ outcome: 'deny', rule: 'claim-check', reason: 'rule-error' });
    expect(r.decision.trace.find((t) => t.rule === 'claim-check')?.result).toBe('error');
  });

  test('the same deny rule passes with the verified claim present', async () => {
    const r = await a.authorize({
      method: 'GET',
      path: '/fhir/Condition/c-1',
      principal: P,
      claims: { sub: 'Practitioner/1', role: 'physician' },
    });
    expect(r.decision).toMatchObject({ outcome: 'allow', rule: 'allow-reads' });
    expect(r.attributes.auth).toEqual({ source: 'jwt_authn', subject: 'Practitioner/1', issuer: '' });
  });

  test('an allow rule that errors does not allow; nothing matched is a default deny', async () => {
    const r = await a.authorize({ method: 'GET', path: '/fhir/Encounter?patient=p-1', principal: P });
    expect(r.decision).toMatchObject({ outcome: 'deny', rule: 'default-deny', reason: 'no-rule-matched', status: 403 });
    expect(r.decision.trace.find((t) => t.rule === 'broken-allow')?.result).toBe('error');
  });

  test('an invalid request skips allow rules and is denied 400', async () => {
    const r = await a.authorize({ method: 'GET', path: '/fhir/Patient/../Patient/p-1', principal: P });
    expect(r.decision).toMatchObject({ outcome: 'deny', reason: 'invalid-request', status: 400 });
    expect(r.decision.trace.find((t) => t.rule === 'allow-reads')).toMatchObject({ skipped: 'invalid-request' });
  });

  test('an allowInvalid rule may handle an invalid request explicitly', async () => {
    const r = await a.authorize({
      method: 'GET',
      path: '/fhir/Patient/../Patient/p-1',
      principal: P,
      headers: { 'x-test': '1' },
    });
    expect(r.decision).toMatchObject({ outcome: 'allow', rule: 'invalid-ok' });
  });

  test('an unknown principal is denied', async () => {
    const r = await a.authorize({
      method: 'GET',
      path: '/fhir/Patient/p-1',
      principal: 'spiffe://cluster.local/ns/other/sa/x',
    });
    expect(r.decision).toMatchObject({
      outcome: 'deny',
      reason: 'unknown-agent',
      rule: 'default-deny-unknown-principal',
    });
  });

  test('an empty or non-SPIFFE principal is denied', async () => {
    for (const principal of ['', 'scribe', 'spiffe://cluster.local/ns/scribe/sa/scribe/../x']) {
      const r = await a.authorize({ method: 'GET', path: '/fhir/Patient/p-1', principal });
      expect(r.decision.reason).toBe('unknown-agent');
    }
  });
});

describe('credential headers never reach policy', () => {
  // A rule that would see any of them denies; a rule that reads one errors (no such key); other headers still reach
  // policy.
  const sees = policyYaml(
    'scribe',
    `    - name: sees-a-credential
      deny: '["authorization", "proxy-authorization", "cookie"].exists(h, h in request.headers)'
    - name: reads-authorization
      allow: request.headers["authorization"] != ""
    - name: reads-proxy-authorization
      allow: request.headers["proxy-authorization"] != ""
    - name: reads-cookie
      allow: request.headers["cookie"] != ""
    - name: other-headers-reach-policy
      allow: request.headers["x-test"] == "1"`,
  );
  const b = authorizerFor(sees);
  const SECRET = {
    authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.secret-bearer',
    'proxy-authorization': 'Basic c2VjcmV0LXByb3h5',
    cookie: 'session=secret-cookie',
  };
  const withBigInt = (v: unknown): string =>
    JSON.stringify(v, (_k, x: unknown): unknown =>
      typeof x === 'bigint' ? x.toString() : x instanceof Map ? (Object.fromEntries(x) as unknown) : x,
    );

  test.each([
    ['authorization', { authorization: SECRET.authorization }],
    ['proxy-authorization', { 'proxy-authorization': SECRET['proxy-authorization'] }],
    ['cookie', { cookie: SECRET.cookie }],
    ['all three at once', SECRET],
  ])('%s: absent from the attribute model CEL sees, and no rule can read it', async (_name, creds) => {
    const r = await b.authorize({
      method: 'GET',
      path: '/fhir/Patient/p-1',
      principal: P,
      headers: { ...creds, 'x-test': '1' },
    });
    expect(r.attributes.request.headers).toEqual(new Map([['x-test', '1']]));
    for (const value of Object.values(creds)) expect(withBigInt(r.attributes)).not.toContain(value);
    expect(r.decision).toMatchObject({ outcome: 'allow', rule: 'other-headers-reach-policy' });
    const result = (rule: string) => r.decision.trace.find((t) => t.rule === rule)?.result;
    expect(result('sees-a-credential')).toBe(false);
    for (const name of Object.keys(creds)) expect(result(`reads-${name}`)).toBe('error');
  });
});

describe('audit mode and selection', () => {
  const text = [
    policyYaml(
      'ns-wide',
      '    - name: none\n      allow: "false"',
      'namespace: lab',
      'mode: audit\n'.replace(/^/, '  '),
    ),
    policyYaml(
      'exact',
      '    - name: reads\n      allow: fhir.interaction == "read"',
      'principal: spiffe://cluster.local/ns/lab/sa/exact',
    ),
    policyYaml('tie-a', '    - name: x\n      allow: "true"', 'namespace: tie\n    serviceAccount: sa'),
    policyYaml(
      'tie-b',
      '    - name: x\n      allow: "true"',
      'namespace: tie\n    serviceAccount: sa\n    trustDomain: cluster.local',
    ),
  ].join('---\n');
  const a = authorizerFor(text);

  test('audit mode enforces allow but records the deny verdict', async () => {
    const r = await a.authorize({
      method: 'DELETE',
      path: '/fhir/Patient/p-1',
      principal: 'spiffe://cluster.local/ns/lab/sa/other',
    });
    expect(r.decision).toMatchObject({
      outcome: 'allow',
      verdict: 'deny',
      mode: 'audit',
      agent: 'ns-wide',
      reason: 'no-rule-matched',
    });
  });

  test('the most specific selector wins', async () => {
    const r = await a.authorize({
      method: 'GET',
      path: '/fhir/Patient/p-1',
      principal: 'spiffe://cluster.local/ns/lab/sa/exact',
    });
    expect(r.decision).toMatchObject({ agent: 'exact', outcome: 'allow' });
  });

  test('a tie between equally specific selectors is denied as ambiguous', async () => {
    const r = await a.authorize({
      method: 'GET',
      path: '/fhir/Patient/p-1',
      principal: 'spiffe://cluster.local/ns/tie/sa/sa',
    });
    expect(r.decision).toMatchObject({ outcome: 'deny', reason: 'ambiguous-agent' });
  });
});
