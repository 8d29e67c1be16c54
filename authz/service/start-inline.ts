/**
 * The service in one thread (`--decisions inline`, and the in-process API tests and embedders use): the gRPC listener
 * (transport/grpc-listener.ts) feeding the decision engine (engine.ts) through a turn batch, so the checks of one
 * event-loop turn are decided, then answered, together (transport/turn-batch.ts says why). SIGTERM drains in-flight
 * checks, then flushes the audit sink. The default for `phiguard serve` is the engine on a decision thread instead
 * (start-threaded.ts).
 */
import { createTurnBatch, rawAuthorizationServiceDefinition } from '../transport/index.js';
import { clockMs, startDecisionEngine, type CheckItem, type StartOptions } from './engine.js';
import { closeInOrder, listen } from './lifecycle.js';
import { createLogger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { EnvelopeRecorder } from '../observe/index.js';
import type { PolicyStore } from '../policy/index.js';
import type { AuditSink } from '../audit/index.js';
import type { ServerConfig } from './config.js';

export type { DecisionObserver, StartOptions } from './engine.js';

/** What every form of the service offers: where it listens, and a drain-and-flush close. */
export interface AuthzService {
  grpcPort: number;
  metricsPort: number;
  /** Drains in-flight checks, flushes the audit sink, closes listeners. */
  close(): Promise<void>;
  /**
   * Continues the audit trails in files newly opened at their paths (SIGHUP, logrotate's convention): every record
   * before it is in the old file, every record after it in the new one.
   */
  reopenAudit: () => void;
}

/** The service in this thread, with its parts in reach (tests, embedders). */
export interface AuthzServer extends AuthzService {
  /** The envelope recorder, when --envelope-dir is set. */
  recorder: EnvelopeRecorder | undefined;
  metrics: Metrics;
  policies: PolicyStore;
  audit: AuditSink;
}

/** At most this many checks decided per turn: a burst is answered in several turns, the first ones without waiting. */
const CHECKS_PER_BATCH = 256;

/**
 * Starts the service in this thread. Throws a `startup` PhiguardError (with findings) if policy or configuration is
 * unusable:
 * never starts open.
 */
export async function startAuthzServer(config: ServerConfig, options: StartOptions = {}): Promise<AuthzServer> {
  const log = options.logger ?? createLogger(config.logLevel);
  const engine = await startDecisionEngine({ ...config, decisions: 'inline' }, { ...options, logger: log });
  const batch = createTurnBatch<CheckItem>((items) => engine.decideBatch(items), CHECKS_PER_BATCH);
  const check = (request: unknown, reply: (bytes: Buffer) => void): void => {
    batch.add({ request, reply, t0: clockMs() });
  };
  const listener = await listen(
    config,
    rawAuthorizationServiceDefinition(),
    check,
    log,
    engine.close,
    () => ({
      decisions: 'inline',
      metricsPort: engine.metricsPort,
      policyVersion: engine.policies.current().version,
      agents: engine.policies.current().agents.map((a) => a.name),
    }),
    engine.receiveProxyLogs,
  );
  const close = closeInOrder(listener, config.shutdownGraceMs, engine, () => {
    log.info({ audited: engine.audit.written() }, 'phiguard stopped; audit flushed');
  });
  const { metricsPort, metrics, audit, recorder } = engine;
  return {
    grpcPort: listener.port,
    metricsPort,
    metrics,
    policies: engine.policies,
    audit,
    recorder,
    close,
    reopenAudit: engine.reopenAudit,
  };
}
