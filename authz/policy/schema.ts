/**
 * The agent policy file format (YAML, one or more documents per file), `phiguard.io/v1alpha1`.
 * Defaults live here; types come from z.infer. Unknown keys are errors: a typo must not silently drop a rule.
 */
import { z } from 'zod';
import { CONTAINMENT_ACTIONS, CONTAINMENT_TRIGGERS } from '../containment/index.js';
import { HARD_DENY_TARGETS } from '../egress/index.js';
import { FHIR_INTERACTIONS, isUnresolvedPattern } from '../model/index.js';

export const TIERS = ['live', 'batch'] as const;
export const MODES = ['enforce', 'audit'] as const;

const kubeName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a lower-case DNS label (a-z, 0-9, -)');

export const SelectorSchema = z
  .object({
    /** Exact SPIFFE id, e.g. `spiffe://cluster.local/ns/scribe/sa/ambient-scribe`. */
    principal: z.string().startsWith('spiffe://').optional(),
    trustDomain: z.string().min(1).optional(),
    namespace: kubeName.optional(),
    serviceAccount: z.string().min(1).optional(),
  })
  .strict()
  .refine((s) => s.principal !== undefined || s.namespace !== undefined, {
    message: 'a selector needs a principal, or at least a namespace',
  });

export const ScopeEntrySchema = z
  .object({
    resourceTypes: z.array(z.string().min(1)).min(1),
    interactions: z.array(z.enum(FHIR_INTERACTIONS)).min(1),
    operations: z.array(z.string().regex(/^\$[A-Za-z][A-Za-z0-9_-]*$/)).default([]),
  })
  .strict();

/**
 * Unresolved patient-scope reasons an allow rule (or break-glass class) accepts: exact reasons
 * (`instance-of:Encounter`) or a kind with `:*` (model/unresolved-reasons.ts lists the kinds).
 */
export const AllowUnresolvedSchema = z
  .array(
    z.string().refine(isUnresolvedPattern, {
      message: 'not an unresolved patient-scope reason (`kind`, `kind:detail` or `kind:*`; see docs/policies.md)',
    }),
  )
  .default([]);

export const RuleSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'rule names are lower-case kebab-case'),
    description: z.string().optional(),
    /** CEL: the rule allows when this is true. */
    allow: z.string().min(1).optional(),
    /** CEL: the rule denies when this is true. Deny wins over any allow. */
    deny: z.string().min(1).optional(),
    /** Let this allow rule match requests the FHIR parser marked invalid (off by default). */
    allowInvalid: z.boolean().default(false),
    /**
     * Let this allow rule match requests whose patient scope is unresolved for these reasons only. Without it, such
     * a request is denied by the built-in rule `unresolved-patient-scope`.
     */
    allowUnresolved: AllowUnresolvedSchema,
    /** HTTP status for a deny (default 403). */
    status: z.number().int().min(400).max(599).default(403),
    /** Static text for the OperationOutcome. It is sent to the agent: never put PHI here. */
    message: z.string().max(500).optional(),
  })
  .strict()
  .refine((r) => (r.allow === undefined) !== (r.deny === undefined), {
    message: 'a rule has exactly one of allow or deny',
  });

/**
 * A break-glass class: a sanctioned exception lane. It opens only for a request whose verified claims satisfy
 * `activation`, within `ttlMinutes` of the activation time the claim carries (never beyond the token's own `exp`),
 * and only for what `allow` permits. Every access through it is attested in the audit trail.
 */
export const BreakGlassClassSchema = z
  .object({
    class: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'class names are lower-case kebab-case'),
    description: z.string().optional(),
    /** CEL over the attribute model (verified `claims`, `agent`, ...): does this request activate the lane? */
    activation: z.string().min(1),
    /** The claim holding the activation time (NumericDate, seconds since the epoch). */
    activatedAtClaim: z.string().min(1).default('btg_activated_at'),
    ttlMinutes: z
      .number()
      .int()
      .min(1)
      .max(24 * 60),
    /** CEL: what the lane allows (its scope). */
    allow: z.string().min(1),
    /** Purpose of use recorded in the attestation (HL7 v3 ActReason), e.g. BTG or ETREAT. */
    purposeOfUse: z.enum(['BTG', 'ETREAT']).default('BTG'),
    /** Unresolved patient-scope reasons the lane accepts (as for an allow rule). */
    allowUnresolved: AllowUnresolvedSchema,
  })
  .strict();

export const AgentPolicySchema = z
  .object({
    apiVersion: z.literal('phiguard.io/v1alpha1'),
    kind: z.literal('AgentPolicy'),
    metadata: z
      .object({
        name: kubeName,
        description: z.string().optional(),
        labels: z.record(z.string(), z.string()).optional(),
      })
      .strict(),
    spec: z
      .object({
        selector: SelectorSchema,
        /** The Kubernetes workload this agent runs as (envelopes and generated Cilium policy select it). */
        workload: z
          .object({
            kind: z.enum(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod']).default('Deployment'),
            name: z.string().min(1),
            namespace: kubeName.optional(),
            podLabels: z.record(z.string(), z.string()).default({}),
          })
          .strict()
          .optional(),
        tier: z.enum(TIERS),
        mode: z.enum(MODES).default('enforce'),
        /** The FHIR scope the agent was provisioned for (resource types × interactions). */
        scope: z.array(ScopeEntrySchema).default([]),
        rules: z.array(RuleSchema).min(1),
        breakGlass: z.array(BreakGlassClassSchema).default([]),
        /** Containment on violation (when the service runs with --containment-dir). Defaults by tier. */
        containment: z
          .object({
            action: z.enum(CONTAINMENT_ACTIONS).optional(),
            /** Every trigger by default. */
            triggers: z.array(z.enum(CONTAINMENT_TRIGGERS)).default(() => [...CONTAINMENT_TRIGGERS]),
            durationMinutes: z
              .number()
              .int()
              .min(1)
              .max(7 * 24 * 60)
              .default(60),
            contextMinutes: z
              .number()
              .int()
              .min(1)
              .max(24 * 60)
              .default(30),
          })
          .strict()
          .default(() => ({ triggers: [...CONTAINMENT_TRIGGERS], durationMinutes: 60, contextMinutes: 30 })),
        /** Per-agent egress rate limit (per replica), e.g. {requests: 120, perSeconds: 60}. */
        egressRateLimit: z
          .object({ requests: z.number().int().min(1), perSeconds: z.number().int().min(1) })
          .strict()
          .optional(),
        /** Explicit, audited exceptions to the hard denies (cloud metadata endpoints, the Kubernetes API server). */
        egressExceptions: z
          .array(z.object({ target: z.enum(HARD_DENY_TARGETS), reason: z.string().min(10) }).strict())
          .default([]),
        /** Allowed clock skew when judging break-glass windows. */
        breakGlassClockSkewSeconds: z.number().int().min(0).max(300).default(60),
      })
      .strict(),
  })
  .strict();

export type AgentPolicy = z.infer<typeof AgentPolicySchema>;
export type PolicyRule = z.infer<typeof RuleSchema>;
export type Selector = z.infer<typeof SelectorSchema>;
export type BreakGlassClass = z.infer<typeof BreakGlassClassSchema>;
