/**
 * The decision engine: everything that decides a Check and keeps its trail, without the gRPC listener. Policy hot
 * reload, claims, the BAA registry, containment, egress credentials, envelope recording, the audit sinks, metrics and
 * the ops HTTP listener (/metrics, /healthz, /readyz) live here.
 *
 * The engine takes Checks in batches (`decideBatch`): every Check of the batch is decided first (decode, authorize,
 * audit, encoded response), then every answer is handed to the transport, then metrics and observers run
 * (edge/turn-batch.ts says why the two passes). Deciding (`evaluate`) and auditing (`record`) each hold a catch for
 * their one check: anything unexpected becomes a DENY for that check alone (fail closed), and the cause goes to the
 * operational log as a code, never to the wire.
 *
 * Two transports feed it (server.ts): the gRPC listener in the same thread (`--decisions inline`), or, by default,
 * the gRPC listener on the main thread handing raw CheckRequest bytes to this engine on a decision thread
 * (`--decisions thread`: threaded-server.ts, engine-thread.ts).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { breakGlassAttestation, createAuditSink, createThreadedAuditSink, decisionRow, toAuditEvent, type AuditSink } from '../audit/index.js';
import { AUDIT_FORMAT, type AiBomRecord } from '../audit/index.js';
import { createAuthorizer, DEFAULT_INTERNAL_SUFFIXES, type Authorization } from '../lanes/decide.js';
import { createContainmentStore, createPatientContext, hashPatient, triggerOf, type ContainmentStore } from '../containment/index.js';
import { BUILTIN_RULES, DECISION_REASONS, denyDecision, type Decision } from '../model/decision.js';
import { createResponseEncoder, decisionLabel, decodeCheckRequest, fromGrpcCheckRequest, isDecodedCheck } from '../transport/index.js';
import { createBaaStore, createRateLimiter, loadCredentialStore, type BaaStore, type CredentialStore } from '../egress/index.js';
import { createClaimsResolver, ClaimsConfigSchema } from '../identity/index.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createEnvelopeRecorder, type EnvelopeRecorder } from '../observe/index.js';
import { createPolicyStore, formatFinding, type Finding, type PolicyStore } from '../policy/index.js';
import type { ServerConfig } from './config.js';

/** Observes decisions after they are made (envelope recording). Must not throw or block. */
export type DecisionObserver = (attributes: Authorization['attributes'], decision: Decision, decisionId: string) => void;

export class StartupError extends Error {
  constructor(message: string, readonly findings: Finding[] = []) {
    super(message);
    this.name = 'StartupError';
  }
}

export interface StartOptions {
  logger?: Logger;
  observers?: DecisionObserver[];
  /** Process-level Prometheus default metrics (off in tests that start many servers). */
  defaultMetrics?: boolean;
}

/** Milliseconds since the epoch, sub-millisecond and monotonic within a thread; comparable across threads. */
export const clockMs = (): number => performance.timeOrigin + performance.now();

/** One Check handed to the engine. */
export interface CheckItem {
  /** The CheckRequest: its wire bytes, or what the gRPC codec already decoded (edge/grpc-codec.ts). */
  request: unknown;
  /** When it arrived (clockMs): the latency in the audit record and the histogram counts from here. */
  t0: number;
  /** Hands the encoded CheckResponse to the transport. Called exactly once per Check. */
  reply(bytes: Buffer): void;
}

export interface DecisionEngine {
  /** Decides a batch of Checks (see the file comment). Never throws: a failure is a deny for that check. */
  decideBatch(items: readonly CheckItem[]): void;
  /** Ready for traffic: not draining and the audit sink healthy (/readyz). */
  ready(): boolean;
  /** Marks the engine as draining (/readyz turns 503) before the transport stops taking Checks. */
  drain(): void;
  /** Flushes and closes everything: stores, recorder, audit sinks, the ops listener. */
  close(): Promise<void>;
  metricsPort: number;
  metrics: Metrics;
  policies: PolicyStore;
  audit: AuditSink;
  /** The envelope recorder, when --envelope-dir is set. */
  recorder: EnvelopeRecorder | undefined;
}

