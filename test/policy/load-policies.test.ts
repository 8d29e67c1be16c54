import { afterEach, describe, expect, test } from '@jest/globals';
import { formatFinding } from '../../authz/model/index.js';
import { readPolicyDir } from '../../authz/policy/index.js';
import { policyYaml, tempDir } from '../helpers/temp.js';

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

function load(files: Record<string, string>) {
  const t = tempDir(files);
  cleanup = () => t.remove();
  const r = readPolicyDir(t.dir);
  // The findings of a rejected set (every one of them, not just the first).
  const findings = r.ok ? [] : r.error.findings;
  return { dir: t.dir, result: r, findings };
}

const ok = '    - name: r\n      allow: fhir.interaction == "read"';

describe('policy loading', () => {
  test('loads the bundled examples', () => {
    const r = readPolicyDir('examples/policies');
    expect(r.ok).toBe(true);
    if (r.ok)
      expect(r.value.set.agents.map((a) => a.name).sort()).toEqual(['ambient-scribe', 'cds-sepsis', 'prior-auth']);
  });

  test.each([
    [
      'CEL typo in a field name',
      '    - name: r\n      allow: fhir.resourcetype == "Patient"',
      'spec.rules[0].allow',
      /No such key: resourcetype/,
      /allow:/,
    ],
    [
      'CEL syntax error',
      '    - name: r\n      allow: fhir.id == "a" &&& true',
      'spec.rules[0].allow',
      /syntax/,
      /allow:/,
    ],
    ['non-bool expression', '    - name: r\n      allow: fhir.id', 'spec.rules[0].allow', /must be bool/, /allow:/],
    [
      'int compared with double',
      '    - name: r\n      deny: size(fhir.patients) == 1.0',
      'spec.rules[0].deny',
      /no such overload/,
      /deny:/,
    ],
    [
      'invalid RE2 pattern',
      '    - name: r\n      allow: fhir.id.matches("(")',
      'spec.rules[0].allow',
      /invalid RE2 pattern/,
      /allow:/,
    ],
    [
      'regex pattern from request data',
      '    - name: r\n      allow: fhir.id.matches(fhir.resourceType)',
      'spec.rules[0].allow',
      /string literal/,
      /allow:/,
    ],
    [
      'both allow and deny',
      '    - name: r\n      allow: "true"\n      deny: "false"',
      'spec.rules[0]',
      /exactly one of allow or deny/,
      /- name: r/,
    ],
    ['unknown key (typo)', '    - name: r\n      alow: "true"', 'spec.rules[0]', /Unrecognized key/, /alow:/],
    ['duplicate rule names', `${ok}\n${ok}`, 'spec.rules[1].name', /appears twice/, /- name: r/],
    [
      'bad rule name',
      '    - name: Read_All\n      allow: "true"',
      'spec.rules[0].name',
      /kebab-case/,
      /name: Read_All/,
    ],
  ])('rejects %s, naming file, line, document and field', (_n, rules, field, message, lineText) => {
    const first = policyYaml('good', ok);
    const text = `${first}---\n${policyYaml('scribe', rules)}`;
    const { dir, result, findings } = load({ 'a.yaml': text });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('policy');
    const f = findings.find((x) => x.path === field);
    expect(f).toBeDefined();
    expect(f?.file).toBe(`${dir}/a.yaml`);
    expect(f?.document).toBe(1);
    expect(f?.message).toMatch(message);
    // The line is in the second document, on the offending field.
    const line = f?.line ?? 0;
    expect(line).toBeGreaterThan(first.split('\n').length);
    expect(text.split('\n')[line - 1]).toMatch(lineText);
    expect(formatFinding(f ?? findings[0]!)).toContain(`${dir}/a.yaml:${line} ${field}`);
  });

  test('a YAML syntax error names the line', () => {
    const { result, findings } = load({ 'bad.yaml': 'apiVersion: x\n  kind: [\n' });
    expect(result.ok).toBe(false);
    expect(findings[0]?.message).toMatch(/line \d+/);
    expect(findings[0]).toMatchObject({ code: 'yaml', line: expect.any(Number) });
  });

  test('duplicate agents across files are rejected', () => {
    const { result, findings } = load({ 'a.yaml': policyYaml('scribe', ok), 'b.yaml': policyYaml('scribe', ok) });
    expect(result.ok).toBe(false);
    expect(findings.map((f) => f.code)).toEqual(expect.arrayContaining(['duplicate-agent', 'duplicate-selector']));
  });

  test('an empty directory is an error, not an allow-nothing policy set that looks healthy', () => {
    const { result, findings } = load({});
    expect(result.ok).toBe(false);
    expect(findings.map((f) => f.code)).toEqual(['empty']);
  });

  test('an unreadable directory is an io error naming it', () => {
    const r = readPolicyDir('does-not-exist');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('io');
      expect(r.error.findings[0]?.message).toMatch(/cannot read policy directory \(ENOENT\)/);
    }
  });

  test('a selector needs a principal or a namespace', () => {
    const { result, findings } = load({ 'a.yaml': policyYaml('x', ok, 'serviceAccount: x') });
    expect(result.ok).toBe(false);
    expect(findings[0]?.path).toBe('spec.selector');
  });

  test('one bad document rejects the whole set (never half a policy)', () => {
    const { result } = load({
      'a.yaml': policyYaml('a', ok),
      'b.yaml': policyYaml('b', '    - name: r\n      allow: nope('),
    });
    expect(result.ok).toBe(false);
  });
});
