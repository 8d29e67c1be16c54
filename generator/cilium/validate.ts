/** Full validation of a Cilium policy document: CRD schema, unknown fields, and the agent's import rules. */
import type { CrdValidator } from './crd-schema.js';
import { checkImportRules } from './import-rules.js';

export interface PolicyFinding {
  source: 'schema' | 'import-rules';
  path: string;
  message: string;
}

export function validateCiliumPolicy(doc: unknown, validators: Readonly<Record<string, CrdValidator>>): PolicyFinding[] {
  const kind = typeof doc === 'object' && doc !== null ? String((doc as Record<string, unknown>)['kind']) : '';
  const v = validators[kind];
  const out: PolicyFinding[] = [];
  if (!v) out.push({ source: 'schema', path: '/kind', message: `no CRD schema loaded for kind ${JSON.stringify(kind)}` });
  else out.push(...v.validate(doc).map((f) => ({ source: 'schema' as const, path: f.path, message: f.message })));
  out.push(...checkImportRules(doc).map((f) => ({ source: 'import-rules' as const, path: f.path, message: f.message })));
  return out;
}
