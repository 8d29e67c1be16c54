/** The readable summary of an envelope, derived from its raw aggregates (never merged, always recomputed). */
import type { Envelope } from './envelope.js';
import { hllCount, hllDecode, hllMerge, hllNew } from './hll.js';

export interface EnvelopeSummary {
  requests: number;
  /** Requests by hour of day (UTC), 24 bins: the shape of a clinical day. */
  hourOfDay: number[];
  /** Busiest minute, and the 95th/50th percentile of active minutes: encounter bursts vs steady traffic. */
  burst: { maxPerMinute: number; p95PerMinute: number; p50PerMinute: number; activeMinutes: number };
  /** Distinct patients (estimate) over the window and in the busiest hour. */
  patients: { distinctEstimate: number; maxPerHourEstimate: number };
  fhirInteractions: number;
  egressEndpoints: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

export function summarize(e: Envelope): EnvelopeSummary {
  const hourOfDay = new Array<number>(24).fill(0);
  const perMinute: number[] = [];
  for (const [k, v] of Object.entries(e.spec.minutes)) {
    const h = Number(k.slice(11, 13));
    hourOfDay[h] = (hourOfDay[h] ?? 0) + v;
    perMinute.push(v);
  }
  perMinute.sort((a, b) => a - b);
  let all = hllNew();
  let maxHour = 0;
  for (const s of Object.values(e.spec.patientsHourly)) {
    const r = hllDecode(s);
    if (!r) continue;
    all = hllMerge(all, r);
    maxHour = Math.max(maxHour, hllCount(r));
  }
  return {
    requests: e.spec.observation.requests,
    hourOfDay,
    burst: {
      maxPerMinute: perMinute[perMinute.length - 1] ?? 0,
      p95PerMinute: percentile(perMinute, 95),
      p50PerMinute: percentile(perMinute, 50),
      activeMinutes: perMinute.length,
    },
    patients: { distinctEstimate: hllCount(all), maxPerHourEstimate: maxHour },
    fhirInteractions: e.spec.fhir.length,
    egressEndpoints: e.spec.egress.length,
  };
}
