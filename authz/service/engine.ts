/**
 * The decision engine: the Check pipeline with its dependencies and the ops listener, everything of the service
 * except the gRPC listener. It runs on the gRPC thread (start-inline.ts) or on the decision thread
 * (decision-thread.ts, started by start-threaded.ts).
 *
 * Its probes (ops-server.ts) read the same state the Checks meet:
 * - Liveness fails once an audit sink has failed: it never recovers, every Check is denied `audit-unavailable` until
 *   the process restarts, and a restart is what the kubelet does on a failed liveness probe (Envoy denies the Checks
 *   it cannot send meanwhile: `failure_mode_allow: false`). The process keeps serving denies and /metrics until then,
 *   so the failure is visible (`phiguard_audit_errors_total{code}`) rather than a crash loop without a cause.
 * - Readiness fails while Checks are being denied for audit reasons (a failed sink, a queue past
 *   `--audit-max-buffer-bytes`, an `audit-unavailable` deny within AUDIT_DENY_READY_WINDOW_MS: a probe every 5 s sees
 *   a backlog that comes and goes between probes), so traffic goes to replicas that can record it.
 * - With a JWKS configured, readiness fails until its key set has been loaded once: a new pod that cannot reach its
 *   identity provider (an egress policy, DNS) holds the rollout instead of replacing a working pod. A key set lost
 *   later does not fail readiness: an identity provider outage reaches every replica at once, and taking them all
 *   out of the Service would deny every Check, those without a bearer token too, where a ready replica denies only
 *   the tokens (`keys-unavailable`, 503). /readyz reports it (`keys: unavailable`), as do
 *   `phiguard_jwks_keys_available` and `phiguard_jwks_fetch_total{result="failure"}`, and a log line per cause.
 */
