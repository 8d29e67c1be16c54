/**
 * ENV rules: an Envoy bootstrap (static config) checked against Envoy's protos and against what phiguard needs from
 * its ext_authz filter. References: Envoy ext_authz filter
 * (https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/ext_authz_filter), `ext_authz.proto`
 * (ExtAuthz, ExtAuthzPerRoute), `route_components.proto` (typed_per_filter_config, FilterConfig) and
 * `http_connection_manager.proto` (HttpFilter.disabled; the terminal router is the last filter).
 */
import { envoyTypes, nearMatch, PROTO_FINDING_CODES, validateProtoJson } from '../envoy/index.js';
import { arr, isObj, str, typeOf, type CheckContext, type Rec } from './context.js';
import type { ManifestDoc } from './manifests.js';
import { envoyWasmRules } from './rules-wasm.js';

const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const EXT_AUTHZ = 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const EXT_AUTHZ_PER_ROUTE = 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
const FILTER_CONFIG = 'envoy.config.route.v3.FilterConfig';
const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';
const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

/** Top-level keys only an Envoy bootstrap has (besides static_resources and dynamic_resources). */
const BOOTSTRAP_ONLY = [
  'layered_runtime',
  'overload_manager',
  'cluster_manager',
  'bootstrap_extensions',
  'stats_sinks',
];

/**
 * Is this document an Envoy bootstrap? No Kubernetes `kind`/`apiVersion`, and static_resources, dynamic_resources
 * (or a key a typo away from one: the file must not be skipped because its main key is misspelled), a key only a
 * bootstrap has, or an `admin` block with an address.
 */
export function isEnvoyBootstrap(v: Rec): boolean {
  if (v['kind'] !== undefined || v['apiVersion'] !== undefined) return false;
  const keys = Object.keys(v);
  return keys.some(
    (k) =>
      nearMatch(k, ['static_resources', 'dynamic_resources', 'staticResources', 'dynamicResources']) !== undefined ||
      BOOTSTRAP_ONLY.includes(k) ||
      (k === 'admin' && isObj(v[k]) && isObj(v[k]['address'])),
  );
}

const pathParts = (dotted: string): Array<string | number> =>
  dotted
    .split(/[.[\]]/)
    .filter(Boolean)
    .map((x) => (/^\d+$/.test(x) ? Number(x) : x));

/** A route match that every request path satisfies (prefix "" or "/", or a match-everything regex). */
function catchAll(match: unknown): boolean {
  if (!isObj(match)) return false;
  // Header and query-parameter matches do not narrow it: the caller chooses those, so such a route is one any caller
  // can select.
  if (match['prefix'] === '' || match['prefix'] === '/' || match['path_separated_prefix'] === '/') return true;
  const re = isObj(match['safe_regex']) ? str(match['safe_regex']['regex']) : undefined;
  return re !== undefined && /^\^?\/?\.[*+]\$?$|^\^?\(\.\*\)\$?$/.test(re);
}

/** Does this typed_per_filter_config entry skip ext_authz? ExtAuthzPerRoute or FilterConfig with disabled: true. */
function disablesAuthz(entry: unknown): boolean {
  if (!isObj(entry)) return false;
  const t = typeOf(entry);
  if (t === EXT_AUTHZ_PER_ROUTE) return entry['disabled'] === true;
  if (t === FILTER_CONFIG) return entry['disabled'] === true || disablesAuthz(entry['config']);
  return false;
}

export interface HcmAt {
  listener: string;
  hcm: Rec;
  base: Array<string | number>;
}

/** Every HTTP connection manager of the static listeners, with its listener's name and its path. */
export function hcmsOf(v: Rec): HcmAt[] {
  const out: HcmAt[] = [];
  const listeners = arr(isObj(v['static_resources']) ? v['static_resources']['listeners'] : undefined);
  listeners.forEach((l, li) => {
    if (!isObj(l)) return;
    const chains: Array<[unknown, Array<string | number>]> = arr(l['filter_chains']).map((fc, ci) => [
      fc,
      ['static_resources', 'listeners', li, 'filter_chains', ci],
    ]);
    if (l['default_filter_chain'] !== undefined)
      chains.push([l['default_filter_chain'], ['static_resources', 'listeners', li, 'default_filter_chain']]);
    for (const [fc, fcPath] of chains) {
      if (!isObj(fc)) continue;
      arr(fc['filters']).forEach((f, fi) => {
        if (isObj(f) && isObj(f['typed_config']) && typeOf(f['typed_config']) === HCM)
          out.push({
            listener: str(l['name']),
            hcm: f['typed_config'],
            base: [...fcPath, 'filters', fi, 'typed_config'],
          });
      });
    }
  });
  return out;
}

