/** Reads `@file` / `-` (stdin) / literal arguments for CLI flags, and JSON inputs with errors that say where. */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { PhiguardError } from '../authz/model/index.js';

export function readArg(value: string): string {
  if (value === '-') return readFileSync(0, 'utf8');
  if (value.startsWith('@')) return readFileSync(value.slice(1), 'utf8');
  return value;
}

/** commander argParser for a repeatable option: every occurrence is collected, in order. */
export const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** commander argParser for a comma-separated, repeatable option: the trimmed, non-empty items of every occurrence. */
export const list = (v: string, prev: string[] | undefined): string[] => [
  ...(prev ?? []),
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

/** Where an argument's text comes from, for messages: `--claims`, `--claims @file.json`, `<stdin>`. */
function sourceOf(flag: string, value: string): string {
  if (value === '-') return `${flag} (stdin)`;
  return value.startsWith('@') ? `${flag} ${value}` : flag;
}

/** Parses JSON text; a syntax error names the input (`what`) and the position. */
export function parseJsonInput(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const message = e instanceof Error ? e.message : 'not JSON';
    throw new PhiguardError('usage', `${what}: not valid JSON: ${message}`);
  }
}

/** A JSON file, parsed and validated; errors name the file, and the field for a schema mismatch. */
export function readJsonFile<T>(file: string, schema: z.ZodType<T>, kind: string): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PhiguardError('io', `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const parsed = schema.safeParse(parseJsonInput(text, file));
  if (parsed.success) return parsed.data;
  const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new PhiguardError('usage', `${file}: not ${kind}: ${where}`);
}

/** A flag's JSON argument (literal, `@file` or `-`), parsed and validated; errors name the flag. */
export function readJsonArg<T>(flag: string, value: string, schema: z.ZodType<T>, kind: string): T {
  const what = sourceOf(flag, value);
  const parsed = schema.safeParse(parseJsonInput(readArg(value), what));
  if (parsed.success) return parsed.data;
  const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new PhiguardError('usage', `${what}: not ${kind}: ${where}`);
}
