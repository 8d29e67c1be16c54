/**
 * The service with its decisions on their own thread (`--decisions thread`, the default of `phiguard serve`).
 *
 * The main thread runs grpc-js and nothing else: each CheckRequest stays in wire bytes and is handed, in batches, to
 * the decision thread (decision-thread.ts), which decodes, authorizes, audits and encodes, and hands back the encoded
 * CheckResponse. grpc-js and Node's HTTP/2 are what a bare allow-all server spends its thread on; phiguard's own work
 * then runs beside them on a second core instead of after them on the same one (docs/performance.md).
 * A batch goes over when it reaches `chunk` checks or at the end of the event-loop turn, so the decision thread
 * starts on the first checks of a large read while the main thread is still taking the rest off the socket.
 *
 * Fail closed: if the decision thread crashes, exits or sends anything the protocol does not allow, every pending and
 * every later Check is denied (the same internal-error deny the engine answers with when its response path fails),
 * gRPC health turns NOT_SERVING, and `onFailure` is told (`phiguard serve` then exits non-zero so Kubernetes restarts
 * the pod). The engine serves /metrics and /readyz from its own thread, so a dead decision thread also fails those.
 */
import type { Worker } from 'node:worker_threads';
import { BUILTIN_RULES, DECISION_REASONS, denyDecision, PhiguardError } from '../model/index.js';
import {
  batchConsistent,
  createBatchOutbox,
  createResponseEncoder,
  FromEngineSchema,
  IdTable,
  rawAuthorizationServiceDefinition,
  startWorkerChannel,
  unpackItem,
  type CheckListener,
  type FromEngine,
  type ToEngine,
} from '../transport/index.js';
import { clockMs } from './engine.js';
import { closeInOrder, listen } from './lifecycle.js';
import { startupError } from './startup-error.js';
import { createLogger, type Logger } from './logger.js';
import type { AuthzService } from './start-inline.js';
import type { ServerConfig } from './config.js';

export interface ThreadedStartOptions {
  logger?: Logger;
  /** Process-level Prometheus default metrics (off in tests that start many servers). */
  defaultMetrics?: boolean;
  /** Called once if the decision thread fails after startup (every Check is denied from then on). */
  onFailure?: (code: string) => void;
  /** Checks per batch handed over before the end of the turn (default 16). */
  chunk?: number;
  /** Sees the decision thread once started (resource accounting, supervision, tests of the failure path). */
  onThread?: (thread: Worker) => void;
}

/**
 * Starts the service with its decision thread. Throws a `startup` PhiguardError (with findings) if the engine cannot
 * start.
 */
export async function startThreadedAuthzServer(
  config: ServerConfig,
  options: ThreadedStartOptions = {},
): Promise<AuthzService> {
  const log = options.logger ?? createLogger(config.logLevel);
  const chunk = options.chunk ?? 16;
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`chunk must be a positive integer, got ${chunk}`);
  const thread = startDecisionThread(config, options, log, chunk);
  const info = await thread.started;
  const grpc = await listen(config, rawAuthorizationServiceDefinition(), thread.check, log, thread.close, () => ({
    decisions: 'thread',
    metricsPort: info.metricsPort,
    policyVersion: info.policyVersion,
    agents: info.agents,
  }));
  thread.failClosedOn(grpc);
  const close = closeInOrder(grpc, config.shutdownGraceMs, thread, () => log.info('phiguard stopped; audit flushed'));
  return { grpcPort: grpc.port, metricsPort: info.metricsPort, close };
}

type Started = Extract<FromEngine, { t: 'started' }>;

/** The gRPC thread's side of the decision thread. */
interface DecisionThread {
  /**
   * The thread's startup report. Rejects with a `startup` PhiguardError if it did not start (the thread is then ended).
   */
  started: Promise<Started>;
  /** The listener's Check handler: queues the check for the thread; answers it with the deny once the thread failed. */
  check: (request: unknown, reply: (bytes: Buffer) => void) => void;
  /** From now on, a failure of the thread turns the listener's gRPC health NOT_SERVING. */
  failClosedOn(listener: CheckListener): void;
  /** /readyz turns 503: the listener is draining. */
  drain(): void;
  /** Sends what is queued, runs the close handshake (audit trail flushed), denies whatever is still unanswered. */
  close: () => Promise<void>;
}

