/**
 * Reads audit trails (JSON lines, `phiguard.audit/v1`) for the reports: one or more files (replicas, rotated or
 * gzipped ones, or - for stdin), streamed, merged into one sequence in time order, duplicates dropped.
 *
 * - Streaming, grep-like: each file is read in large chunks and searched for the report's needles as bytes
 *   (Buffer.indexOf, as grep does); only lines containing a needle are cut out and JSON-parsed. Every line is still
 *   checked for the frame of a record (it opens with `{"format":"phiguard.audit/v1"` and closes with `}`), so a
 *   file that is not an audit trail, and a truncated or torn line, are found whichever report runs. A selected line
 *   is parsed, and a decision record validated against the field table (authz/model/audit-record.ts).
 * - Strict: a line that is not a record is an error naming the file and line (the CLI exits 2), unless
 *   `skipCorrupt`, where it is counted, and the count printed on stderr and in the report's header.
 * - gzip: a file whose first bytes are the gzip magic (1f 8b, RFC 1952 §2.3.1) is decompressed (zlib), whatever its
 *   name.
 * - Time order across files: the files' streams are merged (k-way, one record of each file in memory) by the
 *   record's `time`, the time it was written, which each replica writes in order.
 * - Duplicates: a selected record seen before (the same decision id; for other records the same line) is dropped
 *   and counted, so a file given twice, or overlapping copies of one, count each decision once.
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DecisionAuditRecordSchema, PhiguardError, type DecisionAuditRecord } from '../../authz/model/index.js';

/** A record as parsed from its JSON line. */
export type AuditRow = Record<string, unknown>;

/** One record of the audit trail: a decision record, validated, or a record of another type, as parsed. */
export type AuditRecord =
  | { readonly kind: 'decision'; readonly record: DecisionAuditRecord }
  | { readonly kind: 'other'; readonly record: AuditRow };

/** What was read, for the report's header. */
export interface ReadStats {
  files: string[];
  /** Lines that are audit records (every record of every file, selected by the report or not). */
  recordsRead: number;
  /** Lines that are not audit records, skipped (only with `skipCorrupt`). */
  linesSkipped: number;
  /** Selected records dropped as duplicates of one read before. */
  duplicatesDropped: number;
}

export interface ReadOptions {
  /** Lines containing one of these (as bytes) are parsed; all lines when empty. */
  needles: readonly string[];
  /** Count and skip lines that are not records instead of failing. */
  skipCorrupt: boolean;
  /** Filled while reading. */
  stats: ReadStats;
  /** Told about each file's skipped lines (the CLI writes them to stderr). */
  onSkipped?: (file: string, count: number, firstLines: readonly number[]) => void;
}

export const newStats = (files: readonly string[]): ReadStats => ({
  files: [...files],
  recordsRead: 0,
  linesSkipped: 0,
  duplicatesDropped: 0,
});

const NL = 0x0a;
const CR = 0x0d;
const CLOSE = 0x7d;
const FRAME = Buffer.from('{"format":"phiguard.audit/v1"');

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
    'unresolvedAllowed' in row &&
    'breakGlassAttempts' in row
  )
    return row;
  return {
    requestTime: row['time'],
    breakGlass: '',
    egress: null,
    exception: '',
    unresolvedAllowed: [],
    breakGlassAttempts: [],
    ...row,
  };
}

/** The record of one line, or undefined for a line that is not one (never throws). */
function parseRecord(line: string): AuditRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const row = v as AuditRow;
  if (typeof row['time'] !== 'string' || Number.isNaN(Date.parse(row['time']))) return undefined;
  if (row['type'] !== 'decision') return { kind: 'other', record: row };
  const d = DecisionAuditRecordSchema.safeParse(withLaterFields(row));
  return d.success ? { kind: 'decision', record: d.data } : undefined;
}

