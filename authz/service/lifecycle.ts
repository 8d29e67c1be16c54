/**
 * What both topologies do around the gRPC listener: bind it (a failure to bind is a startup error), say where the
 * service listens, and the drain-then-close order of SIGTERM (`/readyz` 503 and gRPC health NOT_SERVING first, so
 * Envoy stops sending; then in-flight Checks are answered within the grace period; then the audit trail is
 * flushed).
 */
import type * as grpc from '@grpc/grpc-js';
import { listenForChecks, type AccessLogReceiver, type CheckListener } from '../transport/index.js';
import type { ServerConfig } from './config.js';
import type { Logger } from './logger.js';
import { startupError } from './startup-error.js';

/** Where the service listens, for the one startup log line. */
export interface Listening {
  decisions: 'inline' | 'thread';
  metricsPort: number;
  policyVersion: string;
  agents: readonly string[];
}

/**
 * Binds the Check listener; on failure runs `cleanup` and throws a `startup` PhiguardError. Logs where it listens.
 */
export async function listen(
  config: ServerConfig,
  service: grpc.ServiceDefinition,
  check: (request: unknown, reply: (bytes: Buffer) => void) => void,
  log: Logger,
  cleanup: () => Promise<void>,
  listening: () => Listening,
  accessLogs?: AccessLogReceiver,
): Promise<CheckListener> {
  let listener: CheckListener;
  try {
    listener = await listenForChecks(config, service, check, log, accessLogs);
  } catch (e) {
    await cleanup();
    throw startupError(e instanceof Error ? e.message : 'cannot listen', e);
  }
  const l = listening();
  log.info(
    {
      grpc: `${config.host}:${listener.port}`,
      ops: `${config.host}:${l.metricsPort}`,
      decisions: l.decisions,
      policyVersion: l.policyVersion,
      agents: l.agents,
    },
    'phiguard ext_authz listening',
  );
  return listener;
}

/** The SIGTERM order: drain, stop taking Checks and wait for the in-flight ones, then close the decision side. */
export function closeInOrder(
  listener: CheckListener,
  graceMs: number,
  side: { drain(): void; close(): Promise<void> },
  done: () => void,
): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= (async () => {
      side.drain();
      listener.setServing(false);
      await listener.shutdown(graceMs);
      await side.close();
      done();
    })();
    return closing;
  };
}
