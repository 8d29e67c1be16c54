export { generateCilium, pathRegex, type GenerateOptions, type GenerateResult, type GeneratorFinding, type CiliumPolicy } from './generate.js';
export { crdValidatorFromDoc, loadCrdValidator, loadCrdValidators, type CrdValidator, type SchemaFinding } from './crd-schema.js';
export { checkImportRules, checkSpec, type RuleFinding } from './import-rules.js';
export { validateCiliumPolicy, type PolicyFinding } from './validate.js';
export { METADATA_ENDPOINTS } from '../../authz/index.js';
