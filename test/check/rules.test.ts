/**
 * `phiguard check`: a fixture per rule that passes and one that fails, the upstream Cilium corpus accepted, and the
 * realistic manifests in examples/ checked end to end through the CLI.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { parseManifestText, readManifests, runCheck, RULES, type CheckOptions } from '../../generator/check/index.js';
import { sharedDir, testWhenShared } from '../helpers/shared.js';
import { agent, cases, customPolicy, envoy, validators, type Case } from './rule-cases.js';
import { cli } from '../helpers/cli.js';

const dir = sharedDir('cilium');
/** Tests that need the Cilium CRD schemas from ../shared/cilium: skipped (and reported skipped) without them. */
const withCrd = testWhenShared(
  dir,
  'phiguard check: CIL010/CIL011 fixtures, the upstream Cilium corpus, the example cluster against the CRD schemas',
);

function ids(text: string, options: CheckOptions = {}): string[] {
  const { docs, problems } = parseManifestText(text, 'fixture.yaml');
  expect(problems).toEqual([]);
  return runCheck(docs, { validators, ...options }).map((f) => f.code);
}

describe('phiguard check rules', () => {
  test('every rule in the catalog has a fixture', () => {
    expect(cases.map((c) => c.rule).sort()).toEqual(RULES.map((r) => r.id).sort());
  });

  const passesAndFails = (_id: string, c: Case): void => {
    const passOptions = c.rule.startsWith('PHG')
      ? { ...c.options, ...(c.rule === 'PHG003' ? {} : { policiesDir: undefined, baaFile: undefined }) }
      : c.options;
    expect(
      ids(c.pass, Object.fromEntries(Object.entries(passOptions ?? {}).filter(([, v]) => v !== undefined))),
    ).not.toContain(c.rule);
    expect(ids(c.fail, c.options)).toContain(c.rule);
  };
  const rows = (needsCrd: boolean) =>
    cases.filter((c) => (c.needsCrd ?? false) === needsCrd).map((c) => [c.rule, c] as const);
  test.each(rows(false))('%s: the passing fixture passes and the failing one fails', passesAndFails);
  withCrd.each(rows(true))(
    '%s: the passing fixture passes and the failing one fails (Cilium CRD schema)',
    passesAndFails,
  );

  test('findings carry the line of the offending field', () => {
    const text = envoy.replace('failure_mode_allow: false', 'failure_mode_allow: true');
    const { docs } = parseManifestText(text, 'envoy.yaml');
    const f = runCheck(docs).find((x) => x.code === 'ENV002');
    expect(f?.line).toBe(text.split('\n').findIndex((l) => l.includes('failure_mode_allow: true')) + 1);
  });

  withCrd('the upstream Cilium corpus is accepted (no CIL010-CIL012 findings)', () => {
    const { docs, problems } = readManifests([path.join(dir ?? '', 'examples-upstream')]);
    expect(problems).toEqual([]);
    expect(docs.length).toBeGreaterThanOrEqual(20);
    expect(runCheck(docs, { validators }).filter((f) => /^CIL01/.test(f.code))).toEqual([]);
  });
});

