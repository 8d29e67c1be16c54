/**
 * Streams audit JSON lines (one file, several files, or - for stdin) without loading them: each line is first
 * checked with a cheap substring test, and only candidates are parsed. Fast on millions of records.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

export type AuditRow = Record<string, unknown>;

export async function* auditRecords(files: readonly string[], prefilter: (line: string) => boolean): AsyncGenerator<AuditRow> {
  for (const file of files) {
    const input = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 });
    const rl = createInterface({ input, crlfDelay: Infinity });
    for await (const line of rl) {
      if (line === '' || !prefilter(line)) continue;
      try {
        const v: unknown = JSON.parse(line);
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) yield v as AuditRow;
      } catch {
        // A torn last line of a live file is not a record.
      }
    }
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
