/**
 * The trust domain is pinned: namespace and service-account selectors match only identities of the mesh's trust
 * domain (default cluster.local); a selector may name another, and a full principal selector names its own.
 */
import { describe, expect, test } from '@jest/globals';
import { ServerConfigSchema } from '../../authz/index.js';
import { authorizerFor } from '../helpers/authorize.js';
import { policyYaml } from '../helpers/temp.js';

const allow = '    - name: any\n      allow: "true"';
const policies = [
  policyYaml('cds', allow, 'namespace: cds\n    serviceAccount: sepsis-advisor'),
  policyYaml('partner', allow, 'namespace: partner\n    trustDomain: partner.example'),
  policyYaml('by-principal', allow, 'principal: spiffe://other.example/ns/x/sa/y'),
].join('---\n');
const authorizer = authorizerFor(policies);

describe('trust domain', () => {
  test.each([
    ['spiffe://cluster.local/ns/cds/sa/sepsis-advisor', 'cds'],
    ['spiffe://evil.example/ns/cds/sa/sepsis-advisor', ''],
    ['spiffe://cluster.local./ns/cds/sa/sepsis-advisor', ''],
    ['spiffe://partner.example/ns/partner/sa/bot', 'partner'],
    ['spiffe://cluster.local/ns/partner/sa/bot', ''],
    ['spiffe://other.example/ns/x/sa/y', 'by-principal'],
  ])('%s selects agent "%s" (empty: unknown-agent)', async (principal, agent) => {
    const d = (await authorizer.authorize({ method: 'GET', path: '/fhir/Patient/p-1', principal })).decision;
    if (agent === '') expect(d).toMatchObject({ outcome: 'deny', reason: 'unknown-agent' });
    else expect(d).toMatchObject({ outcome: 'allow', agent });
  });

  test('--trust-domain defaults to cluster.local and must be a trust domain', () => {
    expect(ServerConfigSchema.parse({ policies: 'p' }).trustDomain).toBe('cluster.local');
    expect(ServerConfigSchema.parse({ policies: 'p', trustDomain: 'hospital.example' }).trustDomain).toBe(
      'hospital.example',
    );
    expect(ServerConfigSchema.safeParse({ policies: 'p', trustDomain: 'Evil/ns' }).success).toBe(false);
  });
});
