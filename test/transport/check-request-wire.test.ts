/**
 * The Check path's wire decoder against the reference: protobufjs decoding with Envoy's own protos followed by
 * fromGrpcCheckRequest. Same CheckInput for every request; malformed bytes are errors, never exceptions.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import protobuf from 'protobufjs';
import { z } from 'zod';
import { CheckInputSchema } from '../../authz/index.js';
import { fromGrpcCheckRequest } from '../../authz/transport/index.js';
import { checkInputFor } from '../../generator/explain/index.js';
import { toGrpcCheckRequest } from '../../generator/call/index.js';
import { decodeCheckRequest } from '../../authz/transport/check-request-wire.js';
import { authzRoot } from '../../authz/transport/grpc-codec.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = authzRoot();
const Req = root.lookupType('envoy.service.auth.v3.CheckRequest');
const Ctx = root.lookupType('envoy.service.auth.v3.AttributeContext');
const encode = (o: Record<string, unknown>): Buffer => Buffer.from(Req.encode(Req.fromObject(o)).finish());
const reference = (b: Buffer): unknown => {
  try {
    return fromGrpcCheckRequest(Req.decode(b));
  } catch {
    return 'throws';
  }
};

const Case = z.object({
  name: z.string(),
  request: z.object({
    method: z.string(),
    path: z.string(),
    headers: z.record(z.string(), z.string()).default({}),
    body: z.string().optional(),
  }),
});
const cases = z.array(Case).parse(yaml.load(readFileSync(path.join(here, '../fhir/request-model.cases.yaml'), 'utf8')));
const exampleDir = path.join(here, '../../examples/requests');
const examples = readdirSync(exampleDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => [f, CheckInputSchema.parse(JSON.parse(readFileSync(path.join(exampleDir, f), 'utf8')))] as const);

const claims = {
  sub: 'dr-ß',
  patient: 'p-1',
  exp: 1_900_000_000,
  nbf: -5.5,
  roles: ['physician', 'resident'],
  smart: { fhirUser: 'Practitioner/1', nested: { deep: [1, 'two', null, true, false, { x: [] }] } },
  none: null,
  empty: {},
  emptyList: [],
};

/** Variations of one request in the proto-object form protobufjs encodes. */
function variants(base: Record<string, unknown>): Array<[string, Record<string, unknown>]> {
  const attrs = (base['attributes'] ?? {}) as Record<string, unknown>;
  const req = (attrs['request'] ?? {}) as Record<string, unknown>;
  const http = (req['http'] ?? {}) as Record<string, unknown>;
  const headers = (http['headers'] ?? {}) as Record<string, string>;
  const body = typeof http['body'] === 'string' ? http['body'] : undefined;
  const httpRest = Object.fromEntries(Object.entries(http).filter(([k]) => k !== 'body' && k !== 'headers'));
  return [
    ['as is', base],
    [
      'envoy extras: peers with addresses, time, size, context extensions, tls, route metadata, query',
      {
        attributes: {
          ...attrs,
          source: {
            ...(attrs['source'] as object),
            service: 'svc',
            labels: { a: 'b' },
            certificate: 'PEM',
            address: { socket_address: { address: '10.0.0.7', port_value: 41234 } },
          },
          destination: {
            principal: 'spiffe://cluster.local/ns/fhir/sa/fhir',
            address: { socket_address: { address: 'fd00::1', port_value: 8080 } },
          },
          request: {
            time: { seconds: '1764064800', nanos: 123_456_789 },
            http: { ...http, query: 'a=1', fragment: 'f', size: '1048576' },
          },
          context_extensions: { route: 'fhir', 'x-y': 'z' },
          tls_session: { sni: 'fhir.local' },
          route_metadata_context: { filter_metadata: { r: { fields: { k: { stringValue: 'v' } } } } },
        },
      },
    ],
    [
      'jwt_authn claims of every Value kind',
      {
        attributes: {
          ...attrs,
          metadata_context: toGrpcCheckRequest({
            attributes: {
              metadata_context: {
                filter_metadata: { 'envoy.filters.http.jwt_authn': { jwt_payload: claims }, other: {} },
              },
            },
          })['attributes'],
        },
      },
    ],
    [
      'header_map instead of headers, raw_body instead of body',
      {
        attributes: {
          ...attrs,
          request: {
            ...req,
            http: {
              ...httpRest,
              header_map: {
                headers: [
                  ...Object.entries(headers).map(([key, v], i) =>
                    i % 2 === 0 ? { key: key.toUpperCase(), value: v } : { key, raw_value: Buffer.from(v) },
                  ),
                  { key: 'x-dup', value: 'a' },
                  { key: 'X-Dup', value: 'b' },
                  { key: '', value: 'no key' },
                ],
              },
              ...(body !== undefined ? { raw_body: Buffer.from(body) } : {}),
            },
          },
        },
      },
    ],
    [
      'address without a socket address',
      {
        attributes: {
          ...attrs,
          source: { ...(attrs['source'] as object), address: { pipe: { path: '/run/x.sock' } } },
        },
      },
    ],
  ];
}

