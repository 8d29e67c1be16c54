/**
 * Streams audit JSON lines without splitting every line: the file is read in large chunks and searched for the
 * needles as bytes (Buffer.indexOf, as grep does); only lines that contain a needle are cut out and JSON-parsed.
 * Fast on millions of records. Files, or - for stdin.
 *
 * Decision records are validated against the `phiguard.audit/v1` field table (authz/model/audit-record.ts), so the
 * reports read typed fields; other record types (break-glass attestations, AI-BOM first contacts, containment) are
 * passed on as parsed.
 */
import { createReadStream } from 'node:fs';
import { DecisionAuditRecordSchema, type DecisionAuditRecord } from '../../authz/model/index.js';

/** A record as parsed from its JSON line. */
export type AuditRow = Record<string, unknown>;

/** One record of the audit trail: a decision record, validated, or a record of another type, as parsed. */
export type AuditRecord =
  | { readonly kind: 'decision'; readonly record: DecisionAuditRecord }
  | { readonly kind: 'other'; readonly record: AuditRow };

const NL = 0x0a;

function* matchingLines(buf: Buffer, end: number, needles: readonly Buffer[]): Generator<[number, number]> {
  // Collect the start offsets of lines containing any needle, in order, without duplicates.
  const starts = new Set<number>();
  for (const n of needles) {
    let at = buf.indexOf(n, 0);
    while (at !== -1 && at < end) {
      const s = buf.lastIndexOf(NL, at) + 1;
      starts.add(s);
      const e = buf.indexOf(NL, at);
      at = e === -1 || e >= end ? -1 : buf.indexOf(n, e + 1);
    }
  }
  for (const s of [...starts].sort((a, b) => a - b)) {
    const e = buf.indexOf(NL, s);
    yield [s, e === -1 || e > end ? end : e];
  }
}

/**
 * Fields that `phiguard.audit/v1` decision records gained after the format was first written, with what an older
 * record means by their absence: such records stay readable (an accounting must not silently lose them).
 */
function withLaterFields(row: AuditRow): AuditRow {
  if (
    'requestTime' in row &&
    'breakGlass' in row &&
    'egress' in row &&
    'exception' in row &&
    'unresolvedAllowed' in row
  )
    return row;
  return { requestTime: row['time'], breakGlass: '', egress: null, exception: '', unresolvedAllowed: [], ...row };
}

/**
 * The record of one line, or undefined for a line that is not one: a torn line (a live file), JSON that is not an
 * object, or a decision record that does not match the field table. Never throws.
 */
function parseRecord(line: string): AuditRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const row = v as AuditRow;
  if (row['type'] !== 'decision') return { kind: 'other', record: row };
  const d = DecisionAuditRecordSchema.safeParse(withLaterFields(row));
  return d.success ? { kind: 'decision', record: d.data } : undefined;
}

/**
 * Records whose line contains at least one of `needles` (all records when `needles` is empty), in file order. Lines
 * that are not records (see `parseRecord`) are skipped, and how many is written to stderr per file. Rejects when a
 * file cannot be read.
 */
export async function* auditRecords(files: readonly string[], needles: readonly string[]): AsyncGenerator<AuditRecord> {
  const nb = (needles.length > 0 ? needles : ['{']).map((n) => Buffer.from(n));
  for (const file of files) {
    let skipped = 0;
    const input = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 4 << 20 });
    let carry: Buffer = Buffer.alloc(0);
    const flush = function* (buf: Buffer, end: number): Generator<AuditRecord> {
      for (const [s, e] of matchingLines(buf, end, nb)) {
        const r = parseRecord(buf.toString('utf8', s, e));
        if (r !== undefined) yield r;
        else skipped++;
      }
    };
    for await (const chunk of input as AsyncIterable<Buffer>) {
      const buf = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      const last = buf.lastIndexOf(NL);
      if (last === -1) {
        carry = buf;
        continue;
      }
      yield* flush(buf, last);
      carry = Buffer.from(buf.subarray(last + 1));
    }
    if (carry.length > 0) yield* flush(carry, carry.length);
    // Said, never silent: a report over an input with lines that are not audit records is incomplete.
    if (skipped > 0) process.stderr.write(`phiguard report: ${file}: ${skipped} line(s) skipped (not audit records)\n`);
  }
}

/** `90d`, `24h`, `30m` before `now`, or an ISO time. */
export function parseTime(v: string, now = Date.now()): number {
  const rel = /^(\d+)([dhm])$/.exec(v);
  if (rel?.[1] !== undefined) {
    return now - Number(rel[1]) * (rel[2] === 'd' ? 86_400_000 : rel[2] === 'h' ? 3_600_000 : 60_000);
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new Error(`not a time: ${v}`);
  return t;
}
