/**
 * IST rules: Istio's ext_authz extension providers, the CUSTOM AuthorizationPolicy that routes requests to phiguard,
 * and the mTLS mode of the workloads phiguard identifies. References: AuthorizationPolicy
 * (https://istio.io/latest/docs/reference/config/security/authorization-policy/: "rules ... If not set, the match
 * will never occur"), PeerAuthentication (https://istio.io/latest/docs/reference/config/security/peer_authentication/:
 * workload selector over namespace over the root namespace, UNSET inherits), MeshConfig extensionProviders.
 */
import { parse as parseYaml } from 'yaml';
import { arr, isObj, str, strMap, type CheckContext, type Rec } from './context.js';
import type { ManifestDoc } from './manifests.js';
import { istioWasmRules } from './rules-wasm.js';

export interface Provider {
  name: string;
  body: Rec;
  doc: ManifestDoc;
  path: Array<string | number>;
}

/** A mesh config among the inputs: from IstioOperator, the `istio` ConfigMap (`data.mesh`), or istiod Helm values. */
export interface MeshAt {
  doc: ManifestDoc;
  mesh: Rec;
  base: Array<string | number>;
}

/** Every mesh config in the inputs. A ConfigMap `data.mesh` that is not YAML is reported (IST001) and skipped. */
export function meshConfigsOf(ctx: CheckContext): MeshAt[] {
  const out: MeshAt[] = [];
  for (const doc of ctx.docs) {
    const v = doc.value;
    if (v['kind'] === 'IstioOperator' && isObj(v['spec'])) {
      if (isObj(v['spec']['meshConfig']))
        out.push({ doc, mesh: v['spec']['meshConfig'], base: ['spec', 'meshConfig'] });
    } else if (v['kind'] === 'ConfigMap' && isObj(v['data']) && typeof v['data']['mesh'] === 'string') {
      let mesh: unknown;
      try {
        mesh = parseYaml(v['data']['mesh']);
      } catch {
        ctx.report('IST001', doc, 'the istio ConfigMap data.mesh is not valid YAML', ['data', 'mesh']);
        continue;
      }
      if (isObj(mesh)) out.push({ doc, mesh, base: ['data', 'mesh'] });
    } else if (v['kind'] === undefined && isObj(v['meshConfig']))
      out.push({ doc, mesh: v['meshConfig'], base: ['meshConfig'] });
  }
  return out;
}

/** Extension providers of the mesh configs. */
export function providersOf(meshes: readonly MeshAt[]): Provider[] {
  const out: Provider[] = [];
  for (const { doc, mesh, base } of meshes)
    arr(mesh['extensionProviders']).forEach((p, i) => {
      if (isObj(p)) out.push({ name: str(p['name']), body: p, doc, path: [...base, 'extensionProviders', i] });
    });
  return out;
}

function seconds(d: unknown): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(str(d));
  if (!m?.[1]) return undefined;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n;
}

