/** Output formats for `phiguard check`: text (file:line), JSON, and SARIF 2.1.0 for code-scanning. */
import { RULES, RULE_BY_ID } from './catalog.js';
import type { CheckFinding } from './context.js';

export function formatText(findings: readonly CheckFinding[], notes: readonly string[]): string {
  let out = '';
  for (const f of findings) {
    const rule = RULE_BY_ID.get(f.ruleId);
    out += `${f.file}:${f.line}: ${f.severity} ${f.ruleId} ${rule?.name ?? ''}: ${f.message}\n    why: ${rule?.why ?? ''}\n    fix: ${rule?.fix ?? ''}\n`;
  }
  for (const n of notes) out += `note: ${n}\n`;
  const count = (s: string) => findings.filter((f) => f.severity === s).length;
  out += `${findings.length === 0 ? 'no findings' : `${count('error')} error(s), ${count('warning')} warning(s), ${count('note')} note(s)`}\n`;
  return out;
}

export function formatJson(findings: readonly CheckFinding[], notes: readonly string[]): string {
  return `${JSON.stringify({ findings, notes }, null, 2)}\n`;
}

const LEVEL = { error: 'error', warning: 'warning', note: 'note' } as const;

/** SARIF 2.1.0 (OASIS), one run, rules from the catalog, one result per finding with a physical location. */
export function formatSarif(findings: readonly CheckFinding[], version: string): string {
  const used = new Set(findings.map((f) => f.ruleId));
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
              defaultConfiguration: { level: LEVEL[r.severity] },
            })),
          },
        },
        results: findings.map((f) => ({
          ruleId: f.ruleId,
          ruleIndex: rules.findIndex((r) => r.id === f.ruleId),
          level: LEVEL[f.severity],
          message: { text: f.message },
          locations: [{ physicalLocation: { artifactLocation: { uri: f.file.replace(/\\/g, '/') }, region: { startLine: Math.max(1, f.line) } } }],
        })),
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}
