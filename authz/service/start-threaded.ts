/**
 * The service with its decisions on their own thread (`--decisions thread`, the default of `phiguard serve`).
 *
 * The main thread runs grpc-js and nothing else: each CheckRequest stays in wire bytes and is handed, in batches, to
 * the decision thread (engine-thread.ts), which decodes, authorizes, audits and encodes, and hands back the encoded
 * CheckResponse. grpc-js and Node's HTTP/2 are what a bare allow-all server spends its thread on; phiguard's own work
 * then runs beside them on a second core instead of after them on the same one (docs/performance.md, sixth session).
 * A batch goes over when it reaches `chunk` checks or at the end of the event-loop turn, so the decision thread
 * starts on the first checks of a large read while the main thread is still taking the rest off the socket.
 *
 * Fail closed: if the decision thread crashes, exits or sends anything the protocol does not allow, every pending and
 * every later Check is denied (the same internal-error deny the engine answers with when its response path fails),
 * gRPC health turns NOT_SERVING, and `onFailure` is told (`phiguard serve` then exits non-zero so Kubernetes restarts
 * the pod). The engine serves /metrics and /readyz from its own thread, so a dead decision thread also fails those.
 */
import type { Worker } from 'node:worker_threads';
import { BUILTIN_RULES, DECISION_REASONS, denyDecision } from '../model/decision.js';
import { createResponseEncoder, rawAuthorizationServiceDefinition } from '../transport/index.js';
import { clockMs, StartupError } from './engine.js';
import { batchConsistent, createBatchOutbox, FromEngineSchema, unpackItem, type FromEngine, type ToEngine } from '../transport/decision-thread-protocol.js';
import { listenForChecks, type CheckListener } from '../transport/grpc-listener.js';
import { IdTable } from '../transport/id-table.js';
import { createLogger, type Logger } from './logger.js';
import type { AuthzService } from './start-inline.js';
import type { ServerConfig } from './config.js';
import { startWorker } from '../transport/start-worker.js';

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

/** Starts the service with its decision thread. Throws StartupError (with findings) if the engine cannot start. */
export async function startThreadedAuthzServer(config: ServerConfig, options: ThreadedStartOptions = {}): Promise<AuthzService> {
  const log = options.logger ?? createLogger(config.logLevel);
  const chunk = options.chunk ?? 16;
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`chunk must be a positive integer, got ${chunk}`);
  const worker: Worker = startWorker(import.meta.url, 'engine-thread', { config: { ...config, decisions: 'thread' }, defaultMetrics: options.defaultMetrics !== false });
  options.onThread?.(worker);
  const lastResort = createResponseEncoder().encode(
    denyDecision({ rule: BUILTIN_RULES.internalError, reason: DECISION_REASONS.internalError, message: 'Denied: internal error', status: 403, policyVersion: '' }),
    '00000000-0000-4000-8000-000000000000',
  );

  // Not a Map: one insert and one delete per Check on a long-lived Map keeps the gRPC thread's GC busy (id-table.ts).
  const pending = new IdTable<(bytes: Buffer) => void>();
  let nextSeq = 0;
  let failed: string | undefined;
  let closing = false;
  let listener: CheckListener | undefined;
  let started: { resolve: (m: Extract<FromEngine, { t: 'started' }>) => void; reject: (e: Error) => void } | undefined;
  const startup = new Promise<Extract<FromEngine, { t: 'started' }>>((resolve, reject) => { started = { resolve, reject }; });
  let closedSettled: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => { closedSettled = resolve; });

  const fail = (code: string): void => {
    started?.reject(new StartupError(`decision thread failed before it started (${code})`));
    if (failed !== undefined) return;
    failed = code;
    log.fatal({ code, pending: pending.size }, 'DECISION THREAD FAILED: every Check is denied');
    listener?.setServing(false);
    for (const reply of pending.values()) reply(lastResort);
    pending.clear();
    options.onFailure?.(code);
  };

  worker.on('message', (m: unknown) => {
    const msg = FromEngineSchema.safeParse(m);
    if (!msg.success) {
      fail('invalid-engine-message');
      return;
    }
    const d = msg.data;
    switch (d.t) {
      case 'started':
        started?.resolve(d);
        break;
      case 'startup-failed':
        started?.reject(new StartupError(d.message, d.findings));
        break;
      case 'answers':
        if (!batchConsistent(d)) {
          fail('inconsistent-answers');
          return;
        }
        for (let i = 0; i < d.seqs.length; i++) {
          const seq = d.seqs[i] ?? -1;
          const reply = pending.get(seq);
          if (reply === undefined) continue;
          pending.delete(seq);
          reply(unpackItem(d.bytes, d.ends, i));
        }
        break;
      case 'closed':
        closedSettled();
        break;
    }
  });
  worker.on('error', () => fail('decision-thread-crashed'));
  worker.on('exit', (code) => {
    if (!closing) fail(`decision-thread-exited-${code}`);
    closedSettled();
  });

  const post = (m: ToEngine, transfer: ArrayBuffer[] = []): void => worker.postMessage(m, transfer);
  const outbox = createBatchOutbox((b) => post({ t: 'checks', ...b }, [b.bytes]));
  let scheduled: NodeJS.Immediate | undefined;
  const flush = (): void => {
    scheduled = undefined;
    outbox.flush();
  };
  const check = (request: unknown, reply: (bytes: Buffer) => void): void => {
    if (failed !== undefined || !Buffer.isBuffer(request)) {
      reply(lastResort);
      return;
    }
    const seq = nextSeq++;
    pending.set(seq, reply);
    if (outbox.add(request, seq, clockMs()) >= chunk) outbox.flush();
    else scheduled ??= setImmediate(flush);
  };

  let info: Extract<FromEngine, { t: 'started' }>;
  try {
    info = await startup;
  } catch (e) {
    closing = true;
    await worker.terminate();
    throw e;
  }
  try {
    listener = await listenForChecks(config, rawAuthorizationServiceDefinition(), check, log);
  } catch (e) {
    closing = true;
    post({ t: 'close' });
    await closed;
    await worker.terminate();
    throw new StartupError(e instanceof Error ? e.message : 'cannot listen');
  }
  const grpc = listener;
  log.info({ grpc: `${config.host}:${grpc.port}`, ops: `${config.host}:${info.metricsPort}`, decisions: 'thread', policyVersion: info.policyVersion, agents: info.agents }, 'phiguard ext_authz listening');

  let closingDone: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closingDone ??= (async () => {
      post({ t: 'drain' });
      grpc.setServing(false);
      await grpc.shutdown(config.shutdownGraceMs);
      flush();
      closing = true;
      post({ t: 'close' });
      await closed;
      // Forced shutdown past the grace period: whatever is still unanswered is denied.
      for (const reply of pending.values()) reply(lastResort);
      pending.clear();
      await worker.terminate();
      log.info('phiguard stopped; audit flushed');
    })();
    return closingDone;
  };
  return { grpcPort: grpc.port, metricsPort: info.metricsPort, close };
}
