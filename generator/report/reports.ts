/**
 * Evidence reports over the audit sink:
 * - accounting: every AI-agent access to one patient's records in a period (45 CFR §164.528 accounting of
 *   disclosures; allowed accesses, including audit-mode and break-glass ones; `includeDenied` adds attempts);
 * - breakglass: every lane activation and what it touched;
 * - aibom: per agent, every outside endpoint contacted, with BAA status at first contact and traffic counts;
 * - baaViolations: every outside request denied for a missing or lapsed BAA.
 */
import { DECISION_REASONS, type DecisionAuditRecord } from '../../authz/index.js';
import { auditRecords, type AuditRow } from './read-audit.js';

export interface Period {
  since: number;
  until: number;
}

const str = (v: unknown): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);
/** Whether an ISO time falls in the period (an unparsable time does not). */
const inPeriod = (time: string, p: Period): boolean => {
  const t = Date.parse(time);
  return t >= p.since && t <= p.until;
};

/** Every access to `patient` in the period: decision records (validated), by their access time (requestTime). */
export async function accounting(
  files: readonly string[],
  patient: string,
  period: Period,
  includeDenied = false,
): Promise<AuditRow[]> {
  const needle = JSON.stringify(patient);
  const rows: AuditRow[] = [];
  for await (const { kind, record: d } of auditRecords(files, [needle])) {
    if (kind !== 'decision' || !inPeriod(d.requestTime, period)) continue;
    if (!d.patients.includes(patient)) continue;
    if (!includeDenied && d.decision === 'deny') continue;
    rows.push({
      time: d.requestTime,
      agent: d.agent,
      clinician: d.clinician,
      interaction: d.interaction,
      resource: `${d.resourceType}${d.resourceId ? `/${d.resourceId}` : ''}`,
      decision: d.decision,
      rule: d.rule,
      breakGlass: d.breakGlass,
      requestId: d.requestId,
      decisionId: d.decisionId,
    });
  }
  return rows;
}

/** Every break-glass attestation in the period (by its request time, else its record time). */
export async function breakglass(files: readonly string[], period: Period): Promise<AuditRow[]> {
  const rows: AuditRow[] = [];
  for await (const { kind, record: r } of auditRecords(files, ['"type":"break-glass-attestation"'])) {
    if (kind !== 'other' || r['type'] !== 'break-glass-attestation') continue;
    if (!inPeriod(str(r['requestTime'] ?? r['time']), period)) continue;
    rows.push({
      time: r['time'],
      class: r['class'],
      clinician: r['clinician'],
      agent: r['agent'],
      activatedAt: r['activatedAt'],
      expiresAt: r['expiresAt'],
      interaction: r['interaction'],
      resources: str(r['resources']),
      patients: str(r['patients']),
      overrode: str((r['overrode'] as AuditRow | undefined)?.['rule']),
      requestId: r['requestId'],
    });
  }
  return rows;
}

/** Per agent and outside endpoint: the first contact (AI-BOM records) and the allowed and denied decisions. */
export async function aibom(files: readonly string[]): Promise<AuditRow[]> {
  const first = new Map<string, AuditRow>();
  const counts = new Map<string, { allowed: number; denied: number }>();
  const count = (d: DecisionAuditRecord, e: NonNullable<DecisionAuditRecord['egress']>): void => {
    const k = `${d.agent}|${e.host}:${str(e.port)}`;
    const c = counts.get(k) ?? { allowed: 0, denied: 0 };
    if (d.decision === 'deny') c.denied++;
    else c.allowed++;
    counts.set(k, c);
  };
  for await (const r of auditRecords(files, ['"type":"aibom-first-contact"', '"egress":{'])) {
    if (r.kind === 'decision') {
      if (r.record.egress !== null) count(r.record, r.record.egress);
    } else if (r.record['type'] === 'aibom-first-contact') {
      const k = `${str(r.record['agent'])}|${str(r.record['endpoint'])}`;
      const prev = first.get(k);
      if (!prev || str(r.record['time']) < str(prev['time'])) first.set(k, r.record);
    }
  }
  return [...first.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, r]) => ({
      agent: r['agent'],
      endpoint: r['endpoint'],
      firstContact: r['time'],
      baaStatus: r['baaStatus'],
      vendor: r['vendor'],
      agreementId: r['agreementId'],
      registryVersion: r['registryVersion'],
      allowed: counts.get(k)?.allowed ?? 0,
      denied: counts.get(k)?.denied ?? 0,
    }));
}

/** Every outside request denied for a missing or lapsed BAA in the period. */
export async function baaViolations(files: readonly string[], period: Period): Promise<AuditRow[]> {
  const rows: AuditRow[] = [];
  for await (const { kind, record: d } of auditRecords(files, ['"reason":"baa-not-covered"'])) {
    if (kind !== 'decision' || d.reason !== DECISION_REASONS.baaNotCovered || !inPeriod(d.requestTime, period))
      continue;
    const e = d.egress;
    rows.push({
      time: d.time,
      agent: d.agent,
      endpoint: `${str(e?.host)}:${str(e?.port)}`,
      baaStatus: e?.reason,
      vendor: e?.vendor,
      agreementId: e?.agreementId,
      registryVersion: e?.registryVersion,
      requestId: d.requestId,
    });
  }
  return rows;
}

export function formatRows(rows: readonly AuditRow[], format: 'table' | 'json' | 'csv'): string {
  if (format === 'json') return `${JSON.stringify(rows, null, 2)}\n`;
  const cols = rows[0] ? Object.keys(rows[0]) : [];
  if (format === 'csv') {
    const q = (v: unknown): string => {
      const s = str(v);
      return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    };
    return [cols.join(','), ...rows.map((r) => cols.map((c) => q(r[c])).join(','))].join('\n') + '\n';
  }
  if (rows.length === 0) return '(no records)\n';
  const widths = cols.map((c) => Math.min(60, Math.max(c.length, ...rows.map((r) => str(r[c]).length))));
  const line = (vals: string[]): string =>
    vals
      .map((v, i) => v.slice(0, widths[i]).padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const body = rows.map((r) => line(cols.map((c) => str(r[c]))));
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...body].join('\n') + `\n${rows.length} record(s)\n`;
}
