/**
 * Hostile CheckRequests, generated from one seed (the same seed, the same requests), against the example policies
 * and BAA registry. Every generated request must be denied: `always` shapes in every mode (invalid requests, unknown
 * callers, protected endpoints, BAA gaps), `policy` shapes by a policy deny (an audit-mode agent records
 * `audit-deny`, never `allow`).
 *
 * The shapes are the attacker's view of the example agents: another patient (p-2002) than the clinician's launch
 * context (p-1001) reached through every spelling of paths, methods, parameters, includes, bodies and Bundles.
 */
import { protectedForms, prng } from '../egress/protected-forms.js';

export interface HostileCheck {
  /** What the shape is, for a failure message. */
  shape: string;
  /** `always`: denied in every mode; `policy`: a policy deny (audit-deny for an audit-mode agent). */
  must: 'always' | 'policy';
  /** The CheckRequest, in Envoy's JSON mapping (as `phiguard call` sends it). */
  request: Record<string, unknown>;
}

const SCRIBE = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';
const CDS = 'spiffe://cluster.local/ns/cds/sa/sepsis-advisor';
const PA = 'spiffe://cluster.local/ns/prior-auth/sa/pa-bot';
const FHIR = 'fhir.hospital.internal';
const CLAIMS = { sub: 'Practitioner/dr-okafor', patient: 'p-1001', exp: 4102444800 };
const OTHER = 'p-2002';

interface Rng {
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
}

function rng(seed: number): Rng {
  const next = prng(seed);
  const int = (n: number): number => Math.floor(next() * n);
  return { int, pick: (xs) => xs[int(xs.length)] as (typeof xs)[number], chance: (p) => next() < p };
}

interface Http {
  method: string;
  path: string;
  host?: string;
  headers?: Record<string, string>;
  body?: string;
  destination?: string;
  claims?: Record<string, unknown> | null;
}

function checkRequest(principal: string, h: Http): Record<string, unknown> {
  const headers: Record<string, string> = { ...(h.headers ?? {}) };
  const http: Record<string, unknown> = {
    method: h.method,
    path: h.path,
    host: h.host ?? FHIR,
    scheme: 'https',
    headers,
  };
  if (h.body !== undefined) {
    http['body'] = h.body;
    http['size'] = String(Buffer.byteLength(h.body));
  }
  const claims = h.claims === undefined ? CLAIMS : h.claims;
  return {
    attributes: {
      source: { principal },
      ...(h.destination !== undefined
        ? { destination: { address: { socket_address: { address: h.destination, port_value: 443 } } } }
        : {}),
      request: { http },
      ...(claims !== null
        ? { metadata_context: { filter_metadata: { 'envoy.filters.http.jwt_authn': { jwt_payload: claims } } } }
        : {}),
    },
  };
}

/** Percent-encodes some characters of a query parameter name or value (the server decodes them back). */
function spell(r: Rng, s: string): string {
  let out = '';
  for (const ch of s) out += /[a-z]/i.test(ch) && r.chance(0.15) ? `%${ch.charCodeAt(0).toString(16)}` : ch;
  return out;
}

/** Parameters that do not change whom a search matches, added at random. */
function noise(r: Rng): string {
  const extras = ['_count=10', '_sort=-date', '_summary=true', '_format=json', '_elements=code', '_total=none'];
  let q = '';
  for (let i = r.int(3); i > 0; i--) q += `&${r.pick(extras)}`;
  return q;
}

const COMPARTMENT_TYPES = ['Observation', 'Condition', 'Encounter', 'AllergyIntolerance', 'MedicationRequest'];
const JSON_TYPE = { 'content-type': 'application/fhir+json' };

function ref(r: Rng, id: string): string {
  return r.pick([`Patient/${id}`, `https://ehr.example/fhir/Patient/${id}`, `Patient/${id}/_history/3`]);
}

