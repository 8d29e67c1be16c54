/**
 * The patients a search names (R4 search.html), from the parameters the searched type defines in R4:
 * patient parameters (resource-types.ts `patientParamsFor`) with typed, relative, absolute and OR values
 * (search.html#reference); chains, `_has` and modifiers that do not name ids are unresolved; a parameter the type
 * does not define is `unknown-parameter` (lenient servers ignore it and answer for everyone); a search over a
 * Patient-compartment type without patient criteria is a `population-query`; `_include`/`_revinclude` that can
 * reach other patients' resources are unresolved.
 */
import { classifyReference, type PatientScope } from './patient-refs.js';
import type { SearchParams } from './query.js';
import {
  inPatientCompartment,
  patientParamsFor,
  RESOURCE_TYPES,
  searchParameter,
  subjectParamsFor,
} from './resource-types.js';

/** Parameters that shape the result, not the match (search.html#Summary, http.html#parameters). */
const RESULT_PARAMETERS: ReadonlySet<string> = new Set([
  '_sort',
  '_count',
  '_include',
  '_revinclude',
  '_summary',
  '_total',
  '_elements',
  '_format',
  '_pretty',
]);

/** Parameters of the history interactions (http.html#history). */
const HISTORY_PARAMETERS: ReadonlySet<string> = new Set(['_count', '_since', '_at', '_format', '_pretty']);

/** A parameter name safe to put in a reason (names, never values; bounded). */
function safeName(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/.test(name) ? name : '?';
}

interface ParamName {
  base: string;
  modifier: string;
  chained: boolean;
}

function splitName(name: string): ParamName {
  const colon = name.indexOf(':');
  const dot = name.indexOf('.');
  let end = name.length;
  if (colon >= 0 && colon < end) end = colon;
  if (dot >= 0 && dot < end) end = dot;
  const base = name.slice(0, end);
  const modifier =
    colon >= 0 && (dot === -1 || colon < dot) ? name.slice(colon + 1, dot > colon ? dot : undefined) : '';
  return { base, modifier, chained: dot >= 0 };
}

/** Adds the patients one patient parameter names. True when every value names a patient (the search is scoped). */
function patientCriterion(name: ParamName, values: readonly string[], scope: PatientScope): boolean {
  const { base, modifier } = name;
  if (name.chained) {
    scope.unresolved.add(`chained-parameter:${base}`);
    return false;
  }
  if (modifier === 'missing') return false;
  if (modifier !== '' && modifier !== 'Patient') {
    // :identifier, :not, :above, :below, :text... do not name logical ids; an unknown type modifier is not a type.
    if (/^[a-z]/.test(modifier) || !RESOURCE_TYPES.has(modifier))
      scope.unresolved.add(`modifier:${base}:${safeName(modifier)}`);
    return false;
  }
  let all = values.length > 0;
  for (const value of values) {
    for (const one of value.split(',')) {
      // A bare id on a patient parameter (`subject=123`) may resolve to a patient: counted as one.
      const c = one === '' ? undefined : classifyReference(one, true, scope.localBase);
      if (c?.kind === 'patient') scope.patients.add(c.id);
      else {
        all = false;
        if (c?.kind === 'remote') scope.unresolved.add(`remote-reference:${base}`);
        else if (c?.kind === 'unknown' || c?.kind === 'local' || c?.kind === 'conditional')
          scope.unresolved.add(`unparsable-reference:${base}`);
      }
    }
  }
  return all;
}

export interface SearchScopeOptions {
  /** History interactions take only the history parameters. */
  history?: boolean;
  /** The search is already scoped to one patient (a Patient compartment search). */
  scoped?: boolean;
  /** Flag unknown parameters and population queries (off for an operation's parameters, itself unresolved). */
  strict?: boolean;
}

/** Adds the scope of a search (or history) on `type`; `''` is system level (every type, or those in `_type`). */
export function addSearchScope(
  type: string,
  params: SearchParams,
  scope: PatientScope,
  opts: SearchScopeOptions = {},
): void {
  if (type === '') {
    systemSearchScope(params, scope, opts);
    return;
  }
  const strict = opts.strict ?? true;
  const patientParams = patientParamsFor(type);
  const subjectParams = subjectParamsFor(type);
  // The subject parameters whose every value named a patient: they scope the search to those patients' records.
  // A participant parameter (`performer`, `asserter`...) names a patient too, but not whose records match.
  const scoping = new Set<string>();
  for (const [raw, values] of params) {
    if (raw === '_has' || raw.startsWith('_has:')) {
      scope.unresolved.add('reverse-chain:_has');
      continue;
    }
    const name = splitName(raw);
    if (opts.history === true ? HISTORY_PARAMETERS.has(name.base) : RESULT_PARAMETERS.has(name.base)) continue;
    if (name.base === '_query') {
      scope.unresolved.add('named-query');
      continue;
    }
    if (opts.history === true || searchParameter(type, name.base) === undefined) {
      if (strict) scope.unresolved.add(`unknown-parameter:${safeName(name.base)}`);
      continue;
    }
    if (patientParams.includes(name.base) && patientCriterion(name, values, scope) && subjectParams.includes(name.base))
      scoping.add(name.base);
  }
  const scoped = (opts.scoped ?? false) || scoping.size > 0;
  if (opts.history !== true) addIncludeScope(type, params, scope, scoped ? scoping : undefined);
  if (strict && !scoped && inPatientCompartment(type)) scope.unresolved.add(`population-query:${type}`);
}

