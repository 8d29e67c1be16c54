/**
 * The SIEM queries in docs/siem (KQL `Record.<field>`, SPL `spath path=<field>`) read fields the audit records
 * really have: the decision record's fields (with `egress.*` and `entries{}.*` sub-fields) and the break-glass
 * attestation's, as the service writes them. A renamed field fails here, not in a hospital's SOC.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { breakGlassAttestation } from '../../authz/audit/index.js';
import { ClaimsConfigSchema, createAuthorizer, createClaimsResolver, readPolicyDir } from '../../authz/index.js';
import { DECISION_FIELDS, EGRESS_FIELDS, ENTRY_FIELDS } from '../../authz/model/index.js';
import { checkInputFor, explainSnapshot } from '../../generator/explain/index.js';

/** Every field path a record can have: `a`, `a.b` for objects, `a{}` and `a{}.b` for arrays (SPL's notation). */
function decisionPaths(): Set<string> {
  const paths = new Set<string>();
  for (const f of DECISION_FIELDS) {
    paths.add(f.name);
    paths.add(`${f.name}{}`);
  }
  for (const f of EGRESS_FIELDS) paths.add(`egress.${f.name}`);
  for (const f of ENTRY_FIELDS) paths.add(`entries{}.${f.name}`);
  return paths;
}

/** The keys of a break-glass attestation the service writes (a code-blue lane access through the real authorizer). */
async function attestationPaths(): Promise<Set<string>> {
  const loaded = readPolicyDir('examples/policies');
  if (!loaded.ok) throw loaded.error;
  const authorizer = createAuthorizer({
    snapshot: () => explainSnapshot(loaded.value.set),
    claims: createClaimsResolver(ClaimsConfigSchema.parse({})),
    fhirBasePaths: ['/fhir'],
  });
  const r = await authorizer.authorize(
    checkInputFor({
      principal: 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe',
      method: 'GET',
      path: '/fhir/Observation?patient=p-2002',
      host: 'fhir.hospital.internal',
      headers: {},
      time: '2026-11-25T14:30:00Z',
      claims: {
        sub: 'Practitioner/dr-okafor',
        patient: 'p-1001',
        encounter: 'e-77',
        purpose_of_use: 'BTG',
        btg_class: 'code-blue',
        btg_agent: 'ambient-scribe',
        btg_activated_at: 1795615200,
      },
    }),
  );
  const d = r.decision;
  if (d.lane === undefined) throw new Error(`no break-glass lane decided: ${d.reason}`);
  const rec = breakGlassAttestation('id-1', { ...d, lane: d.lane }, r.attributes, new Date('2026-11-25T14:30:00Z'));
  const paths = new Set<string>();
  for (const [k, v] of Object.entries(rec)) {
    paths.add(k);
    if (Array.isArray(v)) paths.add(`${k}{}`);
  }
  return paths;
}

const kql = readFileSync('docs/siem/phiguard.kql', 'utf8').replace(/^\s*\/\/.*$/gm, '');
const spl = readFileSync('docs/siem/phiguard.spl', 'utf8').replace(/```[\s\S]*?```/g, '');

describe('SIEM queries read fields the audit records have', () => {
  test('KQL: every Record.<field>', async () => {
    const known = new Set([...decisionPaths(), ...(await attestationPaths())]);
    const used = [...kql.matchAll(/\bRecord\.([A-Za-z]+(?:\.[A-Za-z]+)?)/g)].map((m) => m[1] ?? '');
    expect(used.length).toBeGreaterThan(20);
    expect([...new Set(used)].filter((f) => !known.has(f))).toEqual([]);
  });

  test('SPL: every spath path', async () => {
    const known = new Set([...decisionPaths(), ...(await attestationPaths())]);
    const used = [...spl.matchAll(/\bspath path=([A-Za-z.{}]+)/g)].map((m) => m[1] ?? '');
    expect(used.length).toBeGreaterThan(20);
    expect([...new Set(used)].filter((f) => !known.has(f))).toEqual([]);
  });

  test('the check can fail: a misspelled field is reported', () => {
    const known = decisionPaths();
    expect(['decisionID', 'egress.covred', 'patients{}'].filter((f) => !known.has(f))).toEqual([
      'decisionID',
      'egress.covred',
    ]);
  });
});
