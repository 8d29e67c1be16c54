/**
 * Reads audit trails (JSON lines, `phiguard.audit/v1`) for the reports: one or more files (replicas, rotated or
 * gzipped ones, or - for stdin), streamed, merged into one sequence in time order, duplicates dropped.
 *
 * - Streaming, grep-like: each file is read in large blocks (a plain file double-buffered, the next block read while
 *   one is scanned), and one pass over a block (scan-lines.ts, WebAssembly SIMD) finds its lines, checks every line
 *   for the frame of a record (it opens with `{"format":"phiguard.audit/v1"` and closes with `}`) and finds the
 *   lines containing one of the report's needles as bytes; only those are cut out and JSON-parsed. So a file that is
 *   not an audit trail, and a truncated or torn line, are found whichever report runs. A selected line is parsed,
 *   and a decision record validated against the field table (authz/model/audit-record.ts, as decision-record.ts
 *   restates it: the schema's checks without zod).
 * - Strict: a line that is not a record is an error naming the file and line (the CLI exits 2), unless
 *   `skipCorrupt`, where it is counted, and the count printed on stderr and in the report's header.
 * - gzip: a file whose first bytes are the gzip magic (1f 8b, RFC 1952 §2.3.1) is decompressed (zlib), whatever its
 *   name.
 * - Time order across files: the files' streams are merged (k-way, one record of each file in memory) by the
 *   record's `time`, the time it was written, which each replica writes in order.
 * - Duplicates: a selected record seen before (the same decision id; for other records the same line) is dropped
 *   and counted, so a file given twice, or overlapping copies of one, count each decision once.
 */
import { closeSync, createReadStream, openSync, read, readSync } from 'node:fs';
import type { DecisionAuditRecord } from '../../authz/model/index.js';
import { PhiguardError } from '../../authz/model/phiguard-error.js';
import { decisionRecordOf } from './decision-record.js';
import { createLineScanner, type LineScanner } from './scan-lines.js';

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
  /** Bytes read at a time (4 MiB); tests use small blocks to put lines across block boundaries. */
  blockBytes?: number;
}

export const newStats = (files: readonly string[]): ReadStats => ({
  files: [...files],
  recordsRead: 0,
  linesSkipped: 0,
  duplicatesDropped: 0,
});

const NL = 0x0a;

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
  const record = decisionRecordOf(withLaterFields(row));
  return record === undefined ? undefined : { kind: 'decision', record };
}

/** A record with its merge key (its `time`, epoch ms). */
interface Keyed {
  key: number;
  rec: AuditRecord;
}

const BLOCK_BYTES = 4 << 20;

/** A run of whole lines in the scanner's block, block[start, end), ending with a newline. */
interface Lines {
  start: number;
  end: number;
}

