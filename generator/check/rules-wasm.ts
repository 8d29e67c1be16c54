/**
 * IST009-IST014 and ENV009-ENV014: proxy-wasm filters in the FHIR path, as an Istio WasmPlugin or an Envoy bootstrap's
 * `envoy.filters.http.wasm`. Any wasm filter must fail closed and run pinned code; phiguard's own filter (docs/wasm.md)
 * must run before the ext_authz filter, hand the requests it does not decide to a Check exactly once (to the ext_authz
 * filter after it when its program says `defer-to next-filter`, else by its own call), and have its in-proxy
 * decisions carried to phiguard's AccessLogService, the only way they are audited.
 *
 * References: Istio WasmPlugin (https://istio.io/latest/docs/reference/config/proxy_extensions/wasm-plugin/:
 * FailStrategy, `sha256` "used to verify Wasm module or OCI container", `url` with `@sha256:`, PluginPhase AUTHZ
 * "before Istio authorization filters"), Istio Telemetry (https://istio.io/latest/docs/reference/config/telemetry/:
 * workload selector over namespace over root namespace) and MeshConfig `envoyHttpAls` / `defaultProviders`; Envoy
 * `extensions/filters/http/wasm/v3/wasm.proto`, `extensions/wasm/v3/wasm.proto` (PluginConfig.fail_open, and
 * failure_policy in newer APIs), `config/core/v3/base.proto` (RemoteDataSource.sha256) and
 * `extensions/access_loggers/grpc/v3/als.proto` (CommonGrpcAccessLogConfig.filter_state_objects_to_log).
 */
import { arr, isObj, str, strMap, typeOf, type CheckContext, type Rec } from './context.js';
import type { ManifestDoc } from './manifests.js';
import type { HcmAt } from './rules-envoy.js';
import type { MeshAt, Provider } from './rules-istio.js';

/** The first line of a phiguard decision program (generator/wasm/program.ts PROGRAM_MAGIC, then a tab). */
const PROGRAM_HEADER = 'phiguard-wasm-program\t';
/** The filter state key the filter writes each in-proxy decision under (Envoy prefixes `wasm.`). */
export const DECISION_STATE = 'wasm.phiguard_decision';

const SHA256 = /^[a-f0-9]{64}$/;
const URL_DIGEST = /@sha256:([a-f0-9]{64})$/;

/** The phiguard program in a plugin configuration (its text, or the `{"program": ...}` of pluginConfig), if any. */
function programOf(config: unknown): string | undefined {
  if (typeof config === 'string') {
    if (config.startsWith(PROGRAM_HEADER)) return config;
    try {
      return programOf((JSON.parse(config) as Rec | null)?.['program']);
    } catch {
      return undefined;
    }
  }
  return isObj(config) && typeof config['program'] === 'string' && config['program'].startsWith(PROGRAM_HEADER)
    ? config['program']
    : undefined;
}

/** Does the program send a request it does not decide on to the next filter (`defer-to next-filter`)? */
const defersToNext = (program: string): boolean => program.split('\n').includes('defer-to\tnext-filter');

const nsOf = (d: ManifestDoc): string => str((d.value['metadata'] as Rec | undefined)?.['namespace']) || 'default';
const nameOf = (d: ManifestDoc): string => str((d.value['metadata'] as Rec | undefined)?.['name']);

/** Is `inner` (a selector's matchLabels) satisfied by every pod `outer` selects? ({} selects every pod.) */
const covers = (inner: Record<string, string>, outer: Record<string, string>): boolean =>
  Object.entries(inner).every(([k, v]) => outer[k] === v);

/**
 * Does the access-log provider `name` carry phiguard's decisions? With the mesh config among the inputs: an
 * `envoyHttpAls` provider logging the decision state. Without it (providers defined elsewhere): any name.
 */
function carriesDecisions(name: string, providers: readonly Provider[], meshSeen: boolean): boolean {
  if (!meshSeen) return name !== '';
  const p = providers.find((x) => x.name === name);
  const als = p && isObj(p.body['envoyHttpAls']) ? p.body['envoyHttpAls'] : undefined;
  return als !== undefined && arr(als['filterStateObjectsToLog']).includes(DECISION_STATE);
}

