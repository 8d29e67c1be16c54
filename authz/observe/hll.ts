/**
 * A HyperLogLog sketch (Flajolet et al. 2007) for distinct patients per hour, so envelopes can record patient-context
 * grouping without storing patient ids, and replicas' envelopes merge exactly (register-wise max is associative,
 * commutative and idempotent). 2^8 registers: ~6.5% standard error, 256 bytes per hour.
 *
 * The values added are keyed digests of patient ids, never the ids or an unkeyed hash of them: a sketch with a public
 * hash function answers "was p-123 seen this hour?" for any candidate id (a membership test with the sketch's
 * false-positive rate), so an envelope that travels to CI would disclose which patients an agent touched.
 */
export const HLL_P = 8;
const M = 1 << HLL_P;

export function hllNew(): Uint8Array {
  return new Uint8Array(M);
}

/**
 * Adds one value, given as its keyed digest (at least 5 bytes; the recorder passes HMAC-SHA256 under the privacy
 * key, privacy/privacy-key.ts): the first byte picks the register (2^8 of them), the next 32 bits give the rank (one
 * plus their leading zeros). The sketch never sees the value itself, so without the key a candidate value cannot be
 * placed in a register and tested against the sketch.
 */
export function hllAdd(regs: Uint8Array, digest: Uint8Array): void {
  const idx = (digest[0] ?? 0) & (M - 1);
  const w = (((digest[1] ?? 0) << 24) | ((digest[2] ?? 0) << 16) | ((digest[3] ?? 0) << 8) | (digest[4] ?? 0)) >>> 0;
  const rank = w === 0 ? 33 : Math.clz32(w) + 1;
  if (rank > (regs[idx] ?? 0)) regs[idx] = rank;
}

export function hllMerge(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(M);
  for (let i = 0; i < M; i++) out[i] = Math.max(a[i] ?? 0, b[i] ?? 0);
  return out;
}

/** Cardinality estimate with the small-range (linear counting) correction. */
export function hllCount(regs: Uint8Array): number {
  let sum = 0;
  let zeros = 0;
  for (let i = 0; i < M; i++) {
    const r = regs[i] ?? 0;
    sum += 2 ** -r;
    if (r === 0) zeros++;
  }
  const alpha = 0.7213 / (1 + 1.079 / M);
  const e = (alpha * M * M) / sum;
  if (e <= 2.5 * M && zeros > 0) return Math.round(M * Math.log(M / zeros));
  return Math.round(e);
}

export const hllEncode = (regs: Uint8Array): string => Buffer.from(regs).toString('base64');

export function hllDecode(s: string): Uint8Array | undefined {
  const b = Buffer.from(s, 'base64');
  return b.length === M ? new Uint8Array(b) : undefined;
}
