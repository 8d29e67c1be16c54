/** Reads `@file` / `-` (stdin) / literal arguments for CLI flags. */
import { readFileSync } from 'node:fs';

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
