/**
 * IST009-IST015 and ENV009-ENV015: proxy-wasm filters in the FHIR path, as an Istio WasmPlugin or an Envoy bootstrap's
 * `envoy.filters.http.wasm`. Any wasm filter must fail closed and run pinned code; phiguard's own filter (docs/wasm.md)
 * must leave no request unChecked and none Checked twice (a program that says `defer-to next-filter` needs an
 * ext_authz to phiguard in the chain, one that calls Check itself must not have one), and have its in-proxy
 * decisions carried, unfiltered, to a phiguard that serves AccessLogService and accepts the reporting workload: the
 * only way they are audited.
 *
 * Istio inserts the ext_authz filter of a CUSTOM AuthorizationPolicy before every WasmPlugin, whatever its phase
 * (pilot/pkg/networking/core/listener_builder.go: `authzCustomBuilder.BuildHTTP` ahead of the AUTHN, AUTHZ and STATS
 * extensions, since istio/istio#38595): under a CUSTOM policy the filter sees only requests phiguard allowed.
 *
 * References: Istio WasmPlugin (https://istio.io/latest/docs/reference/config/proxy_extensions/wasm-plugin/:
 * FailStrategy, `sha256` "used to verify Wasm module or OCI container", `url` with `@sha256:`, PluginPhase AUTHZ
 * "before Istio authorization filters"), Istio Telemetry (https://istio.io/latest/docs/reference/config/telemetry/:
 * workload selector over namespace over root namespace; AccessLogging.filter, a CEL expression that selects the
 * requests logged) and MeshConfig `envoyHttpAls` / `defaultProviders`; Envoy `config/accesslog/v3/accesslog.proto`
 * (AccessLog.filter);
 * `extensions/filters/http/wasm/v3/wasm.proto`, `extensions/wasm/v3/wasm.proto` (PluginConfig.fail_open, and
 * failure_policy in newer APIs), `config/core/v3/base.proto` (RemoteDataSource.sha256) and
 * `extensions/access_loggers/grpc/v3/als.proto` (CommonGrpcAccessLogConfig.filter_state_objects_to_log).
 */
import { arr, isObj, str, strMap, typeOf, type CheckContext, type Rec, type Workload } from './context.js';
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

/** Does a Telemetry accessLogging entry log only the requests its CEL `filter.expression` selects? */
const filtered = (entry: Rec): boolean => isObj(entry['filter']) && str(entry['filter']['expression']).trim() !== '';

/**
 * IST012: the access-log configuration in effect for the workloads a WasmPlugin selects, by Istio's precedence (a
 * Telemetry selecting them in their namespace, then the namespace's Telemetry without selector, then the root
 * namespace's, then meshConfig.defaultProviders.accessLogging), must send inbound entries to a provider that carries
 * the decision state. An entry with a `filter` expression does not count: entries it filters out (e.g.
 * `response.code >= 500` drops every in-proxy deny) are never sent. Only Telemetry resources with `accessLogging`
 * count; targetRefs are not resolved.
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
        if (!isObj(entry) || entry['disabled'] === true || filtered(entry)) return false;
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
 * The CUSTOM policy routed to phiguard that applies to every pod the plugin selects, if any: in the plugin's namespace
 * with a selector the plugin's pods all match (or none), or in the root namespace without selector. targetRefs are not
 * resolved.
 */
function guarded(plugin: ManifestDoc, customs: readonly ManifestDoc[], root: string): ManifestDoc | undefined {
  const spec = plugin.value['spec'] as Rec;
  const pluginLabels = strMap(isObj(spec['selector']) ? spec['selector']['matchLabels'] : undefined);
  return customs.find((c) => {
    const sel = (c.value['spec'] as Rec)['selector'];
    if (nsOf(c) === root && nsOf(plugin) !== root) return !isObj(sel);
    return nsOf(c) === nsOf(plugin) && (!isObj(sel) || covers(strMap(sel['matchLabels']), pluginLabels));
  });
}

