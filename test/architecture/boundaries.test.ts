/**
 * Dependency boundaries (docs/architecture.md), checked on every import of every source file:
 * the runtime never imports the toolchain, the model imports nothing of ours, the decision imports no transport,
 * transport decides nothing, folders talk through their index, and no two authz folders depend on each other.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { authzFolder, findCycles, importGraph, type ImportEdge } from './import-graph.js';

const edges = importGraph(['authz', 'generator', 'bench', 'scripts', 'proto']).filter((e) => e.local);
const inFolder = (p: string, folder: string): boolean => p.startsWith(`${folder}/`);
const show = (es: readonly ImportEdge[]): string[] => es.map((e) => `${e.from} -> ${e.to}`);

/** The top two path segments of a file under authz/ or generator/ (`authz/lanes`), its "folder". */
function folderOf(p: string): string | undefined {
  const m = /^((?:authz|generator)\/[^/]+)\//.exec(p);
  return m?.[1];
}

/**
 * Files inside a folder that the toolchain may import by name, each with why (docs/architecture.md). A type-only
 * import goes through the index like any other: it loads nothing.
 */
const BY_NAME: ReadonlyMap<string, string> = new Map([
  [
    'authz/model/phiguard-error.ts',
    'the error type alone: `phiguard report` and the CLI entry start without the model index, which loads zod',
  ],
]);
const byName = (e: ImportEdge): boolean => inFolder(e.from, 'generator') && BY_NAME.has(e.to);

const RULES: ReadonlyArray<[name: string, violates: (e: ImportEdge) => boolean]> = [
  [
    'the runtime (authz/) never imports the toolchain, benchmarks, scripts or tests',
    (e) => inFolder(e.from, 'authz') && !inFolder(e.to, 'authz') && !inFolder(e.to, 'proto'),
  ],
  [
    'the model (authz/model/) imports nothing of ours outside itself',
    (e) => inFolder(e.from, 'authz/model') && !inFolder(e.to, 'authz/model'),
  ],
  [
    'the decision (authz/lanes/, authz/effects/) imports no transport or service',
    (e) =>
      (inFolder(e.from, 'authz/lanes') || inFolder(e.from, 'authz/effects')) &&
      (inFolder(e.to, 'authz/transport') || inFolder(e.to, 'authz/service')),
  ],
  [
    'transport (authz/transport/) imports only the model and the protos: bytes in, bytes out',
    (e) =>
      inFolder(e.from, 'authz/transport') &&
      !inFolder(e.to, 'authz/transport') &&
      !inFolder(e.to, 'authz/model') &&
      !inFolder(e.to, 'proto'),
  ],
  [
    "an import from another folder goes through that folder's index.ts",
    (e) => {
      const a = folderOf(e.from);
      const b = folderOf(e.to);
      const throughRootIndex = e.to === 'authz/index.ts';
      return b !== undefined && a !== b && !throughRootIndex && !e.to.endsWith(`${b}/index.ts`) && !byName(e);
    },
  ],
  [
    'the toolchain, benchmarks and scripts reach authz/ only through an index',
    (e) => !inFolder(e.from, 'authz') && inFolder(e.to, 'authz') && !e.to.endsWith('/index.ts') && !byName(e),
  ],
];

describe('dependency boundaries', () => {
  test.each(RULES)('%s', (_name, violates) => {
    expect(show(edges.filter(violates))).toEqual([]);
  });

  test('no cycle between authz folders', () => {
    const graph = new Map<string, Set<string>>();
    for (const e of edges) {
      const a = authzFolder(e.from);
      const b = authzFolder(e.to);
      if (a === undefined || b === undefined || a === b) continue;
      graph.set(a, (graph.get(a) ?? new Set()).add(b));
    }
    expect(findCycles(graph)).toEqual([]);
  });

  test('the authz root holds only the public index', () => {
    const rootFiles = edges.map((e) => e.from).filter((f) => /^authz\/[^/]+\.ts$/.test(f));
    expect([...new Set(rootFiles)]).toEqual(['authz/index.ts']);
  });

  test('no `export *` in the sources (each index names what it exports)', () => {
    const files = [...new Set(edges.map((e) => e.from))];
    expect(files.filter((f) => /^\s*export \*/m.test(readFileSync(f, 'utf8')))).toEqual([]);
  });
});
