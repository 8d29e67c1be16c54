/**
 * Streams audit JSON lines without splitting every line: the file is read in large chunks and searched for the
 * needles as bytes (Buffer.indexOf, as grep does); only lines that contain a needle are cut out and JSON-parsed.
 * Fast on millions of records. Files, or - for stdin.
 */
import { createReadStream } from 'node:fs';

export type AuditRow = Record<string, unknown>;

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

/** Records whose line contains at least one of `needles` (all records when `needles` is empty). */
export async function* auditRecords(files: readonly string[], needles: readonly string[]): AsyncGenerator<AuditRow> {
  const nb = (needles.length > 0 ? needles : ['{']).map((n) => Buffer.from(n));
  for (const file of files) {
    const input = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 4 << 20 });
    let carry: Buffer = Buffer.alloc(0);
    const flush = function* (buf: Buffer, end: number): Generator<AuditRow> {
      for (const [s, e] of matchingLines(buf, end, nb)) {
        try {
          const v: unknown = JSON.parse(buf.toString('utf8', s, e));
          if (typeof v === 'object' && v !== null && !Array.isArray(v)) yield v as AuditRow;
        } catch {
          // A torn line (live file) is not a record.
        }
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
  }
}

/** `90d`, `24h`, `30m` before `now`, or an ISO time. */
export function parseTime(v: string, now = Date.now()): number {
  const rel = /^(\d+)([dhm])$/.exec(v);
  if (rel?.[1] !== undefined) return now - Number(rel[1]) * (rel[2] === 'd' ? 86_400_000 : rel[2] === 'h' ? 3_600_000 : 60_000);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new Error(`not a time: ${v}`);
  return t;
}
