/**
 * Hot reload (atomic swap; a bad set keeps the last good one, loudly), the HTTP/2 windows Envoy's traffic shape
 * needs, and the wire protocol spoken without grpc-js: raw HTTP/2 + gRPC framing + protobufjs encoding. Both run in
 * both topologies (TOPOLOGIES: `inline`, one thread; `thread`, decisions and policy reload on the decision thread).
 */
import http2 from 'node:http2';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { loadEnvoyRoot } from '../../proto/envoy-protos.js';
import { createCheckClient, type CheckClient } from '../../generator/call/index.js';
import { TOPOLOGIES, type ServiceUnderTest } from '../helpers/server.js';
import { policyYaml } from '../helpers/temp.js';
import { eventually } from '../helpers/cli.js';

const principal = 'spiffe://cluster.local/ns/lab/sa/lab';
const read = {
  attributes: { source: { principal }, request: { http: { method: 'GET', path: '/fhir/Patient/p-1', headers: {} } } },
};
const statusOf = async (c: CheckClient) => ((await c.check(read))['status'] as { code: number }).code;

describe.each(TOPOLOGIES)('policy hot reload (%s)', (_topology, start) => {
  let s: ServiceUnderTest;
  let client: CheckClient;
  const policyVersion = async () => (await s.readyz()).body['policyVersion'];
  beforeAll(async () => {
    s = await start(
      {},
      {
        'lab.yaml': policyYaml(
          'lab',
          '    - name: reads\n      allow: fhir.interaction == "read"',
          `principal: ${principal}`,
        ),
      },
    );
    client = createCheckClient(s.addr);
  });
  afterAll(async () => {
    client.close();
    await s.stop();
  });

  test('a valid change takes effect without restart; an invalid one is rejected and the last good set stays', async () => {
    expect(await statusOf(client)).toBe(0);
    const v1 = await policyVersion();

    writeFileSync(
      path.join(s.policiesDir, 'lab.yaml'),
      policyYaml('lab', '    - name: nothing\n      allow: "false"', `principal: ${principal}`),
    );
    await eventually(async () => (await statusOf(client)) === 7);
    const v2 = await policyVersion();
    expect(v2).not.toBe(v1);

    writeFileSync(
      path.join(s.policiesDir, 'lab.yaml'),
      policyYaml('lab', '    - name: typo\n      allow: fhir.resourcetype == "Patient"', `principal: ${principal}`),
    );
    await eventually(async () => /^phiguard_policy_stale 1$/m.test(await s.metrics()));
    expect(await policyVersion()).toBe(v2);
    expect(await statusOf(client)).toBe(7); // still the last good set, never open
    expect(await s.metrics()).toMatch(/^phiguard_policy_reloads_total\{result="failure"\} [1-9]/m);
    expect((await s.readyz()).body).toMatchObject({ ready: true, policyStale: true, policyVersion: v2 });

    writeFileSync(
      path.join(s.policiesDir, 'lab.yaml'),
      policyYaml('lab', '    - name: reads\n      allow: fhir.interaction == "read"', `principal: ${principal}`),
    );
    await eventually(async () => (await statusOf(client)) === 0);
    expect(await s.metrics()).toMatch(/^phiguard_policy_stale 0$/m);
  });
});

describe.each(TOPOLOGIES)('on the wire (%s)', (_topology, start) => {
  let s: ServiceUnderTest;
  beforeAll(async () => {
    s = await start();
  });
  afterAll(async () => {
    await s.stop();
  });

  test('advertises 1 MiB HTTP/2 stream and connection windows (Envoy multiplexes all checks on one connection)', async () => {
    const session = http2.connect(`http://${s.addr}`);
    await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
    expect(session.remoteSettings.initialWindowSize).toBe(1024 * 1024);
    await eventually(() => Promise.resolve((session.state.remoteWindowSize ?? 0) >= 1024 * 1024), 2000);
    session.close();
  });

  test('a raw HTTP/2 gRPC call encoded with protobufjs gets grpc-status 0 and a decodable CheckResponse', async () => {
    const root = loadEnvoyRoot(['envoy/service/auth/v3/external_auth.proto']);
    const CheckRequest = root.lookupType('envoy.service.auth.v3.CheckRequest');
    const CheckResponse = root.lookupType('envoy.service.auth.v3.CheckResponse');
    const msg = CheckRequest.fromObject({
      attributes: {
        source: { principal: 'spiffe://cluster.local/ns/cds/sa/sepsis-advisor' },
        request: {
          http: {
            method: 'GET',
            path: '/fhir/Observation?patient=p-3&category=laboratory',
            host: 'fhir.hospital.internal',
            headers: { accept: 'application/fhir+json' },
          },
        },
      },
    });
    const payload = Buffer.from(CheckRequest.encode(msg).finish());
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), payload]);
    frame.writeUInt32BE(payload.length, 1);

    const session = http2.connect(`http://${s.addr}`);
    const stream = session.request({
      ':method': 'POST',
      ':path': '/envoy.service.auth.v3.Authorization/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let trailers: http2.IncomingHttpHeaders = {};
    let headers: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.end(frame);
    await new Promise((r) => stream.on('close', r));
    session.close();

    expect(headers[':status']).toBe(200);
    expect(headers['content-type']).toBe('application/grpc+proto');
    expect(trailers['grpc-status']).toBe('0'); // HTTP 200 alone is not gRPC OK
    const body = Buffer.concat(chunks);
    expect(body[0]).toBe(0); // not compressed
    const res = CheckResponse.toObject(CheckResponse.decode(body.subarray(5, 5 + body.readUInt32BE(1))), {
      enums: String,
    }) as Record<string, unknown>;
    expect(res['status']).toEqual({ code: 0 });
    expect(
      (res['ok_response'] as { headers: Array<{ header: { key: string; value: string } }> }).headers.map((h) => [
        h.header.key,
        h.header.value,
      ]),
    ).toEqual(
      expect.arrayContaining([
        ['x-phiguard-decision', 'allow'],
        ['x-phiguard-agent', 'cds-sepsis'],
        ['x-phiguard-rule', 'vitals-and-labs'],
      ]),
    );
  });
});