/** One read of `length` bytes at `position` into `buf` at `offset`, on libuv's thread pool. */
const readAt = (fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> =>
  new Promise((resolve, reject) =>
    read(fd, buf, offset, length, position, (e, n) => (e === null ? resolve(n) : reject(e))),
  );

/**
 * Line-aligned runs of one plain file, double-buffered: block[0, B) and block[B, 2B) take turns, and while the lines
 * of one are scanned (between a yield and the next call), the next `B` bytes of the file are read into the other. The
 * line a read cuts in two is put together in block[2B, ...) (grown for a line longer than it) and yielded as a run
 * of its own before the lines after it. `first` bytes are already in block[0, first).
 */
async function* doubleBuffered(fd: number, scanner: LineScanner, B: number, first: number): AsyncGenerator<Lines> {
  const S = 2 * B;
  let carry = 0;
  let pending: Promise<number> | undefined;
  /** Appends block[from, to) to the cut line; growing the block waits for the read under way. */
  const stage = async (from: number, to: number): Promise<void> => {
    if (to <= from) return;
    if (S + carry + (to - from) + 1 > scanner.block.length) {
      await pending;
      scanner.reserve(S + carry + (to - from) + 1);
    }
    scanner.block.copy(scanner.block, S + carry, from, to);
    carry += to - from;
  };
  let region = 0;
  let n = first;
  let position = first;
  try {
    while (n > 0) {
      const base = region * B;
      const other = (1 - region) * B;
      pending = readAt(fd, scanner.block, other, B, position);
      // Awaited below; until then (the merge may read other files meanwhile) a failed read is not unhandled.
      pending.catch(() => 0);
      let from = base;
      const to = base + n;
      if (carry > 0) {
        const at = scanner.block.subarray(from, to).indexOf(NL);
        const nl = from + at;
        if (at === -1) {
          await stage(from, to);
          from = to;
        } else {
          await stage(from, nl + 1);
          yield { start: S, end: S + carry };
          carry = 0;
          from = nl + 1;
        }
      }
      if (from < to) {
        const last = from + scanner.block.subarray(from, to).lastIndexOf(NL);
        if (last >= from) {
          yield { start: from, end: last + 1 };
          from = last + 1;
        }
        await stage(from, to);
      }
      n = await pending;
      pending = undefined;
      position += n;
      region = 1 - region;
    }
  } finally {
    // Stopped early (a line that is not a record): the read under way finishes before the file is closed.
    await pending?.catch(() => 0);
  }
  if (carry > 0) {
    scanner.reserve(S + carry + 1);
    scanner.block[S + carry] = NL;
    yield { start: S, end: S + carry + 1 };
  }
}

/**
 * Line-aligned runs of one input, in the scanner's block, each scanned before the next is asked for. A plain file is
 * read double-buffered (above); stdin and gzip (input starting with the gzip magic) are streams, whose chunks are
 * copied into the block one after the other: each yielded run is block[0, end), whole lines ending with a newline (an
 * unterminated last line is given one), one buffer reused (grown only for a line longer than it).
 */
async function* blocksOf(file: string, scanner: LineScanner, blockBytes: number): AsyncGenerator<Lines> {
  let filled = 0;
  const half = Math.max(1, blockBytes >> 1);
  /** Makes room for `n` more bytes. */
  const room = (n: number): void => scanner.reserve(filled + n);
  /** The block of whole lines so far, if any; the rest moves to the front once the block is scanned. */
  function* cut(min: number): Generator<Lines> {
    if (filled < min) return;
    const last = scanner.block.lastIndexOf(NL, filled - 1);
    if (last === -1) return;
    yield { start: 0, end: last + 1 };
    scanner.block.copy(scanner.block, 0, last + 1, filled);
    filled -= last + 1;
  }
  /** What is left: an unterminated last line, given its newline. */
  function* rest(): Generator<Lines> {
    if (filled === 0) return;
    room(1);
    scanner.block[filled] = NL;
    yield { start: 0, end: filled + 1 };
    filled = 0;
  }
  const gz = (b: Buffer): boolean => b[0] === 0x1f && b[1] === 0x8b;
  if (file !== '-') {
    const fd = openSync(file, 'r');
    try {
      // Two blocks and a cut line: reads never grow the block.
      scanner.reserve(3 * blockBytes + 65_536);
      const first = readSync(fd, scanner.block, 0, blockBytes, 0);
      if (!gz(scanner.block.subarray(0, first))) {
        yield* doubleBuffered(fd, scanner, blockBytes, first);
        return;
      }
    } finally {
      closeSync(fd);
    }
  }
  // stdin, and gzip: a stream, copied into the block.
  const raw = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: blockBytes });
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
    // Loaded here, not at start: a report of plain files does without them (a few ms of start-up).
    const [{ Readable }, { createGunzip }] = await Promise.all([import('node:stream'), import('node:zlib')]);
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    const input = Readable.from(source);
    input.on('error', (e) => gunzip.destroy(e));
    source = input.pipe(gunzip);
  }
  for await (const chunk of source) {
    room(chunk.length);
    chunk.copy(scanner.block, filled);
    filled += chunk.length;
    yield* cut(half);
  }
  yield* cut(1);
  yield* rest();
}

/** The selected records of one file, in file order, in batches (one per block read). */
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
  const blockBytes = o.blockBytes ?? BLOCK_BYTES;
  let scanner: LineScanner;
  /** The lines of block[0, end): every one checked for its frame (in the scan), the selected ones parsed. */
  const scan = ({ start, end }: Lines): Keyed[] => {
    const out: Keyed[] = [];
    const buf = scanner.block;
    const base = lineNo;
    let notRecords = 0;
    const { lines, empty } = scanner.scan(
      end,
      (line) => {
        lineNo = base + line.index + 1;
        const rec = line.framed ? parseRecord(buf.toString('utf8', line.start, line.end)) : undefined;
        if (rec === undefined) {
          notRecords++;
          corrupt();
        } else out.push({ key: Date.parse(rec.record['time'] as string), rec });
      },
      start,
    );
    lineNo = base + lines;
    o.stats.recordsRead += lines - empty - notRecords;
    return out;
  };
  try {
    // A block and the start of the next line: a read of blockBytes after a cut fits without growing.
    scanner = createLineScanner(needles, blockBytes + 65_536);
    for await (const lines of blocksOf(file, scanner, blockBytes)) yield scan(lines);
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
