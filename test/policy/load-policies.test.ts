import { afterEach, describe, expect, test } from '@jest/globals';
import { loadPolicyDir } from '../../authz/policy/index.js';
import { policyYaml, tempDir } from '../helpers/temp.js';

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

function load(files: Record<string, string>) {
  const t = tempDir(files);
  cleanup = () => t.remove();
  return { dir: t.dir, result: loadPolicyDir(t.dir) };
}

const ok = '    - name: r\n      allow: fhir.interaction == "read"';

describe('policy loading', () => {
  test('loads the bundled examples', () => {
    const r = loadPolicyDir('examples/policies');
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.set.agents.map((a) => a.name).sort()).toEqual(['ambient-scribe', 'cds-sepsis', 'prior-auth']);
  });

  test.each([
    ['CEL typo in a field name', '    - name: r\n      allow: fhir.resourcetype == "Patient"', 'spec.rules[0].allow', /No such key: resourcetype/],
    ['CEL syntax error', '    - name: r\n      allow: fhir.id == "a" &&& true', 'spec.rules[0].allow', /syntax/],
    ['non-bool expression', '    - name: r\n      allow: fhir.id', 'spec.rules[0].allow', /must be bool/],
    ['int compared with double', '    - name: r\n      deny: size(fhir.patients) == 1.0', 'spec.rules[0].deny', /no such overload/],
    ['invalid RE2 pattern', '    - name: r\n      allow: fhir.id.matches("(")', 'spec.rules[0].allow', /invalid RE2 pattern/],
    ['regex pattern from request data', '    - name: r\n      allow: fhir.id.matches(fhir.resourceType)', 'spec.rules[0].allow', /string literal/],
    ['both allow and deny', '    - name: r\n      allow: "true"\n      deny: "false"', 'spec.rules[0]', /exactly one of allow or deny/],
    ['unknown key (typo)', '    - name: r\n      alow: "true"', 'spec.rules[0]', /Unrecognized key/],
    ['duplicate rule names', `${ok}\n${ok}`, 'spec.rules[1].name', /appears twice/],
    ['bad rule name', '    - name: Read_All\n      allow: "true"', 'spec.rules[0].name', /kebab-case/],
  ])('rejects %s, naming file, document and field', (_n, rules, field, message) => {
    const { dir, result } = load({ 'a.yaml': `${policyYaml('good', ok)}---\n${policyYaml('scribe', rules)}` });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const f = result.findings.find((x) => x.path === field);
    expect(f).toBeDefined();
    expect(f?.file).toBe(`${dir}/a.yaml`);
    expect(f?.document).toBe(1);
    expect(f?.message).toMatch(message);
  });

  test('a YAML syntax error names the line', () => {
    const { result } = load({ 'bad.yaml': 'apiVersion: x\n  kind: [\n' });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.findings[0]?.message).toMatch(/line \d+/);
  });

  test('duplicate agents across files are rejected', () => {
    const { result } = load({ 'a.yaml': policyYaml('scribe', ok), 'b.yaml': policyYaml('scribe', ok) });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.findings.map((f) => f.code)).toEqual(expect.arrayContaining(['duplicate-agent', 'duplicate-selector']));
  });

  test('an empty directory is an error, not an allow-nothing policy set that looks healthy', () => {
    const { result } = load({});
    expect(result.ok).toBe(false);
  });

  test('a selector needs a principal or a namespace', () => {
    const { result } = load({ 'a.yaml': policyYaml('x', ok, 'serviceAccount: x') });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.findings[0]?.path).toBe('spec.selector');
  });

  test('one bad document rejects the whole set (never half a policy)', () => {
    const { result } = load({ 'a.yaml': policyYaml('a', ok), 'b.yaml': policyYaml('b', '    - name: r\n      allow: nope(') });
    expect(result.ok).toBe(false);
  });
});
