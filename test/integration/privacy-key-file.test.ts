/**
 * The privacy key file (`--privacy-key-file` / `PHIGUARD_PRIVACY_KEY_FILE`): a configured key that is missing,
 * unreadable or too short stops the service before it listens, with an error naming the setting and the file; a
 * usable key is read as its bytes less one trailing newline. Without a key, the service keeps no patient context:
 * `pause` is entered as `stop` and recorded so.
 */
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { createCheckClient } from '../../generator/call/index.js';
import { privacyKeyOf, readPrivacyKey } from '../../authz/privacy/index.js';
import { startTestServer } from '../helpers/server.js';
import { policyYaml, tempDir } from '../helpers/temp.js';
import { cli } from '../helpers/cli.js';

const SETTING = '(--privacy-key-file / PHIGUARD_PRIVACY_KEY_FILE)';
const P = 'spiffe://cluster.local/ns/lab/sa/lab';
const read = (p: string) => ({
  attributes: {
    source: { principal: P },
    request: { http: { method: 'GET', path: p, host: 'fhir.hospital.internal', headers: {} } },
  },
});

describe('privacy key file', () => {
  const t = tempDir();
  afterAll(() => t.remove());
  const short = t.write('short.key', `${'k'.repeat(31)}\n`);
  const missing = path.join(t.dir, 'missing.key');

  test.each([
    ['missing', missing, 'does not exist'],
    ['a directory', t.dir, 'is a directory'],
    ['too short (31 bytes and a newline)', short, 'holds 31 bytes; at least 32 are needed'],
  ])('a key file that is %s stops the service, naming the setting and the file', async (_name, file, why) => {
    await expect(startTestServer({ privacyKeyFile: file, envelopeDir: path.join(t.dir, 'env') })).rejects.toThrow(
      `privacy key file ${file} ${SETTING} ${why}`,
    );
  });

  test.each([
    ['the flag', ['--privacy-key-file', missing], {}],
    ['the environment', [], { PHIGUARD_PRIVACY_KEY_FILE: missing }],
  ])('phiguard serve refuses to start with a missing key from %s (exit 1)', async (_name, flags, env) => {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const r = await cli([
        'serve',
        '--policies',
        'examples/policies',
        '--port',
        '0',
        '--metrics-port',
        '0',
        '--decisions',
        'inline',
        '--log-level',
        'silent',
        '--audit-file',
        path.join(t.dir, 'audit.jsonl'),
        ...flags,
      ]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`privacy key file ${missing} ${SETTING} does not exist`);
    } finally {
      process.env = saved;
    }
  });

  test('a key is its bytes less one trailing newline', () => {
    const text = 'x'.repeat(40);
    const id = (name: string, content: string): string => {
      const k = readPrivacyKey(t.write(name, content));
      return k.ok ? k.value.id : k.error.message;
    };
    const expected = privacyKeyOf(Buffer.from(text)).id;
    expect([id('plain.key', text), id('lf.key', `${text}\n`), id('crlf.key', `${text}\r\n`)]).toEqual([
      expected,
      expected,
      expected,
    ]);
    expect(id('other.key', 'y'.repeat(40))).not.toBe(expected);
  });

  test('without a key, a pause containment is entered as stop, recorded with the action the policy asked for', async () => {
    const dir = path.join(t.dir, 'containment');
    const s = await startTestServer(
      { containmentDir: dir },
      {
        'lab.yaml': policyYaml(
          'lab',
          '    - name: reads\n      allow: fhir.interaction in ["read", "search-type"]',
          `principal: ${P}`,
          '  containment:\n    action: pause\n    triggers: [outside-envelope]\n',
        ),
      },
    );
    const c = createCheckClient(s.addr);
    try {
      expect((await c.check(read('/fhir/Patient/p-1')))['status']).toEqual({ code: 0 });
      expect((await c.check(read('/fhir/Patient/p-1/$everything')))['status']).toMatchObject({ code: 7 });
      // p-1 was in the context: a pause would serve it; the stop in its place does not.
      expect((await c.check(read('/fhir/Patient/p-1')))['status']).toMatchObject({ code: 7 });
      await s.service.close();
      expect(s.auditRecords().find((r) => r['type'] === 'containment-entered')).toMatchObject({
        action: 'stop',
        requestedAction: 'pause',
      });
    } finally {
      c.close();
      await s.stop();
    }
  });
});
