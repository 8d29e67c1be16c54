/**
 * Reading phiguard's YAML inputs (agent policies, the BAA registry, egress credentials, envelopes, expectations):
 * parse with the `yaml` package (YAML 1.2 core schema: `yes` stays a string, dates stay strings, duplicate keys are
 * errors), validate every document with its zod schema, and locate every problem by file, line, document and field.
 * Never throws: an unreadable file or an invalid document is a finding.
 */
import { readFileSync } from 'node:fs';
import { isNode, LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { z } from 'zod';
import { closestKey, keysAt } from './schema-keys.js';
import {
  err,
  formatFieldPath,
  formatFinding,
  hasErrors,
  ok,
  PhiguardError,
  type ErrorCode,
  type Finding,
  type Result,
} from '../model/index.js';

/** The codes this reader emits. */
export const CONFIG_FINDING_CODES = {
  /** Not valid YAML (syntax, duplicate keys, alias bombs). */
  yaml: 'yaml',
  /** Valid YAML that the schema rejects. */
  schema: 'schema',
  /** The file (or directory) cannot be read. */
  unreadable: 'unreadable',
  /** A single-document input holds none, or several. */
  documentCount: 'document-count',
} as const;
export type ConfigFindingCode = (typeof CONFIG_FINDING_CODES)[keyof typeof CONFIG_FINDING_CODES];

/** One valid document of a YAML file. */
export interface YamlDocument<T> {
  value: T;
  file: string;
  /** 0-based index among the file's documents (empty documents count). */
  document: number;
  /** 1-based line where the document's content starts. */
  line: number;
  /** The line of a field path inside the document (its nearest existing ancestor's line if it is absent). */
  lineOf(path: ReadonlyArray<string | number>): number;
}

/** Aliases expanded per document at most: a "billion laughs" input is a finding, not an out-of-memory. */
const MAX_ALIAS_COUNT = 100;

function lineOfNode(doc: Document.Parsed, lc: LineCounter, keys: ReadonlyArray<string | number>): number {
  for (let n = keys.length; n > 0; n--) {
    const node: unknown = doc.getIn(keys.slice(0, n), true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return lc.linePos(doc.contents?.range?.[0] ?? doc.range[0]).line;
}

/** zod's message, with the intended key for an unknown one that is a near miss (`did you mean "description"?`). */
function issueMessage(i: z.core.$ZodIssue, schema: z.ZodType): string {
  if (i.code !== 'unrecognized_keys') return i.message;
  const known = keysAt(schema, i.path);
  const hints = i.keys.flatMap((k) => {
    const near = closestKey(k, known);
    return near === undefined ? [] : [`"${k}": did you mean "${near}"?`];
  });
  return hints.length === 0 ? i.message : `${i.message} (${hints.join('; ')})`;
}

function schemaFindings(
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
  doc: Document.Parsed,
  lc: LineCounter,
  at: Omit<Finding, 'code' | 'severity' | 'path' | 'message' | 'line'>,
): Finding<ConfigFindingCode>[] {
  return issues.map((i) => {
    const keys = i.path.filter((k): k is string | number => typeof k !== 'symbol');
    // An unknown key is reported on its object; its own line is where the typo is.
    const lineKeys = i.code === 'unrecognized_keys' && i.keys[0] !== undefined ? [...keys, i.keys[0]] : keys;
    return {
      code: CONFIG_FINDING_CODES.schema,
      severity: 'error',
      ...at,
      line: lineOfNode(doc, lc, lineKeys),
      path: formatFieldPath(i.path),
      message: issueMessage(i, schema),
    };
  });
}

/** A parser error's first line: `<what> at line L, column C` (the excerpt that follows is dropped). */
function yamlMessage(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/:$/, '');
}

/**
 * Every document of a YAML text, each validated against `schema`: the valid documents, and findings (with file,
 * line, document and field path) for the others. Empty documents (a trailing `---`) are skipped.
 */
export function parseYamlDocuments<T>(
  text: string,
  file: string,
  schema: z.ZodType<T>,
): { documents: YamlDocument<T>[]; findings: Finding<ConfigFindingCode>[] } {
  const lc = new LineCounter();
  const documents: YamlDocument<T>[] = [];
  const findings: Finding<ConfigFindingCode>[] = [];
  parseAllDocuments(text, { lineCounter: lc, prettyErrors: true }).forEach((doc, document) => {
    const first = doc.errors[0];
    const yamlError = (line: number, message: string): void => {
      findings.push({ code: CONFIG_FINDING_CODES.yaml, severity: 'error', file, line, document, path: '', message });
    };
    if (first) {
      yamlError(first.linePos?.[0].line ?? lc.linePos(first.pos[0]).line, yamlMessage(first.message));
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      yamlError(lc.linePos(doc.range[0]).line, yamlMessage(e instanceof Error ? e.message : 'unreadable YAML'));
      return;
    }
    if (value === null || value === undefined) return;
    const parsed = schema.safeParse(value);
    if (!parsed.success) findings.push(...schemaFindings(parsed.error.issues, schema, doc, lc, { file, document }));
    else {
      const line = lc.linePos(doc.contents?.range?.[0] ?? doc.range[0]).line;
      documents.push({ value: parsed.data, file, document, line, lineOf: (path) => lineOfNode(doc, lc, path) });
    }
  });
  return { documents, findings };
}

/** The error for an input that did not validate: every finding, one per line, in the message as well. */
export function invalidInput(code: ErrorCode, findings: readonly Finding[]): PhiguardError {
  return new PhiguardError(code, findings.map(formatFinding).join('\n'), { findings });
}

/** A YAML text that must hold exactly one document, validated. `code` names the failure (default `config`). */
export function readYamlDocument<T>(
  text: string,
  file: string,
  schema: z.ZodType<T>,
  code: ErrorCode = 'config',
): Result<T> {
  const { documents, findings } = parseYamlDocuments(text, file, schema);
  if (hasErrors(findings)) return err(invalidInput(code, findings));
  const [only, second] = documents;
  if (only === undefined || second !== undefined) {
    const message =
      only === undefined ? 'no YAML document' : `${documents.length} YAML documents where one is expected`;
    return err(
      invalidInput(code, [
        { code: CONFIG_FINDING_CODES.documentCount, severity: 'error', file, line: second?.line, path: '', message },
      ]),
    );
  }
  return ok(only.value);
}

/** A file's text (UTF-8), or an `io` error naming the file and the errno code. */
export function readTextFile(file: string | 0): Result<string> {
  try {
    return ok(readFileSync(file, 'utf8'));
  } catch (e) {
    const name = file === 0 ? '<stdin>' : file;
    const message = `cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
    const finding: Finding<ConfigFindingCode> = {
      code: CONFIG_FINDING_CODES.unreadable,
      severity: 'error',
      file: name,
      path: '',
      message,
    };
    return err(new PhiguardError('io', `${name}: ${message}`, { cause: e, findings: [finding] }));
  }
}

/** A single-document YAML file, read and validated. */
export function readYamlFile<T>(file: string, schema: z.ZodType<T>, code: ErrorCode = 'config'): Result<T> {
  const text = readTextFile(file);
  return text.ok ? readYamlDocument(text.value, file, schema, code) : text;
}
