/**
 * deploy/overlays/istio as rendered by `kubectl kustomize`: the objects agree with each other (provider and Service,
 * callers and the policies that admit them, the egress route and the BAA registry), the Deployment's environment is a
 * valid phiguard configuration through the real CLI, everything phiguard writes lands on a writable volume under a
 * read-only root, and the termination timeline fits its grace period. Schema validation of every object and
 * `phiguard check` on the rendered output are in schemas.test.ts.
 *
 * No Istio control plane or Kubernetes API server runs here: Istio's semantics (CUSTOM before ALLOW, the empty rule,
 * path normalization) are checked against its documentation and istiod's source (docs/deploy.md).
 */
import { readFileSync } from 'node:fs';
import { describe, expect } from '@jest/globals';
import yaml from 'js-yaml';
import { cli } from '../helpers/cli.js';
import { arr, at, render, testWhenKubectl, type Obj } from './render.js';

const ALL: Obj[] = render('deploy/overlays/istio');
// Without kubectl nothing renders: every test below is skipped, loudly.
const it = testWhenKubectl('deploy/overlays/istio');
const values = yaml.load(readFileSync('deploy/overlays/istio/istiod-values.yaml', 'utf8')) as Obj;

const kind = (k: string, namespace?: string): Obj[] =>
  ALL.filter((d) => d['kind'] === k && (namespace === undefined || at(d, 'metadata', 'namespace') === namespace));
const one = (k: string, namespace?: string): Obj => {
  const found = kind(k, namespace);
  if (ALL.length > 0) expect(found).toHaveLength(1);
  return found[0] ?? {};
};
const ns = (d: Obj): string => String(at(d, 'metadata', 'namespace'));

const provider = arr(at(values, 'meshConfig', 'extensionProviders')).find((p) => p['name'] === 'phiguard');
const deployment = one('Deployment');
const pod = (at(deployment, 'spec', 'template', 'spec') ?? {}) as Obj;
const container = arr(pod['containers'])[0] ?? {};
const env = arr(container['env']) as Array<{ name: string; value?: string; valueFrom?: unknown }>;
const envValue = (name: string): string => {
  const e = env.find((x) => x.name === name);
  if (e?.value === undefined) throw new Error(`${name} is not set in the Deployment`);
  return e.value;
};
const service = one('Service');
const PHIGUARD_NS = ns(deployment);
const fhirPolicy = kind('AuthorizationPolicy', 'fhir').find((p) => at(p, 'spec', 'action') === 'CUSTOM') ?? {};
const egressPolicy =
  kind('AuthorizationPolicy', 'istio-egress').find((p) => at(p, 'spec', 'action') === 'CUSTOM') ?? {};

/** Seconds of an Istio/protobuf duration (`0.5s`, `25s`, `250ms`). */
function seconds(d: unknown): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(String(d));
  if (!m) throw new Error(`not a duration: ${String(d)}`);
  return m[2] === 'ms' ? Number(m[1]) / 1000 : Number(m[1]);
}