/** Reads and searches that reach another patient, or patients nobody named. */
function scribeSearch(r: Rng): Http {
  const t = r.pick(COMPARTMENT_TYPES);
  const q = (s: string): string => `/fhir/${s}${noise(r)}`;
  return r.pick<() => Http>([
    () => ({ method: 'GET', path: `/fhir/${t}/${r.pick(['obs-2002', 'x1', 'e-9'])}` }),
    () => ({ method: r.pick(['GET', 'HEAD']), path: `/fhir/Patient/${OTHER}` }),
    () => ({ method: 'GET', path: `/fhir/Patient/${OTHER}/_history/${1 + r.int(5)}` }),
    () => ({ method: 'GET', path: q(`${t}?${spell(r, 'patient')}=${OTHER}`) }),
    () => ({ method: 'GET', path: q(`${t}?patient=p-1001,${OTHER}`) }),
    () => ({ method: 'GET', path: q(`${t}?code=8867-4`) }),
    () => ({ method: 'GET', path: q(`Patient?name=Smith&${spell(r, 'patient')}=p-1001`) }),
    () => ({
      method: 'GET',
      path: q(`Patient?_id=p-1001&_revinclude=${r.pick(['Group:member', '*', 'Provenance:target'])}`),
    }),
    () => ({
      method: 'GET',
      path: q(`Observation?patient=p-1001&_include=${r.pick(['*', 'Observation:focus', 'Observation:performer'])}`),
    }),
    () => ({ method: 'GET', path: q('Observation?patient=p-1001&_include:iterate=Observation:patient') }),
    () => ({
      method: 'GET',
      path: q(
        `Observation?${r.pick(['subject.name=smith', 'patient:identifier=mrn|1', '_has:Observation:patient:code=1', 'patient:not=p-1001'])}`,
      ),
    }),
    () => ({
      method: 'GET',
      path: q(
        `Observation?patient=p-1001&${r.pick(['__proto__', 'constructor', 'prototype', 'toString'])}=x&_revinclude=Group:member`,
      ),
    }),
    () => ({ method: 'GET', path: q(`Observation?patient=p-1001&_query=ward&_filter=patient%20eq%20${OTHER}`) }),
    () => ({
      method: 'GET',
      path: `/fhir/${r.pick(['$export', 'Patient/$everything', '$graphql?query=x', `Patient/${OTHER}/$everything`])}`,
    }),
    () => ({ method: 'GET', path: `/fhir/${t}/_history` }),
    () => ({
      method: 'GET',
      path: q(
        `${r.pick(['Condition?asserter', 'AllergyIntolerance?recorder', 'Observation?performer', 'Patient?link'])}=Patient/p-1001`,
      ),
    }),
    () => ({
      method: 'GET',
      path: q(
        `Patient?_id=p-1001&_revinclude=${r.pick(['Group:member:Patient', 'Appointment:actor:Patient', 'Observation:subject:Patient'])}`,
      ),
    }),
    () => ({
      method: 'GET',
      path: q(
        `Observation?patient=p-1001&${r.pick(['performer', 'focus'])}=&_include=Observation:${r.pick(['performer', 'focus'])}:Patient`,
      ),
    }),
    () => ({ method: 'GET', path: q('Observation?patient=p-1001&_contained=true&_containedType=container') }),
    () => ({ method: 'GET', path: `/fhir/Patient/p-1001/Observation`, claims: null }),
  ])();
}

function docRef(r: Rng, subject: unknown): string {
  const body: Record<string, unknown> = { resourceType: 'DocumentReference', status: 'current', subject };
  if (r.chance(0.3)) body['author'] = [{ reference: 'Practitioner/dr-okafor' }];
  return JSON.stringify(body);
}

