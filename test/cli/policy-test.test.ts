/**
 * `phiguard test`: the example policies' own tests pass through the CLI (so `npm test` runs them), and the runner
 * reports failures, invalid files and usage errors as its exit codes say.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { readPolicyDir } from '../../authz/policy/index.js';
import { readPolicyTestFile } from '../../generator/policy-test/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const EXAMPLES = 'examples/policies';
const REGISTRY = 'examples/baa/registry.yaml';

const POLICY = `apiVersion: phiguard.io/v1alpha1
kind: AgentPolicy
metadata: { name: reader }
spec:
  selector: { principal: spiffe://cluster.local/ns/a/sa/reader }
  tier: batch
  mode: enforce
  scope: [{ resourceTypes: [Observation], interactions: [search-type] }]
  rules:
    - name: one-patient
      allow: fhir.interaction == "search-type" && fhir.resourceType == "Observation" && size(fhir.patients) == 1
`;

const TESTS = `defaults: { principal: spiffe://cluster.local/ns/a/sa/reader }
cases:
  - name: one patient
    request: { method: GET, path: "/fhir/Observation?patient=p-1" }
    expect: { decision: allow, rule: one-patient }
  - name: "two patients <&> \\"quoted\\""
    request: { method: GET, path: "/fhir/Observation?patient=p-1,p-2" }
    expect: { decision: allow, rule: one-patient }
`;

/** Every element closed in order, every attribute quoted, only the five entities: enough to catch broken XML. */
function wellFormed(xml: string): boolean {
  const body = xml.replace(/^<\?xml[^>]*\?>\s*/, '');
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w-]*)((?:\s+[\w-]+="[^"<]*")*)\s*(\/?)>|&(?!(?:amp|lt|gt|quot|apos);)|<(?![/A-Za-z])/g;
  let m: RegExpExecArray | null;
  while ((m = tag.exec(body)) !== null) {
    if (m[2] === undefined) return false;
    if (m[1] === '/') {
      if (stack.pop() !== m[2]) return false;
    } else if (m[4] !== '/') stack.push(m[2]);
  }
  return stack.length === 0;
}

describe('the example policies pass their own tests', () => {
  test('every example policy ships a test file', () => {
    const loaded = readPolicyDir(EXAMPLES);
    if (!loaded.ok) throw loaded.error;
    const files = new Set(readdirSync(EXAMPLES));
    for (const a of loaded.value.set.agents)
      expect(files).toContain(`${path.basename(a.source.file, '.yaml')}.test.yaml`);
  });

  test('phiguard test examples/policies: 0 failed, exit 0', async () => {
    const cases = readdirSync(EXAMPLES)
      .filter((f) => f.endsWith('.test.yaml'))
      .map((f) => readPolicyTestFile(path.join(EXAMPLES, f)))
      .reduce((n, r) => n + (r.ok ? r.value.length : NaN), 0);
    const r = await cli(['test', EXAMPLES, '--baa-registry', REGISTRY]);
    expect(r.err).toBe('');
    expect(r.out).toBe(`${cases} passed, 0 failed\n`);
    expect(r.code).toBe(0);
  });

  test('the tests exercise allows and denies of every example agent', () => {
    for (const f of readdirSync(EXAMPLES).filter((x) => x.endsWith('.test.yaml'))) {
      const read = readPolicyTestFile(path.join(EXAMPLES, f));
      if (!read.ok) throw read.error;
      const decisions = new Set(read.value.map((c) => c.case.expect.decision));
      expect(decisions).toContain('deny');
      expect([...decisions].some((d) => d === 'allow')).toBe(true);
    }
  });
});

