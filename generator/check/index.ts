export { runCheck, runCheckReport, type CheckOptions } from './run-check.js';
export { readManifests, parseManifestText, type ManifestDoc } from './manifests.js';
export { formatText, formatJson, formatSarif, type SarifOptions } from './format.js';
export { RULES, RULE_BY_ID, CHECK_LEVELS, LEVEL_RANK, type RuleInfo, type RuleId, type CheckLevel } from './catalog.js';
export {
  readBaseline,
  BaselineSchema,
  SUPPRESS_ANNOTATION,
  type Baseline,
  type CheckFinding,
  type Suppression,
} from './suppress.js';
/** What `discover` shares with the rules: workloads as check reads them, selector matching and RBAC reach. */
export { extractWorkloads } from './context.js';
export { selects } from './rules-cilium.js';
export { dangerousPermissions, PRIVILEGED_BUILTIN } from './rules-workloads.js';
