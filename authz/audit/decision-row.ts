/**
 * The decision audit line (HIPAA §164.312(b) audit controls) formatted from a row, field by field as
 * `DECISION_FIELDS` (authz/model/audit-record.ts) lists them. The Check path builds the row (`decisionRow`) and hands
 * it to the audit writer thread (audit-writer.ts), which validates it (`DecisionRowSchema`) and formats it here.
 *
 * A line is byte-for-byte `JSON.stringify(rowToRecord(row))` (test/audit/decision-line.test.ts holds the two equal),
 * built without the intermediate object: strings are quoted without JSON.stringify when nothing needs escaping, and
 * times go through one-entry ISO caches (iso-time.ts).
 */
import { DECISION_FIELDS, DECISION_ROW_FIELDS, type DecisionRow, type FieldKind } from '../model/index.js';
import { createIsoTime } from './iso-time.js';

export { decisionRow, DecisionRowSchema, type DecisionRow } from '../model/index.js';

/**
 * A JSON string literal. Strings with nothing to escape (no `"`, `\\`, control characters or surrogates, which
 * JSON.stringify escapes when unpaired) are quoted as they are; anything else goes through JSON.stringify, so
 * escaping is the engine's.
 */
function q(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/** The JSON text of one value of a field. */
type Write = (v: unknown) => string;

const quote: Write = (v) => q(v as string);
/** Numbers (NaN and ±Infinity as null), booleans and string lists, as JSON.stringify writes them. */
const stringify: Write = (v) => JSON.stringify(v);

/** The writer of a `{...}` object from the tuple of its fields' values. */
function objectWriter(k: FieldKind): Write {
  const steps = (k.fields ?? []).map((f, i) => ({ key: `${i > 0 ? ',' : ''}${q(f.name)}:`, write: writerOf(f.kind) }));
  return (v) => {
    const t = v as readonly unknown[];
    let s = '{';
    let i = 0;
    for (const step of steps) s += step.key + step.write(t[i++]);
    return `${s}}`;
  };
}

/** The writer of a field's values. Each `time` field gets its own cache, so two times do not evict each other. */
function writerOf(k: FieldKind): Write {
  switch (k.id) {
    case 'string':
    case 'label':
      return quote;
    case 'number':
    case 'boolean':
    case 'strings':
      return stringify;
    case 'time': {
      const iso = createIsoTime();
      return (v) => q(iso(v as number));
    }
    case 'objects': {
      const one = objectWriter(k);
      return (v) => {
        const list = v as readonly unknown[];
        let s = '[';
        for (let i = 0; i < list.length; i++) s += `${i > 0 ? ',' : ''}${one(list[i])}`;
        return `${s}]`;
      };
    }
    case 'object-or-null': {
      const one = objectWriter(k);
      return (v) => (v === null ? 'null' : one(v));
    }
    case 'literal':
      return () => q(k.value ?? '');
  }
}

/**
 * The constant text before each row value: the literal fields and keys that precede it, its own key last; then the
 * text after the last value. Literal fields are written here, once, since the row does not carry them.
 */
const { prefixes: PREFIXES, suffix: SUFFIX } = (() => {
  const prefixes: string[] = [];
  let text = '{';
  let sep = '';
  for (const f of DECISION_FIELDS) {
    text += `${sep}${q(f.name)}:`;
    sep = ',';
    if (f.kind.id === 'literal') {
      text += writerOf(f.kind)(undefined);
    } else {
      prefixes.push(text);
      text = '';
    }
  }
  return { prefixes, suffix: `${text}}` };
})();

/**
 * A formatter of rows into JSON lines (without the newline). Each holds its own one-entry ISO time caches, so use one
 * per writer. The formatter throws RangeError for a time that is not a valid date (rows from `decisionRow` and rows
 * that passed `DecisionRowSchema` have none).
 */
export function createDecisionRowFormatter(): (r: DecisionRow) => string {
  const steps = DECISION_ROW_FIELDS.map((f, i) => ({ prefix: PREFIXES[i] ?? '', write: writerOf(f.kind) }));
  return (r) => {
    let s = '';
    let i = 0;
    for (const step of steps) s += step.prefix + step.write(r[i++]);
    return s + SUFFIX;
  };
}
