/**
 * A decision thread (a worker_threads entry point, started by start-threaded.ts): the decision engine (engine.ts),
 * fed batches of CheckRequest wire bytes by the gRPC thread, answering with encoded CheckResponses. Policy reload,
 * audit, containment, the BAA registry and metrics all live here. The `decisions` thread also serves /metrics and
 * /readyz; the `bulk` thread (large Checks, start-threaded.ts) runs the same engine without the ops listener.
 *
 * The answers of a batch go back as one message right after it is decided; an answer that comes later (a bearer
 * token verified against a JWKS URL for the first time) goes back at the end of the turn it arrives in.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { workerData } from 'node:worker_threads';
import { isPhiguardError, type Decision } from '../model/index.js';
import { clockMs, startDecisionEngine, type CheckItem, type DecisionEngine } from './engine.js';
import {
  batchConsistent,
  connectToParent,
  createBatchOutbox,
  EngineInitSchema,
  ToEngineSchema,
  unpackItem,
  type BulkObserved,
  type FromEngine,
  type ParentChannel,
} from '../transport/index.js';
import { createLogger, type Logger } from './logger.js';
import { ServerConfigSchema } from './config.js';

const parent = connectToParent<FromEngine>('decision-thread.ts');
const init = EngineInitSchema.safeParse(workerData);
const config = init.success ? ServerConfigSchema.safeParse(init.data.config) : undefined;
if (!init.success || config === undefined || !config.success) {
  parent.post({ t: 'startup-failed', message: 'decision thread: invalid configuration handed over', findings: [] });
} else {
  const log = createLogger(config.data.logLevel);
  let engine: DecisionEngine | undefined;
  const bulk = init.data.role === 'bulk';
  const report = bulk ? bulkReporter(parent, () => engine) : undefined;
  try {
    engine = await startDecisionEngine(config.data, {
      logger: log,
      defaultMetrics: init.data.defaultMetrics,
      serveOps: init.data.role === 'decisions',
      ...(report === undefined ? {} : { onAnswered: report }),
    });
  } catch (e) {
    const message = e instanceof Error ? e.message : 'decision engine did not start';
    // The findings (the policy file and place that did not load) go to the gRPC thread's startup error.
    parent.post({ t: 'startup-failed', message, findings: isPhiguardError(e) ? e.findings : [] });
  }
  if (engine !== undefined) serve(engine, parent, log, init.data.role === 'bulk');
}

/**
 * Batches waiting to be decided, one per event-loop turn (the bulk thread). A port delivers every message queued, and
 * those arriving meanwhile, in one turn: deciding each as it arrives would keep the loop from the audit writes, whose
 * pending lines (hundreds of KB per large Bundle) would grow until the sink denies. One batch per turn lets the
 * audit trail be written between large Checks.
 */
function createTurnQueue(decide: (items: CheckItem[]) => void): { push(items: CheckItem[]): void; drain(): void } {
  const queue: CheckItem[][] = [];
  let scheduled = false;
  const next = (): void => {
    scheduled = false;
    const items = queue.shift();
    if (items !== undefined) decide(items);
    // Scheduled after the decision: the audit sink's end-of-turn write, queued during it, runs first.
    if (queue.length > 0 && !scheduled) {
      scheduled = true;
      setImmediate(next);
    }
  };
  return {
    push: (items) => {
      queue.push(items);
      if (!scheduled) {
        scheduled = true;
        setImmediate(next);
      }
    },
    drain: () => {
      for (let items = queue.shift(); items !== undefined; items = queue.shift()) decide(items);
    },
  };
}

/** Past this much used heap after a large Check, the bulk thread collects its garbage at once. */
const BULK_HEAP_BYTES = 96 * 1024 * 1024;

/**
 * A full garbage collection of this thread when its heap holds more than BULK_HEAP_BYTES: a decided 9 MiB Bundle
 * leaves hundreds of MB of parsed objects that V8 would otherwise keep (and grow the heap for) until its own schedule.
 * The pause is the bulk thread's alone; small Checks are decided on the other thread.
 */
function heapCollector(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as unknown;
  if (typeof gc !== 'function') return () => undefined;
  return () => {
    if (getHeapStatistics().used_heap_size > BULK_HEAP_BYTES) (gc as () => void)();
  };
}

/**
 * The bulk thread's report of its answers to the decision thread, which serves /metrics, /healthz and /readyz for the
 * process: the answers of a turn and the audit sinks' state, sent at the end of the turn they were answered in.
 */
function bulkReporter(
  parent: ParentChannel<FromEngine>,
  engine: () => DecisionEngine | undefined,
): (d: Decision, seconds: number) => void {
  let decisions: BulkObserved['decisions'] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const e = engine();
    if (e === undefined) return;
    parent.post({ t: 'observed', decisions, ...e.auditState() });
    decisions = [];
  };
  return (d, seconds) => {
    decisions.push({
      outcome: d.outcome,
      mode: d.mode,
      agent: d.agent,
      rule: d.rule,
      reason: d.reason,
      status: d.status,
      ...(d.lane === undefined ? {} : { lane: { class: d.lane.class } }),
      ...(d.laneAttempts === undefined ? {} : { laneAttempts: [...d.laneAttempts] }),
      seconds,
    });
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

function serve(engine: DecisionEngine, parent: ParentChannel<FromEngine>, log: Logger, bulk: boolean): void {
  const outbox = createBatchOutbox((b) => {
    parent.post({ t: 'answers', bytes: b.bytes, ends: b.ends, seqs: b.seqs }, [b.bytes]);
  });
  // An answer given while its batch is decided waits for the flush right after; a later one, for the end of its turn.
  const answer =
    (seq: number) =>
    (bytes: Buffer): void => {
      outbox.add(bytes, seq);
    };
  const decide = (items: CheckItem[]): void => {
    try {
      engine.decideBatch(items);
    } finally {
      outbox.flush();
    }
  };
  const collect = bulk ? heapCollector() : undefined;
  const queued = createTurnQueue((items) => {
    decide(items);
    collect?.();
  });
  parent.listen({
    schema: ToEngineSchema,
    onMessage: (d) => {
      if (d.t === 'drain') {
        engine.drain();
        return;
      }
      if (d.t === 'reopen') {
        engine.reopenAudit();
        return;
      }
      if (d.t === 'bulk-observed') {
        engine.observeBulk(d);
        return;
      }
      if (d.t === 'proxy-logs') {
        engine.receiveProxyLogs?.(Buffer.from(d.bytes), d.xfcc);
        return;
      }
      if (!batchConsistent(d)) {
        parent.fatal('inconsistent-batch');
        return;
      }
      const items: CheckItem[] = d.ends.map((_, i) => ({
        request: unpackItem(d.bytes, d.ends, i),
        t0: d.t0s[i] ?? clockMs(),
        reply: answer(d.seqs[i] ?? -1),
      }));
      if (bulk) queued.push(items);
      else decide(items);
    },
    onClose: async () => {
      queued.drain();
      await engine.close();
      outbox.flush();
      return { t: 'closed', audited: engine.audit.written() };
    },
    // The gRPC thread denies every pending and later Check once this thread is gone; what was decided is audited.
    onFatal: async (code) => {
      log.error({ code }, 'decision thread: invalid message; flushing the audit trail and stopping (fail closed)');
      await engine.close();
    },
  });
  const policies = engine.policies.current();
  const agents = policies.agents.map((a) => a.name);
  parent.post({ t: 'started', metricsPort: engine.metricsPort, policyVersion: policies.version, agents });
}