/**
 * IST012: the access-log configuration in effect for the workloads a WasmPlugin selects, by Istio's precedence (a
 * Telemetry selecting them in their namespace, then the namespace's Telemetry without selector, then the root
 * namespace's, then meshConfig.defaultProviders.accessLogging), must send inbound entries to a provider that carries
 * the decision state. Only Telemetry resources with `accessLogging` count; targetRefs are not resolved.
 */
function audited(
  plugin: ManifestDoc,
  ctx: CheckContext,
  meshes: readonly MeshAt[],
  providers: readonly Provider[],
  meshSeen: boolean,
  root: string,
): boolean {
  const spec = plugin.value['spec'] as Rec;
  const pluginLabels = strMap(isObj(spec['selector']) ? spec['selector']['matchLabels'] : undefined);
  const pluginNs = nsOf(plugin);
  const telemetries = ctx.docs.filter(
    (d) => d.value['kind'] === 'Telemetry' && isObj(d.value['spec']) && d.value['spec']['accessLogging'] !== undefined,
  );
  const selectorOf = (d: ManifestDoc): Record<string, string> | undefined => {
    const sel = (d.value['spec'] as Rec)['selector'];
    return isObj(sel) ? strMap(sel['matchLabels']) : undefined;
  };
  const tiers: ManifestDoc[][] = [
    telemetries.filter((d) => nsOf(d) === pluginNs && selectorOf(d) !== undefined),
    telemetries.filter((d) => nsOf(d) === pluginNs && selectorOf(d) === undefined),
    telemetries.filter((d) => nsOf(d) === root && selectorOf(d) === undefined),
  ];
  for (const [i, tier] of tiers.entries()) {
    // A workload-selecting Telemetry decides only for the pods it selects: it must select all the plugin's pods.
    const applying = i === 0 ? tier.filter((d) => covers(selectorOf(d) ?? {}, pluginLabels)) : tier;
    if (applying.length === 0) continue;
    return applying.some((d) =>
      arr((d.value['spec'] as Rec)['accessLogging']).some((entry) => {
        if (!isObj(entry) || entry['disabled'] === true) return false;
        const mode = isObj(entry['match']) ? str(entry['match']['mode']) : '';
        if (mode === 'CLIENT') return false;
        return arr(entry['providers']).some((p) => isObj(p) && carriesDecisions(str(p['name']), providers, meshSeen));
      }),
    );
  }
  return meshes.some(({ mesh }) =>
    arr(isObj(mesh['defaultProviders']) ? mesh['defaultProviders']['accessLogging'] : undefined).some(
      (name) => typeof name === 'string' && carriesDecisions(name, providers, meshSeen),
    ),
  );
}

/**
 * Does a CUSTOM policy routed to phiguard apply to every pod the plugin selects: in the plugin's namespace with a
 * selector the plugin's pods all match (or none), or in the root namespace without selector? targetRefs are not
 * resolved.
 */
function guarded(plugin: ManifestDoc, customs: readonly ManifestDoc[], root: string): boolean {
  const spec = plugin.value['spec'] as Rec;
  const pluginLabels = strMap(isObj(spec['selector']) ? spec['selector']['matchLabels'] : undefined);
  return customs.some((c) => {
    const sel = (c.value['spec'] as Rec)['selector'];
    if (nsOf(c) === root && nsOf(plugin) !== root) return !isObj(sel);
    return nsOf(c) === nsOf(plugin) && (!isObj(sel) || covers(strMap(sel['matchLabels']), pluginLabels));
  });
}

/**
 * IST009-IST014 over every WasmPlugin; `meshes`, `providers` and the CUSTOM policies routed to phiguard
 * (`phiguardCustoms`) as istioRules reads them.
 */
