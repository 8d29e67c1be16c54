/**
 * envoy/envoy.yaml is tested: the Envoy bootstrap is checked against Envoy's own protos (unknown fields are errors,
 * every typed_config resolved) and its ext_authz settings against what phiguard needs. The Istio manifests are
 * tested in istio-manifests.test.ts. No Envoy runs here; these are protocol- and schema-level checks (see
 * docs/testing.md).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { envoyTypes } from '../../generator/envoy/envoy-root.js';
import { validateProtoJson } from '../../generator/envoy/validate-proto-json.js';
import { sharedDir } from '../helpers/shared.js';

type Obj = Record<string, unknown>;
const root = envoyTypes();
const bootstrap = yaml.load(readFileSync('envoy/envoy.yaml', 'utf8')) as Obj;
const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

function at(o: unknown, ...keys: Array<string | number>): unknown {
  let cur: unknown = o;
  for (const k of keys) cur = (cur as Record<string | number, unknown> | undefined)?.[k];
  return cur;
}

const hcm = at(bootstrap, 'static_resources', 'listeners', 0, 'filter_chains', 0, 'filters', 0, 'typed_config') as Obj;
const filters = hcm['http_filters'] as Array<{ name: string; typed_config: Obj }>;
const extAuthz = filters.find((f) => f.name === 'envoy.filters.http.ext_authz')?.typed_config ?? {};
const jwt = filters.find((f) => f.name === 'envoy.filters.http.jwt_authn')?.typed_config ?? {};

describe('envoy/envoy.yaml against Envoy protos', () => {
  test('is a valid Bootstrap with no unknown fields and no deprecated ones', () => {
    expect(validateProtoJson(root, BOOTSTRAP, bootstrap)).toEqual([]);
  });

  test('ext_authz: gRPC, V3, fail closed, body forwarded for Bundles, jwt_authn metadata passed', () => {
    expect(extAuthz).toMatchObject({
      transport_api_version: 'V3',
      failure_mode_allow: false,
      grpc_service: { envoy_grpc: { cluster_name: 'phiguard' } },
      with_request_body: { allow_partial_message: true, pack_as_bytes: true },
      metadata_context_namespaces: ['envoy.filters.http.jwt_authn'],
    });
    expect(at(extAuthz, 'with_request_body', 'max_request_bytes')).toBeGreaterThanOrEqual(1024 * 1024);
  });

  test('jwt_authn runs first and writes the payload where phiguard reads it', () => {
    expect(filters.map((f) => f.name)).toEqual([
      'envoy.filters.http.jwt_authn',
      'envoy.filters.http.ext_authz',
      'envoy.filters.http.router',
    ]);
    expect(at(jwt, 'providers', 'hospital_idp', 'payload_in_metadata')).toBe('jwt_payload'); // phiguard default
  });

  test('the path reaches phiguard as sent: no normalization, escaped slashes rejected', () => {
    expect(hcm).toMatchObject({
      normalize_path: false,
      merge_slashes: false,
      path_with_escaped_slashes_action: 'REJECT_REQUEST',
    });
  });

  test('the phiguard cluster speaks HTTP/2 with 1 MiB windows', () => {
    const cluster = (at(bootstrap, 'static_resources', 'clusters') as Obj[]).find((c) => c['name'] === 'phiguard');
    expect(
      at(
        cluster,
        'typed_extension_protocol_options',
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        'explicit_http_config',
        'http2_protocol_options',
      ),
    ).toMatchObject({
      initial_stream_window_size: 1048576,
      initial_connection_window_size: 1048576,
    });
  });

  // Negative controls: the checker must reject what Envoy would reject.
  const mutate = (f: (b: Obj) => void): Obj => {
    const copy = structuredClone(bootstrap);
    f(copy);
    return copy;
  };
  const authzOf = (b: Obj) =>
    at(
      b,
      'static_resources',
      'listeners',
      0,
      'filter_chains',
      0,
      'filters',
      0,
      'typed_config',
      'http_filters',
      1,
      'typed_config',
    ) as Obj;
  test.each([
    [
      'a misspelled field',
      (b: Obj) => {
        authzOf(b)['failure_mode_alow'] = false;
      },
      /unknown field "failure_mode_alow"/,
    ],
    [
      'a bad enum',
      (b: Obj) => {
        authzOf(b)['transport_api_version'] = 'V4';
      },
      /not one of/,
    ],
    [
      'two members of a oneof',
      (b: Obj) => {
        (authzOf(b)['grpc_service'] as Obj)['google_grpc'] = { target_uri: 'x', stat_prefix: 'x' };
      },
      /same oneof/,
    ],
    [
      'a bad duration',
      (b: Obj) => {
        (authzOf(b)['grpc_service'] as Obj)['timeout'] = '500ms';
      },
      /duration/,
    ],
    [
      'a wrong scalar type',
      (b: Obj) => {
        authzOf(b)['failure_mode_allow'] = 'no';
      },
      /true or false/,
    ],
  ])('rejects %s', (_n, f, message) => {
    const findings = validateProtoJson(root, BOOTSTRAP, mutate(f)).filter((x) => x.severity === 'error');
    expect(findings.map((x) => x.message).join('\n')).toMatch(message);
  });
});

test.each([
  [
    'an extension type the shipped API does not define',
    'envoy.extensions.filters.http.ext_authz.v9.ExtAuthz',
    /is not in the Envoy data-plane-api as shipped in @grpc\/grpc-js-xds \d/,
  ],
])('%s is a warning naming the API version the checker knows, not an error', (_n, type, message) => {
  const b = structuredClone(bootstrap);
  const hcmCopy = at(b, 'static_resources', 'listeners', 0, 'filter_chains', 0, 'filters', 0, 'typed_config') as Obj;
  const authzCopy = (hcmCopy['http_filters'] as Obj[]).find((f) => f['name'] === 'envoy.filters.http.ext_authz');
  (authzCopy?.['typed_config'] as Obj)['@type'] = `type.googleapis.com/${type}`;
  const findings = validateProtoJson(root, BOOTSTRAP, b);
  expect(findings.map((f) => [f.code, f.severity])).toEqual([['not-in-known-api', 'warning']]);
  expect(findings[0]?.message).toMatch(message);
});

describe('every type the shipped data-plane-api defines resolves', () => {
  test.each([
    'envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor',
    'envoy.extensions.filters.http.csrf.v3.CsrfPolicy',
    'envoy.extensions.filters.http.buffer.v3.Buffer',
    'envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec',
    'envoy.extensions.bootstrap.internal_listener.v3.InternalListener',
    'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
    'envoy.config.trace.v3.ZipkinConfig',
  ])('%s', (name) => {
    const t = root.lookup(name);
    expect('missing' in t ? t.detail : t.fullName).toBe(`.${name}`);
  });
});

describe('every upstream Envoy config (../shared/envoy) parses against the protos with no error', () => {
  const dir = sharedDir('envoy', 'examples-upstream');
  /**
   * What is newer than the shipped protos (@grpc/grpc-js-xds 1.14.1) is a warning, never an error: jwt_authn
   * `claim_path` (shared/envoy/README.md says so). The test fails when the list changes.
   */
  const NEWER: Record<string, string[]> = {
    'configs-jwt_authn.yaml': [
      'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.providers.firebase.claim_to_headers[2].claim_path',
    ],
  };
  const files = dir ? readdirSync(dir).sort() : [];
  (dir ? test.each(files) : test.skip.each(['(../shared absent)']))('%s', (file) => {
    const doc = yaml.load(readFileSync(path.join(dir ?? '', file), 'utf8'));
    const findings = validateProtoJson(root, BOOTSTRAP, doc).filter((f) => f.code !== 'deprecated');
    expect(findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(findings.map((f) => f.path)).toEqual(NEWER[file] ?? []);
  });
});

describe('upstream Envoy ext_authz examples (../shared/envoy)', () => {
  const dir = sharedDir('envoy', 'examples-upstream');
  const files = dir ? readdirSync(dir).filter((f) => f.startsWith('ext_authz')) : [];
  (dir ? test.each(files) : test.skip.each(['(../shared absent)']))('%s is accepted', (file) => {
    const doc = yaml.load(readFileSync(path.join(dir ?? '', file), 'utf8'));
    expect(validateProtoJson(root, BOOTSTRAP, doc).filter((f) => f.severity === 'error')).toEqual([]);
  });
});