import type { AuditSink } from '../audit/index.js';
import type { EnvelopeRecorder } from '../observe/index.js';
import type { PolicyStore } from '../policy/index.js';
import { createResponseEncoder } from '../transport/index.js';
import { createCheckPipeline, type CheckItem, type DecisionObserver } from './check-pipeline.js';
import type { ServerConfig } from './config.js';
import { createDependencies, type Dependencies } from './dependencies.js';
import { createLogThrottle } from './log-throttle.js';
import { createLogger, type Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { startOpsServer, type KeysState, type Liveness, type Readiness } from './ops-server.js';
import { DECISION_REASONS, loggableRequestId, traceIds, type Decision } from '../model/index.js';
import type { BulkObserved } from '../transport/index.js';
import type { KeySetStatus } from '../identity/index.js';
import { createProxyAudit, type ProxyAudit } from './proxy-audit.js';
import { startupError } from './startup-error.js';

export { clockMs, type CheckItem, type DecisionObserver } from './check-pipeline.js';

export interface StartOptions {
  logger?: Logger;
  observers?: DecisionObserver[];
  /** Process-level Prometheus default metrics (off in tests that start many servers). */
  defaultMetrics?: boolean;
  /**
   * Serve /metrics, /healthz and /readyz (default true). The bulk decision thread (start-threaded.ts) does not: the
   * decision thread serves them for the process.
   */
  serveOps?: boolean;
  /** Told of every answer (the bulk thread reports them to the decision thread, which serves the metrics). */
  onAnswered?: (d: Decision, seconds: number) => void;
}

/** After an `audit-unavailable` deny, /readyz fails for this long (the Deployment probes readiness every 5 s). */
export const AUDIT_DENY_READY_WINDOW_MS = 10_000;

/** Least time between two log lines about Checks denied `keys-unavailable`. */
const KEYS_DENY_LOG_INTERVAL_MS = 30_000;

/** The JWKS key sets' state for /readyz (ops-server.ts `KeysState`). */
function keysState(sets: readonly KeySetStatus[]): KeysState {
  if (sets.length === 0) return 'none';
  if (sets.some((k) => k.loadedAtMs === undefined)) return 'not-yet-loaded';
  return sets.every((k) => k.available) ? 'available' : 'unavailable';
}

/**
 * Logs Checks denied for want of JWKS keys: one line per KEYS_DENY_LOG_INTERVAL_MS, with the trace context and
 * request id of the Check that logged it and how many were left out since the last line.
 */
function keysDeniedLog(log: Logger): DecisionObserver {
  const throttle = createLogThrottle(KEYS_DENY_LOG_INTERVAL_MS);
  return (attrs, decision, decisionId) => {
    if (decision.reason !== DECISION_REASONS.keysUnavailable) return;
    const suppressed = throttle.take('keys-unavailable');
    if (suppressed === undefined) return;
    const trace = traceIds(attrs.request.headers);
    log.error(
      { decisionId, requestId: loggableRequestId(attrs.request.id), ...trace, agent: decision.agent, suppressed },
      'bearer token not verified: JWKS keys unavailable; denied keys-unavailable (503)',
    );
  };
}

/** What the probes read, and the engine's own state (draining, closed). */
interface ProbeSources {
  config: ServerConfig;
  deps: Dependencies;
  state: { draining: boolean; closed: boolean };
  /** The bulk thread's audit state, as it last reported it (start-threaded.ts). */
  bulk: { auditFailed: boolean; auditBacklogged: boolean };
}

/** The /readyz and /healthz answers (module comment: what each fails on and why). */
function createProbes({ config, deps, state, bulk }: ProbeSources): {
  readiness: () => Readiness;
  liveness: () => Liveness;
  /** This engine's own sinks (what the bulk thread reports of itself). */
  auditState: () => { auditFailed: boolean; auditBacklogged: boolean };
} {
  const sinks = deps.auditEvents === undefined ? [deps.audit] : [deps.audit, deps.auditEvents];
  // A closed sink is not a failed one: close() marks the engine closed before it closes the sinks.
  const ownFailed = (): boolean => !state.closed && sinks.some((s) => !s.healthy());
  const ownBacklogged = (): boolean => sinks.some((s) => s.bufferedBytes() > config.auditMaxBufferBytes);
  const auditFailed = (): boolean => bulk.auditFailed || ownFailed();
  return {
    auditState: () => ({ auditFailed: ownFailed(), auditBacklogged: ownBacklogged() }),
    liveness: () => (auditFailed() ? { live: false, reason: 'audit-sink-failed' } : { live: true, reason: '' }),
    readiness: () => {
      const failed = auditFailed();
      const backlogged = bulk.auditBacklogged || ownBacklogged();
      const denying = Date.now() - deps.metrics.hot.lastAuditDenyMs() < AUDIT_DENY_READY_WINDOW_MS;
      const keys = keysState(deps.keySets());
      const auditHealthy = !failed && !backlogged && !denying;
      return {
        ready: !state.draining && auditHealthy && keys !== 'not-yet-loaded',
        policyVersion: deps.policies.current().version,
        policyStale: deps.policies.stale(),
        auditHealthy,
        auditFailed: failed,
        auditBacklogged: backlogged,
        auditDenying: denying,
        keys,
        draining: state.draining,
      };
    },
  };
}

export interface DecisionEngine {
  /** Decides a batch of Checks. Never throws: a failure is a deny for that check. */
  decideBatch: (items: readonly CheckItem[]) => void;
  /** This engine's audit sinks: failed, or queued past `--audit-max-buffer-bytes` (the bulk thread reports them). */
  auditState(): { auditFailed: boolean; auditBacklogged: boolean };
  /**
   * The bulk thread's answers and audit state: counted in this engine's metrics, and its audit state read by the
   * probes, so /metrics, /healthz and /readyz speak for the whole process.
   */
  observeBulk(report: BulkObserved): void;
  /** Records the proxy-wasm filter's decisions from an access-log message (`--proxy-audit`; undefined when off). */
  receiveProxyLogs: ((message: Buffer, xfcc: string | undefined) => void) | undefined;
  /** Ready for traffic (/readyz): see the module comment. */
  readiness(): Readiness;
  /** Alive (/healthz): false once an audit sink failed. */
  liveness(): Liveness;
  /** Marks the engine as draining (/readyz turns 503) before the transport stops taking Checks. */
  drain(): void;
  /** Continues the audit trails in files newly opened at their paths (SIGHUP, log rotation); nothing lost. */
  reopenAudit: () => void;
  /** Flushes and closes everything: sources, recorder, audit sinks, the ops listener. */
  close: () => Promise<void>;
  metricsPort: number;
  metrics: Metrics;
  policies: PolicyStore;
  audit: AuditSink;
  /** The envelope recorder, when --envelope-dir is set. */
  recorder: EnvelopeRecorder | undefined;
}

/** The receiver of the proxy-wasm filter's decisions (`--proxy-audit`), or undefined when off. */
function proxyAuditOf(
  config: ServerConfig,
  deps: Dependencies,
  commit: (done: (written: boolean) => void) => void,
  log: Logger,
): ProxyAudit | undefined {
  if (config.proxyAudit === 'off') return undefined;
  const { authorizer, effects, metrics } = deps;
  const reporters = config.proxyAuditReporters;
  return createProxyAudit({ mode: config.proxyAudit, reporters, authorizer, effects, commit, metrics, log });
}

/**
 * Starts the engine and its ops listener. Throws a `startup` PhiguardError (with findings) if policy or configuration
 * is unusable.
 */
export async function startDecisionEngine(config: ServerConfig, options: StartOptions = {}): Promise<DecisionEngine> {
  const log = options.logger ?? createLogger(config.logLevel);
  const deps = await createDependencies(config, log, options.defaultMetrics !== false);
  const { audit, metrics, policies, recorder } = deps;
  const observers = [...(options.observers ?? [])];
  if (recorder !== undefined) observers.push((attrs, decision) => recorder.observe(attrs, decision));
  observers.push(keysDeniedLog(log));
  // The decision records, then the AuditEvents of break-glass accesses when they are exported.
  const commit = (done: (written: boolean) => void): void =>
    audit.commit((written) =>
      written && deps.auditEvents !== undefined ? deps.auditEvents.commit(done) : done(written),
    );
  const pipeline = createCheckPipeline({
    authorizer: deps.authorizer,
    commit,
    effects: deps.effects,
    responses: createResponseEncoder(),
    metrics,
    observers,
    onAnswered: options.onAnswered,
    log,
    policyVersion: () => policies.current().version,
  });
  const proxyAudit = proxyAuditOf(config, deps, commit, log);
  // Serve only once the audit target is open (or known to have failed: then every check is denied and /readyz says so).
  await audit.ready();
  const state = { draining: false, closed: false };
  const bulk = { auditFailed: false, auditBacklogged: false };
  const { readiness, liveness, auditState } = createProbes({ config, deps, state, bulk });
  const noOps = { port: 0, close: (): Promise<void> => Promise.resolve() };
  const ops =
    options.serveOps === false
      ? noOps
      : await startOpsServer(config.host, config.metricsPort, metrics, { readiness, liveness }).catch(
          async (e: unknown) => {
            await deps.close();
            throw startupError(e instanceof Error ? e.message : 'cannot listen for metrics', e);
          },
        );
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      state.draining = true;
      state.closed = true;
      await deps.close();
      await ops.close();
      log.debug({ audited: audit.written() }, 'decision engine stopped; audit flushed');
    })();
    return closing;
  };
  const drain = (): void => {
    state.draining = true;
  };
  return {
    decideBatch: pipeline.decideBatch,
    receiveProxyLogs: proxyAudit?.receive,
    auditState,
    observeBulk: (report) => {
      for (const d of report.decisions) metrics.hot.answered(d, d.seconds);
      bulk.auditFailed = report.auditFailed;
      bulk.auditBacklogged = report.auditBacklogged;
    },
    readiness,
    liveness,
    drain,
    reopenAudit: () => {
      audit.reopen();
      deps.auditEvents?.reopen();
      log.info('audit trail reopened');
    },
    close,
    metricsPort: ops.port,
    metrics,
    policies,
    audit,
    recorder,
  };
}
