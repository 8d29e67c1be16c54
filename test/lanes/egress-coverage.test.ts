/**
 * Every outside attempt carries its BAA coverage in the decision (and so in the audit record and `report
 * baa-violations`), whichever lane denied it: an unknown caller, a rule, the BAA lane itself. An internal request
 * carries none.
 */
import { describe, expect, test } from '@jest/globals';
import { readBaaRegistry } from '../../authz/egress/index.js';
import { ClaimsConfigSchema, createAuthorizer, createClaimsResolver, readPolicyDir } from '../../authz/index.js';
import { explainSnapshot, checkInputFor } from '../../generator/explain/index.js';

const loaded = readPolicyDir('examples/policies');
if (!loaded.ok) throw loaded.error;
const registry = readBaaRegistry('examples/baa/registry.yaml');
if (!registry.ok) throw registry.error;
const snapshot = explainSnapshot(loaded.value.set, { baa: registry.value });
const authorizer = createAuthorizer({
  snapshot: () => snapshot,
  claims: createClaimsResolver(ClaimsConfigSchema.parse({})),
  fhirBasePaths: ['/fhir'],
});
const SCRIBE = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';
const CLAIMS = { sub: 'Practitioner/dr-okafor', patient: 'p-1001', encounter: 'e-77' };

describe('BAA coverage on every outside decision', () => {
  test.each([
    ['an unknown caller', 'spiffe://cluster.local/ns/x/sa/unknown', 'api.unlisted-vendor.example', 'unknown-agent'],
    ['a host no rule allows', SCRIBE, 'api.unlisted-vendor.example', 'no-rule-matched'],
    ['a terminated agreement', SCRIBE, 'api.payer-b-clearinghouse.example', 'no-rule-matched'],
  ])('%s: denied, and the decision records the host as not covered', async (_n, principal, host, reason) => {
    const r = await authorizer.authorize(
      checkInputFor({ principal, method: 'POST', path: '/v1/x', host, headers: {}, body: '{}', claims: CLAIMS }),
    );
    expect(r.decision.outcome).toBe('deny');
    expect(r.decision.reason).toBe(reason);
    expect(r.decision.egress).toMatchObject({ host, covered: false });
  });

  test('an internal request carries no egress coverage', async () => {
    const r = await authorizer.authorize(
      checkInputFor({
        principal: SCRIBE,
        method: 'GET',
        path: '/fhir/Observation?patient=p-1001',
        host: 'fhir.hospital.internal',
        headers: {},
        claims: CLAIMS,
      }),
    );
    expect(r.decision.egress).toBeUndefined();
  });
});
