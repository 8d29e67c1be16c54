/**
 * The attribute model: the one object CEL policy expressions see. This file is the policy author's contract.
 *
 * Conventions
 * - Every field is always present. "Not applicable" is the empty string, `0`, `false`, or an empty list/map —
 *   never null — so `fhir.id == ""` works and a missing field is a load-time type error, not a runtime surprise.
 * - Integers are CEL `int`. JWT claims keep CEL's JSON mapping: numbers are `double`.
 * - Header names are lower-case (HTTP/2, and Envoy lower-cases them).
 * - The maps whose keys the caller chooses (`request.headers`, `fhir.params`) are JS `Map`s: a key is only a key,
 *   whatever its name (`__proto__`, `constructor`), and CEL types them as maps (cel-js reads `Map` natively).
 */

/** FHIR RESTful interactions (R4 http.html#summary), plus `operation` for `$op` calls. */
export const FHIR_INTERACTIONS = [
  'read',
  'vread',
  'update',
  'patch',
  'delete',
  'history-instance',
  'history-type',
  'history-system',
  'create',
  'search-type',
  'search-system',
  'capabilities',
  'batch',
  'transaction',
  'operation',
] as const;
export type FhirInteraction = (typeof FHIR_INTERACTIONS)[number];

/** One entry of a batch/transaction Bundle, as derived from `entry.request` (+ `entry.resource`). */
export interface FhirEntryAttributes {
  /** HTTP method of the entry, e.g. `POST`. */
  method: string;
  /** Interaction of the entry, e.g. `create`; `""` if the entry is invalid. */
  interaction: string;
  /** Resource type of the entry, e.g. `Observation`. */
  resourceType: string;
  /** Logical id, e.g. `123`, or `""`. */
  id: string;
  /** Operation name, e.g. `$validate`, or `""`. */
  operation: string;
  /** Patients this entry touches. */
  patients: string[];
  /** Why this entry's patient scope is not fully known (the request's `patientsUnresolved` is their union). */
  patientsUnresolved: string[];
  /** This entry's references to resources other than a Patient (the request's `references` is their union). */
  references: string[];
}

/** The FHIR view of a request, derived per FHIR R4 RESTful API (http.html); R5 compatible. */
export interface FhirAttributes {
  /** True when the path is under a configured FHIR base (e.g. `/fhir`). Egress and other traffic: false. */
  isFhir: boolean;
  /** False when the request is malformed or hostile (dot segments, encoded slashes, unknown type, bad Bundle...). */
  valid: boolean;
  /** Why the request is invalid, e.g. `dot-segment`, `unknown-resource-type`; `""` when valid. */
  invalidReason: string;
  /** The FHIR base path matched, e.g. `/fhir`. */
  base: string;
  /** The interaction, e.g. `search-type`; `""` when not FHIR or invalid. */
  interaction: string;
  /** Resource type, e.g. `Observation`; for compartment searches the searched type. */
  resourceType: string;
  /** Logical id for instance interactions, e.g. `123`. */
  id: string;
  /** Version id for vread, e.g. `2`. */
  versionId: string;
  /** Operation name including `$`, e.g. `$everything`, `$export`. */
  operation: string;
  /**
   * Compartment of a compartment search `Patient/123/Observation`: `{type: "Patient", id: "123"}`; empty strings
   * otherwise.
   */
  compartment: { type: string; id: string };
  /**
   * Search parameters (query string and POST `_search` form body), decoded: `{"patient": ["123"], "code": ["8867-4"]}`.
   */
  params: ReadonlyMap<string, string[]>;
  /** `_include` values, e.g. `["Observation:patient"]`. */
  includes: string[];
  /** `_revinclude` values, e.g. `["Provenance:target"]`. */
  revincludes: string[];
  /** Every patient id the request touches (paths, compartments, params, bodies, Bundle entries). */
  patients: string[];
  /**
   * Why patient scope is not fully known from the request alone, e.g. `chained-parameter:subject`,
   * `reverse-chain:_has`, `instance-of:Observation`, `body-incomplete`.
   */
  patientsUnresolved: string[];
  /**
   * The request body's references to resources other than a Patient, as written: `Encounter/e-77`,
   * `https://host/fhir/Observation/o-1`, `urn:uuid:…` (another entry of the Bundle), `#contained`,
   * `Practitioner?identifier=…`. A write that links to another record by id names it here, so a policy can hold
   * links to the records of the launch context (`r == "Encounter/" + claims.encounter`).
   */
  references: string[];
  /**
   * True when `resourceType` belongs to the Patient compartment (a search on it without patient params spans patients).
   */
  patientCompartment: boolean;
  /** Bundle.type for batch/transaction posts, e.g. `transaction`. */
  bundleType: string;
  /** Entries of a batch/transaction Bundle. */
  entries: FhirEntryAttributes[];
  /** False when Envoy forwarded a truncated body (`x-envoy-auth-partial-body: true`). */
  bodyComplete: boolean;
  /** True when a JSON body was present and parsed. */
  bodyParsed: boolean;
}

