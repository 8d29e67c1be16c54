/**
 * cel-spec conformance for the CEL engine phiguard uses. Known failures are listed (known-failures.json, with the
 * engine gap each group reflects); the suite fails when a new failure appears AND when a listed gap starts
 * passing (so the list stays true as the engine is upgraded). Regenerate: PHIGUARD_WRITE_CEL_KNOWN=1 npm test.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { conformanceCases, runCase } from './conformance.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const knownFile = path.join(here, 'known-failures.json');

describe('cel-spec conformance (@marcbachmann/cel-js)', () => {
  const cases = conformanceCases();
  const failures = new Map<string, string>();
  for (const c of cases) {
    const r = runCase(c);
    if (r !== undefined) failures.set(c.id, r);
  }

  test('runs a meaningful share of the suite', () => {
    expect(cases.length).toBeGreaterThan(1000);
  });

  test('failures are exactly the listed known gaps', () => {
    if (process.env['PHIGUARD_WRITE_CEL_KNOWN'] === '1') {
      writeFileSync(knownFile, `${JSON.stringify(Object.fromEntries([...failures].sort()), null, 1)}\n`);
    }
    const known = JSON.parse(readFileSync(knownFile, 'utf8')) as Record<string, string>;
    const unexpected = [...failures.keys()]
      .filter((id) => !(id in known))
      .map((id) => `${id}: ${failures.get(id) ?? ''}`);
    const nowPassing = Object.keys(known).filter((id) => !failures.has(id));
    expect({ unexpected, nowPassing }).toEqual({ unexpected: [], nowPassing: [] });
    const passRate = (cases.length - failures.size) / cases.length;
    process.stdout.write(
      `cel-spec conformance: ${cases.length - failures.size}/${cases.length} passed (${(passRate * 100).toFixed(1)}%), ${failures.size} known gaps\n`,
    );
  });
});