/** The start offsets of the lines (before `end`) containing any needle, ascending. */
function matchingStarts(buf: Buffer, end: number, needles: readonly Buffer[]): number[] {
  const starts = new Set<number>();
  for (const n of needles) {
    let at = buf.indexOf(n, 0);
    while (at !== -1 && at < end) {
      starts.add(buf.lastIndexOf(NL, at) + 1);
      const e = buf.indexOf(NL, at);
      at = e === -1 || e >= end ? -1 : buf.indexOf(n, e + 1);
    }
  }
  return [...starts].sort((a, b) => a - b);
}

/** Whether the line [s, e) has the frame of a record. */
function framed(buf: Buffer, s: number, e: number): boolean {
  let last = e - 1;
  if (buf[last] === CR) last--;
  return (
    last - s + 1 > FRAME.length && buf[last] === CLOSE && buf.compare(FRAME, 0, FRAME.length, s, s + FRAME.length) === 0
  );
}

/** A record with its merge key (its `time`, epoch ms). */
interface Keyed {
  key: number;
  rec: AuditRecord;
}

const BLOCK = 4 << 20;

/**
 * Line-aligned blocks of one input: `[buf, end]` where buf[0, end) holds whole lines (the last block may end in a
 * line without its newline). One buffer is reused (grown only for a line longer than it), so reading does not
 * allocate per chunk; each block must be consumed before the next is asked for. Input starting with the gzip magic
 * is gunzipped.
 */
async function* blocksOf(file: string): AsyncGenerator<[Buffer, number]> {
  let buf = Buffer.allocUnsafe(BLOCK);
  let filled = 0;
  /** Makes room for `n` more bytes. */
  const room = (n: number): void => {
    if (filled + n <= buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(buf.length * 2, filled + n));
    buf.copy(b, 0, 0, filled);
    buf = b;
  };
  /** The block of whole lines so far, if any; the rest moves to the front once the block is consumed. */
  function* cut(min: number): Generator<[Buffer, number]> {
    if (filled < min) return;
    const last = buf.lastIndexOf(NL, filled - 1);
    if (last === -1) return;
    yield [buf, last];
    buf.copy(buf, 0, last + 1, filled);
    filled -= last + 1;
  }
  const gz = (b: Buffer): boolean => b[0] === 0x1f && b[1] === 0x8b;
  if (file !== '-') {
    const fd = openSync(file, 'r');
    try {
      filled = readSync(fd, buf, 0, buf.length, null);
      if (!gz(buf.subarray(0, filled))) {
        for (;;) {
          yield* cut(1);
          room(BLOCK / 2);
          const n = readSync(fd, buf, filled, buf.length - filled, null);
          if (n === 0) break;
          filled += n;
        }
        if (filled > 0) yield [buf, filled];
        return;
      }
      filled = 0;
    } finally {
      closeSync(fd);
    }
  }
  // stdin, and gzip: a stream, copied into the buffer.
  const raw = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: BLOCK });
  const it = (raw as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done === true) return;
  const head = first.value;
  async function* all(): AsyncGenerator<Buffer> {
    yield head;
    for (let r = await it.next(); r.done !== true; r = await it.next()) yield r.value;
  }
  let source: AsyncIterable<Buffer> = all();
  if (gz(head)) {
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    const input = Readable.from(source);
    input.on('error', (e) => gunzip.destroy(e));
    source = input.pipe(gunzip);
  }
  for await (const chunk of source) {
    room(chunk.length);
    chunk.copy(buf, filled);
    filled += chunk.length;
    yield* cut(BLOCK / 2);
  }
  yield* cut(1);
  if (filled > 0) yield [buf, filled];
}