/** Writes whose body names another patient, or cannot be read as the server reads it. */
function scribeWrite(r: Rng): Http {
  const post = (body: string, headers: Record<string, string> = JSON_TYPE, extra: Partial<Http> = {}): Http => ({
    method: 'POST',
    path: `/fhir/DocumentReference${r.chance(0.5) ? '?patient=p-1001' : ''}`,
    headers,
    body,
    ...extra,
  });
  const other = { reference: ref(r, OTHER) };
  return r.pick<() => Http>([
    () => post(docRef(r, other)),
    () =>
      post(
        docRef(r, { reference: 'Patient/p-1001' }).replace('"subject"', `"subject":${JSON.stringify(other)},"subject"`),
      ),
    () =>
      post(docRef(r, other), {
        'content-type': r.pick(['text/plain', 'application/fhir+xml', 'application/x-www-form-urlencoded', '']),
      }),
    () =>
      post(docRef(r, { reference: 'Patient/p-1001' }).slice(0, 40), JSON_TYPE, {
        headers: { ...JSON_TYPE, 'x-envoy-auth-partial-body': 'true' },
      }),
    () => post(docRef(r, { identifier: { system: 'urn:mrn', value: '2002' } })),
    () =>
      post(
        docRef(r, {
          type: r.pick(['http://hl7.org/fhir/StructureDefinition/Patient', 'Patient', 'Encounter']),
          identifier: { value: 'MRN-2002' },
          _display: {},
        }),
      ),
    () => post(docRef(r, { reference: `https://fhir.hospital/fhir/Patient/${OTHER}/_history/Patient/p-1001` })),
    () =>
      post(
        docRef(r, {
          reference: r.pick([
            `Patient/${OTHER}/`,
            `Patient/${OTHER}?_format=json`,
            `patient/${OTHER}`,
            OTHER,
            'urn:uuid:22222222-2222-4222-8222-222222222222',
          ]),
        }),
      ),
    () => ({
      method: 'PUT',
      path: '/fhir/DocumentReference/note-2002',
      headers: JSON_TYPE,
      body: docRef(r, { reference: 'Patient/p-1001' }).replace('{', '{"id":"note-2002",'),
    }),
    () => ({
      method: 'PATCH',
      path: '/fhir/DocumentReference/note-1',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/subject/reference', value: `Patient/${OTHER}` }]),
    }),
    () => ({
      method: 'POST',
      path: '/fhir/Patient',
      headers: JSON_TYPE,
      body: JSON.stringify({ resourceType: 'Patient', id: 'p-1001' }),
    }),
    () => ({ method: 'DELETE', path: `/fhir/DocumentReference?patient=p-1001` }),
  ])();
}

/** Transactions whose entries break the standalone rules. */
function scribeBundle(r: Rng): Http {
  const entry = r.pick<() => unknown>([
    () => ({
      resource: { resourceType: 'DocumentReference', id: 'n-2', subject: { reference: 'Patient/p-1001' } },
      request: { method: 'PUT', url: 'DocumentReference/n-2' },
    }),
    () => ({
      resource: { resourceType: 'DocumentReference', subject: { reference: 'Patient/p-1001' } },
      request: { method: 'PUT', url: 'DocumentReference?_id=n-2' },
    }),
    () => ({
      resource: { resourceType: 'DocumentReference', subject: { reference: `Patient/${OTHER}` } },
      request: { method: 'POST', url: 'DocumentReference' },
    }),
    () => ({ resource: { resourceType: 'Patient', id: 'p-1001' }, request: { method: 'POST', url: 'Patient' } }),
    () => ({ request: { method: 'GET', url: 'Observation?code=8867-4' } }),
    () => ({ request: { method: 'PUT', url: 'DocumentReference/n-3' } }),
    () => ({
      resource: {
        resourceType: 'Binary',
        contentType: 'application/json-patch+json',
        data: Buffer.from(
          JSON.stringify([{ op: 'replace', path: '/subject/reference', value: `Patient/${OTHER}` }]),
        ).toString('base64'),
      },
      request: { method: 'PATCH', url: 'DocumentReference/n-1' },
    }),
  ])();
  const ok = {
    resource: { resourceType: 'DocumentReference', subject: { reference: 'Patient/p-1001' } },
    request: { method: 'POST', url: 'DocumentReference' },
  };
  const entries = r.chance(0.5) ? [ok, entry] : [entry, ok];
  return {
    method: 'POST',
    path: '/fhir',
    headers: JSON_TYPE,
    body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: entries }),
  };
}