/**
 * IST009-IST015 over every WasmPlugin; `meshes`, `providers` and the CUSTOM policies routed to phiguard
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
    // Istio puts a CUSTOM policy's ext_authz before every WasmPlugin, whatever its phase (listener_builder.go).
    const custom = guarded(d, phiguardCustoms, root);
    const allows = program !== undefined && program.split('\n').some((l) => l.startsWith('verdict\tallow\t'));
    if (custom)
      ctx.report(
        'IST011',
        d,
        `${who} (phiguard's filter) runs after the ext_authz filter of CUSTOM AuthorizationPolicy ${nsOf(custom)}/${nameOf(custom)} ` +
          `(Istio inserts it before every WasmPlugin, whatever the phase): the filter sees only requests phiguard ` +
          `allowed and saves no Check` +
          (allows ? `; each in-proxy allow records a second decision for a request phiguard recorded already` : ''),
        ['spec', 'selector'],
      );
    else if (spec['phase'] !== 'AUTHZ')
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
        `${who} (phiguard's filter): no Telemetry or default provider sends its workloads' inbound access log, ` +
          `unfiltered, to an envoyHttpAls provider with filterStateObjectsToLog [${DECISION_STATE}]`,
        ['spec'],
      );
    receiverRules(ctx, d, who);
    if (program === undefined) continue;
    const next = defersToNext(program);
    if (next && !custom)
      ctx.report(
        'IST013',
        d,
        `${who} (phiguard's filter) defers to the next filter, but no CUSTOM AuthorizationPolicy routed to phiguard ` +
          `applies to all its workloads: a request the program does not decide reaches the server with no Check`,
        ['spec', 'pluginConfig'],
      );
    if (!next && custom)
      ctx.report(
        'IST014',
        d,
        `${who} (phiguard's filter) Checks deferred requests itself, after the ext_authz of CUSTOM AuthorizationPolicy ` +
          `${nsOf(custom)}/${nameOf(custom)} Checked them (Istio runs it before the filter): two Checks and two records each`,
        ['spec', 'pluginConfig'],
      );
  }
}

/** The value of `--flag VALUE` or `--flag=VALUE` in a container's command line, if given. */
function flagValue(argv: readonly string[], flag: string): string | undefined {
  for (const [i, a] of argv.entries()) {
    if (a === flag) return argv[i + 1] ?? '';
    if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
  }
  return undefined;
}

/**
 * A `phiguard serve` container among the inputs (a container whose image or name names phiguard and whose command
 * line has `serve`) and one of its settings as `serve` resolves it: the flag, else the environment variable (commander
 * `.env()`), else undefined. `unknown` when the value comes from elsewhere (`valueFrom`, or `envFrom` without an
 * explicit entry): the rules then cannot judge it.
 */
interface ServeContainer {
  workload: Workload;
  path: Array<string | number>;
  setting(flag: string, env: string): { value: string | undefined; unknown: boolean };
}

function serveContainers(ctx: CheckContext): ServeContainer[] {
  const out: ServeContainer[] = [];
  for (const w of ctx.workloads)
    arr(w.podSpec['containers']).forEach((c, i) => {
      if (!isObj(c)) return;
      const argv = [...arr(c['command']), ...arr(c['args'])].map((x) => str(x));
      if (!/phiguard/i.test(`${str(c['image'])} ${str(c['name'])}`) || !argv.includes('serve')) return;
      const env = arr(c['env']).filter(isObj);
      const envFrom = arr(c['envFrom']).length > 0;
      out.push({
        workload: w,
        path: [...w.podSpecPath, 'containers', i],
        setting(flag, name) {
          const fromFlag = flagValue(argv, flag);
          if (fromFlag !== undefined) return { value: fromFlag, unknown: false };
          const e = env.find((x) => x['name'] === name);
          if (e)
            return e['valueFrom'] !== undefined
              ? { value: undefined, unknown: true }
              : { value: str(e['value']), unknown: false };
          return { value: undefined, unknown: envFrom };
        },
      });
    });
  return out;
}

/** What IST015 and ENV015 reported already in a run: one finding per phiguard container and cause. */
const receiverReported = new WeakMap<CheckContext, Set<string>>();

/**
 * The receiver check both rules share: every `phiguard serve` among the inputs must run the receiver of in-proxy
 * decisions (`--proxy-audit xfcc` or `network`; off, it serves no AccessLogService). Returns the containers in `xfcc`
 * mode, for the reporter check.
 */
