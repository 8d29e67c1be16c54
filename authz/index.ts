/**
 * The public surface of the authz wing: what the `phiguard` CLI (generator/), embedders and the benchmarks use.
 * Everything else is internal to its folder; tests reach internals through the folder's own index.
 */

// Running the service.
export { startAuthzServer, type AuthzServer, type AuthzService } from './service/start-inline.js';
export { startThreadedAuthzServer, type ThreadedStartOptions } from './service/start-threaded.js';
export { ServerConfigSchema, type ServerConfig } from './service/config.js';
export { StartupError, type DecisionObserver, type StartOptions } from './service/engine.js';
export { createLogger, type Logger } from './service/logger.js';

// The model policy authors write against, and the decision.
export { FHIR_INTERACTIONS, CEL_VARIABLES, type RequestAttributesModel, type FhirAttributes } from './model/attributes.js';
export { CheckInputSchema, type CheckInput } from './model/check-input.js';
export { DECISION_REASONS, BUILTIN_RULES, type Decision, type DecisionReason, type RuleTrace } from './model/decision.js';

// Policies: load, compile, evaluate offline (`phiguard explain`, `test`, `attest`).
export { loadPolicyDir, formatFinding, AgentPolicySchema, type AgentPolicy, type Finding, type CompiledPolicySet } from './policy/index.js';
export { createAuthorizer, policyOnlySnapshot, selectAgent, type Authorization, type Authorizer } from './lanes/index.js';
export { createClaimsResolver, ClaimsConfigSchema, type ClaimsResolver } from './identity/index.js';

// Egress: the BAA registry and the protected endpoints, shared with the Cilium generator and `check`.
export { loadBaaRegistry, createBaaRegistry, DEFAULT_INTERNAL_SUFFIXES, METADATA_ENDPOINTS, METADATA_HOSTS, isApiServerHost } from './egress/index.js';
export type { BaaRegistry, MetadataEndpoint } from './egress/index.js';

// Behavioral envelopes: the recorder's file format.
export { EnvelopeSchema, ENVELOPE_API_VERSION, summarize, readEnvelopes, readEnvelopeFile, parseEnvelope } from './observe/index.js';
export { serializeEnvelope, envelopeFileName, createEnvelopeRecorder, genericPathTemplate, fhirPathTemplate } from './observe/index.js';
export type { Envelope, EnvelopeEgress, Workload, EnvelopeSummary, EnvelopeRecorder } from './observe/index.js';

// The audit record format (readers: `phiguard report`, SIEM queries).
export { AUDIT_FORMAT, type DecisionAuditRecord } from './audit/index.js';
