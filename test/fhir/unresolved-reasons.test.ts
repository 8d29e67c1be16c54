/**
 * The unresolved reasons are a closed set: every reason the parser can produce has a kind in
 * model/unresolved-reasons.ts, every kind is in the table of docs/policies.md, and opt-in patterns match as documented.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { load } from 'js-yaml';
import {
  UNRESOLVED_KINDS,
  isBroadUnresolvedPattern,
  isUnresolvedPattern,
  unresolvedKind,
  unresolvedPatternCovers,
} from '../../authz/model/index.js';

interface Case {
  expect: { patientsUnresolved?: string[]; entries?: { patientsUnresolved?: string[] }[] };
}

describe('unresolved reasons', () => {
  test('every reason in the request-model table has a known kind', () => {
    const cases = load(readFileSync('test/fhir/request-model.cases.yaml', 'utf8')) as Case[];
    const seen = new Set<string>();
    for (const c of cases) {
      for (const r of c.expect.patientsUnresolved ?? []) seen.add(r);
      for (const e of c.expect.entries ?? []) for (const r of e.patientsUnresolved ?? []) seen.add(r);
    }
    for (const r of seen) expect([r, Object.hasOwn(UNRESOLVED_KINDS, unresolvedKind(r))]).toEqual([r, true]);
    // And the table exercises every kind.
    expect(new Set([...seen].map(unresolvedKind))).toEqual(new Set(Object.keys(UNRESOLVED_KINDS)));
  });

  test('the docs/policies.md table lists every kind', () => {
    const doc = readFileSync('docs/policies.md', 'utf8');
    for (const kind of Object.keys(UNRESOLVED_KINDS)) expect(doc).toContain(`| \`${kind}\` |`);
  });

  test.each([
    ['instance-of:Patient', true],
    ['instance-of:*', true],
    ['new-patient', true],
    ['instance-of', false],
    ['new-patient:x', false],
    ['*', false],
    ['everything', false],
    ['instance-of: Patient', false],
  ])('%s is a valid opt-in: %s', (pattern, valid) => {
    expect(isUnresolvedPattern(pattern)).toBe(valid);
  });

  test('patterns cover exactly, or by kind with :*', () => {
    expect(unresolvedPatternCovers('instance-of:Patient', 'instance-of:Patient')).toBe(true);
    expect(unresolvedPatternCovers('instance-of:Patient', 'instance-of:Observation')).toBe(false);
    expect(unresolvedPatternCovers('instance-of:*', 'instance-of:Observation')).toBe(true);
    expect(unresolvedPatternCovers('instance-of:*', 'include:Observation:focus')).toBe(false);
  });

  test('broad opt-ins are the ones check warns about', () => {
    expect(isBroadUnresolvedPattern('instance-of:Patient')).toBe(false);
    expect(isBroadUnresolvedPattern('instance-of:*')).toBe(true);
    expect(isBroadUnresolvedPattern('population-query:Observation')).toBe(true);
    expect(isBroadUnresolvedPattern('body-not-json')).toBe(true);
    expect(isBroadUnresolvedPattern('operation:$graphql')).toBe(true);
    expect(isBroadUnresolvedPattern('operation:Claim/$submit')).toBe(false);
  });
});
