/**
 * The decision audit record as one JSON line, in the calling thread: `formatDecisionRow(decisionRow(...))`.
 * The Check path hands rows to the audit writer thread instead (audit-writer.ts); this is for the in-thread sink and
 * for tests and tools.
 */
import type { RequestAttributesModel } from '../model/attributes.js';
import type { Decision } from '../model/decision.js';
import { createDecisionRowFormatter, decisionRow } from './decision-row.js';

const format = createDecisionRowFormatter();

/** The decision record's JSON line (without the newline). */
export function decisionLine(decisionId: string, d: Decision, a: RequestAttributesModel | undefined, latencyUs: number, time: Date): string {
  return format(decisionRow(decisionId, d, a, latencyUs, time.getTime()));
}
