export { loadBaaRegistry, createBaaRegistry, matchesPattern, BaaRegistrySchema, type BaaRegistry, type BaaRegistryDoc, type Coverage, type LoadBaaResult } from './baa-registry.js';
export { createBaaStore, type BaaStore } from './baa-store.js';
export { DEFAULT_INTERNAL_SUFFIXES, classifyEgress, coverageInfo, hostPort, splitAuthority, type EgressClass, type EgressDecisionInfo, type EgressOptions } from './egress-lane.js';
export { loadCredentialStore, CredentialsSchema, AGENT_CREDENTIAL_HEADERS, type CredentialStore, type Injection } from './credentials.js';
export { createRateLimiter, type RateLimiter } from './rate-limit.js';
export { METADATA_ENDPOINTS, METADATA_HOSTS, metadataTarget, isApiServerHost, type MetadataEndpoint } from './protected-endpoints.js';
