/**
 * Loads a policy directory: every `*.yaml` / `*.yml` file but `*.test.yaml` (Kubernetes ConfigMap mounts: the
 * `..data` symlink farm is followed, dot-entries are skipped), multi-document, validated with zod, compiled.
 * Findings name file, line, document and field. A set with any error finding is rejected as a whole: never half a
 * policy.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_FINDING_CODES, parseYamlDocuments, readTextFile } from '../config/index.js';
import { err, hasErrors, ok, PhiguardError, type Finding, type Result } from '../model/index.js';
import { compilePolicies, hashContent, type CompiledPolicySet, type LoadedDocument } from './compile-policy.js';
import { POLICY_FINDING_CODES, type PolicyFindingCode } from './policy-findings.js';
import { AgentPolicySchema } from './schema.js';

/** A loaded policy set, with the warnings its load produced. */
export interface LoadedPolicySet {
  set: CompiledPolicySet;
  warnings: Finding<PolicyFindingCode>[];
}

/** A policy test file (`phiguard test`), kept beside the policies it tests: never a policy. */
export const POLICY_TEST_FILE = /\.test\.ya?ml$/;

/** Lists policy files in a directory (non-recursive, `*.test.yaml` aside), sorted for deterministic order. */
export function listPolicyFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => !f.startsWith('.') && /\.ya?ml$/.test(f) && !POLICY_TEST_FILE.test(f))
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile())
    .sort();
}

/** Parses and validates one file's text: its valid documents, and findings for the others. */
export function parsePolicyText(
  text: string,
  file: string,
): { docs: LoadedDocument[]; findings: Finding<PolicyFindingCode>[] } {
  const { documents, findings } = parseYamlDocuments(text, file, AgentPolicySchema);
  return { docs: documents, findings };
}

function rejected(dir: string, findings: Finding<PolicyFindingCode>[]): PhiguardError {
  return new PhiguardError('policy', `policy directory ${dir} did not load`, { findings });
}

function dirFinding(dir: string, code: PolicyFindingCode, message: string): Finding<PolicyFindingCode> {
  return { code, severity: 'error', file: dir, path: '', message };
}

/**
 * Loads and compiles a directory: the set, or a `policy` error (`io` if the directory is unreadable) carrying every
 * finding.
 */
export function readPolicyDir(dir: string): Result<LoadedPolicySet> {
  let files: string[];
  try {
    files = listPolicyFiles(dir);
  } catch (e) {
    const finding = dirFinding(
      dir,
      CONFIG_FINDING_CODES.unreadable,
      `cannot read policy directory (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
    return err(new PhiguardError('io', `policy directory ${dir} did not load`, { cause: e, findings: [finding] }));
  }
  if (files.length === 0)
    return err(rejected(dir, [dirFinding(dir, POLICY_FINDING_CODES.empty, 'no *.yaml policy files')]));
  const texts: string[] = [];
  const docs: LoadedDocument[] = [];
  const findings: Finding<PolicyFindingCode>[] = [];
  for (const file of files) {
    const text = readTextFile(file);
    if (!text.ok) {
      const message = text.error.findings[0]?.message ?? text.error.message;
      findings.push({ code: CONFIG_FINDING_CODES.unreadable, severity: 'error', file, path: '', message });
      continue;
    }
    texts.push(path.basename(file), text.value);
    const r = parsePolicyText(text.value, file);
    docs.push(...r.docs);
    findings.push(...r.findings);
  }
  const compiled = compilePolicies(docs, hashContent(texts));
  findings.push(...compiled.findings);
  if (hasErrors(findings)) return err(rejected(dir, findings));
  if (compiled.set.agents.length === 0)
    return err(rejected(dir, [dirFinding(dir, POLICY_FINDING_CODES.empty, 'no AgentPolicy documents')]));
  return ok({ set: compiled.set, warnings: findings });
}
