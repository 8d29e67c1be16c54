/**
 * Evidence reports over the audit sink:
 * - accounting: every AI-agent access to one patient's records in a period (45 CFR §164.528 accounting of
 *   disclosures; allowed accesses, including audit-mode and break-glass ones; `includeDenied` adds attempts);
 * - breakglass: every lane activation and what it touched;
 * - aibom: per agent, every outside endpoint contacted, with BAA status at first contact and traffic counts;
 * - baaViolations: every outside request denied for a missing or lapsed BAA.
 */
import { auditRecords, type AuditRow } from './read-audit.js';

export interface Period {
  since: number;
  until: number;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));
const inPeriod = (r: AuditRow, p: Period): boolean => {
  // The access time: the request time Envoy stamped (decision records), else the record time.
  const t = Date.parse(str(r['requestTime'] ?? r['time']));
  return t >= p.since && t <= p.until;
};

export async function accounting(files: readonly string[], patient: string, period: Period, includeDenied = false): Promise<AuditRow[]> {
  const needle = JSON.stringify(patient);
  const rows: AuditRow[] = [];
  for await (const r of auditRecords(files, [needle])) {
    if (r['type'] !== 'decision' || !inPeriod(r, period)) continue;
    const patients = Array.isArray(r['patients']) ? r['patients'] : [];
    if (!patients.includes(patient)) continue;
    if (!includeDenied && r['decision'] === 'deny') continue;
    rows.push({
      time: r['requestTime'] ?? r['time'], agent: r['agent'], clinician: r['clinician'], interaction: r['interaction'],
      resource: `${str(r['resourceType'])}${str(r['resourceId']) ? `/${str(r['resourceId'])}` : ''}`, decision: r['decision'], rule: r['rule'],
      breakGlass: r['breakGlass'] ?? '', requestId: r['requestId'], decisionId: r['decisionId'],
    });
  }
  return rows;
}

export async function breakglass(files: readonly string[], period: Period): Promise<AuditRow[]> {
  const rows: AuditRow[] = [];
  for await (const r of auditRecords(files, ['"type":"break-glass-attestation"'])) {
    if (r['type'] !== 'break-glass-attestation') continue;
    if (!inPeriod(r, period)) continue;
    rows.push({
      time: r['time'], class: r['class'], clinician: r['clinician'], agent: r['agent'], activatedAt: r['activatedAt'], expiresAt: r['expiresAt'],
      interaction: r['interaction'], resources: str(r['resources']), patients: str(r['patients']), overrode: str((r['overrode'] as AuditRow | undefined)?.['rule']), requestId: r['requestId'],
    });
  }
  return rows;
}

export async function aibom(files: readonly string[]): Promise<AuditRow[]> {
  const first = new Map<string, AuditRow>();
  const counts = new Map<string, { allowed: number; denied: number }>();
  for await (const r of auditRecords(files, ['"type":"aibom-first-contact"', '"egress":{'])) {
    if (r['type'] === 'aibom-first-contact') {
      const k = `${str(r['agent'])}|${str(r['endpoint'])}`;
      const prev = first.get(k);
      if (!prev || str(r['time']) < str(prev['time'])) first.set(k, r);
    } else if (r['type'] === 'decision' && typeof r['egress'] === 'object' && r['egress'] !== null) {
      const e = r['egress'] as AuditRow;
      const k = `${str(r['agent'])}|${str(e['host'])}:${str(e['port'])}`;
      const c = counts.get(k) ?? { allowed: 0, denied: 0 };
      if (r['decision'] === 'deny') c.denied++;
      else c.allowed++;
      counts.set(k, c);
    }
  }
  return [...first.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, r]) => ({
    agent: r['agent'], endpoint: r['endpoint'], firstContact: r['time'], baaStatus: r['baaStatus'], vendor: r['vendor'], agreementId: r['agreementId'],
    registryVersion: r['registryVersion'], allowed: counts.get(k)?.allowed ?? 0, denied: counts.get(k)?.denied ?? 0,
  }));
}

export async function baaViolations(files: readonly string[], period: Period): Promise<AuditRow[]> {
  const rows: AuditRow[] = [];
  for await (const r of auditRecords(files, ['"reason":"baa-not-covered"'])) {
    if (r['type'] !== 'decision' || r['reason'] !== 'baa-not-covered' || !inPeriod(r, period)) continue;
    const e = (r['egress'] ?? {}) as AuditRow;
    rows.push({ time: r['time'], agent: r['agent'], endpoint: `${str(e['host'])}:${str(e['port'])}`, baaStatus: e['reason'], vendor: e['vendor'], agreementId: e['agreementId'], registryVersion: e['registryVersion'], requestId: r['requestId'] });
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
  const line = (vals: string[]): string => vals.map((v, i) => v.slice(0, widths[i]).padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => str(r[c]))))].join('\n') + `\n${rows.length} record(s)\n`;
}
