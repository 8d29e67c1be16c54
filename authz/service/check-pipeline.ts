/**
 * The Check pipeline: CheckRequest bytes in, CheckResponse bytes out, the same in both topologies (the gRPC thread
 * itself, or the decision thread).
 *
 *   bytes ─decode─> CheckInput ─authorize─> Decision ─effects (audit first)─> Decision ─encode─> bytes
 *         ─commit (the records written to the audit target)─> answer
 *
 * A batch of Checks is decided first, then its audit records are committed (written with write(2): a process killed
 * from then on loses none), then every answer is handed to the transport, then metrics and envelope observation run
 * (transport/turn-batch.ts says why the passes are separate). An answer never leaves before its record is written;
 * if the write fails, the Checks it covers are denied (`audit-unavailable`) instead. One catch per Check turns anything
 * unexpected into a deny for that Check alone (fail closed); the cause goes to the operational log as a code,
 * never to the wire. The deny's audit record carries everything known when the Check failed: the authorizer fills
 * in a `CheckProgress` stage by stage (the request's caller, method, path, FHIR view and patients once decoded, the
 * verified clinician once claims are resolved, the agent once selected). A Check whose effects fail after its record
 * was written gets a second record with the same decision id: the internal-error deny it was answered with.
 */
import { randomUUID } from 'node:crypto';
import { planEffects, type EffectsApplier } from '../effects/index.js';
import type { Authorization, Authorizer, CheckProgress } from '../lanes/index.js';
import {
  BUILTIN_RULES,
  DECISION_REASONS,
  denyDecision,
  loggableRequestId,
  traceIds,
  type Decision,
  type RequestAttributesModel,
} from '../model/index.js';
import { decodeCheckRequest, type ResponseEncoder } from '../transport/index.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** Milliseconds since the epoch, sub-millisecond and monotonic within a thread; comparable across threads. */
export const clockMs = (): number => performance.timeOrigin + performance.now();

/** One Check handed to the pipeline. */
export interface CheckItem {
  /** The CheckRequest's wire bytes. */
  request: unknown;
  /** When it arrived (clockMs): the latency in the audit record and the histogram count from here. */
  t0: number;
  /** Hands the encoded CheckResponse to the transport. Called exactly once per Check. */
  reply(bytes: Buffer): void;
}

/** Observes decisions after they are answered (envelope recording). Must not throw or block. */
export type DecisionObserver = (
  attributes: Authorization['attributes'],
  decision: Decision,
  decisionId: string,
) => void;

export interface CheckPipeline {
  /** Decides a batch of Checks. Never throws: a failure is a deny for that Check. */
  decideBatch: (items: readonly CheckItem[]) => void;
}

export interface PipelineDeps {
  authorizer: Authorizer;
  /** Writes the audit records accepted so far, then `done(true)`; `done(false)` if they could not be written. */
  commit: (done: (written: boolean) => void) => void;
  effects: EffectsApplier;
  responses: ResponseEncoder;
  metrics: Metrics;
  observers: readonly DecisionObserver[];
  /** Told of every answer with its decision time, after the metrics (the bulk thread reports them: engine.ts). */
  onAnswered?: ((d: Decision, seconds: number) => void) | undefined;
  log: Logger;
  /** The policy version in force, for denies decided before any policy ran. */
  policyVersion: () => string;
}

interface Answer {
  bytes: Buffer;
  decision: Decision;
  auth: Authorization | undefined;
  decisionId: string;
}

const internalDeny = (policyVersion: string, agent = ''): Decision =>
  denyDecision({
    agent,
    rule: BUILTIN_RULES.internalError,
    reason: DECISION_REASONS.internalError,
    message: 'Denied: internal error',
    status: 403,
    policyVersion,
  });

/** The deny of a Check whose audit record could not be written: nothing that was not recorded is allowed. */
const auditLost = (d: Decision): Decision =>
  denyDecision({
    agent: d.agent,
    rule: BUILTIN_RULES.auditUnavailable,
    reason: DECISION_REASONS.auditUnavailable,
    message: 'Denied: the audit trail is unavailable',
    status: 503,
    policyVersion: d.policyVersion,
  });

/** The answer for a Check whose record could not be written: the audit-unavailable deny. */
function unrecorded(a: Answer, responses: ResponseEncoder, lastResort: Buffer): Answer {
  const decision = auditLost(a.decision);
  try {
    return { bytes: responses.encode(decision, a.decisionId), decision, auth: undefined, decisionId: a.decisionId };
  } catch {
    return { bytes: lastResort, decision, auth: undefined, decisionId: a.decisionId };
  }
}

/** The answer of last resort, for a response path that fails: encoded once, with a nil decision id. */
export function lastResortAnswer(responses: ResponseEncoder): Buffer {
  return responses.encode(internalDeny(''), '00000000-0000-4000-8000-000000000000');
}

