/**
 * Carries out a decision's effects (plan-effects.ts), in the order that keeps the trail whole:
 * state first (rate-limit debit, patient context), then the decision's audit record, then the records it implies
 * (AI-BOM first contact, containment entry, break-glass attestation). If the audit trail does not accept a record,
 * the decision becomes a deny: no PHI access without its record (HIPAA §164.312(b)).
 */
import {
  AUDIT_FORMAT,
  auditEvents,
  breakGlassAttestation,
  decisionRow,
  rowToRecord,
  type AiBomRecord,
  type AuditEventScope,
  type AuditSink,
  type DecisionRow,
} from '../audit/index.js';
import type { ContainmentState, ContainmentStore, PatientContext } from '../containment/index.js';
import type { RateLimiter } from '../egress/index.js';
import { rateLimitedDecision, type Authorization } from '../lanes/index.js';
import {
  BUILTIN_RULES,
  DECISION_REASONS,
  denyDecision,
  type Decision,
  type RequestAttributesModel,
} from '../model/index.js';
import { planEffects, type ContainmentEntry, type Effects } from './plan-effects.js';

export interface EffectsDeps {
  audit: AuditSink;
  /** Decisions as FHIR AuditEvents (IHE BALP), when configured. */
  auditEvents: AuditSink | undefined;
  /** Which decisions go to `auditEvents`: break-glass lane accesses (default), or all. */
  auditEventScope?: AuditEventScope;
  rateLimiter: RateLimiter;
  /** Containment, when configured. */
  containment: { store: ContainmentStore; context: PatientContext } | undefined;
  /** This replica's id, in containment records. */
  replicaId: string;
  /** Told when an agent enters containment (metrics, log). */
  onContained: (state: ContainmentState) => void;
  /** Told when a decision is turned into a deny because the audit trail refused a record (metrics). */
  onAuditRejected: () => void;
}

export interface EffectsApplier {
  /**
   * Applies the effects of one decision and writes its audit record. Returns the decision to answer with: the
   * same one, or an `audit-unavailable` deny when a record was not accepted. Throws only on a bug (the caller
   * denies). `known` is what was known of a Check that failed before it was decided (`auth` undefined): its record
   * carries those attributes.
   */
  apply(
    auth: Authorization | undefined,
    d: Decision,
    effects: Effects,
    decisionId: string,
    t0Ms: number,
    known?: RequestAttributesModel,
  ): Decision;
}

/** The AI bill of materials: the first contact of an agent with an outside endpoint, once per replica. */
function recordFirstContact(
  deps: EffectsDeps,
  contacted: Set<string>,
  e: NonNullable<Effects['egressContact']>,
  d: Decision,
  nowMs: number,
): boolean {
  const key = `${e.agent}|${e.info.host}:${e.info.port}`;
  if (contacted.has(key)) return true;
  contacted.add(key);
  const record: AiBomRecord = {
    format: AUDIT_FORMAT,
    type: 'aibom-first-contact',
    time: new Date(nowMs).toISOString(),
    agent: e.agent,
    principal: e.principal,
    endpoint: `${e.info.host}:${e.info.port}`,
    covered: e.info.covered,
    baaStatus: e.info.reason,
    vendor: e.info.vendor,
    agreementId: e.info.agreementId,
    registryVersion: e.info.registryVersion,
    decision: d.outcome,
  };
  return deps.audit.write(record);
}

/**
 * Enters containment: the shared state file (a `pause` context keyed with the privacy key; `stop` in place of
 * `pause` without one: containment/containment.ts), then its audit record.
 */
function enterContainment(deps: EffectsDeps, c: ContainmentEntry, decisionId: string, nowMs: number): boolean {
  const cm = deps.containment;
  if (cm === undefined) return true;
  const state = cm.store.enter(
    {
      agent: c.agent,
      action: c.action,
      trigger: c.trigger,
      since: new Date(nowMs).toISOString(),
      until: new Date(nowMs + c.durationMinutes * 60_000).toISOString(),
      decisionId,
      replica: deps.replicaId,
    },
    () => cm.context.recent(c.agent, nowMs, c.contextWindowMs),
  );
  deps.onContained(state);
  return deps.audit.write({
    format: AUDIT_FORMAT,
    type: 'containment-entered',
    time: state.since,
    agent: state.agent,
    action: state.action,
    ...(state.requestedAction !== undefined ? { requestedAction: state.requestedAction } : {}),
    trigger: state.trigger,
    until: state.until,
    decisionId,
    replica: deps.replicaId,
  });
}

