/**
 * cel-spec conformance for the CEL engine phiguard uses. Known failures are listed (known-failures.json, with the
 * engine gap each group reflects); the suite fails when a new failure appears AND when a listed gap starts
 * passing (so the list stays true as the engine is upgraded). Regenerate: PHIGUARD_WRITE_CEL_KNOWN=1 npm test.
 *
 * Some gaps are the runtime's, not the engine's: cel-js computes a timestamp's fields in a time zone with
 * Intl.DateTimeFormat, and V8 before 12 (Node 20) rejects UTC offset time zones such as "+11:00"; Node 22 and later
 * accept them (an offset without a sign, "02:00", is still refused). Such an entry is an object,
 * `{ "reason", "failsBelowNode": <major> }`: a known failure on Node majors below that one, a test that must pass
 * from it on.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { z } from 'zod';
import { conformanceCases, runCase } from './conformance.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const knownFile = path.join(here, 'known-failures.json');
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

const KnownFailures = z.record(
  z.string(),
  z.union([z.string(), z.strictObject({ reason: z.string(), failsBelowNode: z.number().int().positive() })]),
);
type KnownFailures = z.infer<typeof KnownFailures>;

/** Whether a listed gap is expected to fail on the running Node. */
const failsHere = (entry: KnownFailures[string]): boolean =>
  typeof entry === 'string' || NODE_MAJOR < entry.failsBelowNode;

/** The list with this run's failures: Node-dependent entries kept as they are, others replaced by what failed. */
function regenerated(known: KnownFailures, failures: Map<string, string>): KnownFailures {
  const out: KnownFailures = {};
  for (const [id, entry] of Object.entries(known)) if (typeof entry !== 'string' && !failsHere(entry)) out[id] = entry;
  for (const [id, reason] of failures) {
    const entry = known[id];
    out[id] = entry !== undefined && typeof entry !== 'string' && failsHere(entry) ? entry : reason;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

describe(`cel-spec conformance (@marcbachmann/cel-js) on Node ${process.versions.node}`, () => {
  const cases = conformanceCases();
  const failures = new Map<string, string>();
  for (const c of cases) {
    const r = runCase(c);
    if (r !== undefined) failures.set(c.id, r);
  }
  const known = KnownFailures.parse(JSON.parse(readFileSync(knownFile, 'utf8')));

  test('runs a meaningful share of the suite', () => {
    expect(cases.length).toBeGreaterThan(1000);
  });

  test('failures are exactly the listed known gaps for this Node major', () => {
    if (process.env['PHIGUARD_WRITE_CEL_KNOWN'] === '1') {
      writeFileSync(knownFile, `${JSON.stringify(regenerated(known, failures), null, 1)}\n`);
    }
    const expected = new Set(Object.keys(known).filter((id) => failsHere(known[id] ?? '')));
    const unexpected = [...failures.keys()]
      .filter((id) => !expected.has(id))
      .map((id) => `${id}: ${failures.get(id) ?? ''}`);
    const nowPassing = [...expected].filter((id) => !failures.has(id));
    expect({ unexpected, nowPassing }).toEqual({ unexpected: [], nowPassing: [] });
    const passRate = (cases.length - failures.size) / cases.length;
    process.stdout.write(
      `cel-spec conformance on Node ${process.versions.node}: ${cases.length - failures.size}/${cases.length} passed (${(passRate * 100).toFixed(1)}%), ${failures.size} known gaps\n`,
    );
  });

  test('the Node-dependent gaps are the offset time zones Intl rejects before Node 22', () => {
    const dependent = Object.entries(known).filter(([, e]) => typeof e !== 'string');
    expect(dependent.map(([id]) => id.replace(/^.*\//, ''))).toEqual([
      'getDayOfMonth_numerical_neg',
      'getDayOfMonth_numerical_pos',
      'getFullYear',
      'getSeconds',
    ]);
    // The runtime behaviour the entries stand for, on this Node.
    const accepts = (tz: string): boolean => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    };
    expect(accepts('+11:00')).toBe(NODE_MAJOR >= 22);
    expect(accepts('02:00')).toBe(false);
  });
});
