/**
 * Messages between the gRPC thread and the decision thread (service/start-threaded.ts, service/decision-thread.ts),
 * carried by a worker channel (worker-channel.ts): both ends parse what they receive with these schemas.
 *
 * Checks and answers travel in batches: the wire bytes of a batch in one transferred ArrayBuffer (no copy across the
 * boundary), `ends[i]` the end offset of item i, `seqs[i]` its sequence number on the gRPC thread, which pairs each
 * answer with its call.
 */
import { z } from 'zod';
import { DECISION_REASONS, FindingSchema } from '../model/index.js';
import { createTurnBatch } from './turn-batch.js';
import { CloseSchema } from './worker-channel.js';

/**
 * `workerData` of a decision thread: the validated server configuration (validated again on arrival) and its role:
 * `decisions`, the decision thread, which also serves the ops port; `bulk`, the thread for large Checks, which
 * does not.
 */
export const EngineInitSchema = z.object({
  config: z.unknown(),
  defaultMetrics: z.boolean(),
  role: z.enum(['decisions', 'bulk']).default('decisions'),
});

const batch = {
  bytes: z.instanceof(ArrayBuffer),
  ends: z.array(z.number().int().nonnegative()),
  seqs: z.array(z.number().int().nonnegative()),
};

/**
 * What the bulk thread reports of its answers for the metrics and probes the decision thread serves for the process:
 * each answered decision (what the per-Check metrics read) and its audit sinks' state.
 */
export const BulkObservedSchema = z.object({
  decisions: z.array(
    z.object({
      outcome: z.enum(['allow', 'deny']),
      mode: z.enum(['enforce', 'audit', 'none']),
      agent: z.string(),
      rule: z.string(),
      reason: z
        .enum(Object.values(DECISION_REASONS) as [string, ...string[]])
        .transform((r) => r as (typeof DECISION_REASONS)[keyof typeof DECISION_REASONS]),
      status: z.number().int(),
      lane: z.object({ class: z.string() }).optional(),
      laneAttempts: z.array(z.string()).optional(),
      seconds: z.number().nonnegative(),
    }),
  ),
  /** An audit sink of the bulk thread failed (it denies every large Check until the process restarts). */
  auditFailed: z.boolean(),
  /** Its audit queue is past `--audit-max-buffer-bytes`. */
  auditBacklogged: z.boolean(),
});
export type BulkObserved = z.infer<typeof BulkObservedSchema>;

/** To the decision thread. */
export const ToEngineSchema = z.discriminatedUnion('t', [
  /** CheckRequests in wire bytes, with their arrival times (epoch ms, sub-millisecond). */
  z.object({ t: z.literal('checks'), ...batch, t0s: z.array(z.number()) }),
  /** The listener is draining: /readyz turns 503. */
  z.object({ t: z.literal('drain') }),
  /** Continue the audit trails in files newly opened at their paths (SIGHUP, log rotation). */
  z.object({ t: z.literal('reopen') }),
  /** The bulk thread's answers and audit state (decision thread only). */
  z.object({ t: z.literal('bulk-observed'), ...BulkObservedSchema.shape }),
  /** One access-log message of the proxy-wasm filter's decisions (`--proxy-audit`), with its stream's XFCC header. */
  z.object({ t: z.literal('proxy-logs'), bytes: z.instanceof(ArrayBuffer), xfcc: z.string().optional() }),
  /** Every Check has been answered: flush the audit trail, close, report `closed` (the close handshake). */
  CloseSchema,
]);
export type ToEngine = z.infer<typeof ToEngineSchema>;

/** From the decision thread. */
export const FromEngineSchema = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('started'),
    metricsPort: z.number().int(),
    policyVersion: z.string(),
    agents: z.array(z.string()),
  }),
  /** The engine did not start (policy, configuration, ops port): the service must not serve. */
  z.object({ t: z.literal('startup-failed'), message: z.string(), findings: z.array(FindingSchema) }),
  /** Encoded CheckResponses. */
  z.object({ t: z.literal('answers'), ...batch }),
  /** The bulk thread's answers and audit state since its last report. */
  z.object({ t: z.literal('observed'), ...BulkObservedSchema.shape }),
  /** Closed after `close`: the audit trail is flushed. */
  z.object({ t: z.literal('closed'), audited: z.number().int().nonnegative() }),
]);
export type FromEngine = z.infer<typeof FromEngineSchema>;

/** True when a batch's arrays agree with each other and with its buffer. */
export function batchConsistent(b: { bytes: ArrayBuffer; ends: number[]; seqs: number[]; t0s?: number[] }): boolean {
  if (b.ends.length !== b.seqs.length || (b.t0s !== undefined && b.t0s.length !== b.ends.length)) return false;
  let prev = 0;
  for (const e of b.ends) {
    if (e < prev) return false;
    prev = e;
  }
  return prev <= b.bytes.byteLength;
}

/** Packs byte strings into one transferable buffer and their end offsets. */
export function packBytes(items: readonly Uint8Array[]): { bytes: ArrayBuffer; ends: number[] } {
  let total = 0;
  for (const b of items) total += b.length;
  const bytes = new ArrayBuffer(total);
  const view = new Uint8Array(bytes);
  const ends: number[] = [];
  let at = 0;
  for (const b of items) {
    view.set(b, at);
    at += b.length;
    ends.push(at);
  }
  return { bytes, ends };
}

/** A packed batch: item i is `bytes[ends[i - 1] .. ends[i]]`, with its sequence number and arrival time. */
export interface PackedBatch {
  bytes: ArrayBuffer;
  ends: number[];
  seqs: number[];
  /** Empty for answers. */
  t0s: number[];
}

/**
 * Byte strings queued for the other thread, sent together as one packed batch at the end of the turn (a turn batch,
 * turn-batch.ts) or at `flush()`.
 */
export interface BatchOutbox {
  /** Queues one item; returns how many are queued. */
  add(bytes: Uint8Array, seq: number, t0?: number): number;
  /** Sends what is queued now (nothing when empty). */
  flush(): void;
}

/** An outbox handing each packed batch to `send` (which posts it, its buffer transferred). */
export function createBatchOutbox(send: (batch: PackedBatch) => void): BatchOutbox {
  // The sequence numbers and arrival times ride beside the batch's items: no object per item. The batch has no
  // `max`, so every hand-over takes all that is queued and the three arrays stay aligned.
  let seqs: number[] = [];
  let t0s: number[] = [];
  const batch = createTurnBatch<Uint8Array>((items) => {
    const { bytes, ends } = packBytes(items);
    const packed = { bytes, ends, seqs, t0s };
    seqs = [];
    t0s = [];
    send(packed);
  });
  return {
    add: (bytes, seq, t0) => {
      seqs.push(seq);
      if (t0 !== undefined) t0s.push(t0);
      return batch.add(bytes);
    },
    flush: () => batch.flush(),
  };
}

/** Item i of a packed batch, as a Buffer over the same memory. */
export function unpackItem(bytes: ArrayBuffer, ends: readonly number[], i: number): Buffer {
  const start = i === 0 ? 0 : (ends[i - 1] ?? 0);
  return Buffer.from(bytes, start, (ends[i] ?? start) - start);
}
