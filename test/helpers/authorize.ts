import {
  ClaimsConfigSchema,
  createAuthorizer,
  policyOnlySnapshot,
  createClaimsResolver,
  readPolicyDir,
  type Authorization,
} from '../../authz/index.js';
import { checkInputFor } from '../../generator/explain/index.js';
import { tempDir } from './temp.js';

/** Compiles policy text into a real authorizer (no stubs: real parser, CEL, decide). */
export function authorizerFor(policyText: string): {
  authorize(req: {
    method: string;
    path: string;
    principal: string;
    headers?: Record<string, string>;
    body?: string;
    claims?: Record<string, unknown>;
  }): Promise<Authorization>;
} {
  const t = tempDir({ 'p.yaml': policyText });
  const loaded = readPolicyDir(t.dir);
  t.remove();
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.error.findings));
  const set = loaded.value.set;
  const a = createAuthorizer({
    snapshot: () => policyOnlySnapshot(set),
    claims: createClaimsResolver(ClaimsConfigSchema.parse({})),
    fhirBasePaths: ['/fhir'],
  });
  return {
    authorize: (r) => Promise.resolve(a.authorize(checkInputFor({ headers: {}, ...r }), { fullTrace: true })),
  };
}

/** Loads policy text as `serve` would: the set and its warnings, or the load error with its findings. */
export function compilePolicyText(policyText: string): ReturnType<typeof readPolicyDir> {
  const t = tempDir({ 'p.yaml': policyText });
  try {
    return readPolicyDir(t.dir);
  } finally {
    t.remove();
  }
}
