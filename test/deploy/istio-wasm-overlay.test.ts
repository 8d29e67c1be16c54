/**
 * deploy/overlays/istio-wasm as rendered by `kubectl kustomize`: the proxy-wasm filter on the workload phiguard's
 * CUSTOM policy guards, fail closed and pinned, carrying the generator's deny-only program for the example policies
 * with the sidecar's cluster for the ext_authz provider's Service; its decisions sent, unfiltered, to phiguard's
 * access-log receiver; and phiguard accepting them from that workload only, identified by a sanitized
 * x-forwarded-client-cert. Istio runs the CUSTOM ext_authz before the filter, so the filter is defence in depth and
 * saves no Check: `phiguard check` says so in one note (IST011) and nothing else. Everything else is
 * deploy/overlays/istio unchanged. Schemas and `phiguard check` on the rendered output are also in schemas.test.ts.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect } from '@jest/globals';
import yaml from 'js-yaml';
import { readPolicyDir } from '../../authz/policy/index.js';
import { buildWasmProgram, DEFAULT_DEFER_HEADERS } from '../../generator/wasm/index.js';
import { cli } from '../helpers/cli.js';
import { filterModule, SAN_PROPERTY } from '../wasm/filter-harness.js';
import { startHost } from '../wasm/proxy-wasm-host.js';
import { tempDir } from '../helpers/temp.js';
import { arr, at, render, renderText, testWhenKubectl, type Obj } from './render.js';

const ALL: Obj[] = render('deploy/overlays/istio-wasm');
const ISTIO: Obj[] = render('deploy/overlays/istio');
const it = testWhenKubectl('deploy/overlays/istio-wasm');
const values = yaml.load(readFileSync('deploy/overlays/istio/istiod-values.yaml', 'utf8')) as Obj;
const providers = arr(at(values, 'meshConfig', 'extensionProviders'));

const ns = (d: Obj): string => String(at(d, 'metadata', 'namespace'));
const kind = (k: string): Obj[] => ALL.filter((d) => d['kind'] === k);
const plugin = kind('WasmPlugin')[0] ?? {};
const telemetry = kind('Telemetry')[0] ?? {};
const deployment = kind('Deployment')[0] ?? {};
const env = arr(at(deployment, 'spec', 'template', 'spec', 'containers', 0, 'env')) as Array<{
  name: string;
  value?: string;
}>;
const fhirPolicy =
  kind('AuthorizationPolicy').find((p) => ns(p) === 'fhir' && at(p, 'spec', 'action') === 'CUSTOM') ?? {};
const authzProvider = providers.find((p) => p['name'] === at(fhirPolicy, 'spec', 'provider', 'name'));
const alsProvider = providers.find(
  (p) => p['name'] === at(telemetry, 'spec', 'accessLogging', 0, 'providers', 0, 'name'),
);

describe('deploy/overlays/istio-wasm', () => {
  it('adds one WasmPlugin and one Telemetry to deploy/overlays/istio, and changes only the phiguard Deployment', () => {
    expect(kind('WasmPlugin')).toHaveLength(1);
    expect(kind('Telemetry')).toHaveLength(1);
    const key = (d: Obj): string => `${String(d['kind'])}/${ns(d)}/${String(at(d, 'metadata', 'name'))}`;
    const rest = ALL.filter((d) => !['WasmPlugin', 'Telemetry', 'Deployment'].includes(String(d['kind'])));
    expect(rest.map(key)).toEqual(ISTIO.filter((d) => d['kind'] !== 'Deployment').map(key));
    expect(rest).toEqual(ISTIO.filter((d) => d['kind'] !== 'Deployment'));
  });

  it('the filter runs inbound on the workload the CUSTOM policy sends to phiguard, in phase AUTHZ, fail closed', () => {
    expect(ns(plugin)).toBe(ns(fhirPolicy));
    expect(at(plugin, 'spec', 'selector')).toEqual(at(fhirPolicy, 'spec', 'selector'));
    expect(at(plugin, 'spec')).toMatchObject({
      match: [{ mode: 'SERVER' }],
      type: 'HTTP',
      phase: 'AUTHZ',
      failStrategy: 'FAIL_CLOSE',
    });
  });

  it('the module is pinned: an https url and the SHA-256 of the module wasm/assembly builds', () => {
    expect(String(at(plugin, 'spec', 'url'))).toMatch(/^https:\/\/.+\.wasm$/);
    // A change to the filter fails here until the shipped pin is the module it builds (npm run build:wasm; sha256sum).
    expect(String(at(plugin, 'spec', 'sha256'))).toBe(createHash('sha256').update(filterModule()).digest('hex'));
  });

  it("pluginConfig is `generate wasm-config --format plugin-config-json` for the example policies and the provider's cluster", async () => {
    const cluster = `outbound|${String(at(authzProvider, 'envoyExtAuthzGrpc', 'port'))}||${String(
      at(authzProvider, 'envoyExtAuthzGrpc', 'service'),
    )}`;
    const loaded = readPolicyDir('examples/policies');
    if (!loaded.ok) throw new Error(loaded.error.message);
    const built = await buildWasmProgram(loaded.value.set, {
      fhirBasePaths: ['/fhir'],
      authzCluster: cluster,
      timeoutMs: 200,
      allowInProxy: false,
      hosts: [],
      deferHeaders: [...DEFAULT_DEFER_HEADERS],
      deferTo: 'next-filter',
    });
    expect(at(plugin, 'spec', 'pluginConfig')).toEqual({ program: built.text });
    // The CUSTOM ext_authz Checked every request before the filter: deferred requests go on, no in-proxy allow.
    expect(built.text.split('\n')).toContain('defer-to\tnext-filter');
    expect(built.text.split('\n').filter((l) => l.startsWith('verdict\tallow'))).toEqual([]);
  });

  it('the filter built from wasm/assembly configures with the JSON text Istio makes of pluginConfig (test host)', async () => {
    const host = await startHost(filterModule(), {
      pluginConfiguration: JSON.stringify(at(plugin, 'spec', 'pluginConfig')),
    });
    expect(host.configured).toBe(true);
    const invalid = host.request(
      [
        [':method', 'GET'],
        [':path', '/fhir/Patient/../Observation'],
        [':authority', 'fhir-server.fhir.svc.cluster.local'],
      ],
      { [SAN_PROPERTY]: 'spiffe://cluster.local/ns/cds/sa/sepsis-advisor' },
    );
    host.finish(invalid);
    expect(invalid.localResponse?.status).toBe(400);
  });

  it("the same workloads' inbound access log goes to an envoyHttpAls provider carrying wasm.phiguard_decision to phiguard", () => {
    expect(ns(telemetry)).toBe(ns(plugin));
    expect(at(telemetry, 'spec', 'selector')).toEqual(at(plugin, 'spec', 'selector'));
    // No `filter`: every entry is sent.
    expect(at(telemetry, 'spec', 'accessLogging')).toEqual([
      { match: { mode: 'SERVER' }, providers: [{ name: 'phiguard-proxy-audit' }] },
    ]);
    expect(alsProvider?.['envoyHttpAls']).toEqual({
      service: at(authzProvider, 'envoyExtAuthzGrpc', 'service'),
      port: at(authzProvider, 'envoyExtAuthzGrpc', 'port'),
      logName: 'phiguard-proxy-decisions',
      filterStateObjectsToLog: ['wasm.phiguard_decision'],
    });
  });

  it("phiguard's sidecar sanitizes and sets x-forwarded-client-cert, and keeps the base proxy settings", () => {
    const config = JSON.parse(
      String(at(deployment, 'spec', 'template', 'metadata', 'annotations', 'proxy.istio.io/config')),
    ) as Obj;
    expect(config).toEqual({
      holdApplicationUntilProxyStarts: true,
      terminationDrainDuration: '25s',
      proxyHeaders: { forwardedClientCert: 'SANITIZE_SET' },
    });
  });

  it('phiguard records in-proxy decisions reported by the filtering workload only, one the mesh boundary admits', async () => {
    const reporters = env.find((e) => e.name === 'PHIGUARD_PROXY_AUDIT_REPORTERS')?.value?.split(',') ?? [];
    expect(env.find((e) => e.name === 'PHIGUARD_PROXY_AUDIT')?.value).toBe('xfcc');
    expect(reporters).toEqual(['spiffe://cluster.local/ns/fhir/sa/fhir-server']);
    const allow = kind('AuthorizationPolicy').find(
      (p) => at(p, 'spec', 'action') === 'ALLOW' && ns(p) === ns(deployment),
    );
    const admitted = (at(allow, 'spec', 'rules', 0, 'from', 0, 'source', 'principals') as string[]).map(
      (p) => `spiffe://${p}`,
    );
    for (const r of reporters) expect(admitted).toContain(r);
    // Through the real CLI: the environment is a configuration `serve` accepts.
    const saved = { ...process.env };
    for (const e of env) if (e.value !== undefined) process.env[e.name] = e.value.replace('$(POD_NAME)', 'pod-1');
    try {
      const r = await cli(['serve', '--print-config']);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ proxyAudit: 'xfcc', proxyAuditReporters: reporters });
    } finally {
      process.env = saved;
    }
  });

  it('`phiguard check` on the rendered overlay with the istiod values and the FHIR server: only the IST011 note', async () => {
    const t = tempDir({
      'overlay.yaml': renderText('deploy/overlays/istio-wasm') ?? '',
      // The workload the WasmPlugin selects, running as the reporter phiguard names.
      'fhir-server.yaml': [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata: { name: fhir-server, namespace: fhir }',
        'spec:',
        '  template:',
        '    metadata: { labels: { app: fhir-server } }',
        '    spec: { serviceAccountName: fhir-server, containers: [{ name: fhir, image: fhir:1 }] }',
        '',
      ].join('\n'),
    });
    try {
      const r = await cli([
        'check',
        t.dir,
        'deploy/overlays/istio/istiod-values.yaml',
        '--policies',
        'examples/policies',
        '--format',
        'json',
      ]);
      const findings = (JSON.parse(r.out) as { findings: Array<{ ruleId: string; severity: string }> }).findings;
      expect(findings.map((f) => [f.ruleId, f.severity])).toEqual([['IST011', 'note']]);
      expect(r.code).toBe(0);
    } finally {
      t.remove();
    }
  });
});
