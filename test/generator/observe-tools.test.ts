/** Hubble import, minimum-necessary attestation and staging parity, on the realistic data in examples/. */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { readEnvelopes, summarize, type Envelope } from '../../authz/index.js';
import { readPolicyDir } from '../../authz/policy/index.js';
import { mergeAll } from '../../generator/envelope/index.js';
import { importHubble } from '../../generator/envelope/import-hubble.js';
import { attest, attestationMarkdown } from '../../generator/attest.js';
import { checkParity, expectationsFrom } from '../../generator/parity.js';
import { tempDir } from '../helpers/temp.js';
import { cli } from '../helpers/cli.js';

function merged(name: string): Envelope {
  const all = readEnvelopes('examples/envelopes').flatMap((r) =>
    r.ok && r.value.envelope.spec.workload.name === name ? [r.value.envelope] : [],
  );
  const m = mergeAll(all);
  if (!m.ok) throw m.error;
  return m.value;
}

describe('envelope import-hubble', () => {
  const r = importHubble(readFileSync('examples/hubble/flows.jsonl', 'utf8'));

  test('builds one envelope per source workload from forwarded egress requests', () => {
    expect(r.lines).toBe(123);
    expect(r.skipped).toEqual({ reply: 20, 'not-forwarded': 2 });
    expect(r.envelopes).toHaveLength(1);
    const e = r.envelopes[0] as Envelope;
    expect(e.spec.workload).toEqual({
      kind: 'Deployment',
      name: 'radiology-summarizer',
      namespace: 'imaging',
      serviceAccount: 'radiology-summarizer',
      principal: '',
      podLabels: { 'app.kubernetes.io/name': 'radiology-summarizer' },
    });
    expect(e.spec.dnsNames).toEqual(['contoso-health.openai.azure.com', 'fhir-server.fhir.svc.cluster.local']);
    expect(e.spec.egress.map((x) => [x.host, x.port, x.transports, x.paths, x.count])).toEqual([
      ['api.unvetted-llm.example', 443, ['tls'], [], 1],
      ['contoso-health.openai.azure.com', 443, ['tls'], [], 20],
      ['dicomweb.imaging.svc.cluster.local', 8042, ['plaintext'], ['/studies/{id}/series'], 20],
      ['fhir-server.fhir.svc.cluster.local', 8080, ['plaintext'], ['/fhir/ImagingStudy'], 20],
    ]);
    expect(e.spec.egress[3]?.peer).toEqual({
      namespace: 'fhir',
      serviceAccount: 'fhir-server',
      labels: { 'app.kubernetes.io/name': 'fhir-server' },
    });
  });

  test('through the CLI, then generate: the unvetted endpoint is a finding, the rest is policy', async () => {
    const t = tempDir();
    try {
      expect(
        (await cli(['envelope', 'import-hubble', 'examples/hubble/flows.jsonl', '--out', path.join(t.dir, 'env')]))
          .code,
      ).toBe(0);
      const g = await cli([
        'generate',
        'cilium',
        '--envelopes',
        path.join(t.dir, 'env'),
        '--baa',
        'examples/baa/registry.yaml',
        '--out',
        path.join(t.dir, 'cnp'),
        '--at',
        '2026-11-25T00:00:00Z',
      ]);
      expect(g.code).toBe(1); // an error finding: recorded traffic the policy drops; the policy is still written
      expect(g.err).toMatch(
        /error egress-not-covered-by-baa imaging\/radiology-summarizer: api\.unvetted-llm\.example:443/,
      );
      const policy = readFileSync(path.join(t.dir, 'cnp', readdirSync(path.join(t.dir, 'cnp'))[0] ?? ''), 'utf8');
      expect(policy).toContain('path: ^/studies/[^/?]+/series(\\?.*)?$');
      expect(policy).toContain('matchName: contoso-health.openai.azure.com');
      expect(policy).not.toContain('unvetted');
    } finally {
      t.remove();
    }
  });
});

