/**
 * Reads the manifests `phiguard check` looks at: files, folders (recursive *.yaml, *.yml, *.json) and stdin;
 * multi-document YAML as kubectl, Helm and Kustomize render it. Every document keeps its file and can locate a field
 * path to a line, so findings point at the line.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { CONFIG_FINDING_CODES, type ConfigFindingCode } from '../../authz/config/index.js';
import type { Finding } from '../../authz/model/index.js';

export interface ManifestDoc {
  file: string;
  /** Document index in the file (0-based). */
  index: number;
  /** Line (1-based) where the document starts. */
  line: number;
  value: Record<string, unknown>;
  /** The line of a field path inside this document (falls back to the document's line). */
  lineOf(pathParts: ReadonlyArray<string | number>): number;
}

/** An input that cannot be read (a problem: exit 2, not a finding about the cluster). */
function unreadable(file: string, e: unknown): Finding<ConfigFindingCode> {
  const message = `cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
  return { code: CONFIG_FINDING_CODES.unreadable, severity: 'error', file, path: '', message };
}

function listFiles(p: string): string[] {
  const st = statSync(p);
  if (!st.isDirectory()) return [p];
  return readdirSync(p)
    .filter((f) => !f.startsWith('.') && f !== 'node_modules')
    .sort()
    .flatMap((f) => {
      const full = path.join(p, f);
      return statSync(full).isDirectory() ? listFiles(full) : /\.(ya?ml|json)$/.test(f) ? [full] : [];
    });
}

export function parseManifestText(
  text: string,
  file: string,
): { docs: ManifestDoc[]; problems: Finding<ConfigFindingCode>[] } {
  const lc = new LineCounter();
  const docs: ManifestDoc[] = [];
  const problems: Finding<ConfigFindingCode>[] = [];
  const parsed: Document.Parsed[] = parseAllDocuments(text, {
    lineCounter: lc,
    uniqueKeys: false,
  }) as Document.Parsed[];
  parsed.forEach((doc, index) => {
    const start = doc.range[0];
    const line = lc.linePos(start).line;
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const message = `YAML: ${e?.message.split('\n')[0] ?? 'invalid'}`;
      problems.push({
        code: CONFIG_FINDING_CODES.yaml,
        severity: 'error',
        file,
        line: e ? lc.linePos(e.pos[0]).line : line,
        document: index,
        path: '',
        message,
      });
      return;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    if (typeof value !== 'object' || Array.isArray(value)) return;
    docs.push({
      file,
      index,
      line: doc.contents ? lc.linePos(doc.contents.range?.[0] ?? start).line : line,
      value: value as Record<string, unknown>,
      lineOf(parts) {
        // A key's own line (a map-valued field's value starts on the next one), then the nearest existing ancestor.
        const last = parts[parts.length - 1];
        const parent: unknown = parts.length > 0 ? doc.getIn(parts.slice(0, -1), true) : undefined;
        if (isMap(parent) && last !== undefined) {
          const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
          if (pair && isScalar(pair.key) && pair.key.range) return lc.linePos(pair.key.range[0]).line;
        }
        for (let n = parts.length; n > 0; n--) {
          const node = doc.getIn(parts.slice(0, n), true) as { range?: [number, number, number] } | undefined;
          if (node && typeof node === 'object' && Array.isArray(node.range)) return lc.linePos(node.range[0]).line;
        }
        return this.line;
      },
    });
  });
  return { docs, problems };
}

/** Reads every input. Unreadable inputs are problems (exit 2), not findings. */
export function readManifests(inputs: readonly string[]): {
  docs: ManifestDoc[];
  problems: Finding<ConfigFindingCode>[];
} {
  const docs: ManifestDoc[] = [];
  const problems: Finding<ConfigFindingCode>[] = [];
  for (const input of inputs) {
    let files: string[];
    try {
      files = input === '-' ? ['-'] : listFiles(input);
    } catch (e) {
      problems.push(unreadable(input, e));
      continue;
    }
    for (const f of files) {
      let text: string;
      try {
        text = readFileSync(f === '-' ? 0 : f, 'utf8');
      } catch (e) {
        problems.push(unreadable(f, e));
        continue;
      }
      const r = parseManifestText(text, f === '-' ? '<stdin>' : f);
      docs.push(...r.docs);
      problems.push(...r.problems);
    }
  }
  // A List (kubectl get -o yaml) holds documents in items.
  const expanded: ManifestDoc[] = [];
  for (const d of docs) {
    if (d.value['kind'] === 'List' && Array.isArray(d.value['items'])) {
      (d.value['items'] as unknown[]).forEach((item, i) => {
        if (typeof item === 'object' && item !== null)
          expanded.push({ ...d, value: item as Record<string, unknown>, lineOf: (p) => d.lineOf(['items', i, ...p]) });
      });
    } else {
      expanded.push(d);
    }
  }
  return { docs: expanded, problems };
}
