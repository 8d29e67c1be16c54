import { describe, expect, test } from '@jest/globals';
import { PhiguardError } from '../../authz/model/index.js';
import { CelKeyError, compileExpression } from '../../authz/policy/index.js';
import { emptyFhirAttributes } from '../../authz/model/attributes.js';

function ctx(id: string) {
  return {
    fhir: { ...emptyFhirAttributes(), id },
  };
}

describe('CEL guardrails', () => {
  test('a catastrophic-backtracking pattern runs in linear time (RE2), not for seconds', () => {
    const c = compileExpression('fhir.id.matches("^(a+)+$")');
    expect(c.ok).toBe(true);
    if (!c.ok) return;
    const start = process.hrtime.bigint();
    const result = c.value.program(ctx(`${'a'.repeat(5000)}!`));
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    expect(result).toBe(false);
    // JavaScript RegExp takes ~30 s on 29 characters; RE2 is linear. 1 s is a generous bound for 5000.
    expect(ms).toBeLessThan(1000);
  });

  test.each([
    ['receiver form', 'fhir.id.matches("^p-[0-9]+$")', 'p-12', true],
    ['receiver form, no match', 'fhir.id.matches("^p-[0-9]+$")', 'q-12', false],
    ['global form', 'matches(fhir.id, "^p-")', 'p-1', true],
    ['inside a macro', '["p-1"].all(x, x.matches("^p-")) && fhir.id.matches("1$")', 'p-1', true],
    ['parenthesised receiver', '(fhir.id).matches("^p")', 'p-1', true],
    ['RE2 syntax (no lookahead needed)', 'fhir.id.matches("^[[:alpha:]]-\\\\d$")', 'p-1', true],
  ])('matches() is rewritten to RE2: %s', (_n, expr, id, expected) => {
    const c = compileExpression(expr);
    expect(c.ok ? 'ok' : c.error.message).toBe('ok');
    if (c.ok) expect(c.value.program(ctx(id))).toBe(expected);
  });

  test('lookahead (not RE2) is a load error', () => {
    const c = compileExpression('fhir.id.matches("^(?=p)")');
    expect(c.ok).toBe(false);
  });

  test('a string literal containing ".matches(" is not rewritten', () => {
    const c = compileExpression('fhir.id == "x.matches(y)"');
    expect(c.ok).toBe(true);
    if (c.ok) expect(c.value.program(ctx('x.matches(y)'))).toBe(true);
  });
});

describe('CEL evaluation errors', () => {
  test('No such key from the fast path is a PhiguardError (evaluation), built once per key at compile time', () => {
    const c = compileExpression('claims.purpose_of_use == "BTG"');
    expect(c.ok && c.value.fastPath).toBe(true);
    if (!c.ok) return;
    const thrown = (): unknown => {
      try {
        return c.value.program({ claims: {} });
      } catch (e) {
        return e;
      }
    };
    const first = thrown();
    expect(first).toBeInstanceOf(CelKeyError);
    expect(first).toBeInstanceOf(PhiguardError);
    expect(first).toMatchObject({ code: 'evaluation', message: 'No such key: purpose_of_use' });
    // No allocation per evaluation: the same error every time.
    expect(thrown()).toBe(first);
  });
});
