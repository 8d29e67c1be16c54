/**
 * The payloads of `npm run bench:isolation` (bench/isolation.ts): a large FHIR transaction Bundle, 10,000 entries
 * and about 9 MiB, and the small canary check, each as CheckRequest wire bytes, with the decision the example
 * policies give them.
 *
 * Each Bundle entry creates a DocumentReference for Patient/p-1001 (the patient of the clinician's token) with the
 * note inline as an attachment: the `note-transaction` rule of examples/policies/ambient-scribe.yaml allows it. The
 * attachment makes the bytes; each entry is a handful of JSON objects, so the whole body stays within the patient
 * walk's node limit (authz/fhir/patient-refs.ts) and its patient scope is resolved.
 */
import { readFileSync } from 'node:fs';
import { CheckInputSchema } from '../authz/index.js';
import { toGrpcCheckRequest } from '../generator/call/index.js';
import { loadEnvoyRoot } from '../proto/envoy-protos.js';

export const BUNDLE_ENTRIES = 10_000;
/** Target wire size of one Bundle check. */
export const BUNDLE_BYTES = 9 * 1024 * 1024;

const CLAIMS = {
  'envoy.filters.http.jwt_authn': {
    jwt_payload: {
      iss: 'https://idp.hospital.example',
      sub: 'Practitioner/dr-okafor',
      patient: 'p-1001',
      encounter: 'e-77',
      exp: 1795000000,
    },
  },
};

/** The body of a transaction Bundle of `entries` DocumentReference creates, padded to about `bytes`. */
export function bundleBody(entries = BUNDLE_ENTRIES, bytes = BUNDLE_BYTES): string {
  const entry = (i: number, data: string): string =>
    JSON.stringify({
      fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      resource: {
        resourceType: 'DocumentReference',
        status: 'current',
        docStatus: 'preliminary',
        subject: { reference: 'Patient/p-1001' },
        context: { encounter: [{ reference: 'Encounter/e-77' }] },
        content: [{ attachment: { contentType: 'text/plain', data } }],
      },
      request: { method: 'POST', url: 'DocumentReference' },
    });
  const overhead = entry(0, '').length + 1;
  const pad = Math.max(0, Math.floor((bytes - 64) / entries) - overhead);
  const data = Buffer.alloc(Math.ceil((pad * 3) / 4), 'scribe note ')
    .toString('base64')
    .slice(0, pad - (pad % 4));
  const parts: string[] = [];
  for (let i = 0; i < entries; i++) parts.push(entry(i, data));
  return `{"resourceType":"Bundle","type":"transaction","entry":[${parts.join(',')}]}`;
}

function checkBytes(input: unknown): Buffer {
  const T = loadEnvoyRoot(['envoy/service/auth/v3/external_auth.proto']).lookupType(
    'envoy.service.auth.v3.CheckRequest',
  );
  const parsed = CheckInputSchema.parse(input);
  return Buffer.from(T.encode(T.fromObject(toGrpcCheckRequest(parsed))).finish());
}

/** The large Bundle check (allowed by `note-transaction`). */
export function bundleCheck(entries = BUNDLE_ENTRIES, bytes = BUNDLE_BYTES): Buffer {
  return checkBytes({
    attributes: {
      source: { principal: 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe' },
      request: {
        http: {
          method: 'POST',
          path: '/fhir',
          host: 'fhir.hospital.internal',
          headers: { 'content-type': 'application/fhir+json' },
          body: bundleBody(entries, bytes),
        },
      },
      metadata_context: { filter_metadata: CLAIMS },
    },
  });
}

/** The canary: the example read of the encounter's patient with jwt_authn claims (allowed). */
export function canaryCheck(): Buffer {
  return checkBytes(JSON.parse(readFileSync('examples/requests/scribe-read-encounter.json', 'utf8')));
}
