/**
 * Output formats for `phiguard check`: text (file:line), JSON, and SARIF 2.1.0 (OASIS) for code scanning. Every
 * format carries each finding's rule id and name, why and fix; suppressed findings are listed as suppressed with
 * their justification, never dropped.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CHECK_LEVELS, RULES, RULE_BY_ID, type CheckLevel, type RuleInfo } from './catalog.js';
import type { CheckFinding } from './suppress.js';

const level = (f: CheckFinding): CheckLevel => CHECK_LEVELS[f.severity];
/** Check findings always carry a line; 1 (the file) if one ever does not. */
const lineOf = (f: CheckFinding): number => f.line ?? 1;

/** The anchor of a rule in docs/check.md (`### CIL004` renders as `#cil004`). */
export const ruleAnchor = (id: string): string => id.toLowerCase();

/** docs/check.md of this installation (a checkout or a package that ships docs/), as a file URL; or undefined. */
function installedDocs(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'docs', 'check.md');
    if (existsSync(candidate)) return pathToFileURL(candidate).href;
    dir = path.dirname(dir);
  }
  return undefined;
}

/** A rule's documentation link: `docsUrl` (or the installed docs/check.md) with the rule's anchor. */
export function helpUri(rule: RuleInfo, docsUrl: string | undefined): string | undefined {
  const base = docsUrl ?? installedDocs();
  return base === undefined ? undefined : `${base.replace(/#.*$/, '')}#${ruleAnchor(rule.id)}`;
}

export function formatText(findings: readonly CheckFinding[], notes: readonly string[]): string {
  let out = '';
  const active = findings.filter((f) => !f.suppression);
  for (const f of active) {
    const rule = RULE_BY_ID.get(f.code);
    out += `${f.file}:${lineOf(f)}: ${level(f)} ${f.code} ${rule?.name ?? ''}: ${f.message}\n`;
    out += `    why: ${rule?.why ?? ''}\n    fix: ${rule?.fix ?? ''}\n`;
  }
  for (const f of findings)
    if (f.suppression)
      out += `${f.file}:${lineOf(f)}: suppressed ${f.code}: ${f.message}\n    ${f.suppression.kind} (${f.suppression.source}): ${f.suppression.justification}\n`;
  for (const n of notes) out += `note: ${n}\n`;
  const count = (l: CheckLevel): number => active.filter((f) => level(f) === l).length;
  const suppressed = findings.length - active.length;
  const summary =
    `${count('error')} error(s), ${count('warning')} warning(s), ${count('note')} note(s)` +
    (suppressed > 0 ? `, ${suppressed} suppressed` : '');
  out += `${active.length === 0 && suppressed === 0 ? 'no findings' : summary}\n`;
  return out;
}

/**
 * `{findings: [...], notes}`: per finding the rule id and name, check level, message, why, fix, file, line, field
 * path, the object it is about, and `suppressed` (with `suppression: {kind, justification, source}` when true).
 */
export function formatJson(findings: readonly CheckFinding[], notes: readonly string[]): string {
  const rows = findings.map((f) => {
    const rule = RULE_BY_ID.get(f.code);
    return {
      ruleId: f.code,
      ruleName: rule?.name ?? '',
      severity: level(f),
      message: f.message,
      why: rule?.why ?? '',
      fix: rule?.fix ?? '',
      file: f.file,
      line: lineOf(f),
      path: f.path,
      ...(f.object !== undefined ? { object: f.object } : {}),
      suppressed: f.suppression !== undefined,
      ...(f.suppression ? { suppression: f.suppression } : {}),
    };
  });
  return `${JSON.stringify({ findings: rows, notes }, null, 2)}\n`;
}

export interface SarifOptions {
  version: string;
  /** Where docs/check.md is published (helpUri base); default: this installation's docs/check.md as a file URL. */
  docsUrl?: string | undefined;
  /** Artifact URIs are relative to this directory (`%SRCROOT%`); default the working directory. */
  root?: string | undefined;
}

/** An artifact URI relative to `root` (forward slashes, percent-encoded), for `uriBaseId: %SRCROOT%`. */
function relativeUri(file: string, root: string): string {
  if (file === '<stdin>') return 'stdin';
  const rel = path.relative(root, path.resolve(root, file)).split(path.sep).join('/');
  return rel
    .split('/')
    .map((seg) => encodeURIComponent(seg))
    .join('/');
}

/**
 * SARIF 2.1.0, one run: the catalog rules the findings use (with `helpUri`, `help` and `fullDescription`), one
 * result per finding with a physical location relative to `%SRCROOT%`, and `suppressions` (kind inSource for an
 * annotation, external for a baseline entry; status accepted; the justification) on suppressed ones.
 */
export function formatSarif(findings: readonly CheckFinding[], options: SarifOptions): string {
  const root = options.root ?? process.cwd();
  const used = new Set<string>(findings.map((f) => f.code));
  const rules = RULES.filter((r) => used.has(r.id));
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'phiguard',
            version: options.version,
            rules: rules.map((r) => {
              const uri = helpUri(r, options.docsUrl);
              return {
                id: r.id,
                name: r.name,
                shortDescription: { text: r.name },
                fullDescription: { text: r.why },
                help: { text: `${r.fix} (docs/check.md#${ruleAnchor(r.id)})` },
                ...(uri !== undefined ? { helpUri: uri } : {}),
                defaultConfiguration: { level: CHECK_LEVELS[r.severity] },
              };
            }),
          },
        },
        originalUriBaseIds: {
          '%SRCROOT%': { uri: pathToFileURL(root.endsWith(path.sep) ? root : root + path.sep).href },
        },
        results: findings.map((f) => ({
          ruleId: f.code,
          ruleIndex: rules.findIndex((r) => r.id === f.code),
          level: level(f),
          message: { text: f.message },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: relativeUri(f.file, root), uriBaseId: '%SRCROOT%' },
                region: { startLine: Math.max(1, lineOf(f)) },
              },
              ...(f.object !== undefined
                ? { logicalLocations: [{ fullyQualifiedName: f.object, kind: 'resource' }] }
                : {}),
            },
          ],
          ...(f.suppression
            ? {
                suppressions: [
                  {
                    kind: f.suppression.kind === 'annotation' ? 'inSource' : 'external',
                    status: 'accepted',
                    justification: f.suppression.justification,
                  },
                ],
              }
            : {}),
        })),
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}
