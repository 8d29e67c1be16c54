/**
 * `phiguard check` catches what it used to miss, each with a failing fixture and a passing one beside it, and
 * suppressions (annotation, baseline) are reported, never dropped. Fixtures are files under fixtures/misses and
 * fixtures/suppress; the Envoy cases are mutations of envoy/envoy.yaml.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import {
  parseManifestText,
  readBaseline,
  readManifests,
  runCheck,
  runCheckReport,
  type CheckFinding,
} from '../../generator/check/index.js';
import { cli } from '../helpers/cli.js';

const FIX = 'test/check/fixtures/misses';
const check = (files: string[]): CheckFinding[] => {
  const { docs, problems } = readManifests(files);
  expect(problems).toEqual([]);
  return runCheck(docs);
};
const codes = (fs: readonly CheckFinding[]): string[] => fs.filter((f) => !f.suppression).map((f) => f.code);

describe('misses caught, each with a failing and a passing fixture', () => {
  test.each([
    ['IST006', 'a CUSTOM AuthorizationPolicy with no rules', 'istio-custom-no-rules', 'istio-custom-no-rules'],
    ['IST007', 'a path-scoped CUSTOM AuthorizationPolicy', 'istio-custom-path-scoped', 'istio-custom-path-scoped'],
    [
      'IST008',
      'PERMISSIVE mTLS on the FHIR workload behind phiguard',
      'istio-permissive-fhir',
      'istio-permissive-fhir',
    ],
    ['IST008', 'PERMISSIVE mTLS on an agent (mesh default)', 'istio-permissive-agent', 'istio-permissive-agent'],
    ['CIL004', 'world egress through a toPorts-only rule', 'cilium-world-toports-only', 'cilium-world'],
    ['CIL004', 'world egress through toCIDR 0.0.0.0/1 and 128.0.0.0/1', 'cilium-world-cidr-halves', 'cilium-world'],
    ['CIL004', 'world egress through matchPattern "*.com"', 'cilium-world-tld-pattern', 'cilium-world'],
    ['K8S002', 'a pod-level automountServiceAccountToken: true', 'k8s-pod-automount', 'k8s-pod-automount'],
    ['K8S001', 'RBAC that reads Secrets without a wildcard', 'k8s-rbac-secrets', 'k8s-rbac-secrets'],
    ['K8S001', 'RBAC that creates pods/exec without a wildcard', 'k8s-rbac-pods-exec', 'k8s-rbac-secrets'],
    ['K8S001', 'a binding to the built-in edit ClusterRole', 'k8s-rbac-edit', 'k8s-rbac-edit'],
    [
      'K8S005',
      "a non-agent workload on an agent's service account",
      'k8s-shared-service-account',
      'k8s-shared-service-account',
    ],
  ])('%s: %s', (rule, _what, fail, pass) => {
    expect(codes(check([path.join(FIX, `${fail}.fail.yaml`)]))).toContain(rule);
    expect(codes(check([path.join(FIX, `${pass}.pass.yaml`)]))).not.toContain(rule);
  });

  type Obj = Record<string, unknown>;
  const envoyText = readFileSync('envoy/envoy.yaml', 'utf8');
  const envoy = yaml.load(envoyText) as Obj;
  const hcmOf = (b: Obj): Obj => {
    const l = (b['static_resources'] as Obj)['listeners'] as Obj[];
    const fc = (l[0]?.['filter_chains'] as Obj[])[0] as Obj;
    return (fc['filters'] as Obj[])[0]?.['typed_config'] as Obj;
  };
  const filters = (b: Obj): Obj[] => hcmOf(b)['http_filters'] as Obj[];
  const authz = (b: Obj): Obj => filters(b).find((f) => f['name'] === 'envoy.filters.http.ext_authz') as Obj;
  const vhost = (b: Obj): Obj => ((hcmOf(b)['route_config'] as Obj)['virtual_hosts'] as Obj[])[0] as Obj;
  const disabled = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute',
    disabled: true,
  };
  const envoyFindings = (mutate: (b: Obj) => void): CheckFinding[] => {
    const b = structuredClone(envoy);
    mutate(b);
    return runCheck(parseManifestText(JSON.stringify(b), 'envoy.json').docs);
  };

  test('envoy/envoy.yaml has no ENV finding at all (the passing fixture of every Envoy case)', () => {
    expect(envoyFindings(() => undefined)).toEqual([]);
  });

  test.each<[string, string, (b: Obj) => void]>([
    [
      'ENV007',
      'ExtAuthzPerRoute {disabled: true} on a catch-all route',
      (b) => {
        (vhost(b)['routes'] as Obj[]).push({
          match: { prefix: '/' },
          route: { cluster: 'fhir_server' },
          typed_per_filter_config: { 'envoy.filters.http.ext_authz': disabled },
        });
      },
    ],
    [
      'ENV007',
      'ExtAuthzPerRoute {disabled: true} on the virtual host',
      (b) => {
        vhost(b)['typed_per_filter_config'] = { 'envoy.filters.http.ext_authz': disabled };
      },
    ],
    [
      'ENV007',
      'the ext_authz HttpFilter itself disabled',
      (b) => {
        authz(b)['disabled'] = true;
      },
    ],
    [
      'ENV006',
      'ext_authz placed after the router',
      (b) => {
        const fs = filters(b);
        const a = fs.findIndex((f) => f['name'] === 'envoy.filters.http.ext_authz');
        fs.push(...fs.splice(a, 1));
      },
    ],
    [
      'ENV008',
      'an envoy_grpc cluster that does not exist',
      (b) => {
        ((authz(b)['typed_config'] as Obj)['grpc_service'] as Obj)['envoy_grpc'] = { cluster_name: 'phigaurd' };
      },
    ],
    [
      'ENV003',
      'transport_api_version V2',
      (b) => {
        (authz(b)['typed_config'] as Obj)['transport_api_version'] = 'V2';
      },
    ],
  ])('%s: %s', (rule, _what, mutate) => {
    expect(codes(envoyFindings(mutate))).toContain(rule);
  });

  test('a narrow route with ext_authz disabled (a health path) is not ENV007', () => {
    const found = envoyFindings((b) => {
      (vhost(b)['routes'] as Obj[]).unshift({
        match: { path: '/healthz' },
        direct_response: { status: 200 },
        typed_per_filter_config: { 'envoy.filters.http.ext_authz': disabled },
      });
    });
    expect(codes(found)).not.toContain('ENV007');
  });

  test('an unset transport_api_version means V3: no ENV003', () => {
    expect(codes(envoyFindings((b) => delete (authz(b)['typed_config'] as Obj)['transport_api_version']))).toEqual([]);
  });

  test('a misspelled top-level Bootstrap key is found, not skipped (ENV004, with the near match named)', () => {
    const text = envoyText.replace(/^static_resources:/m, 'static_resource:');
    const found = runCheck(parseManifestText(text, 'envoy.yaml').docs);
    const f = found.find((x) => x.code === 'ENV004');
    expect(f?.message).toMatch(/unknown field "static_resource".*did you mean "static_resources"/);
    expect(f?.line).toBe(text.split('\n').findIndex((l) => l.startsWith('static_resource:')) + 1);
  });

  test('a field newer than the known Envoy API is ENV005 (warning, naming the API version), a typo is ENV004', () => {
    const newer = envoyFindings((b) => {
      b['admin'] ??= { address: { socket_address: { address: '127.0.0.1', port_value: 9901 } } };
      (b['admin'] as Obj)['allow_paths'] = [{ exact: '/ready' }];
    });
    expect(newer.map((f) => [f.code, f.severity])).toEqual([['ENV005', 'warning']]);
    expect(newer[0]?.message).toMatch(/@grpc\/grpc-js-xds \d+\.\d+\.\d+/);
    const typo = envoyFindings((b) => {
      (authz(b)['typed_config'] as Obj)['failure_mode_alow'] = true;
    });
    expect(typo.map((f) => [f.code, f.severity])).toEqual([['ENV004', 'error']]);
  });
});

describe('suppression', () => {
  const S = 'test/check/fixtures/suppress';

  test('an annotation with a reason marks the finding suppressed, with its justification and where it is written', () => {
    const found = check([`${S}/annotated.yaml`]);
    const f = found.find((x) => x.code === 'K8S003');
    expect(f?.suppression).toEqual({
      kind: 'annotation',
      justification: 'node-local DICOM bridge on the ward gateway; reviewed by security 2026-10',
      source: `${S}/annotated.yaml:9`,
    });
    expect(f?.object).toBe('Deployment/scribe/ambient-scribe');
  });

  test('an annotation without a reason is PHG005 and suppresses nothing', () => {
    const found = check([`${S}/no-reason.yaml`]);
    expect(codes(found)).toEqual(expect.arrayContaining(['PHG005', 'K8S003']));
    expect(found.find((x) => x.code === 'PHG005')?.message).toMatch(/has no reason/);
  });

  test('a baseline suppresses by object or file, and an entry that matches nothing is a note', () => {
    const b = readBaseline(`${S}/baseline.yaml`);
    if (!b.ok) throw b.error;
    const { docs } = readManifests([`${S}/annotated.yaml`]);
    const r = runCheckReport(docs, { baseline: { file: `${S}/baseline.yaml`, value: b.value } });
    const cil = r.findings.filter((f) => /^CIL00[123]$/.test(f.code));
    expect(cil.map((f) => [f.code, f.suppression?.kind])).toEqual([
      ['CIL001', 'baseline'],
      ['CIL002', 'baseline'],
      ['CIL003', 'baseline'],
    ]);
    expect(r.notes).toEqual([
      expect.stringMatching(/suppressions\[3\] \(ENV001 envoy\/edge-static.yaml\) matched no finding/),
    ]);
  });

  test('a baseline entry without a reason is rejected (exit 2)', async () => {
    expect(readBaseline(`${S}/baseline-no-reason.yaml`).ok).toBe(false);
    const r = await cli(['check', `${S}/annotated.yaml`, '--baseline', `${S}/baseline-no-reason.yaml`]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/reason/);
  });

  test('suppressed findings do not fail the run but stay in every output', async () => {
    const args = ['check', `${S}/annotated.yaml`, '--baseline', `${S}/baseline.yaml`];
    const text = await cli(args);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/suppressed K8S003/);
    expect(text.out).toMatch(/0 error\(s\), 0 warning\(s\), 0 note\(s\), 5 suppressed/);

    const json = await cli([...args, '--format', 'json']);
    const rows = (JSON.parse(json.out) as { findings: Array<Record<string, unknown>> }).findings;
    const k = rows.find((x) => x['ruleId'] === 'K8S003');
    expect(k).toMatchObject({
      ruleName: 'agent-host-network',
      why: expect.stringMatching(/hostNetwork/),
      fix: expect.stringMatching(/hostNetwork/),
      suppressed: true,
      suppression: { kind: 'annotation' },
    });

    const sarif = JSON.parse(
      (await cli([...args, '--format', 'sarif', '--docs-url', 'https://docs.example/phiguard/check.md'])).out,
    ) as {
      runs: Array<{
        tool: { driver: Record<string, unknown> & { rules: Array<Record<string, unknown>> } };
        results: Array<Record<string, unknown>>;
      }>;
    };
    const run = sarif.runs[0];
    const result = run?.results.find((x) => x['ruleId'] === 'K8S003');
    expect(result?.['suppressions']).toEqual([
      { kind: 'inSource', status: 'accepted', justification: expect.stringMatching(/DICOM/) },
    ]);
    expect(run?.results.find((x) => x['ruleId'] === 'CIL001')?.['suppressions']).toEqual([
      { kind: 'external', status: 'accepted', justification: expect.stringMatching(/platform repository/) },
    ]);
  });
});

describe('output contracts', () => {
  test('SARIF: helpUri per rule at its docs/check.md anchor, relative artifact URIs, no informationUri', async () => {
    const out = await cli(['check', 'test/check/fixtures/misses/k8s-rbac-edit.fail.yaml', '--format', 'sarif']);
    const s = JSON.parse(out.out) as {
      runs: Array<{
        tool: { driver: Record<string, unknown> & { rules: Array<{ id: string; helpUri?: string }> } };
        originalUriBaseIds: Record<string, { uri: string }>;
        results: Array<{
          locations: Array<{ physicalLocation: { artifactLocation: { uri: string; uriBaseId: string } } }>;
        }>;
      }>;
    };
    const run = s.runs[0];
    expect(run?.tool.driver).not.toHaveProperty('informationUri');
    for (const r of run?.tool.driver.rules ?? []) {
      expect(r.helpUri).toMatch(new RegExp(`^file://.*/docs/check\\.md#${r.id.toLowerCase()}$`));
      expect(() => new URL(r.helpUri ?? '')).not.toThrow();
    }
    expect(run?.originalUriBaseIds['%SRCROOT%']?.uri).toMatch(/^file:\/\/.*\/$/);
    for (const res of run?.results ?? [])
      expect(res.locations[0]?.physicalLocation.artifactLocation).toEqual({
        uri: 'test/check/fixtures/misses/k8s-rbac-edit.fail.yaml',
        uriBaseId: '%SRCROOT%',
      });
  });

  test('docs/check.md has a section for every rule (the helpUri anchors exist)', async () => {
    const { RULES } = await import('../../generator/check/index.js');
    const doc = readFileSync('docs/check.md', 'utf8');
    for (const r of RULES) expect(doc).toMatch(new RegExp(`^### ${r.id}\\n`, 'm'));
  });

  test('--fail-on with a misspelled level, and an unknown option, exit 2', async () => {
    expect((await cli(['check', 'envoy', '--fail-on', 'errro'])).code).toBe(2);
    expect((await cli(['check', 'envoy', '--no-such-option'])).code).toBe(2);
    expect((await cli(['check', 'envoy', '--docs-url', 'not a url'])).code).toBe(2);
  });
});
