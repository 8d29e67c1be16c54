/**
 * Why the patients a request touches cannot be listed from the request alone: the entries of
 * `fhir.patientsUnresolved`. A reason is `kind` or `kind:detail` (a resource type, a parameter name, an operation);
 * details are names from the FHIR definitions or the request's parameter names, never values.
 *
 * A request with any unresolved reason is denied by the built-in rule `unresolved-patient-scope` unless the allow
 * rule that matched lists the reason in `allowUnresolved` (exactly, or `kind:*`). Closed set: the policy schema
 * rejects opt-ins for kinds not listed here, and the table in docs/policies.md is checked against it.
 */

export interface UnresolvedKind {
  /** What the reason says, for the table in docs/policies.md and `explain`. */
  meaning: string;
  /** The detail after `kind:`, or `''` when the reason has none. */
  detail: string;
  /** An opt-in for this kind lets a request reach patients nobody named; `phiguard check` warns on it. */
  broad: boolean;
}

export const UNRESOLVED_KINDS = {
  'instance-of': {
    meaning: 'An interaction on one resource of a Patient-compartment type by id: its patient is on the server.',
    detail: 'resource type',
    broad: false,
  },
  compartment: {
    meaning: 'A compartment search under a compartment other than Patient (`Encounter/e1/Observation`).',
    detail: 'compartment type',
    broad: false,
  },
  'population-query': {
    meaning:
      'A search or history over a Patient-compartment type not scoped by a subject parameter (`patient`, `subject`…); ' +
      'a participant parameter (`performer`, `asserter`, `member`, `link`…) matches other patients’ records, and so ' +
      'does a Patient compartment search of a type with one (`Patient/123/Observation`, `Patient/123/*`).',
    detail: 'resource type, `*` for system level',
    broad: true,
  },
  'chained-parameter': {
    meaning: 'A chained patient parameter (`subject.name=…`): the patients are whoever the chain finds.',
    detail: 'parameter',
    broad: false,
  },
  'reverse-chain': {
    meaning: '`_has`: the patients are whoever the reverse chain finds.',
    detail: '`_has`',
    broad: false,
  },
  modifier: {
    meaning: 'A patient parameter with a modifier that does not name ids (`:identifier`, `:not`, `:above`…).',
    detail: 'parameter:modifier',
    broad: false,
  },
  'unknown-parameter': {
    meaning: 'A parameter the resource type does not define in R4; lenient servers ignore it and return everyone.',
    detail: 'parameter name',
    broad: true,
  },
  'named-query': {
    meaning: '`_query`: a server-defined query whose criteria are not in the request.',
    detail: '',
    broad: true,
  },
  include: {
    meaning: '`_include` (or `:iterate`, or `*`) that can reach resources of patients the search did not name.',
    detail: 'the include value',
    broad: false,
  },
  revinclude: {
    meaning: '`_revinclude` (or `:iterate`, or `*`) that can reach resources of patients the search did not name.',
    detail: 'the revinclude value',
    broad: false,
  },
  'remote-reference': {
    meaning:
      'A Patient reference on another server (an absolute URL whose base is not this server’s, the request’s ' +
      '`:authority` and FHIR base): a different person from the local patient with the same id.',
    detail: 'parameter name, or `body`',
    broad: false,
  },
  'conditional-create': {
    meaning: '`If-None-Exist`: when a resource matches, the server answers with it; its patient is unknown.',
    detail: 'resource type',
    broad: false,
  },
  'conditional-update': {
    meaning: '`PUT [type]?criteria`: the resource matched and overwritten belongs to an unknown patient.',
    detail: 'resource type',
    broad: false,
  },
  'conditional-patch': {
    meaning: '`PATCH [type]?criteria`: the resource matched and changed belongs to an unknown patient.',
    detail: 'resource type',
    broad: false,
  },
  'conditional-delete': {
    meaning: '`DELETE [type]?criteria`: the resources matched and deleted belong to unknown patients.',
    detail: 'resource type',
    broad: false,
  },
  'conditional-reference': {
    meaning: 'A body reference that is a search (`Patient?identifier=…`), resolved by the server.',
    detail: 'resource type',
    broad: false,
  },
  'identifier-reference': {
    meaning: 'A body Reference with an identifier and no `reference`: the server or reader resolves it.',
    detail: '',
    broad: false,
  },
  'unparsable-reference': {
    meaning: 'A reference that is not `[type]/[id]` (trailing `/`, a query, a bare id, wrong case…).',
    detail: 'parameter, or `body`',
    broad: false,
  },
  'bundle-reference': {
    meaning: 'A `urn:uuid:`/`urn:oid:` reference that no entry of the Bundle defines (or outside a Bundle).',
    detail: '',
    broad: false,
  },
  'new-patient': {
    meaning: 'A Patient is created (standalone, or a Bundle entry without a `urn:uuid:` fullUrl).',
    detail: '',
    broad: false,
  },
  'body-not-available': {
    meaning: 'A write whose body Envoy did not forward (`with_request_body` off, or an empty body).',
    detail: '',
    broad: true,
  },
  'body-incomplete': {
    meaning: 'Envoy forwarded part of the body (`x-envoy-auth-partial-body: true`).',
    detail: '',
    broad: true,
  },
  'body-not-json': {
    meaning: 'The body is not FHIR JSON (XML, `text/plain`, any other content type).',
    detail: '',
    broad: true,
  },
  'duplicate-json-key': {
    meaning: 'A JSON object names a key twice: parsers disagree on which value wins.',
    detail: '',
    broad: true,
  },
  'body-too-complex': {
    meaning: 'A resource past the reference walk limits (200,000 nodes or 64 levels).',
    detail: '',
    broad: true,
  },
  'fhirpath-patch': {
    meaning: 'A FHIRPath Patch (Parameters body): its targets are expressions phiguard does not evaluate.',
    detail: '',
    broad: false,
  },
  operation: {
    meaning: 'A type- or system-level operation, or `$graphql`: what it reads is defined by the server.',
    detail: '`[type]/$name` or `$name`',
    broad: false,
  },
} as const satisfies Record<string, UnresolvedKind>;

