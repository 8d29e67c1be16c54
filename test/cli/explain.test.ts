/** `phiguard explain` end to end through the CLI entry point (in-process), with output captured. */
import { describe, expect, test } from '@jest/globals';
import { cli } from '../helpers/cli.js';

describe('phiguard explain', () => {
  test('prints attributes and the full decision trace for a method and path', async () => {
    const r = await cli([
      'explain',
      'GET',
      '/fhir/Encounter?patient=p-1001',
      '--policies',
      'examples/policies',
      '--principal',
      'spiffe://cluster.local/ns/scribe/sa/ambient-scribe',
      '--host',
      'fhir.hospital.internal',
      '--claims',
      '{"sub":"Practitioner/dr-okafor","patient":"p-1001","encounter":"e-77"}',
    ]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as {
      attributes: { fhir: Record<string, unknown>; auth: Record<string, unknown> };
      decision: { outcome: string; rule: string; trace: Array<{ rule: string; result: unknown }> };
    };
    expect(j.attributes.fhir).toMatchObject({
      interaction: 'search-type',
      resourceType: 'Encounter',
      patients: ['p-1001'],
    });
    expect(j.attributes.auth).toMatchObject({ source: 'jwt_authn', subject: 'Practitioner/dr-okafor' });
    expect(j.decision).toMatchObject({ outcome: 'allow', rule: 'read-chart-of-context-patient' });
    // explain evaluates every rule, not just up to the deciding one
    expect(j.decision.trace.map((t) => t.rule)).toEqual([
      'hospital-fhir-server-only',
      'require-clinician',
      'require-launch-context',
      'no-bulk-export',
      'no-population-queries',
      'no-includes',
      'only-the-encounter-patient',
      'note-links-stay-in-the-encounter',
      'draft-note-with-model',
      'read-chart-of-context-patient',
      'read-context-patient',
      'read-context-encounter',
      'write-draft-note',
      'note-transaction',
    ]);
  });

  test('reads a CheckRequest file; --expect turns it into a CI gate', async () => {
    const allow = await cli([
      'explain',
      '--policies',
      'examples/policies',
      '--check-request',
      'examples/requests/scribe-note-transaction.json',
      '--expect',
      'allow',
    ]);
    expect(allow.code).toBe(0);
    const deny = await cli([
      'explain',
      '--policies',
      'examples/policies',
      '--check-request',
      'examples/requests/scribe-population-search.json',
      '--expect',
      'allow',
    ]);
    expect(deny.code).toBe(1);
  });

  test('bad policy directory: findings on stderr, exit 2', async () => {
    const r = await cli(['explain', 'GET', '/fhir/metadata', '--policies', 'does-not-exist']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/cannot read policy directory/);
  });

  test('usage errors exit 2', async () => {
    expect((await cli(['explain', '--policies', 'examples/policies'])).code).toBe(2);
    expect((await cli(['explain', 'GET', '/x', '--policies', 'examples/policies', '-H', 'no-colon'])).code).toBe(2);
  });
});