export function istioWasmRules(
  ctx: CheckContext,
  meshes: readonly MeshAt[],
  providers: readonly Provider[],
  meshSeen: boolean,
  root: string,
  phiguardCustoms: readonly ManifestDoc[],
): void {
  const plugins = ctx.docs.filter((d) => d.value['kind'] === 'WasmPlugin' && isObj(d.value['spec']));
  for (const d of plugins) {
    const spec = d.value['spec'] as Rec;
    const who = `WasmPlugin ${nsOf(d)}/${nameOf(d)}`;
    if (spec['failStrategy'] === 'FAIL_OPEN')
      ctx.report('IST009', d, `${who} has failStrategy: FAIL_OPEN`, ['spec', 'failStrategy']);
    const url = str(spec['url']);
    const sha = spec['sha256'];
    const urlDigest = URL_DIGEST.exec(url)?.[1];
    if (sha !== undefined && sha !== '' && !SHA256.test(str(sha)))
      ctx.report('IST010', d, `${who}: sha256 is not 64 lowercase hex digits`, ['spec', 'sha256']);
    else if (urlDigest !== undefined && typeof sha === 'string' && sha !== '' && sha !== urlDigest)
      ctx.report('IST010', d, `${who}: sha256 differs from the url's @sha256: digest`, ['spec', 'sha256']);
    else if (urlDigest === undefined && (typeof sha !== 'string' || sha === ''))
      ctx.report('IST010', d, `${who}: module ${url || '(no url)'} is not pinned (no sha256, no @sha256: digest)`, [
        'spec',
        'url',
      ]);

    const program = programOf(spec['pluginConfig']);
    const phiguard = program !== undefined || /phiguard/i.test(url);
    if (!phiguard) continue;
    if (spec['phase'] !== 'AUTHZ')
      ctx.report(
        'IST011',
        d,
        `${who} (phiguard's filter) runs in phase ${spec['phase'] === undefined ? '(unset: before the router)' : str(spec['phase'])}, not AUTHZ`,
        ['spec', 'phase'],
      );
    if (!audited(d, ctx, meshes, providers, meshSeen, root))
      ctx.report(
        'IST012',
        d,
        `${who} (phiguard's filter): no Telemetry or default provider sends its workloads' inbound access log to an ` +
          `envoyHttpAls provider with filterStateObjectsToLog [${DECISION_STATE}]`,
        ['spec'],
      );
    if (program === undefined) continue;
    const next = defersToNext(program);
    const checked = guarded(d, phiguardCustoms, root);
    if (next && !checked)
      ctx.report(
        'IST013',
        d,
        `${who} (phiguard's filter) defers to the next filter, but no CUSTOM AuthorizationPolicy routed to phiguard ` +
          `applies to all its workloads: a request the program does not decide reaches the server undecided`,
        ['spec', 'pluginConfig'],
      );
    if (!next && checked)
      ctx.report(
        'IST014',
        d,
        `${who} (phiguard's filter) Checks deferred requests itself, and a CUSTOM AuthorizationPolicy Checks them again`,
        ['spec', 'pluginConfig'],
      );
  }
}

/** Is this HTTP filter a proxy-wasm filter? */
const isWasm = (h: unknown): h is Rec =>
  isObj(h) &&
  (h['name'] === 'envoy.filters.http.wasm' ||
    typeOf(h['typed_config']) === 'envoy.extensions.filters.http.wasm.v3.Wasm');

/**
 * ENV009-ENV014 for one HTTP connection manager of an Envoy bootstrap. `clusters` is undefined when clusters may
 * come from CDS (then a cluster name cannot be judged).
 */
