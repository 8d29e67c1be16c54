/**
 * Loads a policy directory: every `*.yaml` / `*.yml` file (Kubernetes ConfigMap mounts: the `..data` symlink
 * farm is followed, dot-entries are skipped), multi-document, validated with zod, compiled. Findings name file,
 * document and field. A set with any error finding is rejected as a whole: never half a policy.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import type { z } from 'zod';
import { AgentPolicySchema } from './schema.js';
import { compilePolicies, hashContent, type CompiledPolicySet, type LoadedDocument } from './compile-policy.js';
import type { Finding } from './finding.js';

export type LoadResult = { ok: true; set: CompiledPolicySet; warnings: Finding[] } | { ok: false; findings: Finding[] };

function zodPath(p: readonly PropertyKey[]): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i === 0 ? '' : '.'}${String(k)}`)).join('');
}

function zodFindings(error: z.ZodError, file: string, document: number): Finding[] {
  return error.issues.map((i) => ({ code: 'schema', severity: 'error' as const, file, document, path: zodPath(i.path), message: i.message }));
}

/** Lists policy files in a directory (non-recursive), sorted for deterministic order. */
export function listPolicyFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => !f.startsWith('.') && /\.ya?ml$/.test(f))
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile())
    .sort();
}

/** Parses and validates one file's text. */
export function parsePolicyText(text: string, file: string): { docs: LoadedDocument[]; findings: Finding[] } {
  const docs: LoadedDocument[] = [];
  const findings: Finding[] = [];
  let raw: unknown[];
  try {
    raw = yaml.loadAll(text, undefined, { filename: file, schema: yaml.CORE_SCHEMA });
  } catch (e) {
    const mark = e instanceof yaml.YAMLException ? ` (line ${e.mark.line + 1}, column ${e.mark.column + 1})` : '';
    const reason = e instanceof yaml.YAMLException ? e.reason : 'unreadable YAML';
    return { docs, findings: [{ code: 'yaml', severity: 'error', file, document: 0, path: '', message: `${reason}${mark}` }] };
  }
  raw.forEach((doc, document) => {
    if (doc === null || doc === undefined) return; // empty document (e.g. trailing ---)
    const parsed = AgentPolicySchema.safeParse(doc);
    if (!parsed.success) findings.push(...zodFindings(parsed.error, file, document));
    else docs.push({ file, document, policy: parsed.data });
  });
  return { docs, findings };
}

/** Loads and compiles a directory. Never throws: unreadable input is a finding. */
export function loadPolicyDir(dir: string): LoadResult {
  let files: string[];
  try {
    files = listPolicyFiles(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    return { ok: false, findings: [{ code: 'unreadable', severity: 'error', file: dir, document: 0, path: '', message: `cannot read policy directory (${code})` }] };
  }
  if (files.length === 0) {
    return { ok: false, findings: [{ code: 'empty', severity: 'error', file: dir, document: 0, path: '', message: 'no *.yaml policy files' }] };
  }
  const texts: string[] = [];
  const docs: LoadedDocument[] = [];
  const findings: Finding[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      findings.push({ code: 'unreadable', severity: 'error', file, document: 0, path: '', message: `cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})` });
      continue;
    }
    texts.push(path.basename(file), text);
    const r = parsePolicyText(text, file);
    docs.push(...r.docs);
    findings.push(...r.findings);
  }
  const compiled = compilePolicies(docs, hashContent(texts));
  findings.push(...compiled.findings);
  const errors = findings.filter((f) => f.severity === 'error');
  if (errors.length > 0) return { ok: false, findings };
  if (compiled.set.agents.length === 0) {
    return { ok: false, findings: [{ code: 'empty', severity: 'error', file: dir, document: 0, path: '', message: 'no AgentPolicy documents' }] };
  }
  return { ok: true, set: compiled.set, warnings: findings };
}
