/**
 * The keys a zod object schema accepts at a path, and the one an unknown key was most likely meant to be: an
 * unknown-key error then says `did you mean "description"?`.
 */
import type { z } from 'zod';

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  in?: z.ZodType;
  valueType?: z.ZodType;
  getter?: () => z.ZodType;
}

const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schemas at `path` (a union can hold several): wrappers unwrapped, objects, arrays and records followed. */
function schemasAt(schema: z.ZodType, path: readonly PropertyKey[], depth = 0): z.ZodType[] {
  if (depth > 64) return [];
  const d = defOf(schema);
  const inner = d.innerType ?? d.in ?? d.getter?.();
  if (inner !== undefined && d.type !== 'object' && d.type !== 'array') return schemasAt(inner, path, depth + 1);
  if (d.type === 'union') return (d.options ?? []).flatMap((o) => schemasAt(o, path, depth + 1));
  if (path.length === 0) return [schema];
  const [head, ...rest] = path;
  if (d.type === 'object' && typeof head === 'string') {
    const next = d.shape?.[head];
    return next === undefined ? [] : schemasAt(next, rest, depth + 1);
  }
  if (d.type === 'array' && typeof head === 'number' && d.element !== undefined)
    return schemasAt(d.element, rest, depth + 1);
  if (d.type === 'record' && d.valueType !== undefined) return schemasAt(d.valueType, rest, depth + 1);
  return [];
}

/** Every key the object schema(s) at `path` accept. */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const keys = new Set<string>();
  for (const s of schemasAt(schema, path)) for (const k of Object.keys(defOf(s).shape ?? {})) keys.add(k);
  return [...keys];
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions), case-insensitive. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) => [i, ...Array<number>(y.length).fill(0)]);
  for (let j = 1; j <= y.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1])
        row[j] = Math.min(row[j] ?? 0, ((d[i - 2] as number[])[j - 2] ?? 0) + 1);
    }
  }
  return (d[x.length] as number[])[y.length] ?? Infinity;
}

/** The known key closest to `key`, if it is close enough to be a typo (at most 2 edits, and under a third of it). */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const dist = distance(key, k);
    if (dist < bestDistance) {
      best = k;
      bestDistance = dist;
    }
  }
  return bestDistance <= Math.min(2, Math.ceil(key.length / 3)) ? best : undefined;
}
