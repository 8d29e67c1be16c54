import { ClaimsConfigSchema, createAuthorizer, policyOnlySnapshot, createClaimsResolver, loadPolicyDir, type Authorization } from '../../authz/index.js';
import { checkInputFor } from '../../generator/explain/index.js';
import { tempDir } from './temp.js';

/** Compiles policy text into a real authorizer (no stubs: real parser, CEL, decide). */
export function authorizerFor(policyText: string): { authorize(req: { method: string; path: string; principal: string; headers?: Record<string, string>; body?: string; claims?: Record<string, unknown> }): Promise<Authorization> } {
  const t = tempDir({ 'p.yaml': policyText });
  const loaded = loadPolicyDir(t.dir);
  t.remove();
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.findings));
  const set = loaded.set;
  const a = createAuthorizer({ snapshot: () => policyOnlySnapshot(set), claims: createClaimsResolver(ClaimsConfigSchema.parse({})), fhirBasePaths: ['/fhir'] });
  return {
    authorize: (r) => Promise.resolve(a.authorize(checkInputFor({ headers: {}, ...r }), { fullTrace: true })),
  };
}