/** Starts the decision thread and its channel; a failure of either denies every pending and later Check. */
function startDecisionThread(
  config: ServerConfig,
  options: ThreadedStartOptions,
  log: Logger,
  chunk: number,
): DecisionThread {
  const lastResort = lastResortDeny();
  const pending = createPendingChecks(lastResort);
  let failed = false;
  let listener: CheckListener | undefined;
  let startup: { resolve: (m: Started) => void; reject: (e: Error) => void } | undefined;
  const started = new Promise<Started>((resolve, reject) => {
    startup = { resolve, reject };
  });
  const channel = startWorkerChannel<FromEngine, ToEngine>({
    beside: import.meta.url,
    entry: 'decision-thread',
    workerData: { config: { ...config, decisions: 'thread' }, defaultMetrics: options.defaultMetrics !== false },
    schema: FromEngineSchema,
    onMessage: (d) => {
      switch (d.t) {
        case 'started':
          startup?.resolve(d);
          break;
        case 'startup-failed':
          startup?.reject(new PhiguardError('startup', d.message, { findings: d.findings }));
          break;
        case 'answers':
          if (!batchConsistent(d)) {
            channel.fail('inconsistent-answers');
            break;
          }
          for (let i = 0; i < d.seqs.length; i++) pending.answer(d.seqs[i] ?? -1, unpackItem(d.bytes, d.ends, i));
          break;
        case 'closed':
          break;
      }
    },
    onFailure: (code) => {
      startup?.reject(startupError(`decision thread failed before it started (${code})`));
      failed = true;
      log.fatal({ code, pending: pending.size() }, 'DECISION THREAD FAILED: every Check is denied');
      listener?.setServing(false);
      pending.denyAll();
      options.onFailure?.(code);
    },
  });
  options.onThread?.(channel.worker);
  const outbox = createBatchOutbox((b) => channel.post({ t: 'checks', ...b }, [b.bytes]));
  return {
    started: started.catch(async (e: unknown) => {
      await channel.terminate();
      throw e;
    }),
    check: (request, reply) => {
      if (failed || !Buffer.isBuffer(request)) {
        reply(lastResort);
        return;
      }
      if (outbox.add(request, pending.add(reply), clockMs()) >= chunk) outbox.flush();
    },
    failClosedOn: (l) => {
      listener = l;
    },
    drain: () => channel.post({ t: 'drain' }),
    close: async () => {
      outbox.flush();
      await channel.close();
      // Forced shutdown past the grace period: whatever is still unanswered is denied.
      pending.denyAll();
    },
  };
}

/** The deny for a Check the decision thread cannot answer: the engine's own internal-error deny. */
function lastResortDeny(): Buffer {
  const decision = denyDecision({
    rule: BUILTIN_RULES.internalError,
    reason: DECISION_REASONS.internalError,
    message: 'Denied: internal error',
    status: 403,
    policyVersion: '',
  });
  return createResponseEncoder().encode(decision, '00000000-0000-4000-8000-000000000000');
}

/** The checks handed to the decision thread and not yet answered, by sequence number. Each is answered once. */
function createPendingChecks(lastResort: Buffer): {
  add(reply: (bytes: Buffer) => void): number;
  answer(seq: number, bytes: Buffer): void;
  denyAll(): void;
  size(): number;
} {
  // Not a Map: one insert and one delete per Check on a long-lived Map keeps the gRPC thread's GC busy (id-table.ts).
  const replies = new IdTable<(bytes: Buffer) => void>();
  let nextSeq = 0;
  return {
    add: (reply) => {
      const seq = nextSeq++;
      replies.set(seq, reply);
      return seq;
    },
    answer: (seq, bytes) => {
      const reply = replies.get(seq);
      if (reply === undefined) return;
      replies.delete(seq);
      reply(bytes);
    },
    denyAll: () => {
      for (const reply of replies.values()) reply(lastResort);
      replies.clear();
    },
    size: () => replies.size,
  };
}
