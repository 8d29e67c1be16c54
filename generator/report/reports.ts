/**
 * Evidence reports over the audit trail, each labelled with what it is and the regulation each section serves
 * (docs/reports.md has the detail and the citations):
 * - accounting: the access report of one patient: every AI-agent access to the patient's records in a period, and
 *   the accesses in the period that could not be attributed to any patient (unresolved patient scope), which may
 *   include this patient's. An access log, as HITECH §13405(c) and the proposed access report (76 FR 31426) ask;
 *   not by itself a 45 CFR §164.528 accounting of disclosures, which excludes treatment, payment and operations;
 * - breakglass: every break-glass access and what it touched, and every failed lane attempt (§164.312(a)(2)(ii));
 * - aibom: per agent, every outside endpoint contacted, with BAA status at first contact (§164.502(e), §164.308(b));
 * - baaViolations: every outside-egress attempt without an active BAA, whichever rule or lane denied it.
 *
 * Each report reads the files once (read-audit.ts: merged in time order, duplicates dropped, corrupt input an
 * error) and filters and shows one time field.
 */
import type { DecisionAuditRecord } from '../../authz/index.js';
import {
  auditRecords,
  newStats,
  type AuditRecord,
  type AuditRow,
  type ReadOptions,
  type ReadStats,
} from './read-audit.js';

export interface Period {
  since: number;
  until: number;
}

export interface Section {
  id: string;
  title: string;
  /** The regulation the section serves, with its citation. */
  regulation: string;
  rows: AuditRow[];
}

export interface Report {
  kind: 'accounting' | 'breakglass' | 'aibom' | 'baa-violations';
  title: string;
  regulation: string;
  patient?: string;
  agent?: string;
  period?: Period;
  /** The record field the period is applied to, and the rows' `time` shows. */
  timeField?: string;
  generated: string;
  stats: ReadStats;
  sections: Section[];
}

export interface ReadInput {
  files: readonly string[];
  skipCorrupt: boolean;
  onSkipped?: ReadOptions['onSkipped'];
}

const str = (v: unknown): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);
/** Whether an ISO time falls in the period (an unparsable time does not). */
const inPeriod = (time: string, p: Period): boolean => {
  const t = Date.parse(time);
  return t >= p.since && t <= p.until;
};
/**
 * Rows in order of their `time` (stable: records of one time keep the merged order). Each time is parsed once, not
 * in every comparison (thousands of rows made that a noticeable part of a report).
 */
const byTime = (rows: AuditRow[]): AuditRow[] =>
  rows
    .map((row) => ({ row, t: Date.parse(str(row['time'])) }))
    .sort((a, b) => a.t - b.t)
    .map((k) => k.row);

async function read(
  input: ReadInput,
  needles: readonly string[],
  each: (r: AuditRecord) => void,
): Promise<{ stats: ReadStats; generated: string }> {
  const generated = new Date().toISOString();
  const stats = newStats(input.files);
  const o: ReadOptions = { needles, skipCorrupt: input.skipCorrupt, stats };
  if (input.onSkipped !== undefined) o.onSkipped = input.onSkipped;
  for await (const r of auditRecords(input.files, o)) each(r);
  return { stats, generated };
}

const resourceOf = (d: DecisionAuditRecord): string => `${d.resourceType}${d.resourceId ? `/${d.resourceId}` : ''}`;

function accessRow(d: DecisionAuditRecord): AuditRow {
  return {
    time: d.requestTime,
    agent: d.agent,
    clinician: d.clinician,
    interaction: d.interaction,
    resource: resourceOf(d),
    decision: d.decision,
    rule: d.rule,
    breakGlass: d.breakGlass,
    patientsUnresolved: d.patientsUnresolved.join(' '),
    requestId: d.requestId,
    decisionId: d.decisionId,
  };
}

