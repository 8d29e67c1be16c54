/**
 * Staging parity: before a staging-built envelope is enforced in production, check that staging exercised what
 * production does. Three criteria, each pass/fail with the reason:
 * 1. FHIR coverage: every resource type × interaction (× operation) production uses appears in staging.
 * 2. Burst-shape fidelity: staging reproduced production's bursts, not just its average — busiest minute, p95
 *    minute and busiest-hour distinct patients each at least `threshold` of production's.
 * 3. Break-glass classes: every class production used (or the expectations name) was exercised in staging.
 */
import { z } from 'zod';
import { summarize, type Envelope } from '../authz/index.js';

export const ParityExpectationsSchema = z
  .object({
    fhir: z
      .array(
        z.object({ resourceType: z.string(), interaction: z.string(), operation: z.string().default('') }).strict(),
      )
      .default([]),
    burst: z
      .object({
        maxPerMinute: z.number().min(0).default(0),
        p95PerMinute: z.number().min(0).default(0),
        maxPatientsPerHour: z.number().min(0).default(0),
      })
      .strict()
      .default({ maxPerMinute: 0, p95PerMinute: 0, maxPatientsPerHour: 0 }),
    breakGlassClasses: z.array(z.string()).default([]),
  })
  .strict();
export type ParityExpectations = z.infer<typeof ParityExpectationsSchema>;

export interface ParityCriterion {
  name: 'fhir-coverage' | 'burst-shape' | 'break-glass-classes';
  pass: boolean;
  reasons: string[];
}

export interface ParityReport {
  workload: string;
  pass: boolean;
  criteria: ParityCriterion[];
}

/** Expectations derived from a production sample envelope. */
export function expectationsFrom(production: Envelope): ParityExpectations {
  const s = summarize(production);
  return {
    fhir: production.spec.fhir.map((f) => ({
      resourceType: f.resourceType,
      interaction: f.interaction,
      operation: f.operation,
    })),
    burst: {
      maxPerMinute: s.burst.maxPerMinute,
      p95PerMinute: s.burst.p95PerMinute,
      maxPatientsPerHour: s.patients.maxPerHourEstimate,
    },
    breakGlassClasses: Object.keys(production.spec.breakGlass),
  };
}

export function checkParity(staging: Envelope, expected: ParityExpectations, threshold = 0.8): ParityReport {
  const s = summarize(staging);
  const have = new Set(staging.spec.fhir.map((f) => `${f.resourceType}|${f.interaction}|${f.operation}`));
  const missing = expected.fhir.filter((f) => !have.has(`${f.resourceType}|${f.interaction}|${f.operation}`));
  const coverage: ParityCriterion = {
    name: 'fhir-coverage',
    pass: missing.length === 0,
    reasons:
      missing.length === 0
        ? [`all ${expected.fhir.length} resource type × interaction pairs seen in production were exercised in staging`]
        : missing.map(
            (m) =>
              `not exercised in staging: ${m.interaction}${m.operation ? ` ${m.operation}` : ''} ${m.resourceType || '(system)'}`,
          ),
  };
  const burstReasons: string[] = [];
  let burstPass = true;
  for (const [label, got, want] of [
    ['busiest minute (requests)', s.burst.maxPerMinute, expected.burst.maxPerMinute],
    ['p95 minute (requests)', s.burst.p95PerMinute, expected.burst.p95PerMinute],
    ['busiest hour (distinct patients, estimate)', s.patients.maxPerHourEstimate, expected.burst.maxPatientsPerHour],
  ] as const) {
    const ratio = want === 0 ? 1 : got / want;
    const ok = ratio >= threshold;
    burstPass &&= ok;
    const share = `${(ratio * 100).toFixed(0)}%, need ≥ ${(threshold * 100).toFixed(0)}%`;
    burstReasons.push(
      `${label}: staging ${got} vs production ${want} (${share})${ok ? '' : ' — bursts under-represented'}`,
    );
  }
  const classes = new Set(Object.keys(staging.spec.breakGlass));
  const missingClasses = expected.breakGlassClasses.filter((c) => !classes.has(c));
  const breakGlass: ParityCriterion = {
    name: 'break-glass-classes',
    pass: missingClasses.length === 0,
    reasons:
      missingClasses.length === 0
        ? [`${expected.breakGlassClasses.length} break-glass class(es) represented`]
        : missingClasses.map((c) => `break-glass class "${c}" never exercised in staging`),
  };
  const criteria = [coverage, { name: 'burst-shape' as const, pass: burstPass, reasons: burstReasons }, breakGlass];
  return {
    workload: `${staging.spec.workload.namespace}/${staging.spec.workload.name}`,
    pass: criteria.every((c) => c.pass),
    criteria,
  };
}

export function parityText(r: ParityReport): string {
  let t = `parity for ${r.workload}: ${r.pass ? 'PASS' : 'FAIL'}\n`;
  for (const c of r.criteria)
    t += `  ${c.pass ? 'pass' : 'FAIL'} ${c.name}\n${c.reasons.map((x) => `       ${x}`).join('\n')}\n`;
  return t;
}
