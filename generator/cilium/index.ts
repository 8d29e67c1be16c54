export {
  generateCilium,
  GENERATOR_FINDING_CODES,
  MESH_MODES,
  DEFAULT_DNS_SELECTOR,
  DEFAULT_ISTIOD,
  DEFAULT_EGRESS_GATEWAY_PORTS,
  ISTIOD_XDS_PORT,
  type EgressGateway,
  type Istiod,
  type MeshMode,
  type GenerateOptions,
  type GenerateResult,
  type GeneratorFindingCode,
  type CiliumPolicy,
} from './generate.js';
export { chooseL7, pathRegex, TLS_PORTS, type L7Choice, type L7Context } from './l7-choice.js';
export { isDnsName, searchListNames, searchListPatterns, type DnsSearch } from './dns-names.js';
export { parsePodSelector, matchLabelsOf, podSelectorText, type PodSelector } from './pod-selector.js';
export {
  crdValidatorFromDoc,
  loadCrdValidator,
  loadCrdValidators,
  CRD_FINDING_CODES,
  type CrdValidator,
  type CrdFindingCode,
} from './crd-schema.js';
export { checkImportRules, checkSpec, IMPORT_RULE_CODES, type ImportRuleCode } from './import-rules.js';
export { validateCiliumPolicy, VALIDATE_FINDING_CODES, type CiliumFindingCode } from './validate.js';
export { METADATA_ENDPOINTS, cidrCovers, parseCidr, type Cidr } from '../../authz/index.js';
