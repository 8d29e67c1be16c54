/** Full validation of a Cilium policy document: CRD schema, unknown fields, and the agent's import rules. */
import type { Finding } from '../../authz/model/index.js';
import type { CrdFindingCode, CrdValidator } from './crd-schema.js';
import { checkImportRules, type ImportRuleCode } from './import-rules.js';

/** Validation's own code, besides the CRD validator's and the import rules'. */
export const VALIDATE_FINDING_CODES = {
  /** No CRD schema was loaded for the document's kind, so it could not be schema-checked. */
  noSchema: 'no-crd-schema',
} as const;
export type CiliumFindingCode =
  CrdFindingCode | ImportRuleCode | (typeof VALIDATE_FINDING_CODES)[keyof typeof VALIDATE_FINDING_CODES];

/** Every problem of a Cilium policy document (read from `file`, if it was), with JSON Pointer paths. */
export function validateCiliumPolicy(
  doc: unknown,
  validators: Readonly<Record<string, CrdValidator>>,
  file = '',
): Finding<CiliumFindingCode>[] {
  const kind = typeof doc === 'object' && doc !== null ? String((doc as Record<string, unknown>)['kind']) : '';
  const v = validators[kind];
  const out: Finding<CiliumFindingCode>[] = [];
  if (!v) {
    out.push({
      code: VALIDATE_FINDING_CODES.noSchema,
      severity: 'error',
      file,
      path: '/kind',
      message: `no CRD schema loaded for kind ${JSON.stringify(kind)}`,
    });
  } else {
    out.push(...v.validate(doc, file));
  }
  out.push(...checkImportRules(doc, file));
  return out;
}
