/** IST rules (Istio ext_authz provider and CUSTOM policies) and ENV rules (Envoy ext_authz config). */
import { parse as parseYaml } from 'yaml';
import { envoyConfigRoot, validateProtoJson } from '../envoy/index.js';
import { arr, isObj, str, type CheckContext, type Rec } from './context.js';
import type { ManifestDoc } from './manifests.js';

interface Provider {
  name: string;
  body: Rec;
  doc: ManifestDoc;
  path: Array<string | number>;
}

/** Extension providers from IstioOperator, the `istio` ConfigMap (`data.mesh`), or istiod Helm values. */
function providersOf(ctx: CheckContext): Provider[] {
  const out: Provider[] = [];
  const add = (doc: ManifestDoc, mesh: unknown, base: Array<string | number>): void => {
    if (!isObj(mesh)) return;
    arr(mesh['extensionProviders']).forEach((p, i) => {
      if (isObj(p)) out.push({ name: str(p['name']), body: p, doc, path: [...base, 'extensionProviders', i] });
    });
  };
  for (const doc of ctx.docs) {
    const v = doc.value;
    if (v['kind'] === 'IstioOperator' && isObj(v['spec'])) add(doc, v['spec']['meshConfig'], ['spec', 'meshConfig']);
    else if (v['kind'] === 'ConfigMap' && isObj(v['data']) && typeof v['data']['mesh'] === 'string') {
      try {
        add(doc, parseYaml(v['data']['mesh']), ['data', 'mesh']);
      } catch {
        ctx.report('IST001', doc, 'the istio ConfigMap data.mesh is not valid YAML', ['data', 'mesh']);
      }
    } else if (v['kind'] === undefined && isObj(v['meshConfig'])) add(doc, v['meshConfig'], ['meshConfig']);
  }
  return out;
}

function seconds(d: unknown): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(str(d));
  if (!m?.[1]) return undefined;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n;
}

export function istioRules(ctx: CheckContext): void {
  const providers = providersOf(ctx);
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
  const customs = ctx.docs.filter(
    (d) =>
      d.value['kind'] === 'AuthorizationPolicy' && isObj(d.value['spec']) && d.value['spec']['action'] === 'CUSTOM',
  );
  for (const d of customs) {
    const spec = d.value['spec'] as Rec;
    const name = isObj(spec['provider']) ? str(spec['provider']['name']) : '';
    if (!names.has(name))
      ctx.report(
        'IST001',
        d,
        `CUSTOM AuthorizationPolicy uses provider "${name}", which no meshConfig.extensionProviders entry in the inputs defines`,
        ['spec', 'provider', 'name'],
      );
  }
  const phiguardProviders = new Set(
    providers.filter((p) => /phiguard/.test(p.name) || /phiguard/.test(JSON.stringify(p.body))).map((p) => p.name),
  );
  const routed = customs.some((d) =>
    phiguardProviders.has(str(((d.value['spec'] as Rec)['provider'] as Rec | undefined)?.['name'])),
  );
  const firstAgent = ctx.agents[0];
  if (firstAgent && !routed)
    ctx.report(
      'IST005',
      firstAgent.doc,
      `${ctx.agents.length} agent workload(s) but no CUSTOM AuthorizationPolicy routes traffic to a phiguard extension provider`,
    );
}

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';

export function envoyRules(ctx: CheckContext): void {
  for (const doc of ctx.docs) {
    const v = doc.value;
    if (v['kind'] !== undefined || !(v['static_resources'] !== undefined || v['dynamic_resources'] !== undefined))
      continue;
    for (const f of validateProtoJson(envoyConfigRoot(), 'envoy.config.bootstrap.v3.Bootstrap', v, doc.file)) {
      if (f.severity === 'error')
        ctx.report(
          'ENV004',
          doc,
          `${f.path}: ${f.message}`,
          f.path
            .split(/[.[\]]/)
            .filter(Boolean)
            .map((x) => (/^\d+$/.test(x) ? Number(x) : x)),
        );
    }
    const listeners = arr(isObj(v['static_resources']) ? v['static_resources']['listeners'] : undefined);
    listeners.forEach((l, li) => {
      if (!isObj(l)) return;
      arr(l['filter_chains']).forEach((fc, ci) => {
        if (!isObj(fc)) return;
        arr(fc['filters']).forEach((f, fi) => {
          if (!isObj(f) || !isObj(f['typed_config']) || f['typed_config']['@type'] !== HCM) return;
          const base = ['static_resources', 'listeners', li, 'filter_chains', ci, 'filters', fi, 'typed_config'];
          const httpFilters = arr(f['typed_config']['http_filters']);
          const idx = httpFilters.findIndex(
            (h) =>
              isObj(h) &&
              (h['name'] === 'envoy.filters.http.ext_authz' ||
                (isObj(h['typed_config']) && h['typed_config']['@type'] === EXT_AUTHZ)),
          );
          if (idx === -1) {
            ctx.report(
              'ENV001',
              doc,
              `listener "${str(l['name'])}": HTTP connection manager without the ext_authz filter`,
              [...base, 'http_filters'],
            );
            return;
          }
          const cfg = (httpFilters[idx] as Rec)['typed_config'];
          if (!isObj(cfg)) return;
          if (cfg['failure_mode_allow'] === true)
            ctx.report('ENV002', doc, `listener "${str(l['name'])}": ext_authz failure_mode_allow: true`, [
              ...base,
              'http_filters',
              idx,
              'typed_config',
              'failure_mode_allow',
            ]);
          if (cfg['transport_api_version'] !== 'V3')
            ctx.report(
              'ENV003',
              doc,
              `listener "${str(l['name'])}": ext_authz transport_api_version is ` +
                `${cfg['transport_api_version'] === undefined ? 'unset' : str(cfg['transport_api_version'])}, not V3`,
              [...base, 'http_filters', idx, 'typed_config'],
            );
        });
      });
    });
  }
}