export function envoyWasmRules(
  ctx: CheckContext,
  doc: ManifestDoc,
  at: HcmAt,
  clusters: ReadonlySet<string> | undefined,
): void {
  const who = `listener "${at.listener}"`;
  const httpFilters = arr(at.hcm['http_filters']);
  const isAuthz = (h: unknown): boolean =>
    isObj(h) &&
    h['disabled'] !== true &&
    (h['name'] === 'envoy.filters.http.ext_authz' ||
      typeOf(h['typed_config']) === 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz');
  const authz = httpFilters.findIndex(isAuthz);
  let phiguard = false;
  httpFilters.forEach((h, i) => {
    if (!isWasm(h) || !isObj(h['typed_config'])) return;
    const cfgPath = [...at.base, 'http_filters', i, 'typed_config', 'config'];
    const config = isObj(h['typed_config']['config']) ? h['typed_config']['config'] : {};
    if (config['fail_open'] === true)
      ctx.report('ENV009', doc, `${who}: wasm filter http_filters[${i}] has fail_open: true`, [
        ...cfgPath,
        'fail_open',
      ]);
    const policy = config['failure_policy'];
    if (policy === 'FAIL_OPEN' || policy === 3)
      ctx.report('ENV009', doc, `${who}: wasm filter http_filters[${i}] has failure_policy: FAIL_OPEN`, [
        ...cfgPath,
        'failure_policy',
      ]);
    const vm = isObj(config['vm_config']) ? config['vm_config'] : {};
    const code = isObj(vm['code']) ? vm['code'] : {};
    if (isObj(code['remote']) && !SHA256.test(str(code['remote']['sha256'])))
      ctx.report(
        'ENV010',
        doc,
        `${who}: wasm filter http_filters[${i}] loads remote code without a sha256 of 64 lowercase hex digits`,
        [...cfgPath, 'vm_config', 'code', 'remote'],
      );
    const configuration = isObj(config['configuration']) ? config['configuration']['value'] : undefined;
    const source = isObj(code['local'])
      ? str(code['local']['filename'])
      : isObj(code['remote'])
        ? JSON.stringify(code['remote'])
        : '';
    const program = programOf(configuration);
    if (program === undefined && !/phiguard/i.test(source)) return;
    phiguard = true;
    // An enabled ext_authz anywhere before the router Checks the request (before the filter: every request).
    const checked = httpFilters.some(isAuthz);
    if (program !== undefined && defersToNext(program) && !checked)
      ctx.report(
        'ENV013',
        doc,
        `${who}: phiguard's wasm filter (http_filters[${i}]) defers to the next filter, but no enabled ext_authz is in the chain: ` +
          `a request the program does not decide reaches the router undecided`,
        [...at.base, 'http_filters', i],
      );
    if (program !== undefined && !defersToNext(program) && checked)
      ctx.report(
        'ENV014',
        doc,
        `${who}: phiguard's wasm filter (http_filters[${i}]) Checks deferred requests itself, and ext_authz Checks them again`,
        [...at.base, 'http_filters', i],
      );
    if (authz !== -1 && i > authz)
      ctx.report(
        'ENV012',
        doc,
        `${who}: phiguard's wasm filter (http_filters[${i}]) comes after ext_authz (http_filters[${authz}])`,
        [...at.base, 'http_filters', i],
      );
  });
  if (!phiguard) return;
  const logs = arr(at.hcm['access_log']);
  const carrying = logs.findIndex((l) => {
    if (!isObj(l) || typeOf(l['typed_config']) !== 'envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig')
      return false;
    const common = (l['typed_config'] as Rec)['common_config'];
    return isObj(common) && arr(common['filter_state_objects_to_log']).includes(DECISION_STATE);
  });
  if (carrying === -1) {
    ctx.report(
      'ENV011',
      doc,
      `${who}: phiguard's wasm filter runs, but no http_grpc access log carries ${DECISION_STATE} (filter_state_objects_to_log)`,
      [...at.base, 'access_log'],
    );
    return;
  }
  const common = ((logs[carrying] as Rec)['typed_config'] as Rec)['common_config'] as Rec;
  const grpc = isObj(common['grpc_service']) ? common['grpc_service'] : {};
  const cluster = isObj(grpc['envoy_grpc']) ? str(grpc['envoy_grpc']['cluster_name']) : undefined;
  if (cluster !== undefined && clusters && !clusters.has(cluster))
    ctx.report(
      'ENV011',
      doc,
      `${who}: the access log carrying ${DECISION_STATE} sends to cluster "${cluster}", which static_resources.clusters does not define`,
      [...at.base, 'access_log', carrying, 'typed_config', 'common_config', 'grpc_service'],
    );
}
