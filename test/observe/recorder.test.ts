/** The service records envelopes for every agent through the real gRPC path, and flushes them on shutdown. */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { CheckInputSchema, summarize } from '../../authz/index.js';
import { readEnvelope } from '../../authz/observe/index.js';
import { createCheckClient, toGrpcCheckRequest } from '../../generator/call/index.js';
import { exampleRequest, startTestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

describe('envelope recording in the service', () => {
  test('records allowed traffic per workload and writes it on shutdown', async () => {
    const s0 = await startTestServer();
    const envelopeDir = path.join(s0.dir, 'envelopes');
    await s0.stop();
    const keys = tempDir({ 'privacy.key': 'k'.repeat(32) });
    const s = await startTestServer({
      envelopeDir,
      replica: 'test-1',
      envelopeFlushMs: 60_000,
      privacyKeyFile: path.join(keys.dir, 'privacy.key'),
    });
    const client = createCheckClient(s.addr);
    const send = (name: string, mutate?: (a: Record<string, unknown>) => void) => {
      const g = toGrpcCheckRequest(CheckInputSchema.parse(exampleRequest(name)));
      mutate?.(g['attributes'] as Record<string, unknown>);
      return client.check(g);
    };
    for (let i = 0; i < 5; i++) await send('scribe-read-encounter.json');
    await send('scribe-note-transaction.json');
    await send('scribe-population-search.json'); // denied: must not be recorded
    await send('cds-vitals-search.json', (a) => {
      a['destination'] = {
        principal: 'spiffe://cluster.local/ns/fhir/sa/fhir-server',
        address: { socket_address: { address: '10.1.1.1', port_value: 8080 } },
      };
    });
    client.close();
    await s.server.close();
    const files = readdirSync(envelopeDir).sort();
    expect(files).toEqual(['cds.sepsis-advisor.test-1.envelope.yaml', 'scribe.ambient-scribe.test-1.envelope.yaml']);
    const scribe = readEnvelope(path.join(envelopeDir, 'scribe.ambient-scribe.test-1.envelope.yaml'));
    expect(scribe.ok).toBe(true);
    if (!scribe.ok) return;
    const e = scribe.value.envelope;
    expect(e.spec.workload).toMatchObject({
      kind: 'Deployment',
      name: 'ambient-scribe',
      namespace: 'scribe',
      serviceAccount: 'ambient-scribe',
      podLabels: { 'app.kubernetes.io/name': 'ambient-scribe' },
    });
    expect(e.spec.observation.requests).toBe(6);
    expect(e.spec.fhir).toEqual([
      { resourceType: 'DocumentReference', interaction: 'create', operation: '', count: 1 },
      { resourceType: 'Encounter', interaction: 'search-type', operation: '', count: 5 },
      { resourceType: 'Provenance', interaction: 'create', operation: '', count: 1 },
      { resourceType: '', interaction: 'transaction', operation: '', count: 1 },
    ]);
    // The read example carries destination port 8080; the transaction example has no destination (http default 80).
    expect(e.spec.egress).toEqual([
      {
        host: 'fhir.hospital.internal',
        port: 80,
        protocol: 'TCP',
        transports: ['plaintext'],
        methods: ['POST'],
        paths: ['/fhir'],
        count: 1,
      },
      {
        host: 'fhir.hospital.internal',
        port: 8080,
        protocol: 'TCP',
        transports: ['plaintext'],
        methods: ['GET'],
        paths: ['/fhir/Encounter'],
        count: 5,
      },
    ]);
    expect(summarize(e).patients.distinctEstimate).toBe(1);
    expect(JSON.stringify(e)).not.toContain('p-1001'); // no patient ids in envelopes
    const cds = readEnvelope(path.join(envelopeDir, 'cds.sepsis-advisor.test-1.envelope.yaml'));
    expect(cds.ok && cds.value.envelope.spec.egress[0]).toMatchObject({
      port: 8080,
      transports: ['tls'],
      peer: { namespace: 'fhir', serviceAccount: 'fhir-server' },
    });
    await s.stop();
    keys.remove();
  });

  test('without a privacy key the envelope records no patient sketch', async () => {
    const s0 = await startTestServer();
    const envelopeDir = path.join(s0.dir, 'envelopes');
    await s0.stop();
    const s = await startTestServer({ envelopeDir, replica: 'test-1', envelopeFlushMs: 60_000 });
    const client = createCheckClient(s.addr);
    const g = toGrpcCheckRequest(CheckInputSchema.parse(exampleRequest('scribe-read-encounter.json')));
    expect((await client.check(g))['status']).toEqual({ code: 0 });
    client.close();
    await s.server.close();
    const scribe = readEnvelope(path.join(envelopeDir, 'scribe.ambient-scribe.test-1.envelope.yaml'));
    expect(scribe.ok && scribe.value.envelope.spec.patientsHourly).toEqual({});
    expect(scribe.ok && scribe.value.envelope.spec.observation.requests).toBe(1);
    await s.stop();
  });
});
