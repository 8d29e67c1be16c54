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
 * Large Checks (at least `bulkCheckBytes` of wire bytes: FHIR Bundles of megabytes) go to a second decision thread,
 * the bulk thread, one at a time: parsing and deciding a 9 MiB Bundle takes hundreds of milliseconds, and small Checks
 * queued behind it would outlast Envoy's ext_authz timeout. The bulk thread runs the same engine; like another
 * replica, it keeps its own rate-limit buckets and patient context in memory, and it writes its decisions to the same
 * audit target. Past MAX_BULK_PENDING_BYTES of large Checks waiting, a large Check is denied at once (503).
 *
 * Fail closed: if a decision thread crashes, exits or sends anything the protocol does not allow, every pending and
 * every later Check is denied (the same internal-error deny the engine answers with when its response path fails),
 * gRPC health turns NOT_SERVING, and `onFailure` is told (`phiguard serve` then exits non-zero so Kubernetes restarts
 * the pod). The engine serves /metrics and /readyz from its own thread, so a dead decision thread also fails those.
 */
import { hostname } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
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
  type BulkObserved,
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
  const thread = startDecisionThreads(config, options, log, chunk);
  const info = await thread.started;
  const grpc = await listen(
    config,
    rawAuthorizationServiceDefinition(),
    thread.check,
    log,
    thread.close,
    () => ({
      decisions: 'thread',
      metricsPort: info.metricsPort,
      policyVersion: info.policyVersion,
      agents: info.agents,
    }),
    config.proxyAudit === 'off' ? undefined : thread.proxyLogs,
  );
  thread.failClosedOn(grpc);
  const close = closeInOrder(grpc, config.shutdownGraceMs, thread, () => log.info('phiguard stopped; audit flushed'));
  return { grpcPort: grpc.port, metricsPort: info.metricsPort, close, reopenAudit: thread.reopen };
}

type Started = Extract<FromEngine, { t: 'started' }>;

/** The gRPC thread's side of the decision threads. */
interface DecisionThreads {
  /**
   * The decision thread's startup report, once every thread started. Rejects with a `startup` PhiguardError if one
   * did not start (the threads are then ended).
   */
  started: Promise<Started>;
  /** The listener's Check handler: routes the check to a thread; answers it with the deny once a thread failed. */
  check: (request: unknown, reply: (bytes: Buffer) => void) => void;
  /** From now on, a failure of a thread turns the listener's gRPC health NOT_SERVING. */
  failClosedOn(listener: CheckListener): void;
  /** Hands an access-log message of proxy decisions to the decision thread, which records them (`--proxy-audit`). */
  proxyLogs: (message: Buffer, xfcc: string | undefined) => void;
  /** /readyz turns 503: the listener is draining. */
  drain(): void;
  /** Every thread continues its audit trails in newly opened files (SIGHUP). */
  reopen: () => void;
  /** Sends what is queued, runs the close handshakes (audit trails flushed), denies whatever is still unanswered. */
  close: () => Promise<void>;
}

/**
 * Large Checks queued on the bulk thread and not yet answered, in wire bytes, past which a large Check goes to the
 * decision thread instead: decided and recorded like any Check, with small Checks waiting behind it only then.
 */
export const MAX_BULK_PENDING_BYTES = 128 * 1024 * 1024;

/**
 * Starts the decision thread and, when `config.bulkCheckBytes` is set, the bulk thread beside it: Checks of at least
 * that many wire bytes (large FHIR Bundles) are decided there, so a small Check never waits behind a large one. A
 * failure of either denies every pending and later Check.
 */