export function istioRules(ctx: CheckContext): void {
  const meshes = meshConfigsOf(ctx);
  const providers = providersOf(meshes);
  for (const p of providers) {
    const grpc = isObj(p.body['envoyExtAuthzGrpc'])
      ? p.body['envoyExtAuthzGrpc']
      : isObj(p.body['envoyExtAuthzHttp'])
        ? p.body['envoyExtAuthzHttp']
        : undefined;
    if (!grpc) continue;
    const kind = isObj(p.body['envoyExtAuthzGrpc']) ? 'envoyExtAuthzGrpc' : 'envoyExtAuthzHttp';
    if (grpc['failOpen'] === true)
      ctx.report('IST002', p.doc, `extension provider "${p.name}" has failOpen: true`, [...p.path, kind, 'failOpen']);
    const body = isObj(grpc['includeRequestBodyInCheck']) ? grpc['includeRequestBodyInCheck'] : undefined;
    const max = Number(body?.['maxRequestBytes'] ?? 0);
    if (!body || max < 1024 * 1024)
      ctx.report(
        'IST003',
        p.doc,
        `extension provider "${p.name}" forwards ${body ? `${max} bytes of` : 'no'} request body (FHIR Bundles need ≥ 1 MiB)`,
        [...p.path, kind],
      );
    const t = seconds(grpc['timeout']);
    if (t === undefined || t < 0.1 || t > 5)
      ctx.report(
        'IST004',
        p.doc,
        `extension provider "${p.name}" timeout ` +
          `${grpc['timeout'] === undefined ? 'unset (Istio default 600s)' : str(grpc['timeout'])} is outside 0.1s..5s`,
        [...p.path, kind],
      );
  }
  const names = new Set(providers.map((p) => p.name));
  // Without any mesh config among the inputs the providers are defined elsewhere: IST001 cannot be decided.
  const meshSeen = ctx.docs.some(
    (d) =>
      (d.value['kind'] === 'IstioOperator' && isObj(d.value['spec']) && d.value['spec']['meshConfig'] !== undefined) ||
      (d.value['kind'] === 'ConfigMap' && isObj(d.value['data']) && typeof d.value['data']['mesh'] === 'string') ||
      (d.value['kind'] === undefined && isObj(d.value['meshConfig'])),
  );
  const customs = ctx.docs.filter(
    (d) =>
      d.value['kind'] === 'AuthorizationPolicy' && isObj(d.value['spec']) && d.value['spec']['action'] === 'CUSTOM',
  );
  for (const d of customs) {
    const spec = d.value['spec'] as Rec;
    const name = isObj(spec['provider']) ? str(spec['provider']['name']) : '';
    if (meshSeen && !names.has(name))
      ctx.report(
        'IST001',
        d,
        `CUSTOM AuthorizationPolicy uses provider "${name}", which no meshConfig.extensionProviders entry in the inputs defines`,
        ['spec', 'provider', 'name'],
      );
  }
  // ext_authz providers only: an access-log provider named for phiguard routes no request.
  const phiguardProviders = new Set(
    providers
      .filter((p) => isObj(p.body['envoyExtAuthzGrpc']) || isObj(p.body['envoyExtAuthzHttp']))
      .filter((p) => /phiguard/.test(p.name) || /phiguard/.test(JSON.stringify(p.body)))
      .map((p) => p.name),
  );
  const toPhiguard = (d: ManifestDoc): boolean => {
    const name = str(((d.value['spec'] as Rec)['provider'] as Rec | undefined)?.['name']);
    return phiguardProviders.has(name) || /phiguard/i.test(name);
  };
  const routed = customs.some((d) =>
    meshSeen
      ? phiguardProviders.has(str(((d.value['spec'] as Rec)['provider'] as Rec | undefined)?.['name']))
      : toPhiguard(d),
  );
  for (const d of customs.filter(toPhiguard)) customScope(ctx, d);
  const root = rootNamespace(ctx);
  peerAuthentication(ctx, customs.filter(toPhiguard), root);
  istioWasmRules(ctx, meshes, providers, meshSeen, root, customs.filter(toPhiguard));
  const firstAgent = ctx.agents[0];
  if (firstAgent && !routed)
    ctx.report(
      'IST005',
      firstAgent.doc,
      `${ctx.agents.length} agent workload(s) but no CUSTOM AuthorizationPolicy routes traffic to a phiguard extension provider`,
    );
}

/** What a rule narrows: `from` sources, `to` operations, `when` conditions (the fields that are set). */
function narrowing(rule: unknown): string[] {
  if (!isObj(rule)) return [];
  const out: string[] = [];
  for (const [list, inner] of [
    ['from', 'source'],
    ['to', 'operation'],
  ] as const)
    for (const entry of arr(rule[list]))
      if (isObj(entry) && isObj(entry[inner]))
        for (const [k, v] of Object.entries(entry[inner]))
          if (arr(v).length > 0) out.push(`${list}.${inner}.${k}: ${JSON.stringify(v)}`);
  for (const c of arr(rule['when'])) if (isObj(c)) out.push(`when ${str(c['key'])}`);
  return out;
}

/**
 * IST006 and IST007: a CUSTOM policy sends to phiguard exactly the requests its rules match. No rules: none. Rules
 * that all narrow (paths, methods, hosts, ports, sources, conditions): requests outside them (another path, another
 * spelling of the path, another port) reach the workload with no phiguard decision. `rules: [{}]` matches every
 * request.
 */
function customScope(ctx: CheckContext, d: ManifestDoc): void {
  const spec = d.value['spec'] as Rec;
  const rules = arr(spec['rules']);
  if (rules.length === 0) {
    ctx.report(
      'IST006',
      d,
      'CUSTOM AuthorizationPolicy has no rules, so it matches no request and phiguard is never called',
      spec['rules'] === undefined ? ['spec'] : ['spec', 'rules'],
    );
    return;
  }
  const narrowed = rules.map(narrowing);
  if (narrowed.every((n) => n.length > 0))
    ctx.report(
      'IST007',
      d,
      `CUSTOM AuthorizationPolicy sends phiguard only requests matching ${narrowed.map((n) => n.join(', ')).join(' or ')}; ` +
        'every other request reaches the workload without a phiguard decision',
      ['spec', 'rules'],
    );
}