function checkHcm(ctx: CheckContext, doc: ManifestDoc, at: HcmAt, clusters: ReadonlySet<string> | undefined): void {
  const { hcm, base } = at;
  const who = `listener "${at.listener}"`;
  const httpFilters = arr(hcm['http_filters']);
  const isAuthz = (h: unknown): h is Rec =>
    isObj(h) && (h['name'] === 'envoy.filters.http.ext_authz' || typeOf(h['typed_config']) === EXT_AUTHZ);
  const idx = httpFilters.findIndex(isAuthz);
  if (idx === -1) {
    ctx.report('ENV001', doc, `${who}: HTTP connection manager without the ext_authz filter`, [
      ...base,
      'http_filters',
    ]);
    return;
  }
  const filter = httpFilters[idx] as Rec;
  const fPath = [...base, 'http_filters', idx];
  const authzNames = new Set(httpFilters.filter(isAuthz).map((h) => str(h['name'])));
  authzNames.add('envoy.filters.http.ext_authz');

  const router = httpFilters.findIndex(
    (h) => isObj(h) && (h['name'] === 'envoy.filters.http.router' || typeOf(h['typed_config']) === ROUTER),
  );
  if (router !== -1 && router < idx)
    ctx.report(
      'ENV006',
      doc,
      `${who}: ext_authz (http_filters[${idx}]) comes after the router (http_filters[${router}])`,
      fPath,
    );

  if (filter['disabled'] === true)
    ctx.report('ENV007', doc, `${who}: the ext_authz filter is disabled (http_filters[${idx}].disabled: true)`, [
      ...fPath,
      'disabled',
    ]);
  const routeConfig = isObj(hcm['route_config']) ? hcm['route_config'] : undefined;
  arr(routeConfig?.['virtual_hosts']).forEach((vh, vi) => {
    if (!isObj(vh)) return;
    const vhPath = [...base, 'route_config', 'virtual_hosts', vi];
    const perFilter = (owner: unknown): string | undefined => {
      const tpfc = isObj(owner) ? owner['typed_per_filter_config'] : undefined;
      if (!isObj(tpfc)) return undefined;
      return Object.keys(tpfc).find(
        (k) => disablesAuthz(tpfc[k]) && (authzNames.has(k) || typeOf(tpfc[k]) === EXT_AUTHZ_PER_ROUTE),
      );
    };
    const vhKey = perFilter(vh);
    if (vhKey !== undefined)
      ctx.report('ENV007', doc, `${who}: ext_authz is disabled for every route of virtual host "${str(vh['name'])}"`, [
        ...vhPath,
        'typed_per_filter_config',
        vhKey,
      ]);
    arr(vh['routes']).forEach((r, ri) => {
      if (!isObj(r)) return;
      const key = perFilter(r);
      if (key !== undefined && catchAll(r['match']))
        ctx.report(
          'ENV007',
          doc,
          `${who}: ext_authz is disabled on a catch-all route (virtual host "${str(vh['name'])}", routes[${ri}])`,
          [...vhPath, 'routes', ri, 'typed_per_filter_config', key],
        );
    });
  });

  const cfg = filter['typed_config'];
  if (!isObj(cfg)) return;
  if (cfg['failure_mode_allow'] === true)
    ctx.report('ENV002', doc, `${who}: ext_authz failure_mode_allow: true`, [
      ...fPath,
      'typed_config',
      'failure_mode_allow',
    ]);
  // ApiVersion AUTO (0, the default when unset) means v3; only V2 (1) is another version (config_source.proto).
  const tav = cfg['transport_api_version'];
  if (
    tav !== undefined &&
    !['V3', 'AUTO', 2, 0].includes(typeof tav === 'string' ? tav.toUpperCase() : (tav as number))
  )
    ctx.report('ENV003', doc, `${who}: ext_authz transport_api_version is ${JSON.stringify(tav)}, not V3`, [
      ...fPath,
      'typed_config',
      'transport_api_version',
    ]);
  const grpc = isObj(cfg['grpc_service']) ? cfg['grpc_service'] : undefined;
  const http = isObj(cfg['http_service']) ? cfg['http_service'] : undefined;
  const cluster =
    grpc && isObj(grpc['envoy_grpc'])
      ? { name: str(grpc['envoy_grpc']['cluster_name']), path: ['grpc_service', 'envoy_grpc', 'cluster_name'] }
      : http && isObj(http['server_uri'])
        ? { name: str(http['server_uri']['cluster']), path: ['http_service', 'server_uri', 'cluster'] }
        : undefined;
  if (cluster && clusters && !clusters.has(cluster.name))
    ctx.report(
      'ENV008',
      doc,
      `${who}: ext_authz calls cluster "${cluster.name}", which static_resources.clusters does not define`,
      [...fPath, 'typed_config', ...cluster.path],
    );
}

export function envoyRules(ctx: CheckContext): void {
  for (const doc of ctx.docs) {
    const v = doc.value;
    if (!isEnvoyBootstrap(v)) continue;
    const types = envoyTypes();
    for (const f of validateProtoJson(types, BOOTSTRAP, v, doc.file)) {
      if (f.code === PROTO_FINDING_CODES.deprecated) continue;
      ctx.report(
        f.code === PROTO_FINDING_CODES.notInKnownApi ? 'ENV005' : 'ENV004',
        doc,
        `${f.path}: ${f.message}`,
        pathParts(f.path),
      );
    }
    // With CDS the ext_authz cluster may arrive from the management server: only a static-only config is decided.
    const dynamic = isObj(v['dynamic_resources']) && v['dynamic_resources']['cds_config'] !== undefined;
    const clusters = dynamic
      ? undefined
      : new Set(
          arr(isObj(v['static_resources']) ? v['static_resources']['clusters'] : undefined).map((c) =>
            isObj(c) ? str(c['name']) : '',
          ),
        );
    for (const at of hcmsOf(v)) {
      checkHcm(ctx, doc, at, clusters);
      envoyWasmRules(ctx, doc, at, clusters);
    }
  }
}