export const REGULATION = {
  accessReport:
    'access log: HITECH Act §13405(c) (42 U.S.C. 17935(c)); proposed 45 CFR 164.528(b) access report, 76 FR 31426 ' +
    '(2011); audit controls 45 CFR 164.312(b). Not by itself a 164.528(a) accounting of disclosures, which excludes ' +
    'treatment, payment and health care operations (164.528(a)(1)(i))',
  unattributed:
    'completeness of the access log (HITECH §13405(c); 45 CFR 164.312(b)): accesses whose patients phiguard could ' +
    'not name from the request, which may include this patient',
  breakglass: 'emergency access procedure, 45 CFR 164.312(a)(2)(ii); audit controls, 45 CFR 164.312(b)',
  breakglassFailed:
    'emergency access procedure, 45 CFR 164.312(a)(2)(ii); log-in monitoring of attempts, 45 CFR 164.308(a)(5)(ii)(C)',
  aibom: 'business associate contracts, 45 CFR 164.502(e) and 164.308(b)(1); inventory for 164.308(a)(1)(ii)(A)',
  baa:
    'disclosure to a business associate only with satisfactory assurance (a BAA), 45 CFR 164.502(e)(1) and ' +
    '164.308(b)(1); impermissible-disclosure risk assessment, 164.402(2)',
} as const;

/**
 * The access report of one patient: every access to the patient in the period (by `requestTime`, the access time),
 * and every access in the period whose patient scope was unresolved (not attributed to any patient), optionally for
 * one agent only. Denied attempts only with `includeDenied`.
 */
export async function accounting(
  input: ReadInput,
  patient: string,
  period: Period,
  opts: { includeDenied?: boolean; agent?: string } = {},
): Promise<Report> {
  const accesses: AuditRow[] = [];
  const unattributed: AuditRow[] = [];
  const keep = (d: DecisionAuditRecord): boolean =>
    inPeriod(d.requestTime, period) &&
    (opts.includeDenied === true || d.decision !== 'deny') &&
    (opts.agent === undefined || d.agent === opts.agent);
  const { stats, generated } = await read(input, [JSON.stringify(patient), '"patientsUnresolved":["'], (r) => {
    if (r.kind !== 'decision' || !keep(r.record)) return;
    const d = r.record;
    if (d.patients.includes(patient)) accesses.push(accessRow(d));
    else if (d.patientsUnresolved.length > 0) unattributed.push(accessRow(d));
  });
  return {
    kind: 'accounting',
    title: `access report for patient ${patient}`,
    regulation: REGULATION.accessReport,
    patient,
    ...(opts.agent !== undefined ? { agent: opts.agent } : {}),
    period,
    timeField: 'requestTime (when the request was made: the access time)',
    generated,
    stats,
    sections: [
      {
        id: 'accesses',
        title: `accesses to patient ${patient}`,
        regulation: REGULATION.accessReport,
        rows: byTime(accesses),
      },
      {
        id: 'unattributed',
        title: 'accesses that could not be attributed to a patient (patient scope unresolved)',
        regulation: REGULATION.unattributed,
        rows: byTime(unattributed),
      },
    ],
  };
}

/**
 * Every break-glass access in the period (the attestation records) and every failed lane attempt (decisions whose
 * verified token tried a class that did not open: `breakGlassAttempts`, or a lane past its window). By `time`.
 */