/** Every access through a break-glass class is attested; without the attestation there is no access. */
function attestBreakGlass(
  deps: EffectsDeps,
  auth: Authorization,
  d: Decision,
  decisionId: string,
  nowMs: number,
): boolean {
  if (d.lane === undefined) return true;
  const att = breakGlassAttestation(decisionId, { ...d, lane: d.lane }, auth.attributes, new Date(nowMs));
  return deps.audit.write(att);
}

/**
 * The decision's FHIR AuditEvents (one per patient, audit-event.ts), when `--audit-event-file` is set: for a
 * break-glass lane access, or for every decision with `--audit-events all`. Like every record, no access without
 * them: a sink that refuses one turns the decision into a deny.
 */
function writeAuditEvents(
  deps: EffectsDeps,
  row: DecisionRow,
  d: Decision,
  breakGlass: boolean,
  attributes: RequestAttributesModel | undefined,
): boolean {
  const sink = deps.auditEvents;
  if (sink === undefined) return true;
  const lane = breakGlass ? d.lane : undefined;
  if (deps.auditEventScope !== 'all' && lane === undefined) return true;
  const events = auditEvents({
    record: rowToRecord(row),
    path: attributes?.request.path ?? '',
    sourceAddress: attributes?.source.address ?? '',
    ...(lane !== undefined ? { purposeOfUse: lane.purposeOfUse } : {}),
  });
  for (const e of events) if (!sink.write(e)) return false;
  return true;
}

/**
 * Takes the rate-limit token of an allowed outside request. The lane saw one available, but Checks decided
 * together (a batch, or token verifications that settle in one turn) all see the bucket before any takes from it:
 * the take is what decides. When no token is left, the allow becomes the lane's own 429 deny, with its effects.
 */
function debit(deps: EffectsDeps, auth: Authorization | undefined, d: Decision, effects: Effects): [Decision, Effects] {
  const r = effects.rateLimitDebit;
  if (r === undefined || deps.rateLimiter.take(r.agent, r.limit, r.nowMs)) return [d, effects];
  const limited = rateLimitedDecision(r.agent, r.limit, d);
  return [limited, planEffects(auth, limited)];
}

function applyState(deps: EffectsDeps, effects: Effects): void {
  const s = effects.contextSeen;
  if (s !== undefined) deps.containment?.context.see(s.agent, s.patients, s.nowMs);
}

export function createEffectsApplier(deps: EffectsDeps, clockMs: () => number): EffectsApplier {
  const contacted = new Set<string>();
  return {
    apply(auth, decided, planned, decisionId, t0Ms, known) {
      const [d, effects] = debit(deps, auth, decided, planned);
      applyState(deps, effects);
      // t0 may come from the gRPC thread's clock: never below zero.
      const latencyUs = Math.max(0, Math.trunc((clockMs() - t0Ms) * 1000));
      const nowMs = Date.now();
      const attributes = auth?.attributes ?? known;
      const row = decisionRow(decisionId, d, attributes, latencyUs, nowMs);
      let accepted = deps.audit.writeDecision(row);
      const contact = effects.egressContact;
      if (accepted && contact !== undefined) accepted = recordFirstContact(deps, contacted, contact, d, nowMs);
      if (accepted && effects.containment !== undefined) {
        accepted = enterContainment(deps, effects.containment, decisionId, nowMs);
      }
      if (accepted && effects.breakGlass && auth !== undefined)
        accepted = attestBreakGlass(deps, auth, d, decisionId, nowMs);
      if (accepted) accepted = writeAuditEvents(deps, row, d, effects.breakGlass, attributes);
      if (accepted) return d;
      deps.onAuditRejected();
      return denyDecision({
        agent: d.agent,
        rule: BUILTIN_RULES.auditUnavailable,
        reason: DECISION_REASONS.auditUnavailable,
        message: 'Denied: the PHI access audit trail is unavailable',
        status: 503,
        policyVersion: d.policyVersion,
      });
    },
  };
}