/** Shapes denied in every mode: invalid requests and unknown callers. */
function invalid(r: Rng): { principal: string; http: Http } {
  const principal = r.pick([SCRIBE, CDS, PA]);
  return r.pick<() => { principal: string; http: Http }>([
    () => ({
      principal,
      http: { method: r.pick(['get', 'GEt', 'Get', 'POſT', 'gEt', 'TRACE', 'CONNECT']), path: '/fhir/Patient/p-1001' },
    }),
    () => ({
      principal,
      http: {
        method: 'GET',
        path: r.pick([
          '/fhir/Patient/../Observation',
          '/fhir/Patient/%2e%2e/Observation',
          '/fhir/Patient/%2E./x',
          '/fhir/./Patient/p-1001',
          '/fhir/Patient%2Fp-2002',
          '/fhir/Patient%5cp-2002',
          '/fhir//Patient/p-2002',
          '/fhir/Patient/p-1001#x',
          '/fhir/patient/p-1001',
          '/fhir/Patient/p-1001?_method=DELETE',
        ]),
      },
    }),
    () => ({
      principal,
      http: { method: 'POST', path: '/fhir/Patient/_search', headers: { 'x-http-method-override': 'DELETE' } },
    }),
    () => ({
      principal: r.pick([
        'spiffe://evil.example/ns/cds/sa/sepsis-advisor',
        'spiffe://cluster.local/ns/scribe/sa/other',
        '',
        'spiffe://cluster.local/ns/cds/sa/sepsis-advisor/x',
      ]),
      http: { method: 'GET', path: '/fhir/Observation?patient=p-1001&category=vital-signs' },
    }),
  ])();
}

/** Egress that must never leave: protected endpoints in every spelling, and hosts no BAA covers. */
function egress(r: Rng, forms: ReturnType<typeof protectedForms>): { principal: string; http: Http } {
  const principal = r.pick([SCRIBE, CDS, PA]);
  if (r.chance(0.7)) {
    const f = r.pick(forms);
    const http: Http =
      f.place === 'authority'
        ? { method: 'GET', path: '/latest/meta-data/iam/security-credentials/', host: f.text }
        : { method: 'GET', path: '/fhir/Patient/p-1001', host: FHIR, destination: f.text };
    return { principal, http };
  }
  const host = r.pick([
    'patient-jane-doe.exfil.example',
    'api.uncovered.example',
    '203.0.113.9',
    '[2001:db8::1]:443',
    '10.0.0.5',
  ]);
  return { principal, http: { method: 'POST', path: '/v1/chat/completions', host, headers: JSON_TYPE, body: '{}' } };
}

/** cds-sepsis: one patient per search, its own categories only. */
function cds(r: Rng): Http {
  return r.pick<() => Http>([
    () => ({ method: 'GET', path: `/fhir/Observation?patient=p-1001,${OTHER}&category=vital-signs` }),
    () => ({ method: 'GET', path: '/fhir/Observation?category=laboratory' }),
    () => ({ method: 'GET', path: '/fhir/Observation?patient=p-1001&category=vital-signs&_include=Observation:focus' }),
    () => ({ method: 'GET', path: '/fhir/Observation/obs-1' }),
    () => ({ method: 'GET', path: '/fhir/Condition?patient=p-1001&__proto__=x&_revinclude=Group:member' }),
  ])();
}

/**
 * `count` hostile requests from `seed`.
 *
 * @param seed - the PRNG seed
 * @param count - how many
 */
export function hostileChecks(seed: number, count: number): HostileCheck[] {
  const r = rng(seed);
  const forms = protectedForms(seed, 40);
  const out: HostileCheck[] = [];
  for (let i = 0; i < count; i++) {
    const k = r.int(8);
    if (k === 0) {
      const { principal, http } = invalid(r);
      out.push({
        shape: `invalid ${http.method} ${http.path} as ${principal}`,
        must: 'always',
        request: checkRequest(principal, http),
      });
    } else if (k === 1) {
      const { principal, http } = egress(r, forms);
      out.push({
        shape: `egress ${http.host ?? ''} ${http.destination ?? ''}`,
        must: 'always',
        request: checkRequest(principal, http),
      });
    } else {
      const [principal, http] =
        k <= 3
          ? [SCRIBE, scribeSearch(r)]
          : k <= 5
            ? [SCRIBE, scribeWrite(r)]
            : k === 6
              ? [SCRIBE, scribeBundle(r)]
              : [r.chance(0.5) ? CDS : PA, cds(r)];
      out.push({
        shape: `${http.method} ${http.path} ${http.body ?? ''}`.slice(0, 300),
        must: 'policy',
        request: checkRequest(principal, http),
      });
    }
  }
  return out;
}
