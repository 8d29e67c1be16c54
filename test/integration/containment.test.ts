/** Tiered containment through gRPC, with two replicas sharing the containment directory. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { createCheckClient } from '../../generator/call/index.js';
import { startTestServer } from '../helpers/server.js';
import { policyYaml, tempDir, timelessRegistry } from '../helpers/temp.js';
import { cli, eventually } from '../helpers/cli.js';

const P = 'spiffe://cluster.local/ns/lab/sa/lab';
const fhir = (p: string) => ({
  attributes: {
    source: { principal: P },
    request: { http: { method: 'GET', path: p, host: 'fhir.hospital.internal', headers: {} } },
  },
});
const out = (host: string) => ({
  attributes: {
    source: { principal: P },
    request: { http: { method: 'POST', path: '/v1/x', host, scheme: 'https', headers: {} } },
  },
});
const rules = `    - name: reads
      allow: fhir.interaction in ["read", "search-type"]
    - name: model
      allow: request.host == "contoso-health.openai.azure.com"`;

describe('containment', () => {
  const t = tempDir();
  afterAll(() => t.remove());
  const code = async (c: ReturnType<typeof createCheckClient>, r: Record<string, unknown>) => {
    const res = await c.check(r);
    const d = res['denied_response'] as { body: string } | undefined;
    return {
      code: (res['status'] as { code: number }).code,
      reason: d
        ? (JSON.parse(d.body) as { issue: Array<{ details: { coding: Array<{ code: string }> } }> }).issue[0]?.details
            .coding[0]?.code
        : undefined,
    };
  };

  test('a live agent is soft-quarantined: outside egress denied on every replica, FHIR keeps working; lift restores it', async () => {
    const dir = path.join(t.dir, 'live');
    timelessRegistry(path.join(t.dir, 'registry.yaml'));
    const files = { 'lab.yaml': policyYaml('lab', rules, `principal: ${P}`) };
    const cfg = { containmentDir: dir, baaRegistry: path.join(t.dir, 'registry.yaml'), replica: 'r1' };
    const a = await startTestServer(cfg, files);
    const b = await startTestServer({ ...cfg, replica: 'r2' }, files);
    const ca = createCheckClient(a.addr);
    const cb = createCheckClient(b.addr);
    try {
      expect(await code(cb, out('contoso-health.openai.azure.com'))).toEqual({ code: 0, reason: undefined });
      // Violation on replica A: egress outside the envelope (no rule allows it).
      expect(await code(ca, out('api.unknown-llm.example'))).toEqual({ code: 7, reason: 'no-rule-matched' });
      expect(await code(ca, out('contoso-health.openai.azure.com'))).toEqual({ code: 7, reason: 'contained' });
      expect(await code(ca, fhir('/fhir/Patient/p-1'))).toEqual({ code: 0, reason: undefined }); // the encounter can finish
      // Replica B sees the shared state within its poll interval.
      await eventually(async () => (await code(cb, out('contoso-health.openai.azure.com'))).reason === 'contained');
      const status = await cli(['status', '--containment-dir', dir, '--format', 'json']);
      expect(JSON.parse(status.out)).toEqual([
        expect.objectContaining({
          agent: 'lab',
          action: 'soft-quarantine',
          trigger: 'outside-envelope',
          replica: 'r1',
        }),
      ]);
      expect(await a.metrics()).toMatch(/^phiguard_contained\{agent="lab",action="soft-quarantine"\} 1$/m);
      expect((await cli(['contain', 'lift', 'lab', '--containment-dir', dir, '--reason', 'reviewed'])).code).toBe(0);
      await eventually(
        async () =>
          (await code(ca, out('contoso-health.openai.azure.com'))).code === 0 &&
          (await code(cb, out('contoso-health.openai.azure.com'))).code === 0,
      );
      await a.server.close();
      const records = readFileSync(a.auditFile, 'utf8');
      expect(records).toContain('"type":"containment-entered"');
      expect(records).toContain('"type":"containment-ended"');
    } finally {
      ca.close();
      cb.close();
      await a.stop();
      await b.stop();
    }
  });

  test('a batch agent is stopped: everything is denied', async () => {
    const dir = path.join(t.dir, 'batch');
    const s = await startTestServer(
      { containmentDir: dir },
      { 'lab.yaml': policyYaml('lab', rules, `principal: ${P}`).replace('tier: live', 'tier: batch') },
    );
    const c = createCheckClient(s.addr);
    expect(await code(c, fhir('/fhir/Patient?_id=p-1&name=smith'))).toEqual({ code: 0, reason: undefined });
    expect(await code(c, fhir('/fhir/Patient/p-1/$everything'))).toEqual({ code: 7, reason: 'no-rule-matched' });
    expect(await code(c, fhir('/fhir/Patient/p-1'))).toEqual({ code: 7, reason: 'contained' });
    c.close();
    await s.stop();
  });

  test("pause serves only the patients already in the agent's context window", async () => {
    const dir = path.join(t.dir, 'pause');
    const s = await startTestServer(
      { containmentDir: dir, privacyKeyFile: t.write('privacy.key', 'k'.repeat(32)) },
      {
        'lab.yaml': policyYaml(
          'lab',
          rules,
          `principal: ${P}`,
          '  containment:\n    action: pause\n    triggers: [outside-envelope]\n',
        ),
      },
    );
    const c = createCheckClient(s.addr);
    expect(await code(c, fhir('/fhir/Patient/p-1'))).toEqual({ code: 0, reason: undefined });
    expect(await code(c, fhir('/fhir/Patient/p-1/$everything'))).toEqual({ code: 7, reason: 'no-rule-matched' });
    expect(await code(c, fhir('/fhir/Observation?patient=p-1'))).toEqual({ code: 0, reason: undefined });
    expect(await code(c, fhir('/fhir/Observation?patient=p-2'))).toEqual({ code: 7, reason: 'contained' });
    const state = readFileSync(path.join(dir, 'lab.containment.json'), 'utf8');
    expect(state).not.toContain('p-1'); // the patient context is stored as keyed digests
    c.close();
    await s.stop();
  });
});
