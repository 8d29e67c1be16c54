/**
 * A report as text: a table per section under a header (table), one JSON document (json), or one CSV table with a
 * `section` column under `#` header lines (csv). The header always says what the report is, the regulation it
 * serves, its subject and period, when it was generated, and what was read: source files, records read, lines
 * skipped, duplicates dropped.
 */
import type { AuditRow } from './read-audit.js';
import type { Period, Report } from './reports.js';

export type ReportFormat = 'table' | 'json' | 'csv';

const str = (v: unknown): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);

const FAR = 8.64e15;
const since = (p: Period): string => (p.since <= 0 ? 'the beginning of the trail' : new Date(p.since).toISOString());
const until = (p: Period, generated: string): string =>
  p.until >= Number.MAX_SAFE_INTEGER || p.until >= FAR ? `now (${generated})` : new Date(p.until).toISOString();

/** The header as label/value pairs, in order. */
export function headerOf(r: Report): Array<[string, string]> {
  const h: Array<[string, string]> = [
    ['report', `${r.kind}: ${r.title}`],
    ['regulation', r.regulation],
  ];
  if (r.patient !== undefined) h.push(['patient', r.patient]);
  if (r.agent !== undefined) h.push(['agent', r.agent]);
  h.push(['period', r.period ? `${since(r.period)} .. ${until(r.period, r.generated)}` : 'the whole trail']);
  if (r.timeField !== undefined) h.push(['time field', r.timeField]);
  h.push(
    ['generated', r.generated],
    ['source files', r.stats.files.join(', ')],
    ['records read', String(r.stats.recordsRead)],
    ['lines skipped', String(r.stats.linesSkipped)],
    ['duplicates dropped', String(r.stats.duplicatesDropped)],
  );
  return h;
}

function table(rows: readonly AuditRow[]): string {
  if (rows.length === 0) return '(no records)\n';
  const cols = Object.keys(rows[0] ?? {});
  const widths = cols.map((c) => Math.min(60, Math.max(c.length, ...rows.map((r) => str(r[c]).length))));
  const line = (vals: string[]): string =>
    vals
      .map((v, i) => v.slice(0, widths[i]).padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const body = rows.map((r) => line(cols.map((c) => str(r[c]))));
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...body].join('\n') + `\n${rows.length} record(s)\n`;
}

const csvCell = (v: unknown): string => {
  const s = str(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function formatReport(r: Report, format: ReportFormat): string {
  const header = headerOf(r);
  if (format === 'json') {
    const doc = {
      report: r.kind,
      title: r.title,
      regulation: r.regulation,
      ...(r.patient !== undefined ? { patient: r.patient } : {}),
      ...(r.agent !== undefined ? { agent: r.agent } : {}),
      period: r.period
        ? {
            since: r.period.since > 0 ? new Date(r.period.since).toISOString() : null,
            until: r.period.until < Number.MAX_SAFE_INTEGER ? new Date(r.period.until).toISOString() : null,
          }
        : null,
      timeField: r.timeField ?? null,
      generated: r.generated,
      sourceFiles: r.stats.files,
      recordsRead: r.stats.recordsRead,
      linesSkipped: r.stats.linesSkipped,
      duplicatesDropped: r.stats.duplicatesDropped,
      sections: r.sections,
    };
    return `${JSON.stringify(doc, null, 2)}\n`;
  }
  if (format === 'csv') {
    const cols: string[] = [];
    for (const s of r.sections)
      for (const row of s.rows) for (const c of Object.keys(row)) if (!cols.includes(c)) cols.push(c);
    const lines = header.map(([k, v]) => `# ${k}: ${v}`);
    for (const s of r.sections)
      lines.push(`# section ${s.id}: ${s.title} (${s.rows.length} record(s)); ${s.regulation}`);
    lines.push(['section', ...cols].join(','));
    for (const s of r.sections)
      for (const row of s.rows) lines.push([s.id, ...cols.map((c) => csvCell(row[c]))].join(','));
    return `${lines.join('\n')}\n`;
  }
  const w = Math.max(...header.map(([k]) => k.length));
  const out = [...header.map(([k, v]) => `${`${k}:`.padEnd(w + 2)}${v}`), ''];
  for (const s of r.sections) out.push(`== ${s.title}`, `   ${s.regulation}`, table(s.rows));
  return `${out.join('\n')}`;
}

/** Rows as a table, a JSON array or CSV, without a report header (`phiguard status`). */
export function formatRows(rows: readonly AuditRow[], format: ReportFormat): string {
  if (format === 'json') return `${JSON.stringify(rows, null, 2)}\n`;
  if (format === 'csv') {
    const cols = rows[0] ? Object.keys(rows[0]) : [];
    return [cols.join(','), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n';
  }
  return table(rows);
}
