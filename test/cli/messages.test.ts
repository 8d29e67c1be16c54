/**
 * Errors a person can act on: each message names what was wrong and where (the flag and its environment variable,
 * the file, the position), with no stack trace, and the exit code docs/cli.md gives (2 for usage and input).
 */
import { describe, expect, test } from '@jest/globals';
import { compileExpression } from '../../authz/policy/index.js';
import { readEnvelopes } from '../../authz/observe/index.js';
import { cli } from '../helpers/cli.js';
import { startTestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

describe('serve: a bad setting names its flag and environment variable', () => {
  test.each([
    [[], /--policies \/ PHIGUARD_POLICIES is required/],
    [['--policies', 'examples/policies', '--port', 'abc'], /--port \/ PHIGUARD_PORT: expected number \(got "abc"\)/],
    [
      ['--policies', 'examples/policies', '--trust-domain', 'A B'],
      /--trust-domain \/ PHIGUARD_TRUST_DOMAIN: a SPIFFE trust domain .*\(got "A B"\)/,
    ],
    [['--policies', 'examples/policies', '--audit-sync', 'sometimes'], /--audit-sync \/ PHIGUARD_AUDIT_SYNC: /],
  ])('serve %j', async (args, message) => {
    const r = await cli(['serve', ...args]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).not.toMatch(/Invalid input|received undefined|NaN|\n\s+at /);
  });

  test('serve --help shows each default', async () => {
    const r = await cli(['serve', '--help']);
    expect(r.out).toMatch(/--port <n>\s+gRPC port \(default: 9191\)/);
    expect(r.out).toMatch(/--decisions <where>[\s\S]*?thread \(default\)/);
    expect(r.out).toMatch(/--shutdown-grace-ms <ms>[\s\S]*?\(default:\s+\d+\)/);
    expect(r.out).not.toMatch(/--policies <dir>[^\n]*default/);
  });
});

describe('JSON inputs: the message names the input and the position', () => {
  const t = tempDir({ 'bad.json': '{"attributes": {"x": "unterminated\n' });
  test.each([
    [
      ['explain', '--policies', 'examples/policies', '--check-request', `${t.dir}/bad.json`],
      /bad\.json: not valid JSON: .*position \d+/,
    ],
    [
      ['explain', '--policies', 'examples/policies', 'GET', '/fhir/Patient/p', '--claims', '{x}'],
      /--claims: not valid JSON: .*position 1/,
    ],
    [
      ['explain', '--policies', 'examples/policies', 'GET', '/fhir/Patient/p', '--claims', '[1]'],
      /--claims: not a JSON object of claims/,
    ],
    [['call', `${t.dir}/bad.json`], /bad\.json: not valid JSON/],
    [['call', `${t.dir}/missing.json`], /missing\.json: cannot read \(ENOENT\)/],
  ])('%j', async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });
});

describe('explain --expect and call say what they got', () => {
  test('explain --expect allow on a deny: exit 1 and the decision it got', async () => {
    const r = await cli(['explain', '--policies', 'examples/policies', 'GET', '/fhir/Patient/p', '--expect', 'allow']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/expected allow, got deny \(rule default-deny-unknown-principal, reason unknown-agent\)/);
  });

  test('call: one line per request, an audit-mode deny shown as audit-deny, --json for the whole response', async () => {
    const s = await startTestServer();
    try {
      const files = ['scribe-read-encounter.json', 'prior-auth-audit-deny.json', 'unknown-agent.json'].map(
        (f) => `examples/requests/${f}`,
      );
      const r = await cli(['call', '--addr', s.addr, ...files]);
      expect(r.code).toBe(0);
      const lines = r.out.trimEnd().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(
        /scribe-read-encounter\.json: allow +rule=read-chart-of-context-patient .*status=200 id=\S+/,
      );
      expect(lines[1]).toMatch(/prior-auth-audit-deny\.json: audit-deny +rule=no-population-queries reason=rule-deny/);
      expect(lines[2]).toMatch(
        /unknown-agent\.json: deny +rule=default-deny-unknown-principal reason=unknown-agent status=403/,
      );
      const j = await cli(['call', '--addr', s.addr, '--json', files[0] ?? '']);
      expect(j.out).toMatch(/"ok_response"/);
    } finally {
      await s.stop();
    }
  });

  test('call to a port nobody listens on: exit 2, one line, no stack trace', async () => {
    const r = await cli([
      'call',
      '--addr',
      '127.0.0.1:1',
      '--timeout-ms',
      '2000',
      'examples/requests/unknown-agent.json',
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^phiguard: 127\.0\.0\.1:1: the Check call failed \(.+\)\n$/);
  });
});

describe('CEL errors say where in the expression', () => {
  test.each([
    ["fhir.id == e'", /^CEL syntax error: Unterminated string \(column 13\)$/],
    ['fhir.resourcetype == "x"', /^CEL type error: No such key: resourcetype \(column 6\)$/],
    [
      'fhir.id == "a" &&\n  fhir.id.size() == "b"',
      /^CEL type error: no such overload: int == string \(line 2, column 3\)$/,
    ],
  ])('%j', (source, message) => {
    const r = compileExpression(source);
    expect(r.ok ? 'compiled' : r.error.message).toMatch(message);
  });
});

describe('an unknown key says which key was meant', () => {
  test('policy: did you mean', async () => {
    const t = tempDir({
      'x.yaml': [
        'apiVersion: phiguard.io/v1alpha1',
        'kind: AgentPolicy',
        'metadata: { name: x, desciption: y }',
        'spec:',
        '  selector: { principal: spiffe://cluster.local/ns/a/sa/b }',
        '  tier: batch',
        '  mode: enforce',
        '  scope: []',
        '  rules:',
        '    - name: r',
        '      allow: fhir.isFhir',
        '      allowUnresolve: []',
        '',
      ].join('\n'),
    });
    try {
      const r = await cli(['explain', '--policies', t.dir, 'GET', '/fhir/Patient/p']);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(
        /x\.yaml:3 metadata: Unrecognized key: "desciption" \("desciption": did you mean "description"\?\)/,
      );
      expect(r.err).toMatch(/x\.yaml:12 spec\.rules\[0\]: .*did you mean "allowUnresolved"\?/);
    } finally {
      t.remove();
    }
  });
});

describe('an envelope directory holds envelopes', () => {
  test('only *.envelope.yaml|yml|json files in it are read; a README or a policy beside them is not', () => {
    const t = tempDir({ 'README.yaml': 'not: an envelope\n', 'policy.yaml': 'kind: AgentPolicy\n' });
    try {
      expect(readEnvelopes(t.dir)).toEqual([]);
      t.write('a.envelope.yaml', 'kind: Envelope\n');
      const r = readEnvelopes(t.dir);
      expect(r).toHaveLength(1);
      expect(r[0]?.ok).toBe(false);
      expect(r[0]?.ok === false && r[0].error.message).toMatch(/a\.envelope\.yaml/);
    } finally {
      t.remove();
    }
  });
});