describe('deploy/overlays/istio: every object', () => {
  it('istiod-values.yaml (Helm values, not rendered) parses and holds the phiguard provider', () => {
    expect(provider).toBeDefined();
  });

  it('no two resources share kind, namespace and name', () => {
    const keys = ALL.map((d) => `${String(d['kind'])}/${ns(d)}/${String(at(d, 'metadata', 'name'))}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('the FHIR server: phiguard decides every request', () => {
  it('the mesh normalizes paths with DECODE_AND_MERGE_SLASHES (what is judged is what is served)', () => {
    expect(at(values, 'meshConfig', 'pathNormalization', 'normalization')).toBe('DECODE_AND_MERGE_SLASHES');
  });

  it('every phiguard CUSTOM policy matches every request: rules is exactly [{}] (no path, method or port scope)', () => {
    const customs = kind('AuthorizationPolicy').filter((p) => at(p, 'spec', 'action') === 'CUSTOM');
    expect(customs.map((p) => `${ns(p)}/${String(at(p, 'metadata', 'name'))}`)).toEqual([
      'fhir/fhir-phiguard',
      'istio-egress/egress-phiguard',
    ]);
    for (const p of customs) {
      expect(at(p, 'spec', 'provider', 'name')).toBe('phiguard');
      expect(at(p, 'spec', 'rules')).toEqual([{}]);
    }
  });

  it('the FHIR workload accepts mTLS only, so every caller has a SPIFFE identity', () => {
    const pa = kind('PeerAuthentication').find((p) => ns(p) === ns(fhirPolicy));
    expect(at(pa, 'spec', 'mtls', 'mode')).toBe('STRICT');
    expect(at(pa, 'spec', 'selector')).toEqual(at(fhirPolicy, 'spec', 'selector'));
    expect(at(pa, 'spec', 'portLevelMtls')).toBeUndefined();
  });
});

describe('the extension provider', () => {
  it('fails closed, forwards FHIR-sized bodies and points at the phiguard Service', () => {
    expect(provider).toMatchObject({
      envoyExtAuthzGrpc: { failOpen: false, includeRequestBodyInCheck: { allowPartialMessage: true } },
    });
    expect(at(provider, 'envoyExtAuthzGrpc', 'includeRequestBodyInCheck', 'maxRequestBytes')).toBeGreaterThanOrEqual(
      1024 * 1024,
    );
    const host = `${String(at(service, 'metadata', 'name'))}.${ns(service)}.svc.cluster.local`;
    expect(at(provider, 'envoyExtAuthzGrpc', 'service')).toBe(host);
    expect(arr(at(service, 'spec', 'ports')).map((x) => x['port'])).toContain(
      at(provider, 'envoyExtAuthzGrpc', 'port'),
    );
  });
});

describe('the phiguard Deployment', () => {
  /** The container environment as the kubelet builds it: `$(VAR)` expands to an earlier variable's value. */
  function kubeletEnv(fieldValues: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of env) {
      if (e.value === undefined) {
        const field = String(at(e.valueFrom, 'fieldRef', 'fieldPath'));
        const v = fieldValues[field];
        if (v === undefined) throw new Error(`no test value for ${field}`);
        out[e.name] = v;
        continue;
      }
      out[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (ref, name: string) => {
        const v = out[name];
        if (v === undefined)
          throw new Error(`${e.name} uses $(${name}) before it is defined: the kubelet leaves ${ref}`);
        return v;
      });
    }
    return out;
  }
  const POD = 'phiguard-7d9c6b5f4-x2k8q';
  const kenv = kubeletEnv({ 'metadata.name': POD });

  async function printConfig(): Promise<Obj> {
    const saved = { ...process.env };
    for (const [k, v] of Object.entries(kenv)) process.env[k] = v;
    try {
      const r = await cli(['serve', '--print-config']);
      expect(r.code).toBe(0);
      return JSON.parse(r.out) as Obj;
    } finally {
      process.env = saved;
    }
  }

  it('its environment is a valid phiguard configuration (through the real CLI), per-pod audit files included', async () => {
    expect(await printConfig()).toMatchObject({
      host: '0.0.0.0',
      port: 9191,
      metricsPort: 9464,
      policies: '/etc/phiguard/policies',
      fhirBase: ['/fhir'],
      jwtAudience: ['phiguard'],
      baaRegistry: '/etc/phiguard/baa/registry.yaml',
      containmentDir: '/var/lib/phiguard/containment',
      envelopeDir: '/var/lib/phiguard/envelopes',
      auditFile: `/var/log/phiguard/audit/${POD}.audit.jsonl`,
      auditEventFile: `/var/log/phiguard/audit/${POD}.auditevent.jsonl`,
      shutdownGraceMs: 5000,
    });
  });

  it('runs with no service-account token, a read-only root, no privilege escalation and no capabilities', () => {
    expect(pod['automountServiceAccountToken']).toBe(false);
    expect(container['securityContext']).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(at(pod, 'securityContext', 'runAsNonRoot')).toBe(true);
  });

  const mounts = arr(container['volumeMounts']) as Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  const mountOf = (file: string) =>
    mounts
      .filter((m) => file === m.mountPath || file.startsWith(`${m.mountPath}/`))
      .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];

  /** What phiguard writes (must be on a writable volume) and reads (must be on a volume). */
  const WRITES = [
    'PHIGUARD_AUDIT_FILE',
    'PHIGUARD_AUDIT_EVENT_FILE',
    'PHIGUARD_ENVELOPE_DIR',
    'PHIGUARD_CONTAINMENT_DIR',
  ] as const;
  const READS = ['PHIGUARD_POLICIES', 'PHIGUARD_BAA_REGISTRY', 'PHIGUARD_EGRESS_CREDENTIALS'] as const;

  it.each(WRITES)('%s is on a writable volume (the root filesystem is read-only)', (name) => {
    const m = mountOf(kenv[name] ?? '');
    expect(m).toBeDefined();
    expect(m?.readOnly).not.toBe(true);
  });

  it.each(READS)('%s is on a mounted volume', (name) => {
    expect(mountOf(kenv[name] ?? '')).toBeDefined();
  });

  it('each credential file named in the example EgressCredentials is on a mounted volume', () => {
    const creds = yaml.load(readFileSync('examples/egress/credentials.yaml', 'utf8')) as Obj;
    for (const e of arr(at(creds, 'spec', 'endpoints'))) expect(mountOf(String(e['secretFile']))).toBeDefined();
  });

  it('every mounted volume is defined, and every claim it names is a PersistentVolumeClaim shipped here', () => {
    const volumes = arr(pod['volumes']);
    const claims = new Set(kind('PersistentVolumeClaim').map((c) => String(at(c, 'metadata', 'name'))));
    for (const m of mounts) {
      const v = volumes.find((x) => x['name'] === m.name);
      expect(v).toBeDefined();
      const claim = at(v, 'persistentVolumeClaim', 'claimName');
      if (typeof claim === 'string') expect(claims.has(claim)).toBe(true);
      else expect(claim).toBeUndefined();
    }
  });

  it('the termination timeline fits: preStop, then the drain (longer than a Check lives), then the flush', () => {
    const command = at(container, 'lifecycle', 'preStop', 'exec', 'command') as string[];
    // The image's one executable (no shell, no coreutils): Node waits.
    expect(command.slice(0, 2)).toEqual(['/usr/local/bin/node', '-e']);
    const preStop = Number(/^setTimeout\(\(\) => \{\}, (\d+)\)$/.exec(command[2] ?? '')?.[1]) / 1000;
    const grace = Number(envValue('PHIGUARD_SHUTDOWN_GRACE_MS')) / 1000;
    const checkTimeout = seconds(at(provider, 'envoyExtAuthzGrpc', 'timeout'));
    const proxy = JSON.parse(
      String(at(deployment, 'spec', 'template', 'metadata', 'annotations', 'proxy.istio.io/config')),
    ) as Obj;
    // Endpoint removal reaches the Envoys within the preStop sleep (seconds, not milliseconds).
    expect(preStop).toBeGreaterThanOrEqual(5);
    // Every in-flight Check is answered or abandoned by Envoy within the drain.
    expect(grace).toBeGreaterThanOrEqual(2 * checkTimeout);
    // The kubelet's hard stop comes at least 10 s after the drain ends (the audit flush).
    expect(Number(pod['terminationGracePeriodSeconds'])).toBeGreaterThanOrEqual(preStop + grace + 10);
    // The pod's own sidecar keeps carrying inbound Checks until phiguard has stopped taking them.
    expect(seconds(proxy['terminationDrainDuration'])).toBeGreaterThanOrEqual(preStop + grace);
    expect(proxy['holdApplicationUntilProxyStarts']).toBe(true);
  });

  it('a rollout never lowers capacity, and a disruption leaves a replica', () => {
    expect(at(deployment, 'spec', 'strategy', 'rollingUpdate', 'maxUnavailable')).toBe(0);
    expect(at(one('PodDisruptionBudget'), 'spec', 'minAvailable')).toBe(1);
    // The HPA owns the replica count (a `replicas` in the Deployment would reset it on every apply).
    expect(at(deployment, 'spec', 'replicas')).toBeUndefined();
    const hpa = one('HorizontalPodAutoscaler');
    expect(at(hpa, 'spec', 'scaleTargetRef')).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'phiguard' });
    expect(Number(at(hpa, 'spec', 'minReplicas'))).toBeGreaterThanOrEqual(2);
  });
});

describe("phiguard's own network and mesh boundary", () => {
  const cnp = one('CiliumNetworkPolicy', PHIGUARD_NS);
  const grpcPort = String(at(provider, 'envoyExtAuthzGrpc', 'port'));
  const gatewayGw = one('Gateway', 'istio-egress');
  /** Cilium labels of the two callers: the FHIR workload and the egress gateway pods. */
  const callers = [
    { namespace: ns(fhirPolicy), labels: at(fhirPolicy, 'spec', 'selector', 'matchLabels') as Record<string, string> },
    {
      namespace: ns(egressPolicy),
      labels: at(egressPolicy, 'spec', 'selector', 'matchLabels') as Record<string, string>,
    },
  ];
  const ciliumLabels = (c: (typeof callers)[number]) => ({
    'k8s:io.kubernetes.pod.namespace': c.namespace,
    ...Object.fromEntries(Object.entries(c.labels).map(([k, v]) => [`k8s:${k}`, v])),
  });

  it('the CiliumNetworkPolicy selects the phiguard pods and denies by default both ways', () => {
    expect(ns(cnp)).toBe(ns(deployment));
    expect(at(cnp, 'spec', 'endpointSelector', 'matchLabels')).toEqual(
      at(deployment, 'spec', 'selector', 'matchLabels'),
    );
    expect(at(cnp, 'spec', 'enableDefaultDeny')).toEqual({ ingress: true, egress: true });
  });

  it('the gRPC port is open to the FHIR server and the egress gateway pods, and to nothing else', () => {
    const ingress = arr(at(cnp, 'spec', 'ingress'));
    const grpc = ingress.filter((r) =>
      arr(r['toPorts']).some((tp) => arr(tp['ports']).some((p) => p['port'] === grpcPort)),
    );
    expect(grpc).toHaveLength(1);
    expect(arr(grpc[0]?.['fromEndpoints']).map((e) => e['matchLabels'])).toEqual(callers.map(ciliumLabels));
    // The gateway the egress lane runs on is the one the CUSTOM policy selects.
    expect(at(gatewayGw, 'spec', 'selector')).toEqual(callers[1]?.labels);
    for (const r of ingress) {
      expect(r['fromEntities']).toBeUndefined();
      expect(r['fromCIDR']).toBeUndefined();
      expect(r['fromCIDRSet']).toBeUndefined();
    }
  });

  it('egress: DNS, istiod, and the host of PHIGUARD_JWKS_URI on 443 only', () => {
    const idp = new URL(envValue('PHIGUARD_JWKS_URI')).hostname;
    const egress = arr(at(cnp, 'spec', 'egress'));
    const fqdns = egress.flatMap((r) => arr(r['toFQDNs']).map((f) => f['matchName'] ?? f['matchPattern']));
    expect(fqdns).toEqual([idp]);
    const dnsNames = egress.flatMap((r) =>
      arr(r['toPorts']).flatMap((tp) => arr(at(tp, 'rules', 'dns')).map((d) => d['matchName'])),
    );
    expect(dnsNames).toContain(idp);
    for (const r of egress) {
      expect(r['toEntities']).toBeUndefined();
      expect(r['toCIDR']).toBeUndefined();
      expect(r['toCIDRSet']).toBeUndefined();
    }
    const se = one('ServiceEntry', PHIGUARD_NS);
    expect(at(se, 'spec', 'hosts')).toEqual([idp]);
    expect(at(se, 'spec', 'exportTo')).toEqual(['.']);
  });

  it('in the mesh: STRICT mTLS, and an ALLOW policy on the two callers’ identities for the gRPC port', () => {
    const sel = at(deployment, 'spec', 'selector', 'matchLabels');
    const pa = one('PeerAuthentication', PHIGUARD_NS);
    expect(at(pa, 'spec', 'mtls', 'mode')).toBe('STRICT');
    expect(at(pa, 'spec', 'selector', 'matchLabels')).toEqual(sel);
    const allow = one('AuthorizationPolicy', PHIGUARD_NS);
    expect(at(allow, 'spec', 'action')).toBe('ALLOW');
    expect(at(allow, 'spec', 'selector', 'matchLabels')).toEqual(sel);
    const rules = arr(at(allow, 'spec', 'rules'));
    expect(rules).toHaveLength(1);
    const principals = at(rules[0], 'from', 0, 'source', 'principals') as string[];
    expect(principals.map((p) => /^cluster\.local\/ns\/([^/]+)\/sa\/[^/]+$/.exec(p)?.[1])).toEqual(
      callers.map((c) => c.namespace),
    );
    expect(at(rules[0], 'to', 0, 'operation', 'ports')).toEqual([grpcPort]);
  });
});

describe('metrics under the mesh', () => {
  it('Prometheus reaches the merged-metrics port 15020 (network policy, Service, ServiceMonitor), never 9464 behind mTLS', () => {
    const cnp = one('CiliumNetworkPolicy', PHIGUARD_NS);
    const fromMonitoring = arr(at(cnp, 'spec', 'ingress')).filter(
      (r) => at(r, 'fromEndpoints', 0, 'matchLabels', 'k8s:io.kubernetes.pod.namespace') === 'monitoring',
    );
    expect(fromMonitoring.map((r) => at(r, 'toPorts', 0, 'ports'))).toEqual([[{ port: '15020', protocol: 'TCP' }]]);
    const endpoint = at(one('ServiceMonitor'), 'spec', 'endpoints', 0) as Obj;
    expect(endpoint).toMatchObject({ path: '/stats/prometheus' });
    const port = arr(at(service, 'spec', 'ports')).find((p) => p['name'] === endpoint['port']);
    expect(port?.['targetPort']).toBe(15020);
    // The ALLOW policy admits the two callers on the gRPC port only.
    expect(at(one('AuthorizationPolicy', PHIGUARD_NS), 'spec', 'rules', 0, 'to', 0, 'operation', 'ports')).toEqual([
      '9191',
    ]);
  });

  it('phiguard gets a sidecar: its namespace is labelled for injection', () => {
    expect(at(one('Namespace'), 'metadata', 'labels', 'istio-injection')).toBe('enabled');
  });
});

describe('the BAA egress lane through the egress gateway', () => {
  const se = one('ServiceEntry', 'istio-egress');
  const gw = one('Gateway', 'istio-egress');
  const vs = one('VirtualService', 'istio-egress');
  const drs = kind('DestinationRule', 'istio-egress');
  const host = (at(se, 'spec', 'hosts') as string[])[0] ?? '';
  const server = arr(at(gw, 'spec', 'servers'))[0] as Obj;
  const gatewayPort = Number(at(server, 'port', 'number'));
  const registry = yaml.load(readFileSync('examples/baa/registry.yaml', 'utf8')) as Obj;
  const gatewayHost = `istio-egressgateway.${ns(gw)}.svc.cluster.local`;

  it('the endpoint is covered by an active BAA on the port the gateway listens on (the port phiguard is sent)', () => {
    const covered = arr(at(registry, 'spec', 'vendors')).some(
      (v) =>
        v['status'] === 'active' &&
        arr(v['endpoints']).some((e) => e['host'] === host && (e['ports'] as number[]).includes(gatewayPort)),
    );
    expect(covered).toBe(true);
    expect(gatewayPort).toBe(443);
  });

  it('the gateway accepts only mesh mTLS for this host', () => {
    expect(server).toMatchObject({ port: { protocol: 'HTTPS' }, hosts: [host], tls: { mode: 'ISTIO_MUTUAL' } });
  });

  it('sidecars send port 80 to the gateway over mTLS; the gateway sends it to the endpoint on 443 with TLS', () => {
    const routes = arr(at(vs, 'spec', 'http'));
    expect(at(vs, 'spec', 'hosts')).toEqual([host]);
    const fromMesh = routes.find((r) => at(r, 'match', 0, 'gateways', 0) === 'mesh');
    const fromGateway = routes.find((r) => at(r, 'match', 0, 'gateways', 0) === at(gw, 'metadata', 'name'));
    expect(at(fromMesh, 'match', 0, 'port')).toBe(80);
    expect(at(fromMesh, 'route', 0, 'destination')).toMatchObject({ host: gatewayHost, port: { number: gatewayPort } });
    expect(at(fromGateway, 'match', 0, 'port')).toBe(gatewayPort);
    expect(at(fromGateway, 'route', 0, 'destination')).toEqual({ host, port: { number: 443 } });
    const subset = String(at(fromMesh, 'route', 0, 'destination', 'subset'));
    const toGateway = drs.find((d) => at(d, 'spec', 'host') === gatewayHost);
    const sub = arr(at(toGateway, 'spec', 'subsets')).find((s) => s['name'] === subset);
    expect(at(sub, 'trafficPolicy', 'portLevelSettings', 0)).toEqual({
      port: { number: gatewayPort },
      tls: { mode: 'ISTIO_MUTUAL', sni: host },
    });
    const origination = drs.find((d) => at(d, 'spec', 'host') === host);
    expect(at(origination, 'spec', 'trafficPolicy', 'portLevelSettings', 0)).toEqual({
      port: { number: 443 },
      tls: { mode: 'SIMPLE', sni: host },
    });
    expect(arr(at(se, 'spec', 'ports')).map((p) => [p['number'], p['protocol']])).toEqual([
      [80, 'HTTP'],
      [443, 'HTTPS'],
    ]);
  });

  it('phiguard checks every request on the gateway, and is allowed to be called by it', () => {
    expect(ns(egressPolicy)).toBe(ns(gw));
    expect(at(egressPolicy, 'spec', 'selector', 'matchLabels')).toEqual(at(gw, 'spec', 'selector'));
    const allow = one('AuthorizationPolicy', PHIGUARD_NS);
    expect(at(allow, 'spec', 'rules', 0, 'from', 0, 'source', 'principals')).toContain(
      `cluster.local/ns/${ns(gw)}/sa/istio-egressgateway`,
    );
  });

  it('the gateway pods reach only the endpoint, phiguard, istiod and DNS, and only agent pods reach them', () => {
    const cnp = one('CiliumNetworkPolicy', 'istio-egress');
    expect(at(cnp, 'spec', 'enableDefaultDeny')).toEqual({ ingress: true, egress: true });
    expect(at(cnp, 'spec', 'endpointSelector', 'matchLabels')).toEqual(at(gw, 'spec', 'selector'));
    const egress = arr(at(cnp, 'spec', 'egress'));
    expect(egress.flatMap((r) => arr(r['toFQDNs']).map((f) => f['matchName']))).toEqual([host]);
    const ingress = arr(at(cnp, 'spec', 'ingress'));
    const fromAgents = ingress.find((r) =>
      arr(r['toPorts']).some((tp) => arr(tp['ports']).some((p) => p['port'] === String(gatewayPort))),
    );
    expect(at(fromAgents, 'fromEndpoints', 0, 'matchLabels')).toEqual({ 'k8s:phiguard.io/agent': 'true' });
  });
});
