/**
 * The project's import graph, read with TypeScript's own pre-processor (every static and dynamic import and
 * re-export of every .ts file), for the dependency-boundary rules in boundaries.test.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface ImportEdge {
  /** Importing file, repository-relative with forward slashes. */
  from: string;
  /** Imported file (repository-relative, `.ts`), or the bare package name. */
  to: string;
  /** Whether `to` is a file of this repository. */
  local: boolean;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const rel = (p: string): string => path.relative(process.cwd(), p).split(path.sep).join('/');

/** Every import of every .ts file under the given repository folders. */
export function importGraph(folders: readonly string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of folders.flatMap((f) => tsFiles(f))) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const ref of info.importedFiles) {
      const spec = ref.fileName;
      if (!spec.startsWith('.')) {
        edges.push({ from: rel(file), to: spec, local: false });
        continue;
      }
      const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
      edges.push({ from: rel(file), to: rel(target), local: true });
    }
  }
  return edges;
}

/** The first folder under `authz/` a path is in (`authz/lanes/decide.ts` → `lanes`), or undefined. */
export function authzFolder(p: string): string | undefined {
  const m = /^authz\/([^/]+)\//.exec(p);
  return m?.[1];
}

/** Cycles in a directed graph given as adjacency sets (each cycle once, as a path). */
export function findCycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 'open') cycles.push([...stack.slice(stack.indexOf(m)), m]);
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n);
  return cycles;
}
