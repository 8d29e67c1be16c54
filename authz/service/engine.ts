/**
 * The decision engine: the Check pipeline with its dependencies and the ops listener, everything of the service
 * except the gRPC listener. It runs on the gRPC thread (start-inline.ts) or on the decision thread
 * (decision-thread.ts, started by start-threaded.ts).
 */
import type { AuditSink } from '../audit/index.js';
import type { EnvelopeRecorder } from '../observe/index.js';
import type { PolicyStore } from '../policy/index.js';
import { createResponseEncoder } from '../transport/index.js';
import { createCheckPipeline, type CheckItem, type DecisionObserver } from './check-pipeline.js';
import type { ServerConfig } from './config.js';
import { createDependencies } from './dependencies.js';
import { createLogger, type Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { startOpsServer } from './ops-server.js';
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
}

export interface DecisionEngine {
  /** Decides a batch of Checks. Never throws: a failure is a deny for that check. */
  decideBatch: (items: readonly CheckItem[]) => void;
  /** Ready for traffic: not draining and the audit sink healthy (/readyz). */
  ready(): boolean;
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
  const pipeline = createCheckPipeline({
    authorizer: deps.authorizer,
    // The decision records, then the AuditEvents of break-glass accesses when they are exported.
    commit: (done) =>
      audit.commit((written) =>
        written && deps.auditEvents !== undefined ? deps.auditEvents.commit(done) : done(written),
      ),
    effects: deps.effects,
    responses: createResponseEncoder(),
    metrics,
    observers,
    log,
    policyVersion: () => policies.current().version,
  });
  // Serve only once the audit target is open (or known to have failed: then every check is denied and /readyz says so).
  await audit.ready();
  let draining = false;
  const ready = (): boolean => !draining && audit.healthy();
  const noOps = { port: 0, close: (): Promise<void> => Promise.resolve() };
  const ops =
    options.serveOps === false
      ? noOps
      : await startOpsServer(config.host, config.metricsPort, metrics, () => ({
          ready: ready(),
          policyVersion: policies.current().version,
          policyStale: policies.stale(),
          auditHealthy: audit.healthy(),
          draining,
        })).catch(async (e: unknown) => {
          await deps.close();
          throw startupError(e instanceof Error ? e.message : 'cannot listen for metrics', e);
        });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      draining = true;
      await deps.close();
      await ops.close();
      log.debug({ audited: audit.written() }, 'decision engine stopped; audit flushed');
    })();
    return closing;
  };
  const drain = (): void => {
    draining = true;
  };
  return {
    decideBatch: pipeline.decideBatch,
    ready,
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
