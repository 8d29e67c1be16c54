/**
 * The decision audit record as one JSON line, in the calling thread. The Check path hands rows to the audit writer
 * thread instead (audit-writer.ts); this is for the in-thread sink and for tests and tools.
 */
import { decisionRow, type Decision, type RequestAttributesModel } from '../model/index.js';
import { createDecisionRowFormatter } from './decision-row.js';

const format = createDecisionRowFormatter();

/**
 * The decision record's JSON line (without the newline): `JSON.stringify(decisionRecord(...))`, byte for byte.
 * Throws RangeError for a time that is not a valid date.
 */
export function decisionLine(
  decisionId: string,
  d: Decision,
  a: RequestAttributesModel | undefined,
  latencyUs: number,
  time: Date,
): string {
  return format(decisionRow(decisionId, d, a, latencyUs, time.getTime()));
}
