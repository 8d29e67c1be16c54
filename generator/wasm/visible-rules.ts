/**
 * Which policy rules the proxy can evaluate exactly: a rule is visible when every attribute it reads is one the
 * filter knows without the service — the request's method, the FHIR interaction and resource type the request
 * line routes to, whether it is FHIR and valid, the agent's own fields, and the `:authority` when it is only
 * compared with string literals (`request.host in [...]`, `==`, `!=`).
 *
 * The analysis is lexical and conservative: string literals are set aside, then every identifier chain that starts
 * at a CEL variable (`request`, `fhir`, `claims`, ...) must be a visible field (or a method called on one). Anything
 * else — an index (`fhir["x"]`), a field the proxy cannot see, a raw or triple-quoted string it does not parse —
 * makes the rule invisible, and the cells it could decide DEFER to the service.
 */
import { CEL_VARIABLES } from '../../authz/index.js';

/**
 * Attribute paths whose value is fixed for every request of a cell the filter keys (method, interaction shape,
 * resource type, host), for a request with no query string and no body: what the request line names, and the
 * FHIR fields only a query or a body fills in (empty here). `size(fhir.patients)` is fixed too (a path names at
 * most one patient, by its shape); the patient ids are not.
 */
export const VISIBLE_FIELDS: readonly string[] = [
  'request.method',
  'fhir.isFhir',
  'fhir.valid',
  'fhir.interaction',
  'fhir.resourceType',
  'fhir.operation',
  'fhir.compartment.type',
  'fhir.patientCompartment',
  'fhir.params',
  'fhir.includes',
  'fhir.revincludes',
  'fhir.references',
  'fhir.bundleType',
  'fhir.entries',
  'fhir.bodyComplete',
  'fhir.bodyParsed',
  'agent.name',
  'agent.tier',
  'agent.mode',
];

/**
 * For a request the FHIR parser marks invalid from its request line, every FHIR field but the base and the reason
 * keeps its empty value (authz/fhir/parse-request.ts returns before filling them).
 */
export const VISIBLE_WHEN_INVALID: readonly string[] = [
  ...VISIBLE_FIELDS,
  'fhir.id',
  'fhir.versionId',
  'fhir.compartment',
  'fhir.patients',
  'fhir.patientsUnresolved',
];

/** Whether the cell's requests are valid FHIR (the request line routes) or invalid (it does not). */
export type CellContext = 'valid' | 'invalid';

export interface RuleVisibility {
  visible: boolean;
  /** The hosts the rule compares `request.host` with (only when it reads the host that way). */
  hosts: string[];
}

const ROOTS = new Set(Object.keys(CEL_VARIABLES));

/** A CEL string literal without raw prefix or triple quotes (cel-spec langdef.md#string-and-bytes-values). */
const STRING = String.raw`(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')`;
const HOST_IN = new RegExp(
  String.raw`request\s*\.\s*host\s+in\s*\[\s*((?:${STRING}\s*,\s*)*${STRING}?)\s*,?\s*\]`,
  'g',
);
const HOST_EQ = new RegExp(String.raw`request\s*\.\s*host\s*(?:==|!=)\s*(${STRING})`, 'g');
const EQ_HOST = new RegExp(String.raw`(${STRING})\s*(?:==|!=)\s*request\s*\.\s*host\b`, 'g');
const LITERAL = new RegExp(STRING, 'g');

function literalValue(lit: string): string | undefined {
  // Only plain literals: an escape could spell a host differently from its bytes.
  const inner = lit.slice(1, -1);
  return inner.includes('\\') ? undefined : inner;
}

export function ruleVisibility(expression: string, context: CellContext = 'valid'): RuleVisibility {
  const fields = context === 'valid' ? VISIBLE_FIELDS : VISIBLE_WHEN_INVALID;
  // Raw strings, bytes and triple-quoted strings are not parsed here: invisible.
  if (/(?:^|[^\w])[rRbB]{1,2}["']|"""|'''/.test(expression)) return { visible: false, hosts: [] };
  const hosts: string[] = [];
  let unreadable = false;
  const collect = (list: string): void => {
    for (const m of list.match(LITERAL) ?? []) {
      const v = literalValue(m);
      if (v === undefined) unreadable = true;
      else hosts.push(v);
    }
  };
  let rest = expression.replace(HOST_IN, (_all, list: string) => {
    collect(list);
    return ' true ';
  });
  rest = rest.replace(HOST_EQ, (_all, lit: string) => {
    collect(lit);
    return ' true ';
  });
  rest = rest.replace(EQ_HOST, (_all, lit: string) => {
    collect(lit);
    return ' true ';
  });
  if (unreadable) return { visible: false, hosts: [] };
  rest = rest.replace(LITERAL, ' "" ');
  // The number of patients a request line names is fixed by its shape; which patients is not.
  rest = rest.replace(/size\s*\(\s*fhir\s*\.\s*patients\s*\)|fhir\s*\.\s*patients\s*\.\s*size\s*\(\s*\)/g, ' 0 ');
  if (/["'`]/.test(rest.replace(/""/g, ''))) return { visible: false, hosts: [] };
  const chain = /(?<![\w.])([A-Za-z_]\w*)((?:\s*\.\s*[A-Za-z_]\w*)*)/g;
  for (const m of rest.matchAll(chain)) {
    const root = m[1] ?? '';
    if (!ROOTS.has(root)) continue;
    const path = `${root}${(m[2] ?? '').replace(/\s+/g, '')}`;
    if (!fields.some((f) => path === f || path.startsWith(`${f}.`))) return { visible: false, hosts: [] };
  }
  return { visible: true, hosts };
}