const inputs: Array<[string, Record<string, unknown>]> = [];
for (const [f, input] of examples)
  for (const [v, o] of variants(toGrpcCheckRequest(input))) inputs.push([`${f} (${v})`, o]);
for (const c of cases) {
  const input = checkInputFor({
    principal: 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe',
    method: c.request.method,
    path: c.request.path,
    headers: c.request.headers,
    ...(c.request.body !== undefined ? { body: c.request.body } : {}),
    claims,
  });
  for (const [v, o] of variants(toGrpcCheckRequest(input))) inputs.push([`${c.name} (${v})`, o]);
}

describe('CheckRequest wire decoder', () => {
  test('covers the examples and the request-model table', () => {
    expect(inputs.length).toBeGreaterThan(400);
  });

  test.each(inputs)('%s', (_name, o) => {
    const bytes = encode(o);
    const ours = decodeCheckRequest(bytes);
    expect(ours).toEqual(reference(bytes));
    expect(ours.ok).toBe(true);
  });

  test('field order on the wire does not matter (AttributeContext fields written in reverse)', () => {
    for (const [name, o] of inputs.slice(0, 60)) {
      const ctx = Ctx.fromObject(o['attributes'] ?? {});
      const w = protobuf.Writer.create();
      // Each field of the context encoded alone, then emitted last field first.
      const parts: Uint8Array[] = [];
      for (const field of Ctx.fieldsArray) {
        const v: unknown = (ctx as unknown as Record<string, unknown>)[field.name];
        if (
          v === null ||
          v === undefined ||
          (typeof v === 'object' && Object.keys(v).length === 0 && !(v instanceof protobuf.Message))
        )
          continue;
        parts.push(
          Ctx.encode(
            Ctx.fromObject({ [field.name]: Ctx.toObject(ctx, { longs: String, bytes: Array })[field.name] }),
          ).finish(),
        );
      }
      const inner = Buffer.concat(parts.reverse());
      w.uint32((1 << 3) | 2).bytes(inner);
      const bytes = Buffer.from(w.finish());
      expect([name, decodeCheckRequest(bytes)]).toEqual([name, reference(bytes)]);
    }
  });

  test('unknown fields at every level are skipped', () => {
    const bytes = encode(inputs[0]?.[1] ?? {});
    const w = protobuf.Writer.create();
    w.uint32((99 << 3) | 0)
      .uint64(150)
      .uint32((98 << 3) | 5)
      .fixed32(7)
      .uint32((97 << 3) | 1)
      .double(1.5)
      .uint32((96 << 3) | 2)
      .string('AB');
    const unknown = Buffer.from(w.finish());
    const withUnknown = Buffer.concat([unknown, bytes, unknown]);
    expect(decodeCheckRequest(withUnknown)).toEqual(decodeCheckRequest(bytes));
  });

  test('every truncation is an error or a shorter valid message, never an exception, and agrees with protobufjs on which', () => {
    for (const [, o] of inputs.slice(0, 10)) {
      const bytes = encode(o);
      for (let n = 0; n < bytes.length; n++) {
        const cut = bytes.subarray(0, n);
        const ours = decodeCheckRequest(cut);
        const ref = reference(cut);
        if (ref === 'throws') expect(ours.ok).toBe(false);
        else expect(ours).toEqual(ref);
      }
    }
  });

  test('malformed input is an error with a code and no request content', () => {
    const principal = 'spiffe://cluster.local/ns/x/sa/secret-name';
    const good = encode({ attributes: { source: { principal } } });
    expect(decodeCheckRequest(good).ok).toBe(true);
    // principal (field 4) sent as a varint: wrong wire type for a known field.
    const wrong = encode({ attributes: { source: { principal: 'x' } } });
    const idx = wrong.indexOf((4 << 3) | 2);
    wrong[idx] = (4 << 3) | 0;
    const r = decodeCheckRequest(wrong);
    expect(r).toEqual({ ok: false, error: 'malformed-check-request:wrong-wire-type' });
    expect(decodeCheckRequest(Buffer.from([0x0a, 0x05, 0x01]))).toEqual({
      ok: false,
      error: 'malformed-check-request:length-out-of-bounds',
    });
    expect(decodeCheckRequest(Buffer.from([0x13]))).toEqual({
      ok: false,
      error: 'malformed-check-request:invalid-wire-type',
    });
    expect(
      decodeCheckRequest(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])),
    ).toEqual({ ok: false, error: 'malformed-check-request:varint-too-long' });
    expect(decodeCheckRequest(Buffer.alloc(0))).toEqual({ ok: false, error: 'check-request-without-attributes' });
    for (const x of [r, decodeCheckRequest(good.subarray(0, good.length - 3))])
      expect(JSON.stringify(x)).not.toContain('secret');
  });

  test('nesting is bounded like protoc and protobufjs (depth 100), not a stack overflow', () => {
    const W = (): protobuf.Writer => protobuf.Writer.create();
    const nested = (levels: number): Buffer => {
      let value: Uint8Array = W()
        .uint32((3 << 3) | 2)
        .string('leaf')
        .finish();
      for (let i = 0; i < levels; i++) {
        const entry = W()
          .uint32((1 << 3) | 2)
          .string('k')
          .uint32((2 << 3) | 2)
          .bytes(value)
          .finish();
        const struct = W()
          .uint32((1 << 3) | 2)
          .bytes(entry)
          .finish();
        value = W()
          .uint32((5 << 3) | 2)
          .bytes(struct)
          .finish();
      }
      const fields = W()
        .uint32((1 << 3) | 2)
        .bytes(
          W()
            .uint32((1 << 3) | 2)
            .string('k')
            .uint32((2 << 3) | 2)
            .bytes(value)
            .finish(),
        )
        .finish();
      const fm = W()
        .uint32((1 << 3) | 2)
        .bytes(
          W()
            .uint32((1 << 3) | 2)
            .string('ns')
            .uint32((2 << 3) | 2)
            .bytes(fields)
            .finish(),
        )
        .finish();
      const ctx = W()
        .uint32((11 << 3) | 2)
        .bytes(fm)
        .finish();
      return Buffer.from(
        W()
          .uint32((1 << 3) | 2)
          .bytes(ctx)
          .finish(),
      );
    };
    for (const levels of [10, 47, 48, 49, 500]) {
      const bytes = nested(levels);
      const ours = decodeCheckRequest(bytes);
      const ref = reference(bytes);
      if (ref === 'throws') expect(ours).toEqual({ ok: false, error: 'malformed-check-request:too-deep' });
      else expect(ours).toEqual(ref);
    }
    expect(decodeCheckRequest(nested(10)).ok).toBe(true);
    expect(decodeCheckRequest(nested(500)).ok).toBe(false);
  });

  test.each([
    ['headers', { Authorization: 'Bearer t', COOKIE: 'c=1', 'X-Foo': 'a', 'x-foo': 'b' }],
    ['header_map', undefined],
  ])('header names in %s are lower-cased, and names that differ only in case combined', (kind, headers) => {
    const http =
      kind === 'headers'
        ? { method: 'GET', path: '/fhir/Patient/p-1', headers }
        : {
            method: 'GET',
            path: '/fhir/Patient/p-1',
            header_map: {
              headers: [
                { key: 'Authorization', value: 'Bearer t' },
                { key: 'COOKIE', value: 'c=1' },
                { key: 'X-Foo', value: 'a' },
                { key: 'x-foo', value: 'b' },
              ],
            },
          };
    const bytes = encode({ attributes: { request: { http } } });
    const ours = decodeCheckRequest(bytes);
    expect(ours).toEqual(reference(bytes));
    expect(ours.ok && ours.input.attributes.request?.http?.headers).toEqual({
      authorization: 'Bearer t',
      cookie: 'c=1',
      'x-foo': 'a,b',
    });
  });
});