/** The mesh root namespace (meshConfig.rootNamespace, default istio-system). */
export function rootNamespace(ctx: CheckContext): string {
  for (const doc of ctx.docs) {
    const v = doc.value;
    let mesh: unknown;
    if (v['kind'] === 'IstioOperator' && isObj(v['spec'])) mesh = v['spec']['meshConfig'];
    else if (v['kind'] === undefined) mesh = v['meshConfig'];
    if (isObj(mesh) && typeof mesh['rootNamespace'] === 'string') return mesh['rootNamespace'];
  }
  return 'istio-system';
}

const MODES_WITHOUT_IDENTITY = new Set(['PERMISSIVE', 'DISABLE']);

/**
 * IST008: the effective PeerAuthentication mode of each agent and of each workload a phiguard CUSTOM policy selects
 * (Istio's precedence: a selecting policy in the workload's namespace, then the namespace-wide one, then the
 * root-namespace one; UNSET inherits; portLevelMtls overrides per port). PERMISSIVE or DISABLE accepts plaintext,
 * whose requests carry no SPIFFE identity. Only PeerAuthentications in the inputs are considered.
 */
function peerAuthentication(ctx: CheckContext, customs: readonly ManifestDoc[], root: string): void {
  const pas = ctx.docs.filter((d) => d.value['kind'] === 'PeerAuthentication' && isObj(d.value['spec']));
  if (pas.length === 0) return;
  const nsOf = (d: ManifestDoc): string => str((d.value['metadata'] as Rec | undefined)?.['namespace']) || 'default';
  const selectorOf = (d: ManifestDoc): Record<string, string> | undefined => {
    const sel = (d.value['spec'] as Rec)['selector'];
    return isObj(sel) ? strMap(sel['matchLabels']) : undefined;
  };
  const targets: Array<{ what: string; namespace: string; labels: Record<string, string> }> = ctx.agents.map((w) => ({
    what: `agent ${w.namespace}/${w.name}`,
    namespace: w.namespace,
    labels: w.podLabels,
  }));
  for (const c of customs) {
    const labels = selectorOf(c) ?? {};
    const ns = nsOf(c);
    const selected = ctx.workloads.filter(
      (w) => w.namespace === ns && Object.entries(labels).every(([k, v]) => w.podLabels[k] === v),
    );
    if (selected.length > 0)
      for (const w of selected)
        targets.push({ what: `${w.namespace}/${w.name} (behind phiguard)`, namespace: ns, labels: w.podLabels });
    else
      targets.push({
        what: `the workload AuthorizationPolicy ${ns}/${str((c.value['metadata'] as Rec | undefined)?.['name'])} routes to phiguard`,
        namespace: ns,
        labels,
      });
  }
  const reported = new Set<string>();
  for (const t of targets) {
    const workloadLevel = pas.find((p) => {
      const sel = selectorOf(p);
      return (
        nsOf(p) === t.namespace &&
        sel !== undefined &&
        Object.keys(sel).length > 0 &&
        Object.entries(sel).every(([k, v]) => t.labels[k] === v)
      );
    });
    const nsLevel = pas.find(
      (p) => nsOf(p) === t.namespace && (selectorOf(p) === undefined || Object.keys(selectorOf(p) ?? {}).length === 0),
    );
    const meshLevel = pas.find(
      (p) => nsOf(p) === root && (selectorOf(p) === undefined || Object.keys(selectorOf(p) ?? {}).length === 0),
    );
    const modeOf = (p: ManifestDoc | undefined): string => {
      const mtls = p ? (p.value['spec'] as Rec)['mtls'] : undefined;
      const m = isObj(mtls) ? str(mtls['mode']).toUpperCase() : '';
      return m === 'UNSET' ? '' : m;
    };
    const decided = [workloadLevel, nsLevel, meshLevel].find((p) => modeOf(p) !== '');
    const report = (p: ManifestDoc, detail: string, parts: Array<string | number>): void => {
      const key = `${p.file}:${p.index}:${t.what}:${detail}`;
      if (reported.has(key)) return;
      reported.add(key);
      ctx.report('IST008', p, `${t.what}: ${detail}`, parts);
    };
    if (decided && MODES_WITHOUT_IDENTITY.has(modeOf(decided)))
      report(
        decided,
        `PeerAuthentication ${nsOf(decided)}/${str((decided.value['metadata'] as Rec | undefined)?.['name'])} sets mTLS ${modeOf(decided)}`,
        ['spec', 'mtls', 'mode'],
      );
    const ports = workloadLevel ? (workloadLevel.value['spec'] as Rec)['portLevelMtls'] : undefined;
    if (workloadLevel && isObj(ports))
      for (const [port, cfg] of Object.entries(ports)) {
        const m = isObj(cfg) ? str(cfg['mode']).toUpperCase() : '';
        if (MODES_WITHOUT_IDENTITY.has(m))
          report(workloadLevel, `port ${port} accepts mTLS ${m}`, ['spec', 'portLevelMtls', port]);
      }
  }
}
