export {
  buildWasmProgram,
  DEFAULT_DEFER_HEADERS,
  PROGRAM_FORMAT,
  PROGRAM_MAGIC,
  type WasmProgram,
  type WasmProgramOptions,
} from './program.js';
export { ruleVisibility, VISIBLE_FIELDS, type RuleVisibility } from './visible-rules.js';
