/**
 * Produces examples/envelopes/ by replaying a synthetic, deterministic clinical week through the real authorizer
 * (examples/policies) and the real envelope recorder: ambient-scribe encounter bursts in clinic hours (two
 * replicas), steady CDS polling of vitals and labs, and a nightly prior-authorization batch.
 * Run: npx tsx scripts/example-envelopes.ts
 */
import { rmSync } from 'node:fs';
import {
  ClaimsConfigSchema,
  createAuthorizer,
  createClaimsResolver,
  createEnvelopeRecorder,
  policyOnlySnapshot,
  readBaaRegistry,
  readPolicyDir,
  type CheckInput,
} from '../authz/index.js';
import { checkInputFor } from '../generator/explain/index.js';

const OUT = 'examples/envelopes';
const loaded = readPolicyDir('examples/policies');
if (!loaded.ok) throw new Error('examples/policies do not load');
const set = loaded.value.set;
const baa = readBaaRegistry('examples/baa/registry.yaml');
if (!baa.ok) throw baa.error;
const registry = baa.value;
const snapshot = { ...policyOnlySnapshot(set), baa: registry };
const authorizer = createAuthorizer({
  snapshot: () => snapshot,
  claims: createClaimsResolver(ClaimsConfigSchema.parse({})),
  fhirBasePaths: ['/fhir'],
});

