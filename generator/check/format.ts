/** Output formats for `phiguard check`: text (file:line), JSON, and SARIF 2.1.0 for code-scanning. */
import type { Finding } from '../../authz/model/index.js';
import { CHECK_LEVELS, RULES, RULE_BY_ID, type CheckLevel } from './catalog.js';

const level = (f: Finding): CheckLevel => CHECK_LEVELS[f.severity];
/** Check findings always carry a line; 1 (the file) if one ever does not. */
const lineOf = (f: Finding): number => f.line ?? 1;

export function formatText(findings: readonly Finding[], notes: readonly string[]): string {
  let out = '';
  for (const f of findings) {
    const rule = RULE_BY_ID.get(f.code);
    out += `${f.file}:${lineOf(f)}: ${level(f)} ${f.code} ${rule?.name ?? ''}: ${f.message}\n`;
    out += `    why: ${rule?.why ?? ''}\n    fix: ${rule?.fix ?? ''}\n`;
  }
  for (const n of notes) out += `note: ${n}\n`;
  const count = (l: CheckLevel): number => findings.filter((f) => level(f) === l).length;
  const summary = `${count('error')} error(s), ${count('warning')} warning(s), ${count('note')} note(s)`;
  out += `${findings.length === 0 ? 'no findings' : summary}\n`;
  return out;
}

/** `{findings: [{ruleId, severity, message, file, line}], notes}`: the check's JSON contract (rule id, check level). */
export function formatJson(findings: readonly Finding[], notes: readonly string[]): string {
  const rows = findings.map((f) => ({
    ruleId: f.code,
    severity: level(f),
    message: f.message,
    file: f.file,
    line: lineOf(f),
  }));
  return `${JSON.stringify({ findings: rows, notes }, null, 2)}\n`;
}

/** SARIF 2.1.0 (OASIS), one run, rules from the catalog, one result per finding with a physical location. */
export function formatSarif(findings: readonly Finding[], version: string): string {
  const used = new Set(findings.map((f) => f.code));
  const rules = RULES.filter((r) => used.has(r.id));
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'phiguard',
            version,
            informationUri: 'https://github.com/phiguard/phiguard#phiguard-check-rules',
            rules: rules.map((r) => ({
              id: r.id,
              name: r.name,
              shortDescription: { text: r.why },
              help: { text: r.fix },
              defaultConfiguration: { level: CHECK_LEVELS[r.severity] },
            })),
          },
        },
        results: findings.map((f) => ({
          ruleId: f.code,
          ruleIndex: rules.findIndex((r) => r.id === f.code),
          level: level(f),
          message: { text: f.message },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: f.file.replace(/\\/g, '/') },
                region: { startLine: Math.max(1, lineOf(f)) },
              },
            },
          ],
        })),
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}
