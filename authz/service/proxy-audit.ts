/**
 * The audit receiver for decisions the proxy-wasm filter makes in Envoy (`serve --proxy-audit`; docs/wasm.md#audit).
 *
 * The filter writes each in-proxy decision into filter state (`wasm.phiguard_decision`: decision, rule, reason,
 * status, agent, the caller's principal, method, path, authority, policy version, decision id); Envoy's gRPC access
 * logger carries it here (transport/access-log-wire.ts). Each entry becomes the decision record the service writes
 * for a Check: the request is read by the service's own authorizer (the same FHIR parser, patient scope and agent
 * selection), and the record carries the filter's decision, decision id and policy version, with `decidedBy: proxy`
 * and who reported it. The effects a deny causes in the service (containment triggers) and an allow's patient
 * context apply as they would for a Check.
 *
 * When the service, deciding the same request now, would not decide as the filter did (another program version in
 * the proxy, containment the proxy does not see), the record still carries the filter's decision, because that is
 * what was enforced; the entry counts as `recorded-divergent` and is logged without PHI (agent, rules, decision id).
 *
 * Who may report: with `xfcc`, only the workloads named in `--proxy-audit-reporters`, identified by the URI of the
 * `x-forwarded-client-cert` header phiguard's own sidecar sets; with `network`, any caller of the port.
 */
import { z } from 'zod';
import { planEffects, type EffectsApplier } from '../effects/index.js';
import { xfccPeerUri } from '../identity/index.js';
import type { Authorization, Authorizer } from '../lanes/index.js';
import { DECISION_REASONS, denyDecision, type CheckInput, type Decision, type DecisionReason } from '../model/index.js';
import { decodeAccessLogs } from '../transport/index.js';
import { clockMs } from './check-pipeline.js';
import { createLogThrottle } from './log-throttle.js';
import type { Logger } from './logger.js';
import type { Metrics, PROXY_AUDIT_RESULTS } from './metrics.js';

/** The filter state the proxy-wasm filter writes for a decision it made (wasm/assembly/index.ts `recordDecision`). */
export const ProxyDecisionSchema = z
  .object({
    decision: z.enum(['allow', 'deny']),
    rule: z.string().min(1).max(256),
    reason: z.string().max(64),
    status: z.number().int().min(100).max(599),
    agent: z.string().max(256),
    principal: z.string().max(2048),
    method: z.string().max(64),
    path: z.string().max(1_048_576),
    authority: z.string().max(1024),
    policyVersion: z.string().max(256),
    decisionId: z.string().regex(/^px-[0-9a-f]{1,16}-[0-9a-f]{1,16}$/),
    requestId: z.string().max(256),
  })
  .strict();
export type ProxyDecision = z.infer<typeof ProxyDecisionSchema>;

export interface ProxyAuditDeps {
  mode: 'xfcc' | 'network';
  /** With `xfcc`: the SPIFFE ids allowed to report. */
  reporters: readonly string[];
  authorizer: Authorizer;
  effects: EffectsApplier;
  /** Writes the records accepted so far (the Check pipeline's commit). */
  commit: (done: (written: boolean) => void) => void;
  metrics: Metrics;
  log: Logger;
}

export interface ProxyAudit {
  /** Records the filter decisions of one `StreamAccessLogsMessage`. Never throws. */
  receive: (message: Buffer, xfcc: string | undefined) => void;
}

type Result = (typeof PROXY_AUDIT_RESULTS)[number];

/** Least time between two log lines of one kind (a proxy that reports every request would flood the log). */
const LOG_INTERVAL_MS = 30_000;

const REASONS = new Set<string>(Object.values(DECISION_REASONS));

/** The filter's own deny rules (wasm/assembly/index.ts `denyUnavailable`): it could not ask the service, or has no
 * valid program. Policy rule names may start with `wasm-` too: a report is the filter's own only in this exact form. */
