export { parseSpiffeId, type SpiffeIdentity } from './spiffe.js';
export {
  createClaimsResolver,
  ClaimsConfigSchema,
  JwtIssuerSchema,
  type ClaimsConfig,
  type ClaimsResolver,
  type ClaimsResult,
  type ClaimsInput,
} from './claims.js';
export {
  createRemoteKeySet,
  KEYS_UNAVAILABLE,
  KeysUnavailable,
  type KeySetStatus,
  type RemoteKeySet,
  type RemoteKeySetOptions,
} from './remote-key-set.js';
export { xfccPeerUri } from './xfcc.js';