let seed = 20261116;
function rand(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

const recorders = ['a', 'b'].map((replica) =>
  createEnvelopeRecorder({
    dir: OUT,
    replica,
    flushMs: 3_600_000,
    workloadFor: (agent, attrs) => {
      const w = set.agents.find((x) => x.name === agent)?.policy.spec.workload;
      return {
        kind: w?.kind ?? 'Deployment',
        name: w?.name ?? agent,
        namespace: attrs.source.namespace,
        serviceAccount: attrs.source.serviceAccount,
        principal: attrs.source.principal,
        podLabels: w?.podLabels ?? {},
      };
    },
  }),
);

function send(input: CheckInput, replica: number): void {
  const r = authorizer.authorize(input);
  if (r instanceof Promise) throw new Error('unexpected async');
  recorders[replica]?.observe(r.attributes, r.decision);
}

function at(
  input: CheckInput,
  t: Date,
  destPrincipal = 'spiffe://cluster.local/ns/fhir/sa/fhir-server',
  port = 8080,
): CheckInput {
  return {
    attributes: {
      ...input.attributes,
      destination: { principal: destPrincipal, address: { socket_address: { address: '10.8.9.4', port_value: port } } },
      request: {
        ...input.attributes.request,
        time: t.toISOString(),
        http: { ...input.attributes.request?.http, scheme: port === 443 ? 'https' : 'http' },
      },
    },
  };
}

const SCRIBE = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';
const CDS = 'spiffe://cluster.local/ns/cds/sa/sepsis-advisor';
const PA = 'spiffe://cluster.local/ns/prior-auth/sa/pa-bot';
const patients = Array.from({ length: 400 }, (_, i) => `p-${1000 + i}`);
const host = 'fhir.hospital.internal';
const start = Date.parse('2026-11-16T00:00:00Z');

for (let day = 0; day < 7; day++) {
  const weekend = day >= 5;
  // Ambient scribe: encounters 08:00-17:00 on weekdays (fewer on weekends), each a burst of chart reads, one model
  // call and a note transaction.
  const encounters = weekend ? 12 : 70;
  for (let e = 0; e < encounters; e++) {
    const p = pick(patients);
    const t0 = start + day * 86_400_000 + (8 + rand() * 9) * 3_600_000;
    const claims = {
      sub: `Practitioner/dr-${Math.floor(rand() * 40)}`,
      patient: p,
      iss: 'https://idp.hospital.example',
    };
    const replica = e % 2;
    const reads = [
      `/fhir/Patient/${p}`,
      `/fhir/Encounter?patient=${p}&status=in-progress`,
      `/fhir/Condition?patient=${p}&clinical-status=active`,
      `/fhir/Observation?patient=${p}&category=vital-signs&_sort=-date&_count=20`,
      `/fhir/AllergyIntolerance?patient=${p}`,
      `/fhir/MedicationRequest?patient=${p}&status=active`,
    ];
    reads.forEach((path, i) =>
      send(
        at(
          checkInputFor({ method: 'GET', path, principal: SCRIBE, headers: {}, host, claims }),
          new Date(t0 + i * 700),
        ),
        replica,
      ),
    );
    send(
      at(
        checkInputFor({
          method: 'POST',
          path: '/openai/deployments/scribe-gpt/chat/completions',
          principal: SCRIBE,
          headers: { 'content-type': 'application/json' },
          host: 'contoso-health.openai.azure.com',
        }),
        new Date(t0 + 600_000),
        '',
        443,
      ),
      replica,
    );
    const bundle = JSON.stringify({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:1',
          resource: { resourceType: 'DocumentReference', status: 'current', subject: { reference: `Patient/${p}` } },
          request: { method: 'POST', url: 'DocumentReference' },
        },
        {
          resource: {
            resourceType: 'Provenance',
            target: [{ reference: 'urn:uuid:1' }],
            patient: { reference: `Patient/${p}` },
          },
          request: { method: 'POST', url: 'Provenance' },
        },
      ],
    });
    send(
      at(
        checkInputFor({
          method: 'POST',
          path: '/fhir',
          principal: SCRIBE,
          headers: { 'content-type': 'application/fhir+json' },
          host,
          body: bundle,
          claims,
        }),
        new Date(t0 + 900_000),
      ),
      replica,
    );
  }
  // CDS: every 5 minutes, around the clock, vitals and labs for a handful of inpatients.
  for (let m = 0; m < 24 * 12; m++) {
    const t = start + day * 86_400_000 + m * 300_000;
    for (let k = 0; k < 3; k++) {
      const p = patients[(m * 3 + k) % 60] ?? 'p-1000';
      const cat = k % 2 === 0 ? 'vital-signs' : 'laboratory';
      send(
        at(
          checkInputFor({
            method: 'GET',
            path: `/fhir/Observation?subject=Patient/${p}&category=${cat}&_sort=-date&_count=50`,
            principal: CDS,
            headers: {},
            host,
          }),
          new Date(t + k * 1000),
        ),
        0,
      );
    }
    if (m % 12 === 0)
      send(
        at(
          checkInputFor({
            method: 'GET',
            path: `/fhir/Condition?patient=${patients[m % 60] ?? ''}`,
            principal: CDS,
            headers: {},
            host,
          }),
          new Date(t + 5000),
        ),
        0,
      );
  }
  // Prior auth: nightly batch 01:00-03:00 on weekdays: gather evidence, submit to the payer.
  if (!weekend) {
    for (let c = 0; c < 40; c++) {
      const p = pick(patients);
      const t = start + day * 86_400_000 + 3_600_000 + c * 150_000;
      for (const path of [
        `/fhir/Coverage?beneficiary=${p}`,
        `/fhir/ServiceRequest?patient=${p}&status=active`,
        `/fhir/Condition?patient=${p}`,
        `/fhir/DocumentReference?patient=${p}&category=clinical-note`,
        `/fhir/Encounter?patient=${p}&date=ge2026-01-01`,
      ]) {
        send(at(checkInputFor({ method: 'GET', path, principal: PA, headers: {}, host }), new Date(t)), 0);
      }
      send(
        at(
          checkInputFor({
            method: 'POST',
            path: '/fhir/Claim/$submit',
            principal: PA,
            headers: { 'content-type': 'application/fhir+json' },
            host,
            body: JSON.stringify({ resourceType: 'Bundle', type: 'collection' }),
          }),
          new Date(t + 60_000),
        ),
        0,
      );
      send(
        at(
          checkInputFor({
            method: 'POST',
            path: '/pas/Claim/$submit',
            principal: PA,
            headers: { 'content-type': 'application/fhir+json' },
            host: 'east.pas.payer-a.example',
          }),
          new Date(t + 90_000),
          '',
          443,
        ),
        0,
      );
      if (c % 10 === 0)
        send(
          at(
            checkInputFor({
              method: 'POST',
              path: '/v2/eligibility',
              principal: PA,
              headers: {},
              host: 'api.payer-b-clearinghouse.example',
            }),
            new Date(t + 100_000),
            '',
            443,
          ),
          0,
        );
    }
  }
}

rmSync(OUT, { recursive: true, force: true });
for (const r of recorders) for (const f of r.flush()) process.stdout.write(`${f}\n`);
