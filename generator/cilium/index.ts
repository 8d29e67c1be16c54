export {
  generateCilium,
  pathRegex,
  GENERATOR_FINDING_CODES,
  type GenerateOptions,
  type GenerateResult,
  type GeneratorFindingCode,
  type CiliumPolicy,
} from './generate.js';
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
