/**
 * The public surface of the authz wing: what the `phiguard` CLI (generator/), embedders and the benchmarks use.
 * Everything else is internal to its folder; tests reach internals through the folder's own index.
 */

// Running the service.
export { startAuthzServer, startThreadedAuthzServer, ServerConfigSchema, createLogger } from './service/index.js';
export type { AuthzServer, AuthzService, ThreadedStartOptions, ServerConfig, Logger } from './service/index.js';
export type { DecisionObserver, StartOptions } from './service/index.js';

// The model policy authors write against, and the decision.
export { FHIR_INTERACTIONS, CEL_VARIABLES, CheckInputSchema, DECISION_REASONS, BUILTIN_RULES } from './model/index.js';
export type {
  RequestAttributesModel,
  FhirAttributes,
  CheckInput,
  Decision,
  DecisionReason,
  RuleTrace,
} from './model/index.js';

// Errors and results: one error type with a closed set of codes, one Result, one Finding.
export { PhiguardError, isPhiguardError, ERROR_CODES, formatFinding } from './model/index.js';
export type { ErrorCode, Result, Finding } from './model/index.js';

// Policies: load, compile, evaluate offline (`phiguard explain`, `test`, `attest`).
export { readPolicyDir, AgentPolicySchema, type AgentPolicy, type CompiledPolicySet } from './policy/index.js';
export {
  createAuthorizer,
  policyOnlySnapshot,
  selectAgent,
  type Authorization,
  type Authorizer,
  type Snapshot,
} from './lanes/index.js';
export { createClaimsResolver, ClaimsConfigSchema, type ClaimsResolver } from './identity/index.js';

// Egress: the BAA registry and the protected endpoints, shared with the Cilium generator and `check`.
export {
  readBaaRegistry,
  createBaaRegistry,
  DEFAULT_INTERNAL_SUFFIXES,
  METADATA_ENDPOINTS,
  METADATA_HOSTS,
  isApiServerHost,
  isApiServerName,
  metadataEndpointAt,
  metadataTargetOf,
  canonicalHost,
  parseCidr,
  cidrContains,
  cidrCovers,
} from './egress/index.js';
export type { BaaRegistry, MetadataEndpoint, CanonicalHost, Cidr } from './egress/index.js';

// Behavioral envelopes: the recorder's file format.
export { EnvelopeSchema, ENVELOPE_API_VERSION, summarize, readEnvelopes, parseEnvelope } from './observe/index.js';
export {
  serializeEnvelope,
  envelopeFileName,
  createEnvelopeRecorder,
  genericPathTemplate,
  fhirPathTemplate,
} from './observe/index.js';
export type { Envelope, EnvelopeEgress, Workload, EnvelopeSummary, EnvelopeRecorder } from './observe/index.js';

// The audit record format (readers: `phiguard report`, SIEM queries).
export { AUDIT_FORMAT, type DecisionAuditRecord } from './audit/index.js';
