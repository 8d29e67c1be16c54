/**
 * docs/configuration.md's table names every `phiguard serve` option of the command definition with its environment
 * variable, and no option the command lacks. (docs/cli.md is generated from the same definition; this table groups
 * and explains the options, so it is written by hand and held here.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { buildCli } from '../../generator/cli.js';

const serve = buildCli().commands.find((c) => c.name() === 'serve');
const options = (serve?.options ?? []).filter((o) => o.envVar !== undefined);

/** The table's rows as [flags, env vars]; `_URI` after `PHIGUARD_JWKS_FILE` is `PHIGUARD_JWKS_URI`. */
function rows(): Array<[string[], string[]]> {
  const doc = readFileSync('docs/configuration.md', 'utf8');
  return [...doc.matchAll(/^\| (`--[^|]*) \| ([^|]*) \|/gm)].map((m) => {
    const flags = [...(m[1] ?? '').matchAll(/`(--[a-z0-9-]+)`/g)].map((f) => f[1] ?? '');
    const names = [...(m[2] ?? '').matchAll(/`([A-Z0-9_]+)`/g)].map((e) => e[1] ?? '');
    const first = names[0] ?? '';
    const env = names.map((n) => (n.startsWith('_') ? first.replace(/_[A-Z0-9]+$/, n) : n));
    return [flags, env];
  });
}

describe('docs/configuration.md', () => {
  test('the serve command has options with environment variables (the table is compared with something)', () => {
    expect(options.length).toBeGreaterThan(20);
  });

  test('every serve option is in the table with its environment variable', () => {
    const table = rows();
    const missing = options
      .filter((o) => !table.some(([flags, env]) => flags.includes(o.long ?? '') && env.includes(o.envVar ?? '')))
      .map((o) => `${o.long ?? ''} (${o.envVar ?? ''})`);
    expect(missing).toEqual([]);
  });

  test('the table names no option serve lacks', () => {
    const known = new Set(options.map((o) => o.long));
    expect(rows().flatMap(([flags]) => flags.filter((f) => !known.has(f)))).toEqual([]);
  });
});
