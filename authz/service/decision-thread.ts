/**
 * The decision thread (a worker_threads entry point, started by threaded-server.ts): the decision engine (engine.ts)
 * with its ops listener, fed batches of CheckRequest wire bytes by the gRPC thread, answering with encoded
 * CheckResponses. Policy reload, audit, containment, the BAA registry, metrics and /metrics all live here.
 *
 * The answers of a batch go back as one message right after it is decided; an answer that comes later (a bearer
 * token verified against a JWKS URL for the first time) goes back at the end of the turn it arrives in.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { clockMs, startDecisionEngine, StartupError, type CheckItem, type DecisionEngine } from './engine.js';
import { batchConsistent, createBatchOutbox, EngineInitSchema, ToEngineSchema, unpackItem, type FromEngine } from '../transport/decision-thread-protocol.js';
import { createLogger, type Logger } from './logger.js';
import { ServerConfigSchema } from './config.js';

const port = parentPort;
if (port === null) throw new Error('engine-thread.ts runs as a worker thread (threaded-server.ts starts it)');
const post = (m: FromEngine, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

const init = EngineInitSchema.safeParse(workerData);
const config = init.success ? ServerConfigSchema.safeParse(init.data.config) : undefined;
if (!init.success || config === undefined || !config.success) {
  post({ t: 'startup-failed', message: 'decision thread: invalid configuration handed over', findings: [] });
} else {
  const log = createLogger(config.data.logLevel);
  let engine: DecisionEngine | undefined;
  try {
    engine = await startDecisionEngine(config.data, { logger: log, defaultMetrics: init.data.defaultMetrics });
  } catch (e) {
    post({ t: 'startup-failed', message: e instanceof Error ? e.message : 'decision engine did not start', findings: e instanceof StartupError ? e.findings : [] });
  }
  if (engine !== undefined) serve(engine, port, log);
}

function serve(engine: DecisionEngine, port: MessagePort, log: Logger): void {
  const outbox = createBatchOutbox((b) => post({ t: 'answers', bytes: b.bytes, ends: b.ends, seqs: b.seqs }, [b.bytes]));
  let scheduled: NodeJS.Immediate | undefined;
  const flush = (): void => {
    scheduled = undefined;
    outbox.flush();
  };
  let inBatch = false;
  const answer = (seq: number) => (bytes: Buffer): void => {
    outbox.add(bytes, seq);
    if (!inBatch) scheduled ??= setImmediate(flush);
  };
  let broken = false;
  /** Something only a bug could send: flush the audit trail and end this thread; the gRPC thread then denies every pending and later Check. */
  const fatal = (code: string): void => {
    if (broken) return;
    broken = true;
    log.error({ code }, 'decision thread received an invalid message; flushing the audit trail and stopping (fail closed)');
    void engine.close().finally(() => process.exit(70));
  };
  port.on('message', (m: unknown) => {
    if (broken) return;
    const msg = ToEngineSchema.safeParse(m);
    if (!msg.success) {
      fatal('invalid-engine-message');
      return;
    }
    const d = msg.data;
    if (d.t === 'checks') {
      if (!batchConsistent(d)) {
        fatal('inconsistent-batch');
        return;
      }
      const items: CheckItem[] = d.ends.map((_, i) => ({ request: unpackItem(d.bytes, d.ends, i), t0: d.t0s[i] ?? clockMs(), reply: answer(d.seqs[i] ?? -1) }));
      inBatch = true;
      try {
        engine.decideBatch(items);
      } finally {
        inBatch = false;
        flush();
      }
    } else if (d.t === 'drain') {
      engine.drain();
    } else {
      void engine.close().then(() => {
        flush();
        post({ t: 'closed', audited: engine.audit.written() });
        port.close();
      });
    }
  });
  post({ t: 'started', metricsPort: engine.metricsPort, policyVersion: engine.policies.current().version, agents: engine.policies.current().agents.map((a) => a.name) });
}