export async function breakglass(input: ReadInput, period: Period): Promise<Report> {
  const accesses: AuditRow[] = [];
  const failed: AuditRow[] = [];
  const needles = ['"type":"break-glass-attestation"', '"breakGlassAttempts":["', '"reason":"break-glass-expired"'];
  const { stats, generated } = await read(input, needles, (r) => {
    if (r.kind === 'other') {
      const a = r.record;
      if (a['type'] !== 'break-glass-attestation' || !inPeriod(str(a['time']), period)) return;
      accesses.push({
        time: a['time'],
        class: a['class'],
        clinician: a['clinician'],
        agent: a['agent'],
        activatedAt: a['activatedAt'],
        expiresAt: a['expiresAt'],
        interaction: a['interaction'],
        resources: str(a['resources']),
        patients: str(a['patients']),
        overrode: str((a['overrode'] as AuditRow | undefined)?.['rule']),
        requestId: a['requestId'],
      });
      return;
    }
    const d = r.record;
    if (d.breakGlassAttempts.length === 0 && d.reason !== 'break-glass-expired') return;
    if (!inPeriod(d.time, period)) return;
    failed.push({
      time: d.time,
      attempts: d.breakGlassAttempts.length > 0 ? d.breakGlassAttempts.join(' ') : `${d.breakGlass}:expired`,
      clinician: d.clinician,
      agent: d.agent,
      principal: d.principal,
      interaction: d.interaction,
      resource: resourceOf(d),
      patients: d.patients.join(' '),
      decision: d.decision,
      rule: d.rule,
      reason: d.reason,
      requestId: d.requestId,
    });
  });
  return {
    kind: 'breakglass',
    title: 'break-glass accesses and failed lane attempts',
    regulation: REGULATION.breakglass,
    period,
    timeField: 'time (when phiguard decided)',
    generated,
    stats,
    sections: [
      { id: 'accesses', title: 'break-glass accesses', regulation: REGULATION.breakglass, rows: byTime(accesses) },
      { id: 'failed', title: 'failed lane attempts', regulation: REGULATION.breakglassFailed, rows: byTime(failed) },
    ],
  };
}

/** Per agent and outside endpoint: the first contact (AI-BOM records) and the allowed and denied decisions. */
export async function aibom(input: ReadInput): Promise<Report> {
  const first = new Map<string, AuditRow>();
  const counts = new Map<string, { allowed: number; denied: number }>();
  const { stats, generated } = await read(input, ['"type":"aibom-first-contact"', '"egress":{'], (r) => {
    if (r.kind === 'decision') {
      const e = r.record.egress;
      if (e === null) return;
      const k = `${r.record.agent}|${e.host}:${str(e.port)}`;
      const c = counts.get(k) ?? { allowed: 0, denied: 0 };
      if (r.record.decision === 'deny') c.denied++;
      else c.allowed++;
      counts.set(k, c);
    } else if (r.record['type'] === 'aibom-first-contact') {
      const k = `${str(r.record['agent'])}|${str(r.record['endpoint'])}`;
      const prev = first.get(k);
      if (!prev || Date.parse(str(r.record['time'])) < Date.parse(str(prev['time']))) first.set(k, r.record);
    }
  });
  const rows = [...first.entries()]
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
  return {
    kind: 'aibom',
    title: 'AI bill of materials: outside endpoints per agent',
    regulation: REGULATION.aibom,
    generated,
    stats,
    sections: [{ id: 'endpoints', title: 'outside endpoints per agent', regulation: REGULATION.aibom, rows }],
  };
}

/**
 * Every outside-egress attempt in the period (by `requestTime`) without active BAA coverage at the moment of
 * contact (`egress.covered` false), whichever rule or lane denied it: the BAA lane, or a policy rule that denied
 * first (the egress record is written for every outside request).
 */
export async function baaViolations(input: ReadInput, period: Period): Promise<Report> {
  const rows: AuditRow[] = [];
  const { stats, generated } = await read(input, ['"covered":false'], (r) => {
    if (r.kind !== 'decision') return;
    const d = r.record;
    const e = d.egress;
    if (e === null || e.covered || !inPeriod(d.requestTime, period)) return;
    rows.push({
      time: d.requestTime,
      agent: d.agent,
      endpoint: `${e.host}:${str(e.port)}`,
      baaStatus: e.reason,
      vendor: e.vendor,
      agreementId: e.agreementId,
      registryVersion: e.registryVersion,
      decision: d.decision,
      deniedBy: d.rule,
      reason: d.reason,
      requestId: d.requestId,
    });
  });
  return {
    kind: 'baa-violations',
    title: 'outside-egress attempts without an active business associate agreement',
    regulation: REGULATION.baa,
    period,
    timeField: 'requestTime (when the request was made)',
    generated,
    stats,
    sections: [
      { id: 'attempts', title: 'attempts without BAA coverage', regulation: REGULATION.baa, rows: byTime(rows) },
    ],
  };
}