/**
 * Logs a Check denied because it failed, with its trace context and request id when known (model/trace-context.ts),
 * so the line joins the mesh's spans and access logs.
 */
function logFailed(log: Logger, code: string, decisionId: string, a: RequestAttributesModel | undefined, msg: string) {
  const trace = a === undefined ? {} : { requestId: loggableRequestId(a.request.id), ...traceIds(a.request.headers) };
  log.error({ code, decisionId, ...trace }, msg);
}

export function createCheckPipeline(deps: PipelineDeps): CheckPipeline {
  const { log, responses } = deps;
  const lastResort = lastResortAnswer(responses);
  const codeOf = (e: unknown): string => (e instanceof Error ? e.name : 'thrown');

  /** Applies the effects (the audit record first) and encodes the answer. */
  const finish = (p: CheckItem, auth: Authorization | undefined, d: Decision, decisionId: string): Answer => {
    try {
      const decision = deps.effects.apply(auth, d, planEffects(auth, d), decisionId, p.t0);
      return { bytes: responses.encode(decision, decisionId), decision, auth, decisionId };
    } catch (e) {
      logFailed(log, codeOf(e), decisionId, auth?.attributes, 'response path failed; denied (fail closed)');
      return { ...recorded(p, auth?.attributes, internalDeny(d.policyVersion, d.agent), decisionId), auth };
    }
  };
  /**
   * The internal-error deny of a Check that failed, recorded with what was known of it (`known`). Never throws: when
   * even that fails, the answer of last resort.
   */
  const recorded = (
    p: CheckItem,
    known: Authorization['attributes'] | undefined,
    d: Decision,
    decisionId: string,
  ): Answer => {
    try {
      const decision = deps.effects.apply(undefined, d, planEffects(undefined, d), decisionId, p.t0, known);
      return { bytes: responses.encode(decision, decisionId), decision, auth: undefined, decisionId };
    } catch (e) {
      logFailed(log, codeOf(e), decisionId, known, 'the record of a failed check failed too; denied (fail closed)');
      return { bytes: lastResort, decision: d, auth: undefined, decisionId };
    }
  };
  /** The deny of a Check that failed at some stage; its record carries what the stages reached (`progress`). */
  const failClosed = (p: CheckItem, code: string, decisionId: string, progress?: CheckProgress): Answer => {
    const known = progress === undefined ? undefined : deps.authorizer.known(progress);
    logFailed(log, code, decisionId, known, 'check failed; denied (fail closed)');
    return recorded(p, known, internalDeny(deps.policyVersion(), progress?.agent), decisionId);
  };
  /** Hands the answer to the transport, then metrics and observers, which must not hold the answer back. */
  const send = (p: CheckItem, a: Answer): void => {
    try {
      p.reply(a.bytes);
    } catch (e) {
      log.error({ code: codeOf(e) }, 'the transport rejected a Check answer');
    }
    try {
      const d = a.decision;
      const seconds = Math.max(0, clockMs() - p.t0) / 1000;
      deps.metrics.hot.answered(d, seconds);
      deps.onAnswered?.(d, seconds);
      if (a.auth !== undefined) for (const o of deps.observers) o(a.auth.attributes, d, a.decisionId);
    } catch (e) {
      log.error({ code: codeOf(e) }, 'metrics or observer failed after the decision was sent');
    }
  };
  const committed = (a: Answer, written: boolean): Answer => (written ? a : unrecorded(a, responses, lastResort));
  /** Decides one Check: its answer, or undefined when it answers later by itself (a token verified first). */
  const evaluate = (p: CheckItem): Answer | undefined => {
    const decisionId = randomUUID();
    const progress: CheckProgress = {};
    try {
      if (!Buffer.isBuffer(p.request)) return failClosed(p, 'not-check-request-bytes', decisionId);
      const decoded = decodeCheckRequest(p.request);
      if (!decoded.ok) return failClosed(p, decoded.error, decisionId);
      const auth = deps.authorizer.authorize(decoded.input, { progress });
      if (!(auth instanceof Promise)) return finish(p, auth, auth.decision, decisionId);
      const later = (a: Answer): void => deps.commit((written) => send(p, committed(a, written)));
      auth.then(
        (a) => later(finish(p, a, a.decision, decisionId)),
        (e: unknown) => later(failClosed(p, codeOf(e), decisionId, progress)),
      );
      return undefined;
    } catch (e) {
      return failClosed(p, codeOf(e), decisionId, progress);
    }
  };
  return {
    decideBatch(items) {
      const answers = items.map(evaluate);
      deps.commit((written) => {
        items.forEach((p, i) => {
          const a = answers[i];
          if (a !== undefined) send(p, committed(a, written));
        });
      });
    },
  };
}