/** `[base]?…` / `[base]/_history`: every type, or the types `_type` lists (search.html#_type). */
function systemSearchScope(params: SearchParams, scope: PatientScope, opts: SearchScopeOptions): void {
  const types = (params.get('_type') ?? []).flatMap((v) => v.split(',')).filter((t) => t !== '');
  const rest: SearchParams = new Map([...params].filter(([k]) => k !== '_type'));
  if (types.length === 0) {
    // No type: only the parameters every type has (`Resource`'s) apply, and every patient's data matches.
    addSearchScope('Resource', rest, scope, opts);
    if (opts.strict !== false && opts.scoped !== true) scope.unresolved.add('population-query:*');
    return;
  }
  for (const t of types) {
    if (!RESOURCE_TYPES.has(t)) scope.unresolved.add('unknown-parameter:_type');
    else addSearchScope(t, rest, scope, opts);
  }
}

/** `S:p` or `S:p:T` (search.html#include); `*` is every reference. */
function parseInclude(value: string): { source: string; param: string; target: string } | undefined {
  const parts = value.split(':');
  if (parts.length < 2 || parts.length > 3) return undefined;
  const [source = '', param = '', target = ''] = parts;
  if (!RESOURCE_TYPES.has(source) || (target !== '' && !RESOURCE_TYPES.has(target))) return undefined;
  const def = searchParameter(source, param);
  if (def?.type !== 'reference' || (target !== '' && !def.targets.has(target))) return undefined;
  return { source, param, target };
}

function targetsOf(source: string, param: string, target: string): readonly string[] {
  if (target !== '') return [target];
  return [...(searchParameter(source, param)?.targets ?? [])];
}

/** A reference parameter whose declared targets are Patient alone (a `:Patient` narrowing does not count). */
function patientOnly(source: string, param: string): boolean {
  const targets = searchParameter(source, param)?.targets;
  return targets !== undefined && targets.size === 1 && targets.has('Patient');
}

/**
 * Whether an include stays inside what the search named: its targets hold no patient data (Practitioner,
 * Organization, Medication...), or it follows the Patient-only subject parameter that scoped the search (so the
 * resources it adds are the named patients themselves).
 */
function includeStaysInScope(value: string, iterate: boolean, type: string, scoping: ReadonlySet<string>): boolean {
  const inc = parseInclude(value);
  if (inc === undefined) return false;
  if (targetsOf(inc.source, inc.param, inc.target).every((t) => !inPatientCompartment(t))) return true;
  if (iterate || inc.source !== type || !patientOnly(inc.source, inc.param)) return false;
  return scoping.has(inc.param);
}

/**
 * Whether a revinclude stays inside the named patients: a search on Patient, revincluding a type through its
 * Patient-only subject parameter (so every resource found is one of the named patients' own records). A
 * participant parameter (`Group:member`: a group's members are many patients; `Condition:asserter`), a
 * parameter of several target types even when narrowed (`Group:member:Patient`), `Observation:focus` and
 * `:iterate` do not.
 */
function revincludeStaysInScope(value: string, iterate: boolean, type: string): boolean {
  const inc = parseInclude(value);
  if (inc === undefined || iterate || type !== 'Patient') return false;
  return subjectParamsFor(inc.source).includes(inc.param) && patientOnly(inc.source, inc.param);
}

function includeReason(kind: 'include' | 'revinclude', value: string): string {
  return `${kind}:${/^[A-Za-z:*_-]{1,200}$/.test(value) ? value : '?'}`;
}

/** `scoping`: the subject parameters that scoped the search, or undefined when it is not scoped. */
function addIncludeScope(
  type: string,
  params: SearchParams,
  scope: PatientScope,
  scoping: ReadonlySet<string> | undefined,
): void {
  for (const [raw, values] of params) {
    const name = splitName(raw);
    if (name.base !== '_include' && name.base !== '_revinclude') continue;
    const iterate = name.modifier === 'iterate' || name.modifier === 'recurse';
    for (const value of values) {
      const stays =
        scoping !== undefined &&
        value !== '*' &&
        (name.base === '_include'
          ? includeStaysInScope(value, iterate, type, scoping)
          : revincludeStaysInScope(value, iterate, type));
      if (!stays) scope.unresolved.add(includeReason(name.base === '_include' ? 'include' : 'revinclude', value));
    }
  }
}
