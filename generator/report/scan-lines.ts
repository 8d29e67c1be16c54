/**
 * The line scan of the reports: finds every line of a block of audit lines, checks each line's frame and finds the
 * lines that contain any of the report's needles, in one pass (scan-lines.wat, WebAssembly SIMD: 64 bytes a step
 * where there is neither a line end nor a needle candidate, 32 bytes a step where there is).
 *
 * Why WebAssembly: the reports must run within 2x of `grep -c` over the same file (issue #17, docs/reports.md).
 * Buffer.indexOf needs one pass over the data per needle, each slower than grep as every needle starts with `"`,
 * the commonest byte of JSON (0.2-0.45 s a needle over the 776 MB benchmark file), and a call per line to find the
 * line ends (0.13 s with the frame check), where a whole report should take well under a second. The scan checks
 * what a per-line reading checks: every line, selected or not, is either empty or has the frame of a record (it
 * opens with `{"format":"phiguard.audit/v1"` and closes with `}`, before an optional carriage return), and a line
 * is selected exactly when one of the needles occurs in it (a probe hit is compared in full).
 *
 * The block lives in the module's memory: the caller writes its bytes into `block` (read straight from the file,
 * no copy) and calls `scan`.
 */
import { SCAN_LINES_WASM } from './scan-lines-wasm.js';

/** At most this many needles, each at most `MAX_NEEDLE` bytes, none holding a newline. */
export const MAX_NEEDLES = 4;
export const MAX_NEEDLE = 64;
/** The frame of a record line (docs/reports.md, "Input"). */
export const FRAME = '{"format":"phiguard.audit/v1"';

/** A line the scan reports: one that fails the frame check, or a selected one. */
export interface ScannedLine {
  /** Offsets in the block: the line is [start, end), end is its newline. */
  start: number;
  end: number;
  /** The line's number within this scan call, from 0 (empty lines count). */
  index: number;
  /** Whether it has the frame of a record; a line without it is reported whether selected or not. */
  framed: boolean;
}

export interface LineScanner {
  /** Where the bytes to scan go, from offset 0; a new Buffer after `reserve` grows it. */
  readonly block: Buffer;
  /** Grows `block` to at least `bytes`, keeping its content. */
  reserve(bytes: number): void;
  /**
   * Scans block[start, end) (start 0 unless given, the start of a line), whose last byte must be a newline (end an
   * unterminated last line with one). Calls `each` for every line without the frame and every selected line, in
   * order (offsets in `block`); returns the number of lines (empty ones included) and of empty lines (nothing, or a
   * carriage return). Throws a RangeError when block[end - 1] is not a newline, and what `each` throws.
   */
  scan(end: number, each: (line: ScannedLine) => void, start?: number): { lines: number; empty: number };
}

// Memory layout: the configuration, the needles' bytes, the output (3 x i32 per line), then the block.
const CFG = 0;
const NEEDLE_BYTES = 512;
const OUT = NEEDLE_BYTES + MAX_NEEDLES * MAX_NEEDLE;
const OUT_LINES = 4096;
const BLOCK = OUT + OUT_LINES * 12;
/** Readable bytes after the block: the scan's 16-byte loads at a needle's probe offset run past its end. */
const SLACK = 256;
const PAGE = 65_536;

/**
 * A decision record as the writer writes one (every field, typical values): how often a byte occurs in it is how
 * common the probes consider that byte in audit lines.
 */
const TYPICAL_LINE =
  '{"format":"phiguard.audit/v1","type":"decision","time":"2026-11-25T10:00:00.123Z",' +
  '"requestTime":"2026-11-25T09:59:59.999Z","decisionId":"5f0c7a2e-3b1d-4c8e-9a6f-2d7b1e0c4a93",' +
  '"requestId":"c2a4e6f8-1b3d-4f5a-8c7e-9d0b2a4c6e8f","agent":"ambient-scribe",' +
  '"principal":"spiffe://cluster.local/ns/scribe/sa/ambient-scribe","clinician":"Practitioner/dr-a",' +
  '"authSource":"jwt_authn","method":"GET","host":"fhir.hospital.internal","interaction":"search-type",' +
  '"resourceType":"Observation","resourceId":"","operation":"","compartment":"Patient/p-1","patients":["p-1"],' +
  '"patientsUnresolved":[],"entries":[],"invalidReason":"","decision":"allow","reason":"rule-allow",' +
  '"rule":"read-chart","mode":"enforce","status":200,"policyVersion":"sha256:9f86d081884c7d65","latencyUs":137,' +
  '"breakGlass":"","egress":null,"exception":"","unresolvedAllowed":[],"breakGlassAttempts":[],' +
  '"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","decidedBy":"service","reportedBy":""}';

let byteCounts: Uint32Array | undefined;

/**
 * How common a byte is in audit JSON lines (its count in `TYPICAL_LINE`; lower is rarer): the probes of a needle are
 * its two rarest bytes, so that a probe hit is seldom a false candidate (each candidate is compared in full, which
 * costs more than the probe). Only speed depends on it; every candidate is verified.
 */
function commonness(c: number): number {
  if (byteCounts === undefined) {
    byteCounts = new Uint32Array(256);
    for (const b of Buffer.from(TYPICAL_LINE)) byteCounts[b] = (byteCounts[b] ?? 0) + 1;
  }
  return byteCounts[c] ?? 0;
}