describe('attest', () => {
  const loaded = readPolicyDir('examples/policies');
  if (!loaded.ok) throw loaded.error;
  const policy = (n: string) => loaded.value.set.agents.find((a) => a.name === n)?.policy;

  test('the scribe used its read and note scope, not all of it', () => {
    const p = policy('ambient-scribe');
    if (!p) throw new Error('no policy');
    const a = attest(p, merged('ambient-scribe'));
    expect(a.status).toBe('over-provisioned');
    expect(a.unused.map((u) => `${u.interaction} ${u.resourceType}`)).toEqual([
      'read AllergyIntolerance',
      'create Composition',
      'transaction Composition',
      'read Condition',
      'read Encounter',
      'read MedicationRequest',
      'read Observation',
      'search-type Patient',
    ]);
    expect(a.outside).toEqual([]);
    expect(a.exercisedShare).toBeCloseTo(10 / 18, 2);
  });

  test('prior-auth (audit mode) shows access outside its declared scope', () => {
    const p = policy('prior-auth');
    if (!p) throw new Error('no policy');
    const a = attest(p, merged('pa-bot'));
    expect(a.status).toBe('outside-declared-scope');
    expect(a.outside).toEqual([{ resourceType: 'Encounter', interaction: 'search-type', operation: '', count: 200 }]);
    expect(a.unused.map((u) => `${u.interaction} ${u.resourceType}`)).toEqual(['read Patient', 'search-type Patient']);
    expect(attestationMarkdown([a], { policyVersion: 'v', generated: 't' })).toContain(
      'Observed outside the declared scope',
    );
  });

  test('through the CLI as JSON', async () => {
    const r = await cli([
      'attest',
      '--policies',
      'examples/policies',
      '--envelopes',
      'examples/envelopes',
      '--format',
      'json',
    ]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { agents: Array<{ agent: string; status: string }> };
    expect(j.agents.map((a) => [a.agent, a.status])).toEqual([
      ['ambient-scribe', 'over-provisioned'],
      ['cds-sepsis', 'over-provisioned'],
      ['prior-auth', 'outside-declared-scope'],
    ]);
  });
});

describe('parity', () => {
  const prod = merged('ambient-scribe');
  const replicaA = readEnvelopes('examples/envelopes').flatMap((r) =>
    r.ok && r.value.file.includes('ambient-scribe.a') ? [r.value.envelope] : [],
  )[0] as Envelope;

  test('a staging run with the same shape passes all three criteria', () => {
    const r = checkParity(prod, expectationsFrom(prod));
    expect(r.pass).toBe(true);
    expect(r.criteria.map((c) => [c.name, c.pass])).toEqual([
      ['fhir-coverage', true],
      ['burst-shape', true],
      ['break-glass-classes', true],
    ]);
  });

  test('a staging run with the average but not the bursts fails burst-shape, saying why', () => {
    // Spread the same requests evenly: one per minute.
    const flat: Envelope = {
      ...prod,
      spec: { ...prod.spec, minutes: Object.fromEntries(Object.keys(prod.spec.minutes).map((k) => [k, 1])) },
    };
    const r = checkParity(flat, expectationsFrom(prod));
    const burst = r.criteria.find((c) => c.name === 'burst-shape');
    expect(burst?.pass).toBe(false);
    expect(burst?.reasons.join('\n')).toMatch(
      /busiest minute \(requests\): staging 1 vs production \d+ .*bursts under-represented/,
    );
  });

  test('missing interactions and break-glass classes fail with the items named', () => {
    const thin: Envelope = {
      ...replicaA,
      spec: { ...replicaA.spec, fhir: replicaA.spec.fhir.filter((f) => f.resourceType !== 'Observation') },
    };
    const expected = { ...expectationsFrom(prod), breakGlassClasses: ['code-blue'] };
    const r = checkParity(thin, expected);
    expect(r.criteria.find((c) => c.name === 'fhir-coverage')?.reasons).toEqual([
      'not exercised in staging: search-type Observation',
    ]);
    expect(r.criteria.find((c) => c.name === 'break-glass-classes')?.reasons).toEqual([
      'break-glass class "code-blue" never exercised in staging',
    ]);
    expect(summarize(thin).requests).toBeGreaterThan(0);
  });

  test('through the CLI: exit 1 on failure', async () => {
    const t = tempDir({
      'exp.yaml': 'fhir:\n  - { resourceType: Observation, interaction: read }\nbreakGlassClasses: [code-blue]\n',
    });
    try {
      const r = await cli([
        'parity',
        '--staging',
        'examples/envelopes/scribe.ambient-scribe.a.envelope.yaml',
        '--expectations',
        path.join(t.dir, 'exp.yaml'),
      ]);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/FAIL fhir-coverage/);
      const ok = await cli([
        'parity',
        '--staging',
        'examples/envelopes/scribe.ambient-scribe.a.envelope.yaml',
        '--production-sample',
        'examples/envelopes/scribe.ambient-scribe.b.envelope.yaml',
        '--threshold',
        '0.5',
      ]);
      expect([ok.code, ok.out]).toEqual([0, expect.stringContaining('PASS')]);
    } finally {
      t.remove();
    }
  });
});
