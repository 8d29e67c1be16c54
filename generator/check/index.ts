export { runCheck, SEVERITY_RANK, type CheckOptions } from './run-check.js';
export { readManifests, parseManifestText, type ManifestDoc, type ReadProblem } from './manifests.js';
export { formatText, formatJson, formatSarif } from './format.js';
export { RULES, RULE_BY_ID, type RuleInfo, type Severity } from './catalog.js';
export type { CheckFinding } from './context.js';