describe('phiguard test reports', () => {
  test('a failing case: its file and line, each differing field, the decision reached, exit 1', async () => {
    const t = tempDir({ 'reader.yaml': POLICY, 'reader.test.yaml': TESTS });
    try {
      const r = await cli(['test', t.dir]);
      expect(r.code).toBe(1);
      expect(r.out).toContain(`reader.test.yaml:6 two patients <&> "quoted"`);
      expect(r.out).toMatch(/decision: expected allow, got deny/);
      expect(r.out).toMatch(/rule: {5}expected one-patient, got default-deny/);
      expect(r.out.trimEnd().split('\n').at(-1)).toBe('1 passed, 1 failed');
    } finally {
      t.remove();
    }
  });

  test('JUnit XML: one suite per file, counts, escaped names, failure text', async () => {
    const t = tempDir({ 'reader.yaml': POLICY, 'reader.test.yaml': TESTS });
    try {
      const out = path.join(t.dir, 'junit.xml');
      const r = await cli(['test', path.join(t.dir, 'reader.test.yaml'), '--junit', out]);
      expect(r.code).toBe(1);
      const xml = readFileSync(out, 'utf8');
      expect(wellFormed(xml)).toBe(true);
      expect(xml).toMatch(/<testsuites name="phiguard test" tests="2" failures="1" errors="0"/);
      expect(xml).toMatch(/<testsuite name="[^"]*reader\.test\.yaml" tests="2" failures="1"/);
      expect(xml).toContain('name="two patients &lt;&amp;&gt; &quot;quoted&quot;"');
      expect(xml).toMatch(/<failure message="decision: expected allow, got deny; rule: expected one-patient, got/);
      expect(xml.match(/<testcase /g)).toHaveLength(2);
    } finally {
      t.remove();
    }
  });

  test.each([
    [
      'an unknown field, named with its line',
      'cases:\n  - name: x\n    request: { method: GET, path: /fhir/Patient/p }\n    expect: { decison: allow }\n',
      /reader\.test\.yaml:4.*decison/,
    ],
    [
      'a lower-case method',
      'cases:\n  - name: x\n    request: { method: get, path: /fhir/Patient/p }\n    expect: { decision: allow }\n',
      /reader\.test\.yaml:3.*method/,
    ],
    [
      'a decision that does not exist',
      'cases:\n  - name: x\n    request: { method: GET, path: /fhir/Patient/p }\n    expect: { decision: permit }\n',
      /decision/,
    ],
    [
      'a reason that does not exist',
      'cases:\n  - name: x\n    request: { method: GET, path: /x }\n    expect: { decision: deny, reason: nope }\n',
      /reason/,
    ],
    ['no cases', 'cases: []\n', /at least one case/],
    [
      'two documents',
      'cases: [{name: x, request: {method: GET, path: /x}, expect: {decision: deny}}]\n---\ncases: [{name: y, request: {method: GET, path: /x}, expect: {decision: deny}}]\n',
      /2 YAML documents/,
    ],
  ])('an invalid test file is exit 2: %s', async (_name, text, message) => {
    const t = tempDir({ 'reader.yaml': POLICY, 'reader.test.yaml': text });
    try {
      const r = await cli(['test', t.dir]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(message);
    } finally {
      t.remove();
    }
  });

  test('usage: a directory without tests, a file not named *.test.yaml, a missing path, policies that do not load', async () => {
    const t = tempDir({ 'reader.yaml': POLICY });
    try {
      expect((await cli(['test', t.dir])).code).toBe(2);
      expect((await cli(['test', path.join(t.dir, 'reader.yaml')])).code).toBe(2);
      expect((await cli(['test', path.join(t.dir, 'missing')])).code).toBe(2);
      expect((await cli(['test'])).code).toBe(2);
      t.write('reader.test.yaml', TESTS);
      t.write('broken.yaml', POLICY.replace('size(fhir.patients) == 1', 'size(fhir.patients) == "1"'));
      const r = await cli(['test', t.dir]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/broken\.yaml/);
    } finally {
      t.remove();
    }
  });

  test('a test file beside the policies is never loaded as a policy', () => {
    const loaded = readPolicyDir(EXAMPLES);
    if (!loaded.ok) throw loaded.error;
    expect(loaded.value.set.agents.map((a) => path.basename(a.source.file)).sort()).toEqual([
      'ambient-scribe.yaml',
      'cds-sepsis.yaml',
      'prior-auth.yaml',
    ]);
  });
});
