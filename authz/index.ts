/** The public surface of the authz wing. */
export { FHIR_INTERACTIONS, CEL_VARIABLES, type RequestAttributesModel, type FhirAttributes, type FhirEntryAttributes, type FhirInteraction } from './model/attributes.js';
export { createAuthorizer, DEFAULT_INTERNAL_SUFFIXES, type Authorizer, type Authorization, type AuthorizerOptions } from './lanes/decide.js';
export { decide } from './lanes/policy-rules.js';
export { selectAgent, type AgentMatch } from './lanes/select-agent.js';
export { DECISION_REASONS, BUILTIN_RULES, type Decision, type DecisionReason, type RuleTrace } from './model/decision.js';
export { startAuthzServer, StartupError, type AuthzServer, type AuthzService, type DecisionObserver, type StartOptions } from './service/start-inline.js';
export { startThreadedAuthzServer, type ThreadedStartOptions } from './service/start-threaded.js';
export { ServerConfigSchema, type ServerConfig } from './service/config.js';
export { createLogger, type Logger } from './service/logger.js';
export { CheckInputSchema, fromGrpcCheckRequest, toCheckResponse, type CheckInput } from './transport/index.js';
export { createClaimsResolver, ClaimsConfigSchema, parseSpiffeId, type ClaimsResolver } from './identity/index.js';
export { loadPolicyDir, parsePolicyText, createPolicyStore, formatFinding, AgentPolicySchema, type AgentPolicy, type Finding, type CompiledPolicySet, type PolicyStore } from './policy/index.js';
export { createFhirRequestParser, RESOURCE_TYPES, PATIENT_COMPARTMENT_PARAMS } from './fhir/index.js';
export { createAuditSink, decisionRecord, AUDIT_FORMAT, type AuditSink, type DecisionAuditRecord } from './audit/index.js';
export { fhirPathTemplate, genericPathTemplate } from './observe/index.js';
export { EnvelopeSchema, summarize, readEnvelopes, readEnvelopeFile, parseEnvelope, serializeEnvelope, envelopeFileName, createEnvelopeRecorder, ENVELOPE_API_VERSION, type Envelope, type EnvelopeEgress, type Workload, type EnvelopeRecorder, type EnvelopeSummary } from './observe/index.js';
export { loadBaaRegistry, createBaaRegistry, matchesPattern, BaaRegistrySchema, METADATA_ENDPOINTS, METADATA_HOSTS, isApiServerHost, type BaaRegistry, type Coverage, type MetadataEndpoint } from './egress/index.js';