const FILTER_RULES: ReadonlySet<string> = new Set([
  'wasm-check-call-failed',
  'wasm-check-timeout',
  'wasm-check-unreadable',
  'wasm-not-configured',
]);
const filterOwn = (r: ProxyDecision): boolean =>
  FILTER_RULES.has(r.rule) && r.decision === 'deny' && r.status === 403 && r.reason === DECISION_REASONS.internalError;

/** The Check the filter decided, as Envoy's ext_authz filter would have sent it for the same request line. */
export function checkInputOf(r: ProxyDecision, startTimeMs: number | undefined): CheckInput {
  const { requestId } = r;
  const headers: Record<string, string> = { ':method': r.method, ':path': r.path, ':authority': r.authority };
  if (requestId !== '') headers['x-request-id'] = requestId;
  return {
    attributes: {
      source: { principal: r.principal },
      request: {
        ...(startTimeMs === undefined ? {} : { time: new Date(startTimeMs).toISOString() }),
        http: {
          method: r.method,
          path: r.path,
          host: r.authority,
          headers,
          ...(requestId === '' ? {} : { id: requestId }),
        },
      },
    },
  };
}

/** The decision the filter reported, as a Decision value (when the service's own differs). */
function reportedDecision(r: ProxyDecision, reporter: string): Decision {
  const known = REASONS.has(r.reason) ? (r.reason as DecisionReason) : undefined;
  if (r.decision === 'deny') {
    const reason = known ?? DECISION_REASONS.ruleDeny;
    return {
      ...denyDecision({
        agent: r.agent,
        rule: r.rule,
        reason,
        status: r.status,
        message: 'Denied in the proxy',
        policyVersion: r.policyVersion,
      }),
      proxy: { reporter },
    };
  }
  return {
    outcome: 'allow',
    verdict: 'allow',
    mode: 'enforce',
    agent: r.agent,
    rule: r.rule,
    reason: known ?? DECISION_REASONS.ruleAllow,
    status: 200,
    message: '',
    policyVersion: r.policyVersion,
    trace: [],
    proxy: { reporter },
  };
}

/** A JSON string as the filter writes it: quote and backslash escaped, controls and surrogate halves as \uXXXX. */
function filterString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20 || (c >= 0xd800 && c <= 0xdfff)) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return `${out}"`;
}

/**
 * The exact text the filter writes for a decision (wasm/assembly/index.ts `recordDecision`): its fields in its order,
 * no spaces. A state is accepted only in this form, so a duplicated key, a reordering or anything added around the
 * object is refused rather than read the way JSON.parse would (the last duplicate wins).
 */
export function filterStateText(d: ProxyDecision): string {
  const str = (k: Exclude<keyof ProxyDecision, 'status'>): string => `"${k}":${filterString(d[k])}`;
  return (
    `{${str('decision')},${str('rule')},${str('reason')},"status":${d.status},${str('agent')},${str('principal')},` +
    `${str('method')},${str('path')},${str('authority')},${str('policyVersion')},${str('decisionId')},` +
    `${str('requestId')}}`
  );
}