function startDecisionThreads(
  config: ServerConfig,
  options: ThreadedStartOptions,
  log: Logger,
  chunk: number,
): DecisionThreads {
  const lastResort = lastResortDeny();
  const pending = createPendingChecks(lastResort);
  const bulkPending = new Map<number, number>();
  let bulkBytes = 0;
  const releaseFrames = frameReleaser();
  let failed = false;
  let listener: CheckListener | undefined;
  const onFailure = (code: string): void => {
    if (failed) return;
    failed = true;
    log.fatal({ code, pending: pending.size() }, 'DECISION THREAD FAILED: every Check is denied');
    listener?.setServing(false);
    pending.denyAll();
    options.onFailure?.(code);
  };
  const answer = (seq: number, bytes: Buffer): void => pending.answer(seq, bytes);
  const decisions = startEngineThread('decisions', config, options, { chunk, answer, onFailure });
  // The bulk thread's answers and audit state go to the decision thread, which serves the process's metrics and probes.
  const observed = (report: BulkObserved): void => decisions.post({ ...report, t: 'bulk-observed' });
  const bulkAnswer = (seq: number, bytes: Buffer): void => {
    bulkBytes -= bulkPending.get(seq) ?? 0;
    bulkPending.delete(seq);
    pending.answer(seq, bytes);
  };
  const bulk = bulkEnabled(config, log)
    ? startEngineThread('bulk', config, options, { chunk: 1, answer: bulkAnswer, onFailure, observed })
    : undefined;
  const threads = bulk === undefined ? [decisions] : [decisions, bulk];
  return {
    started: Promise.all(threads.map((t) => t.started)).then(
      ([d]) => d ?? Promise.reject(startupError('decision thread did not start')),
      async (e: unknown) => {
        await Promise.all(threads.map((t) => t.terminate()));
        throw e;
      },
    ),
    check: (request, reply) => {
      if (failed || !Buffer.isBuffer(request)) {
        reply(lastResort);
        return;
      }
      if (bulk === undefined || request.length < config.bulkCheckBytes) {
        decisions.send(request, pending.add(reply), clockMs());
        return;
      }
      if (bulkBytes + request.length > MAX_BULK_PENDING_BYTES) {
        log.warn(
          { bytes: request.length, pendingBytes: bulkBytes },
          'bulk thread full: a large Check is decided on the decision thread',
        );
        decisions.send(request, pending.add(reply), clockMs());
        return;
      }
      const seq = pending.add(reply);
      releaseFrames();
      bulkPending.set(seq, request.length);
      bulkBytes += request.length;
      bulk.send(request, seq, clockMs());
    },
    proxyLogs: proxyLogSender(decisions, () => failed, log),
    failClosedOn: (l) => {
      listener = l;
    },
    drain: () => threads.forEach((t) => t.drain()),
    reopen: () => threads.forEach((t) => t.reopen()),
    close: async () => {
      await Promise.all(threads.map((t) => t.close()));
      // Forced shutdown past the grace period: whatever is still unanswered is denied.
      pending.denyAll();
    },
  };
}

/**
 * Whether large Checks get the bulk thread. Not when an audit target is standard output: two threads writing lines
 * of hundreds of KB to one pipe can interleave them (a pipe write is atomic only up to PIPE_BUF), while appends to a
 * regular file are written whole. Both threads then write to the same file, each line whole.
 */
function bulkEnabled(config: ServerConfig, log: Logger): boolean {
  if (config.bulkCheckBytes === 0) return false;
  if (config.auditFile !== '-' && config.auditEventFile !== '-') return true;
  log.warn('--bulk-check-bytes needs audit files (not stdout): every Check is decided on the one decision thread');
  return false;
}

/** One decision thread as the gRPC thread drives it. */
interface EngineThread {
  /** Its startup report; rejects with a `startup` PhiguardError if it did not start. */
  started: Promise<Started>;
  /** Queues a Check for it (sent at `chunk` queued or at the end of the turn). */
  send(request: Buffer, seq: number, t0: number): void;
  drain(): void;
  reopen(): void;
  /** Posts a message that carries no Check (the bulk thread's report). */
  post(message: ToEngine): void;
  /** Posts an access-log message (a copy of its bytes, transferred). */
  proxyLogs(message: Buffer, xfcc: string | undefined): void;
  /** Sends what is queued, then the close handshake. */
  close(): Promise<void>;
  /** Ends it without the handshake (startup failed). */
  terminate(): Promise<void>;
}