/** The selected records of one file, in file order, in batches (one per chunk read). */
async function* fileRecords(file: string, needles: readonly Buffer[], o: ReadOptions): AsyncGenerator<Keyed[]> {
  let lineNo = 0;
  let skipped = 0;
  const firstSkipped: number[] = [];
  const corrupt = (what = 'not a phiguard.audit/v1 record (a truncated, torn or foreign line)'): void => {
    if (!o.skipCorrupt) {
      throw new PhiguardError(
        'data',
        `${file}:${lineNo}: ${what}; use --skip-corrupt to skip such lines and count them`,
      );
    }
    skipped++;
    if (firstSkipped.length < 10) firstSkipped.push(lineNo);
  };
  /** Lines in [0, end) of buf: every one checked for its frame, the selected ones parsed. */
  const scan = (buf: Buffer, end: number): Keyed[] => {
    const out: Keyed[] = [];
    const selected = needles.length > 0 ? matchingStarts(buf, end, needles) : undefined;
    let m = 0;
    let s = 0;
    while (s < end) {
      let e = buf.indexOf(NL, s);
      if (e === -1 || e > end) e = end;
      lineNo++;
      if (e > s && !(e === s + 1 && buf[s] === CR)) {
        if (!framed(buf, s, e)) corrupt();
        else {
          o.stats.recordsRead++;
          let pick = selected === undefined;
          if (selected !== undefined) {
            while (m < selected.length && (selected[m] ?? end) < s) m++;
            pick = selected[m] === s;
          }
          if (pick) {
            const rec = parseRecord(buf.toString('utf8', s, e));
            if (rec === undefined) {
              o.stats.recordsRead--;
              corrupt();
            } else out.push({ key: Date.parse(rec.record['time'] as string), rec });
          }
        }
      }
      s = e + 1;
    }
    return out;
  };
  try {
    for await (const [buf, end] of blocksOf(file)) yield scan(buf, end);
  } catch (e) {
    if (e instanceof PhiguardError) throw e;
    const code = (e as { code?: string }).code ?? '';
    if (code.startsWith('Z_') || /gzip|zlib|unexpected end/i.test(String(e))) {
      // A truncated or damaged gzip stream: what was read before it stands, the rest is unreadable (one skip).
      lineNo++;
      corrupt(`gzip stream damaged or truncated (${e instanceof Error ? e.message : String(e)})`);
    } else {
      throw new PhiguardError('io', `${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
  o.stats.linesSkipped += skipped;
  if (skipped > 0) o.onSkipped?.(file, skipped, firstSkipped);
}

/** One file's stream, one record at a time (for the merge). */
class Head {
  private batch: Keyed[] = [];
  private i = 0;
  current: Keyed | undefined;
  constructor(private readonly source: AsyncGenerator<Keyed[]>) {}
  async advance(): Promise<void> {
    while (this.i >= this.batch.length) {
      const r = await this.source.next();
      if (r.done === true) {
        this.current = undefined;
        return;
      }
      this.batch = r.value;
      this.i = 0;
    }
    this.current = this.batch[this.i++];
  }
}

const dedupKey = (r: AuditRecord, line: () => string): string =>
  r.kind === 'decision'
    ? `d|${r.record.decisionId}`
    : typeof r.record['decisionId'] === 'string'
      ? `${String(r.record['type'])}|${r.record['decisionId']}`
      : `l|${line()}`;

/**
 * The selected records of all files, merged by time (ties in the order the files were given), each once. Throws a
 * `data` PhiguardError at the first line that is not a record (unless `skipCorrupt`), `io` when a file cannot be
 * read.
 */
export async function* auditRecords(files: readonly string[], o: ReadOptions): AsyncGenerator<AuditRecord> {
  const needles = o.needles.map((n) => Buffer.from(n));
  const heads = files.map((f) => new Head(fileRecords(f, needles, o)));
  // Files are read one after another until each has a head (a file's error surfaces here, in order).
  for (const h of heads) await h.advance();
  const seen = new Set<string>();
  for (;;) {
    let min: Head | undefined;
    for (const h of heads) {
      const c = h.current;
      if (c !== undefined && (min?.current === undefined || c.key < min.current.key)) min = h;
    }
    const next = min?.current;
    if (min === undefined || next === undefined) return;
    await min.advance();
    const k = dedupKey(next.rec, () => JSON.stringify(next.rec.record));
    if (seen.has(k)) {
      o.stats.duplicatesDropped++;
      continue;
    }
    seen.add(k);
    yield next.rec;
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
