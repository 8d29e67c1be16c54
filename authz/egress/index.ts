export {
  readBaaRegistry,
  parseBaaRegistry,
  createBaaRegistry,
  matchesPattern,
  BaaRegistrySchema,
  type BaaRegistry,
  type BaaRegistryDoc,
  type Coverage,
} from './baa-registry.js';
export { createBaaStore, type BaaStore } from './baa-store.js';
export {
  DEFAULT_INTERNAL_SUFFIXES,
  classifyEgress,
  isInternalName,
  coverageInfo,
  type EgressClass,
  type EgressDecisionInfo,
  type EgressOptions,
} from './egress-lane.js';
export {
  readCredentialStore,
  CredentialsSchema,
  AGENT_CREDENTIAL_HEADERS,
  type CredentialStore,
  type Injection,
} from './credentials.js';
export { createRateLimiter, type RateLimiter } from './rate-limit.js';
export {
  addressKeys,
  canonicalAuthority,
  canonicalHost,
  cidrContains,
  cidrCovers,
  ipv4Text,
  ipv6Text,
  parseCidr,
  type CanonicalAuthority,
  type CanonicalHost,
  type Cidr,
} from './canonical-host.js';
export {
  HARD_DENY_TARGETS,
  METADATA_ENDPOINTS,
  METADATA_HOSTS,
  metadataEndpointAt,
  metadataTarget,
  metadataTargetOf,
  isApiServerHost,
  isApiServerName,
  type HardDenyTarget,
  type MetadataEndpoint,
} from './protected-endpoints.js';