/** Starts the engine and its ops listener. Throws StartupError (with findings) if policy or configuration is unusable. */
export async function startDecisionEngine(config: ServerConfig, options: StartOptions = {}): Promise<DecisionEngine> {
  const log = options.logger ?? createLogger(config.logLevel);
  const observers = [...(options.observers ?? [])];

  const metricsRef: { current?: Metrics } = {};
  // The PHI access trail: formatted and written on this thread, or by a writer thread (server-config.ts `auditWriter`).
  const auditOptions = {
    target: config.auditFile,
    maxBufferBytes: config.auditMaxBufferBytes,
    onError: (code: string) => {
      log.error({ code }, 'audit sink failed: every request will be denied until restart');
      metricsRef.current?.auditErrors.inc({ code });
    },
  };
  const auditWriter = config.auditWriter ?? (config.decisions === 'thread' ? 'inline' : 'thread');
  const audit = auditWriter === 'thread' ? createThreadedAuditSink(auditOptions) : createAuditSink(auditOptions);
  const auditEvents = config.auditEventFile !== undefined
    ? createAuditSink({ target: config.auditEventFile, maxBufferBytes: config.auditMaxBufferBytes, onError: (code) => log.error({ code }, 'AuditEvent sink failed; break-glass accesses are denied until restart') })
    : undefined;
  /** A startup failure once the audit sinks exist: they are closed first (the writer thread would keep the process alive). */
  const startupFailed = async (message: string, findings: Finding[] = []): Promise<StartupError> => {
    await audit.close();
    await auditEvents?.close();
    return new StartupError(message, findings);
  };
  const m = createMetrics(() => audit.bufferedBytes(), { defaultMetrics: options.defaultMetrics !== false });
  metricsRef.current = m;

  const loaded = createPolicyStore(config.policies, {
    onReloaded: (set) => {
      m.reloads.inc({ result: 'success' });
      m.policyStale.set(0);
      m.policyInfo.reset();
      m.policyInfo.set({ version: set.version }, 1);
      log.info({ version: set.version, agents: set.agents.length }, 'policy reloaded');
    },
    onReloadFailed: (findings, kept) => {
      m.reloads.inc({ result: 'failure' });
      m.policyStale.set(1);
      log.error({ kept, findings: findings.map(formatFinding) }, 'POLICY RELOAD REJECTED: the last good policy set stays in force');
    },
  });
  if (!loaded.ok) {
    throw await startupFailed(`policy directory ${config.policies} did not load`, loaded.findings);
  }
  const policies = loaded.store;
  m.policyInfo.set({ version: policies.current().version }, 1);

  const claimsConfig = ClaimsConfigSchema.safeParse({
    jwtAuthnPayloadKey: config.jwtAuthnPayloadKey,
    onInvalidToken: config.jwtOnInvalid,
    issuers: config.jwtIssuer !== undefined && (config.jwksFile !== undefined || config.jwksUri !== undefined)
      ? [{ issuer: config.jwtIssuer, audiences: config.jwtAudience, ...(config.jwksFile !== undefined ? { jwksFile: config.jwksFile } : { jwksUri: config.jwksUri }) }]
      : [],
  });
  if (!claimsConfig.success) throw await startupFailed(`JWT configuration invalid: ${claimsConfig.error.issues.map((i) => i.message).join('; ')}`);
  let claims;
  try {
    claims = createClaimsResolver(claimsConfig.data);
  } catch (e) {
    throw await startupFailed(`JWKS unusable: ${e instanceof Error ? e.message : 'error'}`);
  }
  let baa: BaaStore | undefined;
  if (config.baaRegistry !== undefined) {
    const b = createBaaStore(config.baaRegistry, {
      onReloaded: (version) => {
        m.baaReloads.inc({ result: 'success' });
        log.info({ version }, 'BAA registry reloaded');
      },
      onReloadFailed: (error, kept) => {
        m.baaReloads.inc({ result: 'failure' });
        log.error({ kept, error }, 'BAA REGISTRY RELOAD REJECTED: the last good registry stays in force');
      },
    });
    if (!b.ok) throw await startupFailed(`BAA registry unusable: ${b.error}`);
    baa = b.store;
  }
  const baaStore = baa;
  let containment: { store: ContainmentStore; context: ReturnType<typeof createPatientContext> } | undefined;
  if (config.containmentDir !== undefined) {
    const store = createContainmentStore(config.containmentDir, 1000, (agent, state) => {
      m.contained.reset();
      for (const s of store.list(Date.now())) m.contained.set({ agent: s.agent, action: s.action }, 1);
      if (!state) {
        audit.write({ format: AUDIT_FORMAT, type: 'containment-ended', time: new Date().toISOString(), agent });
        log.warn({ agent }, 'containment ended (lifted or expired)');
      }
    });
    containment = { store, context: createPatientContext(60 * 60_000) };
  }
  const replicaId = config.replica ?? `${hostname()}-${process.pid}`;
  let credentials: CredentialStore | undefined;
  if (config.egressCredentials !== undefined) {
    const c = loadCredentialStore(config.egressCredentials, (code) => log.error({ code }, 'egress credential unreadable; that endpoint gets no credential'));
    if (!c.ok) throw await startupFailed(`egress credentials unusable: ${c.error}`);
    credentials = c.store;
  }
  const authorizer = createAuthorizer({
    policies, claims, fhirBasePaths: config.fhirBase,
    ...(containment ? { containment } : {}),
    // Outside requests only: a stat of the registry file first, so a change applies to the very next request.
    egress: { registry: () => { baaStore?.refresh(); return baaStore?.current(); }, rateLimiter: createRateLimiter(), ...(credentials ? { credentials } : {}), options: { internalSuffixes: config.internalDomains ?? DEFAULT_INTERNAL_SUFFIXES, ...(process.env['KUBERNETES_SERVICE_HOST'] !== undefined ? { apiServerAddresses: [process.env['KUBERNETES_SERVICE_HOST']] } : {}) } },
  });
  // AI bill of materials: the first contact of each agent with each outside endpoint (per replica).
  const contacted = new Set<string>();

  let recorder: EnvelopeRecorder | undefined;
  if (config.envelopeDir !== undefined) {
    recorder = createEnvelopeRecorder({
      dir: config.envelopeDir,
      replica: config.replica ?? `${hostname()}-${process.pid}-${Date.now().toString(36)}`,
      flushMs: config.envelopeFlushMs,
      workloadFor: (agent, attrs) => {
        const p = policies.current().agents.find((a) => a.name === agent)?.policy;
        const w = p?.spec.workload;
        return {
          kind: w?.kind ?? 'Deployment',
          name: w?.name ?? agent,
          namespace: w?.namespace ?? attrs.source.namespace,
          serviceAccount: attrs.source.serviceAccount,
          principal: attrs.source.principal,
          podLabels: w?.podLabels ?? {},
        };
      },
      onError: (code) => log.error({ code }, 'envelope flush failed'),
    });
    const r = recorder;
    observers.push((attrs, decision) => r.observe(attrs, decision));
  }

  let draining = false;
  const responses = createResponseEncoder();
  const internalDeny = (version: string): Decision => denyDecision({ rule: BUILTIN_RULES.internalError, reason: DECISION_REASONS.internalError, message: 'Denied: internal error', status: 403, policyVersion: version });
  // Encoded once: the answer of last resort if anything on the response path throws.
  const lastResort = responses.encode(internalDeny(''), '00000000-0000-4000-8000-000000000000');
  /** One Check from its arrival to its answer. */
  interface Answer { bytes: Buffer; decision: Decision; auth: Authorization | undefined; decisionId: string }

  /** Audits a decision and encodes its response. Anything unexpected here is a deny (fail closed). */
  const record = (p: CheckItem, auth: Authorization | undefined, decisionIn: Decision, decisionId: string): Answer => {
    let decision = decisionIn;
    try {
      // t0 may come from the gRPC thread's clock: never below zero.
      const latencyUs = Math.max(0, Math.trunc((clockMs() - p.t0) * 1000));
      const nowMs = Date.now();
      let accepted = audit.writeDecision(decisionRow(decisionId, decision, auth?.attributes, latencyUs, nowMs));
      const eg = decision.egress;
      const contact = eg && decision.agent !== '' ? `${decision.agent}|${eg.host}:${eg.port}` : undefined;
      if (accepted && eg && contact !== undefined && !contacted.has(contact)) {
        contacted.add(contact);
        const bom: AiBomRecord = {
          format: AUDIT_FORMAT, type: 'aibom-first-contact', time: new Date(nowMs).toISOString(), agent: decision.agent, principal: auth?.attributes.source.principal ?? '',
          endpoint: `${eg.host}:${eg.port}`, covered: eg.covered, baaStatus: eg.reason, vendor: eg.vendor, agreementId: eg.agreementId, registryVersion: eg.registryVersion,
          decision: decision.outcome,
        };
        accepted = audit.write(bom);
      }
      if (accepted && containment && decision.outcome === 'deny' && decision.agent !== '' && decision.reason !== DECISION_REASONS.contained) {
        const agentPolicy = policies.current().agents.find((x) => x.name === decision.agent);
        const trigger = triggerOf(decision.reason);
        const cfg = agentPolicy?.policy.spec.containment;
        const inEnforce = agentPolicy?.mode === 'enforce';
        if (agentPolicy && cfg && trigger && inEnforce && cfg.triggers.includes(trigger) && !containment.store.get(decision.agent, nowMs)) {
          const salt = randomUUID();
          const state = {
            agent: decision.agent, action: cfg.action ?? (agentPolicy.tier === 'batch' ? 'stop' as const : 'soft-quarantine' as const), trigger,
            since: new Date(nowMs).toISOString(), until: new Date(nowMs + cfg.durationMinutes * 60_000).toISOString(), decisionId, replica: replicaId,
            contextPatients: containment.context.recent(decision.agent, nowMs).map((patient) => hashPatient(salt, patient)), salt,
          };
          containment.store.enter(state);
          m.contained.set({ agent: state.agent, action: state.action }, 1);
          log.warn({ agent: state.agent, action: state.action, trigger }, 'agent contained');
          accepted = audit.write({ format: AUDIT_FORMAT, type: 'containment-entered', time: state.since, agent: state.agent, action: state.action, trigger, until: state.until, decisionId, replica: replicaId });
        }
      }
      if (accepted && decision.lane && decision.outcome === 'allow' && decision.reason === DECISION_REASONS.breakGlass && auth) {
        // Every access through a lane is attested; without the attestation there is no access.
        const att = breakGlassAttestation(decisionId, { ...decision, lane: decision.lane }, auth.attributes, new Date(nowMs));
        accepted = audit.write(att) && (auditEvents === undefined || auditEvents.write(toAuditEvent(att)));
      }
      if (!accepted) {
        m.auditRejected.inc();
        decision = denyDecision({ agent: decision.agent, rule: BUILTIN_RULES.auditUnavailable, reason: DECISION_REASONS.auditUnavailable, message: 'Denied: the PHI access audit trail is unavailable', status: 503, policyVersion: decision.policyVersion });
      }
      return { bytes: responses.encode(decision, decisionId), decision, auth, decisionId };
    } catch (e) {
      log.error({ code: e instanceof Error ? e.name : 'thrown', decisionId }, 'response path failed; denied (fail closed)');
      return { bytes: lastResort, decision: internalDeny(decision.policyVersion), auth, decisionId };
    }
  };
  /** Hands the answer to the transport, then metrics and observers (which must not hold the answer back). */
  const send = (p: CheckItem, a: Answer): void => {
    try {
      p.reply(a.bytes);
    } catch (e) {
      log.error({ code: e instanceof Error ? e.name : 'thrown' }, 'the transport rejected a Check answer');
    }
    try {
      m.hot.record(a.decision.agent, decisionLabel(a.decision), a.decision.reason, a.decision.rule, Math.max(0, clockMs() - p.t0) / 1000);
      if (a.auth) for (const o of observers) o(a.auth.attributes, a.decision, a.decisionId);
    } catch (e) {
      log.error({ code: e instanceof Error ? e.name : 'thrown' }, 'metrics or observer failed after the decision was sent');
    }
  };
  const failClosed = (p: CheckItem, code: string, decisionId: string): Answer => {
    log.error({ code, decisionId }, 'check failed; denied (fail closed)');
    return record(p, undefined, internalDeny(policies.current().version), decisionId);
  };
  /** Decides one Check. Returns its answer, or undefined when the decision is asynchronous and answers by itself. */
  const evaluate = (p: CheckItem): Answer | undefined => {
    const decisionId = randomUUID();
    try {
      const r = p.request;
      const n = isDecodedCheck(r) ? r : Buffer.isBuffer(r) ? decodeCheckRequest(r) : fromGrpcCheckRequest(r);
      if (!n.ok) return failClosed(p, n.error, decisionId);
      const auth = authorizer.authorize(n.input);
      if (!(auth instanceof Promise)) return record(p, auth, auth.decision, decisionId);
      auth.then(
        (a) => send(p, record(p, a, a.decision, decisionId)),
        (e: unknown) => send(p, failClosed(p, e instanceof Error ? e.name : 'rejected', decisionId)),
      );
      return undefined;
    } catch (e) {
      return failClosed(p, e instanceof Error ? e.name : 'thrown', decisionId);
    }
  };
  const decideBatch = (items: readonly CheckItem[]): void => {
    const answers = items.map(evaluate);
    items.forEach((p, i) => {
      const a = answers[i];
      if (a !== undefined) send(p, a);
    });
  };

  // Serve only once the audit target is open (or known to have failed: then every check is denied and /readyz says so).
  await audit.ready();
  const ready = (): boolean => !draining && audit.healthy();
  const ops = http.createServer((req, res) => {
    const url = (req.url ?? '').split('?')[0];
    if (url === '/metrics') {
      m.exposition().then(
        (body) => { res.writeHead(200, { 'content-type': m.registry.contentType }); res.end(body); },
        () => { res.writeHead(500); res.end(); },
      );
    } else if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else if (url === '/readyz') {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ready: ok, policyVersion: policies.current().version, policyStale: policies.stale(), auditHealthy: audit.healthy(), draining }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  const metricsPort = await new Promise<number>((resolve, reject) => {
    ops.once('error', reject);
    ops.listen(config.metricsPort, config.host, () => resolve((ops.address() as AddressInfo).port));
  }).catch(async (e: unknown) => {
    policies.close();
    baaStore?.close();
    containment?.store.close();
    recorder?.close();
    throw await startupFailed(`cannot listen for metrics on ${config.host}:${config.metricsPort}: ${e instanceof Error ? e.message : 'error'}`);
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      draining = true;
      policies.close();
      baaStore?.close();
      containment?.store.close();
      if (recorder) {
        recorder.close();
        recorder.flush();
      }
      await audit.close();
      await auditEvents?.close();
      await new Promise<void>((resolve) => ops.close(() => resolve()));
      log.debug({ audited: audit.written() }, 'decision engine stopped; audit flushed');
    })();
    return closing;
  };
  return { decideBatch, ready, drain: () => { draining = true; }, close, metricsPort, metrics: m, policies, audit, recorder };
}
