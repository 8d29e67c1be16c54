/**
 * The behavioral envelope of one workload (`phiguard.io/v1alpha1`, kind `Envelope`): what an agent really did over an
 * observation window. Recorded by the service (any mode) or imported from Hubble; merged across replicas; read by
 * `attest`, `parity` and `generate cilium`.
 *
 * Only mergeable raw aggregates are stored (`spec`); the readable `summary` is derived from them on every write, so
 * merge is associative and commutative by construction. No patient ids: distinct patients are HyperLogLog sketches
 * of HMAC-SHA256 digests under the service's privacy key (hll.ts), absent when the service runs without one.
 */
import { z } from 'zod';

export const ENVELOPE_API_VERSION = 'phiguard.io/v1alpha1';

const labelMap = z.record(z.string(), z.string());

export const WorkloadSchema = z
  .object({
    kind: z.enum(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod']).default('Deployment'),
    name: z.string().min(1),
    namespace: z.string().min(1),
    serviceAccount: z.string().default(''),
    principal: z.string().default(''),
    podLabels: labelMap.default({}),
  })
  .strict();

export const FhirUsageSchema = z
  .object({
    resourceType: z.string(),
    interaction: z.string(),
    operation: z.string().default(''),
    count: z.number().int().min(0),
  })
  .strict();

export const EgressSchema = z
  .object({
    /** Destination DNS name (no port), or an IP for name-less traffic. */
    host: z.string().min(1),
    port: z.number().int().min(0).max(65535),
    protocol: z.enum(['TCP', 'UDP']).default('TCP'),
    /** Transports seen: `tls`, `plaintext` (both when both were seen). */
    transports: z.array(z.enum(['tls', 'plaintext'])).default([]),
    methods: z.array(z.string()).default([]),
    /** Path templates with ids generalized: `/fhir/Observation/{id}`. */
    paths: z.array(z.string()).default([]),
    count: z.number().int().min(0),
    /** In-cluster peer identity when known (mesh principal or Hubble labels). */
    peer: z
      .object({ namespace: z.string(), serviceAccount: z.string().default(''), labels: labelMap.default({}) })
      .strict()
      .optional(),
    /** The envelope says wildcard DNS names under this suffix are expected (e.g. per-region endpoints). */
    fqdnPattern: z.string().optional(),
  })
  .strict();

export const EnvelopeSchema = z
  .object({
    apiVersion: z.literal(ENVELOPE_API_VERSION),
    kind: z.literal('Envelope'),
    metadata: z.object({ name: z.string().min(1), namespace: z.string().min(1) }).strict(),
    spec: z
      .object({
        workload: WorkloadSchema,
        observation: z
          .object({
            start: z.iso.datetime(),
            end: z.iso.datetime(),
            sources: z.array(z.string()).default([]),
            requests: z.number().int().min(0).default(0),
          })
          .strict(),
        fhir: z.array(FhirUsageSchema).default([]),
        /** Requests per minute, keyed `YYYY-MM-DDTHH:MM` (UTC). */
        minutes: z.record(z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d$/), z.number().int().min(0)).default({}),
        /**
         * Distinct-patient HyperLogLog sketches per hour, keyed `YYYY-MM-DDTHH` (UTC), base64, over keyed digests of
         * the patient ids (empty when recorded without a privacy key).
         */
        patientsHourly: z.record(z.string().regex(/^\d{4}-\d\d-\d\dT\d\d$/), z.string()).default({}),
        egress: z.array(EgressSchema).default([]),
        /** DNS names the workload looked up (Hubble DNS). */
        dnsNames: z.array(z.string()).default([]),
        /** Break-glass lane activations by class. */
        breakGlass: z.record(z.string(), z.number().int().min(0)).default({}),
      })
      .strict(),
    /** Derived on write; ignored on read. */
    summary: z.unknown().optional(),
  })
  .strict();

export type Envelope = z.infer<typeof EnvelopeSchema>;
export type EnvelopeEgress = z.infer<typeof EgressSchema>;
export type Workload = z.infer<typeof WorkloadSchema>;
