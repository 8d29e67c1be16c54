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