export type UnresolvedKindName = keyof typeof UNRESOLVED_KINDS;

/** The kind of a reason: `instance-of:Observation` -> `instance-of`. */
export function unresolvedKind(reason: string): string {
  const colon = reason.indexOf(':');
  return colon === -1 ? reason : reason.slice(0, colon);
}

/** An `allowUnresolved` entry: an exact reason of a known kind, or `kind:*`. */
export function isUnresolvedPattern(pattern: string): boolean {
  const kind = unresolvedKind(pattern);
  if (!Object.hasOwn(UNRESOLVED_KINDS, kind)) return false;
  const rest = pattern.slice(kind.length);
  const hasDetail = UNRESOLVED_KINDS[kind as UnresolvedKindName].detail !== '';
  if (!hasDetail) return rest === '';
  return rest.length > 1 && rest.startsWith(':') && !/\s/.test(rest);
}

/** Whether an opt-in pattern covers a reason. */
export function unresolvedPatternCovers(pattern: string, reason: string): boolean {
  if (pattern.endsWith(':*')) return unresolvedKind(reason) === pattern.slice(0, -2);
  return pattern === reason;
}

/** Whether an opt-in pattern lets a request reach patients nobody named (warned about by `phiguard check`). */
export function isBroadUnresolvedPattern(pattern: string): boolean {
  const kind = unresolvedKind(pattern);
  const k = Object.hasOwn(UNRESOLVED_KINDS, kind) ? UNRESOLVED_KINDS[kind as UnresolvedKindName] : undefined;
  return k === undefined || k.broad || pattern.endsWith(':*') || pattern.endsWith(':$graphql');
}