export interface RequestAttributesModel {
  /** The HTTP request as Envoy saw it. */
  request: {
    /** HTTP method, e.g. `GET`. */
    method: string;
    /** Path without the query string, still percent-encoded, e.g. `/fhir/Observation`. */
    path: string;
    /** Raw query string without `?`, e.g. `patient=123&code=8867-4`. */
    query: string;
    /** `:authority`, e.g. `fhir.hospital.internal`. */
    host: string;
    /** `http` or `https`. */
    scheme: string;
    /** Request headers, lower-case names. Authorization is removed: tokens never reach policy, only verified claims. */
    headers: ReadonlyMap<string, string>;
    /** Request id (`x-request-id`), e.g. `6f1c…`. */
    id: string;
    /** Request body size in bytes as Envoy reported it (0 if unknown). */
    size: bigint;
  };
  /** The caller, from Envoy's `attributes.source`. */
  source: {
    /** Mesh identity, e.g. `spiffe://cluster.local/ns/scribe/sa/ambient-scribe`. */
    principal: string;
    /** SPIFFE trust domain, e.g. `cluster.local`. */
    trustDomain: string;
    /** Kubernetes namespace from the SPIFFE id, e.g. `scribe`. */
    namespace: string;
    /** Kubernetes service account from the SPIFFE id, e.g. `ambient-scribe`. */
    serviceAccount: string;
    /** Peer IP address, e.g. `10.0.3.7`. */
    address: string;
  };
  /** The destination, from Envoy's `attributes.destination`. */
  destination: {
    /** Destination IP address. */
    address: string;
    /** Destination port, e.g. `443`. */
    port: bigint;
    /** Destination mesh principal, if any. */
    principal: string;
  };
  /** The agent policy that matched the caller. */
  agent: {
    /** Policy name, e.g. `ambient-scribe`. */
    name: string;
    /** `live` or `batch`. */
    tier: string;
    /** `enforce` or `audit`. */
    mode: string;
  };
  /** The FHIR view of the request. */
  fhir: FhirAttributes;
  /**
   * Verified JWT claims of the clinician (jwt_authn metadata or in-service JWKS verification), by name; empty when
   * none. Nested claim objects are prototype-free records.
   */
  claims: ReadonlyMap<string, unknown>;
  /** Where `claims` came from. */
  auth: {
    /** `jwt_authn` (Envoy verified), `jwks` (phiguard verified the bearer token), or `none`. */
    source: string;
    /** `sub` of the verified token, e.g. `Practitioner/42`. */
    subject: string;
    /** `iss` of the verified token. */
    issuer: string;
  };
  /** Request time as Envoy stamped it (`attributes.request.time`), else the time phiguard received the check. */
  now: Date;
}

/** CEL type of each fhir entry, registered as a named type so `fhir.entries.all(e, ...)` type-checks. */
export const CEL_ENTRY_FIELDS = {
  method: 'string',
  interaction: 'string',
  resourceType: 'string',
  id: 'string',
  operation: 'string',
  patients: 'list<string>',
  patientsUnresolved: 'list<string>',
  references: 'list<string>',
} as const;

/** CEL declarations of the model's variables. Keep in sync with `RequestAttributesModel` (a test enforces it). */
export const CEL_VARIABLES = {
  request: {
    method: 'string',
    path: 'string',
    query: 'string',
    host: 'string',
    scheme: 'string',
    headers: 'map<string, string>',
    id: 'string',
    size: 'int',
  },
  source: {
    principal: 'string',
    trustDomain: 'string',
    namespace: 'string',
    serviceAccount: 'string',
    address: 'string',
  },
  destination: { address: 'string', port: 'int', principal: 'string' },
  agent: { name: 'string', tier: 'string', mode: 'string' },
  fhir: {
    isFhir: 'bool',
    valid: 'bool',
    invalidReason: 'string',
    base: 'string',
    interaction: 'string',
    resourceType: 'string',
    id: 'string',
    versionId: 'string',
    operation: 'string',
    compartment: { type: 'string', id: 'string' },
    params: 'map<string, list<string>>',
    includes: 'list<string>',
    revincludes: 'list<string>',
    patients: 'list<string>',
    patientsUnresolved: 'list<string>',
    references: 'list<string>',
    patientCompartment: 'bool',
    bundleType: 'string',
    entries: 'list<phiguard.FhirEntry>',
    bodyComplete: 'bool',
    bodyParsed: 'bool',
  },
  claims: 'map<string, dyn>',
  auth: { source: 'string', subject: 'string', issuer: 'string' },
  now: 'google.protobuf.Timestamp',
} as const;

/** An empty FHIR view (non-FHIR request), used as the starting point of the parser. */
export function emptyFhirAttributes(): FhirAttributes {
  return {
    isFhir: false,
    valid: true,
    invalidReason: '',
    base: '',
    interaction: '',
    resourceType: '',
    id: '',
    versionId: '',
    operation: '',
    compartment: { type: '', id: '' },
    params: new Map(),
    includes: [],
    revincludes: [],
    patients: [],
    patientsUnresolved: [],
    references: [],
    patientCompartment: false,
    bundleType: '',
    entries: [],
    bodyComplete: true,
    bodyParsed: false,
  };
}