/** The probe offsets of a needle: its rarest byte (the last of equals), and the rarest other byte farthest from it. */
export function probesOf(needle: Buffer): [number, number] {
  const common = (i: number): number => commonness(needle[i] ?? 0);
  let a = 0;
  for (let i = 1; i < needle.length; i++) if (common(i) <= common(a)) a = i;
  let b = a;
  for (let i = 0; i < needle.length; i++) {
    if (i === a) continue;
    const better = b === a || common(i) < common(b);
    const asGoodFarther = common(i) === common(b) && Math.abs(i - a) > Math.abs(b - a);
    if (better || asGoodFarther) b = i;
  }
  return [a, b];
}

/** The parts of the WebAssembly JS API the scanner uses (tsconfig's lib has no DOM, where its types live). */
interface ScanModule {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  readonly lines: { readonly value: number };
  readonly empty: { readonly value: number };
  readonly emitted: { readonly value: number };
  scan(cfg: number, start: number, end: number, out: number, outEnd: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: object | undefined;

/**
 * A scanner for these needles (bytes); with none, every line is selected. Throws a RangeError for more than
 * `MAX_NEEDLES` needles, an empty one, one longer than `MAX_NEEDLE` bytes or one holding a newline, and an Error
 * when the process has no WebAssembly.
 */
export function createLineScanner(needles: readonly Buffer[], initialBytes = 6 << 20): LineScanner {
  if (needles.length > MAX_NEEDLES) throw new RangeError(`at most ${MAX_NEEDLES} needles`);
  for (const n of needles) {
    if (n.length === 0 || n.length > MAX_NEEDLE || n.includes(0x0a)) {
      throw new RangeError(`a needle is 1-${MAX_NEEDLE} bytes without a newline`);
    }
  }
  // Absent under `node --jitless`: the reports cannot scan without it.
  if (wasmApi === undefined) throw new Error('the report scan needs WebAssembly, which this Node process lacks');
  compiled ??= new wasmApi.Module(Buffer.from(SCAN_LINES_WASM, 'base64'));
  const wasm = new wasmApi.Instance(compiled, {}).exports as ScanModule;
  let capacity = 0;
  let mem = Buffer.alloc(0);
  let block = Buffer.alloc(0);
  const reserve = (bytes: number): void => {
    if (bytes <= capacity) return;
    const need = BLOCK + bytes + SLACK;
    const pages = Math.ceil(need / PAGE) - wasm.memory.buffer.byteLength / PAGE;
    if (pages > 0) wasm.memory.grow(pages);
    mem = Buffer.from(wasm.memory.buffer);
    capacity = mem.length - BLOCK - SLACK;
    block = mem.subarray(BLOCK, BLOCK + capacity);
  };
  reserve(initialBytes);

  mem.write(FRAME, CFG, 'latin1');
  mem.writeInt32LE(needles.length, CFG + 96);
  mem.writeInt32LE(needles.length === 0 ? 1 : 0, CFG + 100);
  needles.forEach((n, k) => {
    const at = NEEDLE_BYTES + k * MAX_NEEDLE;
    const [a, b] = probesOf(n);
    n.copy(mem, at);
    mem.writeInt32LE(at, CFG + 128 + k * 16);
    mem.writeInt32LE(n.length, CFG + 132 + k * 16);
    mem.writeInt32LE(a, CFG + 136 + k * 16);
    mem.writeInt32LE(b, CFG + 140 + k * 16);
    mem.fill(n[a] ?? 0, CFG + 192 + k * 16, CFG + 208 + k * 16);
    mem.fill(n[b] ?? 0, CFG + 256 + k * 16, CFG + 272 + k * 16);
    // For the check of a candidate: the first 16 bytes (zeros after a shorter needle), their mask, the last 16.
    mem.fill(0, CFG + 320 + k * 16, CFG + 336 + k * 16);
    n.copy(mem, CFG + 320 + k * 16, 0, Math.min(16, n.length));
    mem.fill(0, CFG + 384 + k * 16, CFG + 400 + k * 16);
    mem.fill(0xff, CFG + 384 + k * 16, CFG + 384 + k * 16 + Math.min(16, n.length));
    if (n.length > 16) n.copy(mem, CFG + 448 + k * 16, n.length - 16);
  });

  const scan = (end: number, each: (line: ScannedLine) => void, start = 0): { lines: number; empty: number } => {
    if (end <= start) return { lines: 0, empty: 0 };
    if (start < 0 || end > capacity || block[end - 1] !== 0x0a) throw new RangeError('a block ends with a newline');
    let lines = 0;
    let empty = 0;
    for (let at = BLOCK + start; at < BLOCK + end;) {
      const base = lines;
      at = wasm.scan(CFG, at, BLOCK + end, OUT, OUT + OUT_LINES * 12);
      lines += wasm.lines.value;
      empty += wasm.empty.value;
      const n = wasm.emitted.value;
      // `each` may grow the memory only through reserve, which is not called during a scan: the view stays valid.
      for (let i = 0; i < n; i++) {
        const o = OUT + i * 12;
        const tag = mem.readInt32LE(o + 8);
        each({
          start: mem.readInt32LE(o) - BLOCK,
          end: mem.readInt32LE(o + 4) - BLOCK,
          index: base + (tag >>> 1),
          framed: (tag & 1) === 0,
        });
      }
    }
    return { lines, empty };
  };

  return {
    get block() {
      return block;
    },
    reserve,
    scan,
  };
}
