/**
 * The CEL environment policies are compiled in: the attribute model's variables, declared with types so that
 * `fhir.resourcetype` is a load-time error, plus phiguard's guardrails for the engine's gaps.
 *
 * Guardrail: regular expressions. CEL specifies RE2 syntax and linear-time matching (cel-spec langdef.md
 * "matches"). @marcbachmann/cel-js implements `matches` with JavaScript RegExp, which backtracks (`^(a+)+$` on a
 * 29-character input ran for 30 s here). phiguard rewrites every `matches` call at compile time to `re2Matches`,
 * backed by re2js (a linear-time RE2 port), and requires the pattern to be a string literal so it is compiled
 * and validated once, at load.
 *
 * Two environments, one language: expressions are type-checked in the *checking* environment, where every
 * variable has its declared schema (so `fhir.resourcetype` is a load error), and evaluated in the *evaluation*
 * environment, where the same variables are `dyn` and read the plain attribute objects directly. With schema-typed
 * variables cel-js wraps each object in a typed Map on every field access of every evaluation, which costs more than
 * evaluating the expressions (docs/performance.md has the measurement).
 * The results are the same because only expressions that passed the strict check are ever evaluated, and every
 * attribute is always present (attributes.ts conventions).
 */
import { Environment } from '@marcbachmann/cel-js';
import { RE2JS } from 're2js';
import { CEL_ENTRY_FIELDS, CEL_VARIABLES } from '../model/index.js';

const compiled = new Map<string, RE2JS>();

/** Compiles an RE2 pattern (cached). Throws with a readable message on invalid syntax. */
export function compileRe2(pattern: string): RE2JS {
  let re = compiled.get(pattern);
  if (!re) {
    re = RE2JS.compile(pattern);
    compiled.set(pattern, re);
  }
  return re;
}

let env: Environment | undefined;
let evalEnv: Environment | undefined;

const ENV_OPTIONS = {
  unlistedVariablesAreDyn: false,
  homogeneousAggregateLiterals: true,
  limits: { maxAstNodes: 5_000, maxDepth: 64 },
};

/** `s.matches(p)` as policies are evaluated: RE2 semantics, linear time. */
export function re2Matches(s: string, p: string): boolean {
  return compileRe2(p).matcher(s).find();
}

function registerRegex(e: Environment): void {
  e.registerFunction('string.re2Matches(string): bool', re2Matches);
  e.registerFunction('re2Matches(string, string): bool', re2Matches);
}

/** The evaluation environment: the model's variables as `dyn` (see above). Only for expressions already checked. */
export function celEvalEnvironment(): Environment {
  if (evalEnv) return evalEnv;
  const e = new Environment(ENV_OPTIONS);
  for (const name of Object.keys(CEL_VARIABLES)) e.registerVariable(name, 'dyn');
  registerRegex(e);
  evalEnv = e;
  return e;
}

/** The checking environment: every variable with its declared type. */
export function celEnvironment(): Environment {
  if (env) return env;
  const e = new Environment(ENV_OPTIONS);
  e.registerType('phiguard.FhirEntry', { fields: { ...CEL_ENTRY_FIELDS } });
  for (const [name, decl] of Object.entries(CEL_VARIABLES)) {
    if (typeof decl === 'string') e.registerVariable(name, decl);
    else e.registerVariable({ name, schema: decl as Record<string, unknown> } as never);
  }
  registerRegex(e);
  env = e;
  return e;
}