function servingReceivers(ctx: CheckContext, ruleId: 'IST015' | 'ENV015', who: string): ServeContainer[] {
  const seen = receiverReported.get(ctx) ?? new Set<string>();
  receiverReported.set(ctx, seen);
  const xfcc: ServeContainer[] = [];
  for (const s of serveContainers(ctx)) {
    const mode = s.setting('--proxy-audit', 'PHIGUARD_PROXY_AUDIT');
    if (mode.unknown) continue;
    if (mode.value === 'xfcc') xfcc.push(s);
    if (mode.value === 'xfcc' || mode.value === 'network') continue;
    const key = `${ruleId}\0${s.workload.doc.file}\0${s.workload.doc.index}\0${s.path.join('.')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    ctx.report(
      ruleId,
      s.workload.doc,
      `phiguard ${s.workload.kind} ${s.workload.namespace}/${s.workload.name} runs with --proxy-audit ` +
        `${mode.value ?? 'off (PHIGUARD_PROXY_AUDIT unset)'}: it serves no AccessLogService, so the in-proxy ` +
        `decisions of ${who} are never recorded`,
      [...s.path, 'env'],
    );
  }
  return xfcc;
}

/**
 * IST015: every `phiguard serve` among the inputs must run the receiver of in-proxy decisions (servingReceivers), and
 * with `xfcc` name in `--proxy-audit-reporters` the SPIFFE id of each workload among the inputs the WasmPlugin selects
 * (its entries are refused otherwise). Trust domain: the container's `--trust-domain` / PHIGUARD_TRUST_DOMAIN, else
 * the check's.
 */
function receiverRules(ctx: CheckContext, plugin: ManifestDoc, who: string): void {
  const spec = plugin.value['spec'] as Rec;
  const pluginLabels = strMap(isObj(spec['selector']) ? spec['selector']['matchLabels'] : undefined);
  const filtering = ctx.workloads.filter((w) => w.namespace === nsOf(plugin) && covers(pluginLabels, w.podLabels));
  const seen = receiverReported.get(ctx) ?? new Set<string>();
  receiverReported.set(ctx, seen);
  for (const s of servingReceivers(ctx, 'IST015', who)) {
    const what = `phiguard ${s.workload.kind} ${s.workload.namespace}/${s.workload.name}`;
    const reporters = s.setting('--proxy-audit-reporters', 'PHIGUARD_PROXY_AUDIT_REPORTERS');
    if (reporters.unknown) continue;
    const named = (reporters.value ?? '').split(',').map((x) => x.trim());
    const td = s.setting('--trust-domain', 'PHIGUARD_TRUST_DOMAIN');
    const trustDomain = td.value || ctx.trustDomain;
    for (const w of filtering) {
      const id = `spiffe://${trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`;
      const key = `IST015\0${s.workload.doc.file}\0${s.workload.doc.index}\0${id}\0${w.namespace}/${w.name}`;
      if (named.includes(id) || seen.has(key)) continue;
      seen.add(key);
      ctx.report(
        'IST015',
        s.workload.doc,
        `${what}: PHIGUARD_PROXY_AUDIT_REPORTERS does not name ${id}, the identity of ${w.kind} ` +
          `${w.namespace}/${w.name} whose sidecar runs ${who}: its entries are refused (rejected-reporter) and its ` +
          `in-proxy decisions never recorded`,
        [...s.path, 'env'],
      );
    }
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
  // ENV015: the phiguard among the inputs serves the receiver (`network` for a front proxy; reporters are not judged).
  servingReceivers(ctx, 'ENV015', `phiguard's wasm filter in ${who}`);
  const logs = arr(at.hcm['access_log']);
  const logsDecisions = (l: unknown): boolean => {
    if (!isObj(l) || typeOf(l['typed_config']) !== 'envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig')
      return false;
    const common = (l['typed_config'] as Rec)['common_config'];
    return isObj(common) && arr(common['filter_state_objects_to_log']).includes(DECISION_STATE);
  };
  // An access log with a `filter` (AccessLog.filter: runtime_filter, status_code_filter, ...) sends only the entries
  // it selects: the decisions of the requests it filters out are never recorded.
  const carrying = logs.findIndex((l) => logsDecisions(l) && (l as Rec)['filter'] === undefined);
  if (carrying === -1) {
    const filteredAt = logs.findIndex(logsDecisions);
    ctx.report(
      'ENV011',
      doc,
      filteredAt === -1
        ? `${who}: phiguard's wasm filter runs, but no http_grpc access log carries ${DECISION_STATE} (filter_state_objects_to_log)`
        : `${who}: the http_grpc access log carrying ${DECISION_STATE} (access_log[${filteredAt}]) has a filter: ` +
            `the in-proxy decisions of the requests it filters out are never sent to phiguard`,
      filteredAt === -1 ? [...at.base, 'access_log'] : [...at.base, 'access_log', filteredAt, 'filter'],
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
