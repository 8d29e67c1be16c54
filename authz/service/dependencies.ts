/**
 * Everything a Check depends on, built from the validated configuration: the audit sinks, metrics, the
 * hot-reloaded sources (policy set, BAA registry, credentials, containment), the claims resolver, the authorizer
 * over a snapshot of those sources, the effects applier and the envelope recorder. Built once at startup; a
 * source that cannot be loaded stops the startup (never starts open).
 */
import { hostname } from 'node:os';
import { createAuditSink, createThreadedAuditSink, AUDIT_FORMAT, type AuditSink } from '../audit/index.js';
import {
  createContainmentStore,
  createPatientContext,
  type ContainmentEnd,
  type ContainmentState,
  type ContainmentStore,
  type ContainmentStoreOptions,
  type PatientContext,
} from '../containment/index.js';
import { createEffectsApplier, type EffectsApplier } from '../effects/index.js';
import {
  createBaaStore,
  createRateLimiter,
  DEFAULT_INTERNAL_SUFFIXES,
  readCredentialStore,
  type BaaStore,
  type CredentialStore,
} from '../egress/index.js';
import { createClaimsResolver, ClaimsConfigSchema, type ClaimsResolver, type KeySetStatus } from '../identity/index.js';
import { createAuthorizer, type Authorizer, type Snapshot } from '../lanes/index.js';
import { createEnvelopeRecorder, type EnvelopeRecorder } from '../observe/index.js';
import type * as Kube from '../kube/index.js';
import type { ClusterPolicySource } from '../kube/index.js';
import { createPolicyStore, formatFinding, type PolicyStore, type PolicyStoreEvents } from '../policy/index.js';
import { readPrivacyKey, type PrivacyKey } from '../privacy/index.js';
import { clockMs } from './check-pipeline.js';
import type { ServerConfig } from './config.js';
import { startupError } from './startup-error.js';
import { createLogThrottle } from './log-throttle.js';
import type { Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';

export interface Dependencies {
  audit: AuditSink;
  auditEvents: AuditSink | undefined;
  metrics: Metrics;
  policies: PolicyStore;
  authorizer: Authorizer;
  effects: EffectsApplier;
  recorder: EnvelopeRecorder | undefined;
  /** The JWKS key sets (none without a JWKS configured). */
  keySets: () => KeySetStatus[];
  /** Stops the reloads and the recorder, flushes and closes the audit sinks. */
  close(): Promise<void>;
}

interface Sources {
  policies: PolicyStore;
  baa: BaaStore | undefined;
  credentials: CredentialStore | undefined;
  containment: { store: ContainmentStore; context: PatientContext } | undefined;
}

function createAuditSinks(
  config: ServerConfig,
  log: Logger,
  onError: (code: string) => void,
): { audit: AuditSink; auditEvents: AuditSink | undefined } {
  const fsync = config.auditSync === 'fsync';
  const options = { target: config.auditFile, maxBufferBytes: config.auditMaxBufferBytes, fsync, onError };
  // On the decision thread the gRPC thread is already elsewhere: a writer thread would only add a third.
  const writer = config.auditWriter ?? (config.decisions === 'thread' ? 'inline' : 'thread');
  const audit = writer === 'thread' ? createThreadedAuditSink(options) : createAuditSink(options);
  const auditEvents =
    config.auditEventFile === undefined
      ? undefined
      : createAuditSink({
          target: config.auditEventFile,
          maxBufferBytes: config.auditMaxBufferBytes,
          fsync,
          onError: (code) =>
            log.error({ code }, 'AuditEvent sink failed; the accesses it records are denied until restart'),
        });
  return { audit, auditEvents };
}

/**
 * The Kubernetes client side (authz/kube), loaded only when a source is the cluster: `@kubernetes/client-node` costs
 * about 90 MB of each thread's memory (it is loaded in every decision thread), which a service reading files does not
 * need (docs/performance.md).
 */
function kubeModule(config: ServerConfig): Promise<typeof Kube> | undefined {
  return config.policiesFrom === 'files' && config.containmentFrom === 'files' ? undefined : import('../kube/index.js');
}

function createPolicies(config: ServerConfig, m: Metrics, log: Logger, cluster?: ClusterPolicySource): PolicyStore {
  // The directory (policy/policy-store.ts), or the AgentPolicy objects behind the same contract and events.
  const open = (events: PolicyStoreEvents): ReturnType<typeof createPolicyStore> =>
    cluster !== undefined
      ? cluster.open(events)
      : createPolicyStore(config.policies ?? '', events, { settleMs: config.reloadSettleMs });
  const loaded = open({
    // phiguard_policy_stale and phiguard_policy_info are read from the store at scrape time (metrics.ts `watch`),
    // as /readyz reads it: a reload that restores the set in force (same version) clears both at once.
    onReloaded: (set) => {
      m.reloads.inc({ result: 'success' });
      m.hot.declare(set);
      log.info({ version: set.version, agents: set.agents.length }, 'policy reloaded');
    },
    onRecovered: () => log.info('policy directory loads again; the set in force is current'),
    onReloadFailed: (findings, kept) => {
      m.reloads.inc({ result: 'failure' });
      log.error(
        { kept, findings: findings.map(formatFinding) },
        'POLICY RELOAD REJECTED: the last good policy set stays in force',
      );
    },
  });
  const what = config.policies !== undefined ? `policy directory ${config.policies}` : 'AgentPolicy objects';
  if (!loaded.ok) throw startupError(`${what} did not load`, loaded.error);
  m.watch({ policies: loaded.value });
  m.hot.declare(loaded.value.current());
  return loaded.value;
}

/** Least time between two log lines of one JWKS fetch failure cause. */
export const JWKS_LOG_INTERVAL_MS = 60_000;

function createClaims(config: ServerConfig, m: Metrics, log: Logger): ClaimsResolver {
  const withKeys = config.jwtIssuer !== undefined && (config.jwksFile !== undefined || config.jwksUri !== undefined);
  const parsed = ClaimsConfigSchema.safeParse({
    jwtAuthnPayloadKey: config.jwtAuthnPayloadKey,
    onInvalidToken: config.jwtOnInvalid,
    issuers: withKeys
      ? [
          {
            issuer: config.jwtIssuer,
            audiences: config.jwtAudience,
            ...(config.jwksFile !== undefined ? { jwksFile: config.jwksFile } : { jwksUri: config.jwksUri }),
          },
        ]
      : [],
  });
  if (!parsed.success) {
    throw startupError(`JWT configuration invalid: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  const throttle = createLogThrottle(JWKS_LOG_INTERVAL_MS);
  let failing = false;
  const claims: { resolver?: ClaimsResolver } = {};
  const usable = (): boolean => claims.resolver?.keySets?.().every((k) => k.available) ?? false;
  try {
    claims.resolver = createClaimsResolver(parsed.data, {
      reloadSettleMs: config.reloadSettleMs,
      onKeysReloadFailed: (file, message) => {
        m.jwksReloadFailures.inc();
        log.error({ file, message }, 'JWKS FILE RELOAD REJECTED: the last good key set stays in force');
      },
      onKeysFetched: (result, cause) => {
        m.jwksFetches.inc({ result });
        if (result === 'success') {
          if (failing) log.info({ uri: config.jwksUri }, 'JWKS fetched again: keys available');
          failing = false;
          return;
        }
        failing = true;
        const suppressed = throttle.take(cause);
        if (suppressed === undefined) return;
        const held = usable();
        log[held ? 'warn' : 'error'](
          { uri: config.jwksUri, cause, suppressed, keysAvailable: held },
          held
            ? 'JWKS fetch failed; the key set in force is kept until it is too old'
            : 'JWKS UNAVAILABLE: bearer tokens are denied keys-unavailable (503) until a fetch succeeds',
        );
      },
    });
    const resolver = claims.resolver;
    m.watch({ keySets: () => resolver.keySets?.() ?? [] });
    return resolver;
  } catch (e) {
    throw startupError(`JWKS unusable: ${e instanceof Error ? e.message : 'error'}`, e);
  }
}

function createBaa(config: ServerConfig, m: Metrics, log: Logger): BaaStore | undefined {
  if (config.baaRegistry === undefined) return undefined;
  const b = createBaaStore(
    config.baaRegistry,
    {
      onReloaded: (version) => {
        m.baaReloads.inc({ result: 'success' });
        log.info({ version }, 'BAA registry reloaded');
      },
      onReloadFailed: (error, kept) => {
        m.baaReloads.inc({ result: 'failure' });
        log.error({ kept, error }, 'BAA REGISTRY RELOAD REJECTED: the last good registry stays in force');
      },
    },
    { settleMs: config.reloadSettleMs },
  );
  if (!b.ok) throw startupError(`BAA registry ${config.baaRegistry} did not load`, b.error);
  return b.value;
}

/**
 * The privacy key (`--privacy-key-file`), read once: a configured key that cannot be used stops the startup. Without
 * one, what would need it is not stored (docs/privacy.md), and the operator is told.
 */
function loadPrivacyKey(config: ServerConfig, log: Logger): PrivacyKey | undefined {
  if (config.privacyKeyFile === undefined) {
    if (config.envelopeDir !== undefined || config.containmentDir !== undefined)
      log.warn(
        'no privacy key (--privacy-key-file / PHIGUARD_PRIVACY_KEY_FILE): envelopes record no distinct-patient ' +
          'sketch, and a pause containment is entered as stop',
      );
    return undefined;
  }
  const key = readPrivacyKey(config.privacyKeyFile);
  if (!key.ok) throw startupError(key.error.message, key.error);
  return key.value;
}

/** The `containment-ended` record: how it ended, and for a lift who lifted it and why (`phiguard contain lift`). */
function containmentEnded(
  agent: string,
  ended: { end: ContainmentEnd; previous: ContainmentState },
  replica: string,
): Record<string, unknown> {
  const { end, previous } = ended;
  return {
    format: AUDIT_FORMAT,
    type: 'containment-ended',
    time: new Date().toISOString(),
    agent,
    action: previous.action,
    decisionId: previous.decisionId,
    ended: end.how,
    ...(end.how === 'lifted' ? { by: end.by, reason: end.reason, liftedAt: end.at } : {}),
    replica,
  };
}

function createContainment(
  config: ServerConfig,
  m: Metrics,
  log: Logger,
  audit: AuditSink,
  privacy: { key: PrivacyKey | undefined; replica: string },
  /** The store through the API (`--containment-from cluster:NS`), already synced; it reports to `api.onChange`. */
  api?: { store: ContainmentStore | undefined; handlers: { onChange?: ContainmentStoreOptions['onChange'] } },
): Sources['containment'] {
  if (config.containmentDir === undefined && api?.store === undefined) return undefined;
  // 1 for each state in force; 0 for an agent and action that were contained here and are no longer (a lift or an
  // expiry shows as a fall to 0, not as a series that stops).
  const seen = new Map<string, { agent: string; action: string }>();
  const gauge = (s: ContainmentStore): void => {
    m.contained.reset();
    for (const l of seen.values()) m.contained.set(l, 0);
    for (const c of s.list(Date.now())) {
      const l = { agent: c.agent, action: c.action };
      seen.set(`${c.agent}\u0000${c.action}`, l);
      m.contained.set(l, 1);
    }
  };
  // The store reports the states already on disk while it is being created: it is not in `ref` yet then. It calls
  // onChange once it holds the new states, so the gauge is rebuilt from them.
  const ref: { store?: ContainmentStore } = {};
  const onChange: NonNullable<ContainmentStoreOptions['onChange']> = (agent, _state, ended) => {
    if (ref.store !== undefined) gauge(ref.store);
    if (ended !== undefined) {
      audit.write(containmentEnded(agent, ended, privacy.replica));
      log.warn({ agent, ended: ended.end.how }, 'containment ended');
    }
  };
  let store: ContainmentStore;
  if (api !== undefined) api.handlers.onChange = onChange;
  try {
    store = api?.store ?? createContainmentStore(config.containmentDir ?? '', { onChange, privacyKey: privacy.key });
  } catch (e) {
    throw startupError(`containment directory ${config.containmentDir} (--containment-dir) is unusable`, e);
  }
  ref.store = store;
  gauge(store);
  return { store, context: createPatientContext() };
}

function createCredentials(config: ServerConfig, log: Logger): CredentialStore | undefined {
  if (config.egressCredentials === undefined) return undefined;
  const c = readCredentialStore(
    config.egressCredentials,
    (code) => log.error({ code }, 'egress credential unreadable; that endpoint gets no credential'),
    { settleMs: config.reloadSettleMs },
  );
  if (!c.ok) throw startupError(`egress credentials ${config.egressCredentials} did not load`, c.error);
  return c.value;
}

/** The snapshot the lanes read, rebuilt only when a source's value changes. */
function snapshotOf(config: ServerConfig, sources: Sources, rateLimits: Snapshot['rateLimits']): () => Snapshot {
  const apiServer = process.env['KUBERNETES_SERVICE_HOST'];
  const egress = {
    internalSuffixes: config.internalDomains ?? DEFAULT_INTERNAL_SUFFIXES,
    internalCidrs: config.internalCidrs,
    ...(apiServer !== undefined ? { apiServerAddresses: [apiServer] } : {}),
  };
  const build = (): Snapshot => ({
    policies: sources.policies.current(),
    baa: sources.baa?.current(),
    credentials: sources.credentials,
    containment: sources.containment?.store,
    rateLimits,
    egress,
    trustDomain: config.trustDomain,
  });
  let snap = build();
  return () => {
    if (snap.policies !== sources.policies.current() || snap.baa !== sources.baa?.current()) snap = build();
    return snap;
  };
}

function createRecorder(
  config: ServerConfig,
  policies: PolicyStore,
  log: Logger,
  privacyKey: PrivacyKey | undefined,
): EnvelopeRecorder | undefined {
  if (config.envelopeDir === undefined) return undefined;
  return createEnvelopeRecorder({
    dir: config.envelopeDir,
    privacyKey,
    replica: config.replica ?? `${hostname()}-${process.pid}-${Date.now().toString(36)}`,
    flushMs: config.envelopeFlushMs,
    workloadFor: (agent, attrs) => {
      const w = policies.current().agents.find((a) => a.name === agent)?.policy.spec.workload;
      return {
        kind: w?.kind ?? 'Deployment',
        name: w?.name ?? agent,
        namespace: w?.namespace ?? attrs.source.namespace,
        serviceAccount: attrs.source.serviceAccount,
        principal: attrs.source.principal,
        podLabels: w?.podLabels ?? {},
      };
    },
    onError: (code) => log.error({ code }, 'envelope flush failed'),
  });
}

function closeSources(s: Sources): void {
  s.policies.close();
  s.baa?.close();
  s.credentials?.close();
  s.containment?.store.close();
}

/** `--containment-from cluster:NS`: the store through the API, synced, reporting to the handlers set later. */
async function openContainmentApi(
  config: ServerConfig,
  log: Logger,
  privacyKey: PrivacyKey | undefined,
): Promise<NonNullable<Parameters<typeof createContainment>[5]>> {
  const handlers: { onChange?: ContainmentStoreOptions['onChange'] } = {};
  if (config.containmentFrom !== 'files' && config.containmentDir !== undefined)
    throw startupError(`--containment-from ${config.containmentFrom} and --containment-dir: give one of them`);
  const kube = kubeModule(config);
  if (kube === undefined) return { store: undefined, handlers };
  const store = await (
    await kube
  )
    .startServiceContainment(
      config,
      privacyKey,
      (...a) => handlers.onChange?.(...a),
      (what, e) => log.error({ err: e instanceof Error ? e.message : String(e) }, `${what} failed; retrying`),
    )
    .catch((e: unknown) => {
      throw startupError(`containment through the API (${config.containmentFrom}) is unusable`, e);
    });
  return { store, handlers };
}

/** `--policies-from cluster`: the AgentPolicy watches, synced, or a startup error; undefined for `files`. */
async function startClusterPolicies(config: ServerConfig, log: Logger): Promise<ClusterPolicySource | undefined> {
  const kube = kubeModule(config);
  if (kube === undefined) return undefined;
  const c = await (await kube).startServicePolicySource(config, log);
  if (!c.ok) throw startupError(c.error.message, c.error);
  return c.value;
}

/** Builds the sources after the audit sinks exist (and closes those again if a source cannot load). */
function createSources(
  config: ServerConfig,
  m: Metrics,
  log: Logger,
  audit: AuditSink,
  privacy: { key: PrivacyKey | undefined; replica: string },
  cluster?: ClusterPolicySource,
  containmentApi?: Parameters<typeof createContainment>[5],
): Sources {
  const opened: Array<{ close(): void }> = [];
  try {
    const policies = createPolicies(config, m, log, cluster);
    opened.push(policies);
    const baa = createBaa(config, m, log);
    if (baa) opened.push(baa);
    const credentials = createCredentials(config, log);
    if (credentials) opened.push(credentials);
    const containment = createContainment(config, m, log, audit, privacy, containmentApi);
    return { policies, baa, credentials, containment };
  } catch (e) {
    for (const o of opened) o.close();
    containmentApi?.store?.close();
    throw e;
  }
}

/**
 * Builds every dependency. Throws a `startup` PhiguardError (with findings) when configuration or a source is unusable.
 */
export async function createDependencies(
  config: ServerConfig,
  log: Logger,
  defaultMetrics: boolean,
): Promise<Dependencies> {
  const metricsRef: { current?: Metrics } = {};
  const { audit, auditEvents } = createAuditSinks(config, log, (code) => {
    log.error({ code }, 'audit sink failed: every request will be denied until restart');
    metricsRef.current?.auditErrors.inc({ code });
  });
  const m = createMetrics(() => audit.bufferedBytes(), { defaultMetrics });
  metricsRef.current = m;
  let sources: Sources | undefined;
  let claims: ClaimsResolver;
  let privacyKey: PrivacyKey | undefined;
  let cluster: ClusterPolicySource | undefined;
  const replicaId = config.replica ?? `${hostname()}-${process.pid}`;
  try {
    cluster = await startClusterPolicies(config, log);
    privacyKey = loadPrivacyKey(config, log);
    const containmentApi = await openContainmentApi(config, log, privacyKey);
    sources = createSources(config, m, log, audit, { key: privacyKey, replica: replicaId }, cluster, containmentApi);
    claims = createClaims(config, m, log);
  } catch (e) {
    if (sources) closeSources(sources);
    else cluster?.close();
    await audit.close();
    await auditEvents?.close();
    throw e;
  }
  const rateLimiter = createRateLimiter();
  const recorder = createRecorder(config, sources.policies, log, privacyKey);
  const effects = createEffectsApplier(
    {
      audit,
      auditEvents,
      auditEventScope: config.auditEvents,
      rateLimiter,
      containment: sources.containment,
      replicaId,
      onContained: (s) => {
        m.contained.set({ agent: s.agent, action: s.action }, 1);
        log.warn({ agent: s.agent, action: s.action, trigger: s.trigger }, 'agent contained');
      },
      onAuditRejected: () => m.auditRejected.inc(),
    },
    clockMs,
  );
  const authorizer = createAuthorizer({
    claims,
    fhirBasePaths: config.fhirBase,
    snapshot: snapshotOf(config, sources, rateLimiter),
  });
  const open = sources;
  const close = async (): Promise<void> => {
    closeSources(open);
    claims.close();
    if (recorder) {
      recorder.close();
      recorder.flush();
    }
    await audit.close();
    await auditEvents?.close();
  };
  const keySets = (): KeySetStatus[] => claims.keySets?.() ?? [];
  return {
    audit,
    auditEvents,
    metrics: m,
    policies: sources.policies,
    authorizer,
    effects,
    recorder,
    keySets,
    close,
  };
}