/** The filter state as the decision it describes, or undefined when it is not one in the filter's exact form. */
function parseState(state: string): ProxyDecision | undefined {
  try {
    const r = ProxyDecisionSchema.safeParse(JSON.parse(state));
    return r.success && filterStateText(r.data) === state ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** True when the service decides the request as the filter reported (outcome, rule and status). */
export function sameDecision(service: Decision, r: ProxyDecision): boolean {
  const status = service.outcome === 'allow' ? 200 : service.status;
  return service.outcome === r.decision && service.rule === r.rule && status === r.status;
}

/** Applies one entry's effects (its record first); the result it counts as once written. */
function recordEntry(
  deps: ProxyAuditDeps,
  throttle: ReturnType<typeof createLogThrottle>,
  r: ProxyDecision,
  auth: Authorization,
  reporter: string,
): Result {
  // The filter's own denies (it could not ask the service) are recorded as made; the service's reading of the
  // request only fills in what the request touched.
  const own = filterOwn(r);
  const agrees = !own && sameDecision(auth.decision, r);
  // The filter's own deny names no agent (it decided before any table); the service's reading knows it.
  const reported = own && r.agent === '' ? { ...r, agent: auth.decision.agent } : r;
  const d: Decision = agrees
    ? { ...auth.decision, policyVersion: r.policyVersion, proxy: { reporter } }
    : reportedDecision(reported, reporter);
  if (!agrees && !own && throttle.take('divergent') !== undefined)
    deps.log.warn(
      { decisionId: r.decisionId, agent: r.agent, proxyRule: r.rule, serviceRule: auth.decision.rule },
      'a decision made in the proxy differs from the service decision for the same request; recorded as made',
    );
  const applied = deps.effects.apply(auth, d, planEffects(auth, d), r.decisionId, clockMs());
  // The applier answers a record the audit target refused with the audit-unavailable deny.
  if (applied.reason === DECISION_REASONS.auditUnavailable && d.reason !== applied.reason) return 'unwritten';
  return agrees || own ? 'recorded' : 'recorded-divergent';
}

export function createProxyAudit(deps: ProxyAuditDeps): ProxyAudit {
  const { log, metrics } = deps;
  const throttle = createLogThrottle(LOG_INTERVAL_MS);
  const count = (result: Result, n = 1): void => {
    if (n > 0) metrics.proxyAudit.inc({ result }, n);
  };
  const reporterOf = (xfcc: string | undefined): string | undefined => {
    if (deps.mode === 'network') return 'network';
    const uri = xfccPeerUri(xfcc);
    return uri !== undefined && deps.reporters.includes(uri) ? uri : undefined;
  };

  const settle = (results: Result[]): void => {
    deps.commit((written) => {
      if (!written) {
        count('unwritten', results.length);
        log.error({ entries: results.length }, 'proxy decisions received but not recorded: the audit target failed');
        return;
      }
      for (const r of results) count(r);
      const lost = results.filter((r) => r === 'unwritten').length;
      if (lost > 0)
        log.error({ entries: lost }, 'proxy decisions received but not recorded: the audit target refused them');
    });
  };

  return {
    receive(message, xfcc) {
      let decoded;
      try {
        decoded = decodeAccessLogs(message);
      } catch (e) {
        count('invalid');
        if (throttle.take('undecodable') !== undefined)
          log.warn({ code: e instanceof Error ? e.name : 'thrown' }, 'an access-log message that does not decode');
        return;
      }
      count('invalid', decoded.unreadable);
      if (decoded.entries.length === 0) return;
      const reporter = reporterOf(xfcc);
      if (reporter === undefined) {
        count('rejected-reporter', decoded.entries.length);
        if (throttle.take('reporter') !== undefined)
          log.warn(
            { reporter: xfccPeerUri(xfcc) ?? '', entries: decoded.entries.length },
            'proxy decisions from a caller not in --proxy-audit-reporters: not recorded',
          );
        return;
      }
      const results: Result[] = [];
      const pending: Promise<void>[] = [];
      for (const entry of decoded.entries) {
        const parsed = parseState(entry.state);
        if (parsed === undefined) {
          count('invalid');
          continue;
        }
        const input = checkInputOf(parsed, entry.startTimeMs);
        try {
          const auth = deps.authorizer.authorize(input);
          if (auth instanceof Promise)
            pending.push(
              auth.then(
                (a) => void results.push(recordEntry(deps, throttle, parsed, a, reporter)),
                () => count('invalid'),
              ),
            );
          else results.push(recordEntry(deps, throttle, parsed, auth, reporter));
        } catch (e) {
          count('invalid');
          log.error(
            { code: e instanceof Error ? e.name : 'thrown', decisionId: parsed.decisionId },
            'proxy decision not recorded',
          );
        }
      }
      if (pending.length === 0) settle(results);
      else void Promise.all(pending).then(() => settle(results));
    },
  };
}