/** Starts one decision thread (`role`); its answers go to `answer`, any failure of it to `onFailure`. */
function startEngineThread(
  role: 'decisions' | 'bulk',
  config: ServerConfig,
  options: ThreadedStartOptions,
  hooks: {
    chunk: number;
    answer: (seq: number, bytes: Buffer) => void;
    onFailure: (code: string) => void;
    observed?: (report: BulkObserved) => void;
  },
): EngineThread {
  let startup: { resolve: (m: Started) => void; reject: (e: Error) => void } | undefined;
  const started = new Promise<Started>((resolve, reject) => {
    startup = { resolve, reject };
  });
  // The bulk thread is another engine in the process: its envelope files get their own replica id.
  const replica = role === 'bulk' ? { replica: `${config.replica ?? `${hostname()}-${process.pid}`}-bulk` } : {};
  const channel = startWorkerChannel<FromEngine, ToEngine>({
    beside: import.meta.url,
    entry: 'decision-thread',
    workerData: {
      config: { ...config, decisions: 'thread', ...replica },
      defaultMetrics: role === 'decisions' && options.defaultMetrics !== false,
      role,
    },
    schema: FromEngineSchema,
    onMessage: (d) => {
      if (d.t === 'started') startup?.resolve(d);
      else if (d.t === 'startup-failed')
        startup?.reject(new PhiguardError('startup', d.message, { findings: d.findings }));
      else if (d.t === 'answers') {
        if (!batchConsistent(d)) channel.fail('inconsistent-answers');
        else for (let i = 0; i < d.seqs.length; i++) hooks.answer(d.seqs[i] ?? -1, unpackItem(d.bytes, d.ends, i));
      } else if (d.t === 'observed') hooks.observed?.(d);
    },
    onFailure: (code) => {
      startup?.reject(startupError(`${role} thread failed before it started (${code})`));
      hooks.onFailure(role === 'bulk' ? `bulk-${code}` : code);
    },
  });
  if (role === 'decisions') options.onThread?.(channel.worker);
  const outbox = createBatchOutbox((b) => channel.post({ t: 'checks', ...b }, [b.bytes]));
  return {
    started,
    send: (request, seq, t0) => {
      // A large request that fills its own ArrayBuffer (grpc-js assembles a message of several frames into a new
      // one) moves to the thread as it is: no copy of megabytes, and this thread holds none of it from here on.
      if (hooks.chunk === 1 && ownsBuffer(request)) {
        try {
          const whole = { bytes: request.buffer, ends: [request.length], seqs: [seq], t0s: [t0] };
          channel.post({ t: 'checks', ...whole }, [request.buffer]);
          return;
        } catch {
          // Not transferable after all (the buffer is left as it was): it is copied below.
        }
      }
      if (outbox.add(request, seq, t0) >= hooks.chunk) outbox.flush();
    },
    drain: () => channel.post({ t: 'drain' }),
    reopen: () => channel.post({ t: 'reopen' }),
    post: (message) => channel.post(message),
    proxyLogs: (message, xfcc) => {
      const bytes = message.buffer.slice(message.byteOffset, message.byteOffset + message.length) as ArrayBuffer;
      channel.post({ t: 'proxy-logs', bytes, ...(xfcc === undefined ? {} : { xfcc }) }, [bytes]);
    },
    close: async () => {
      outbox.flush();
      await channel.close();
    },
    terminate: () => channel.terminate(),
  };
}

/** Hands access-log messages to the decision thread; once it failed, they are dropped (said once in the log). */
function proxyLogSender(
  decisions: EngineThread,
  failed: () => boolean,
  log: Logger,
): (message: Buffer, xfcc: string | undefined) => void {
  let said = false;
  return (message, xfcc) => {
    if (!failed()) decisions.proxyLogs(message, xfcc);
    else if (!said) {
      said = true;
      log.error('access-log messages of proxy decisions are dropped: the decision thread failed (not recorded)');
    }
  };
}

/** True when `b` is the whole of an ArrayBuffer of its own (not a slice of a pool or of a larger read). */
function ownsBuffer(b: Buffer): b is Buffer<ArrayBuffer> {
  return b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength;
}

/**
 * A young-generation collection soon after a large Check arrived, at most every 50 ms: the HTTP/2 frames it arrived
 * in (16 KiB each, 576 for 9 MiB) are garbage once grpc-js has assembled the message, and V8 frees their memory only
 * when it collects the small objects that hold them.
 */
function frameReleaser(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as unknown;
  if (typeof gc !== 'function') return () => undefined;
  let last = 0;
  return () => {
    const now = clockMs();
    if (now - last < 50) return;
    last = now;
    setImmediate(() => (gc as (o: { type: string }) => void)({ type: 'minor' }));
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