describe('phiguard check through the CLI', () => {
  const crdArgs = dir
    ? [
        '--cilium-crd',
        path.join(dir, 'ciliumnetworkpolicies.crd.yaml'),
        '--cilium-crd',
        path.join(dir, 'ciliumclusterwidenetworkpolicies.crd.yaml'),
      ]
    : [];
  const all = [
    'examples/manifests',
    'cilium/generated',
    'envoy',
    'deploy/overlays/istio/authorization-policy.yaml',
    'deploy/overlays/istio/istiod-values.yaml',
    '--baa',
    'examples/baa/registry.yaml',
    '--policies',
    'examples/policies',
    '--at',
    '2026-11-25T00:00:00Z',
  ];
  const clean = async (args: readonly string[]) => {
    const r = await cli(['check', ...all, ...args]);
    expect([r.code, r.out.trim().split('\n').pop()]).toEqual([0, 'no findings']);
  };

  test('the example cluster (agents, generated Cilium, Envoy, Istio, RBAC) is clean without CRD schemas: exit 0', () =>
    clean([]));

  withCrd('the example cluster is clean against the Cilium CRD schemas (--cilium-crd): exit 0', () => clean(crdArgs));

  test('a broken cluster fails with file:line findings, JSON and SARIF 2.1.0', async () => {
    const { tempDir } = await import('../helpers/temp.js');
    const t = tempDir({ 'bad.yaml': [agent('', '      hostNetwork: true\n'), customPolicy('phigaurd')].join('---\n') });
    try {
      const text = await cli(['check', t.dir, 'envoy']);
      expect(text.code).toBe(1);
      expect(text.out).toMatch(new RegExp(`${t.dir}/bad.yaml:\\d+: error K8S003 agent-host-network`));
      expect(text.out).toMatch(/error CIL001/);
      const sarif = await cli(['check', t.dir, '--format', 'sarif']);
      const s = JSON.parse(sarif.out) as {
        version: string;
        runs: Array<{
          tool: { driver: { rules: Array<{ id: string }> } };
          results: Array<{
            ruleId: string;
            level: string;
            locations: Array<{ physicalLocation: { region: { startLine: number } } }>;
          }>;
        }>;
      };
      expect(s.version).toBe('2.1.0');
      const run = s.runs[0];
      expect(run?.results.map((x) => x.ruleId)).toEqual(expect.arrayContaining(['CIL001', 'IST005', 'K8S003']));
      for (const res of run?.results ?? []) expect(run?.tool.driver.rules.map((x) => x.id)).toContain(res.ruleId);
      const json = await cli(['check', t.dir, '--format', 'json', '--fail-on', 'warning']);
      expect(json.code).toBe(1);
      expect((JSON.parse(json.out) as { findings: unknown[] }).findings.length).toBeGreaterThan(2);
    } finally {
      t.remove();
    }
  });

  test('unreadable input exits 2', async () => {
    expect((await cli(['check', 'no/such/path'])).code).toBe(2);
  });
});

describe('documentation', () => {
  test('the docs/check.md rule table is the catalog: id (linked to its page), name and severity, in order', () => {
    const doc = readFileSync('docs/check.md', 'utf8');
    const rows = [
      ...doc.matchAll(/^\| \[([A-Z0-9]{3}\d{3})\]\(check\/([A-Z0-9]+)\.md\) \| ([a-z0-9-]+) \| (\w+) \|$/gm),
    ];
    expect(rows.map((m) => [m[1], m[2], m[3], m[4]])).toEqual(RULES.map((r) => [r.id, r.id, r.name, r.severity]));
  });

  test('docs/check.md gives every rule its section with the catalog name, severity, why and fix', () => {
    const doc = readFileSync('docs/check.md', 'utf8');
    for (const r of RULES) {
      const section = doc.split(/^### /m).find((s) => s.startsWith(`${r.id}\n`)) ?? '';
      expect(section).toContain(`**${r.name}** (${r.severity})`);
      expect(section.replace(/\s+/g, ' ')).toContain(`Why: ${r.why}`.replace(/\s+/g, ' '));
      expect(section.replace(/\s+/g, ' ')).toContain(`Fix: ${r.fix}`.replace(/\s+/g, ' '));
    }
  });
});

describe('no error-level finding on valid Istio configs (fixtures written from Istio test data)', () => {
  test.each(['authorization-policies.yaml', 'peer-authentications.yaml'])('%s', (file) => {
    const { docs, problems } = readManifests([path.join('test/check/fixtures/istio-valid', file)]);
    expect(problems).toEqual([]);
    expect(runCheck(docs).filter((f) => f.severity === 'error')).toEqual([]);
  });
});
