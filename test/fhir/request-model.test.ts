/**
 * FHIR request-model conformance: every interaction of FHIR R4 http.html and the hostile cases, as data
 * (request-model.cases.yaml).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { z } from 'zod';
import { createFhirRequestParser } from '../../authz/fhir/index.js';
import { FHIR_INTERACTIONS } from '../../authz/model/attributes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const Case = z.object({
  name: z.string(),
  request: z.object({
    method: z.string(),
    path: z.string(),
    headers: z.record(z.string(), z.string()).default({}),
    body: z.string().optional(),
    truncated: z.boolean().default(false),
    /** `:authority`; absolute references with this host and a FHIR base are this server's. */
    host: z.string().optional(),
  }),
  expect: z.record(z.string(), z.unknown()),
});
const cases = z.array(Case).parse(yaml.load(readFileSync(path.join(here, 'request-model.cases.yaml'), 'utf8')));
const parse = createFhirRequestParser({ basePaths: ['/fhir', '/fhir/R4'] });

describe('FHIR request model', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const attrs = parse({
      method: c.request.method,
      path: c.request.path,
      headers: c.request.headers,
      body: c.request.body,
      bodyTruncated: c.request.truncated,
      host: c.request.host,
    });
    // `params` is the Map CEL sees; the table writes it as an object.
    expect({ ...attrs, params: Object.fromEntries(attrs.params) }).toMatchObject(c.expect);
  });

  test('the table covers every interaction', () => {
    const seen = new Set(cases.map((c) => c.expect['interaction']).filter((i): i is string => typeof i === 'string'));
    for (const i of FHIR_INTERACTIONS) expect(seen).toContain(i);
  });

  test('a body that is not valid UTF-8 JSON never throws', () => {
    for (const body of [
      '\u0000',
      '[]',
      'null',
      '"x"',
      '{"resourceType":"Bundle","type":"batch","entry":{}}',
      '{"resourceType":"Bundle","type":"batch","entry":[null]}',
    ]) {
      for (const p of ['/fhir', '/fhir/Observation', '/fhir/Patient/p-1']) {
        for (const method of ['POST', 'PUT']) {
          expect(() =>
            parse({
              method,
              path: p,
              headers: { 'content-type': 'application/fhir+json' },
              body,
              bodyTruncated: false,
            }),
          ).not.toThrow();
        }
      }
    }
  });

  test('deeply nested bodies are bounded, not a stack overflow', () => {
    const body = `{"resourceType":"Observation","x":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const attrs = parse({
      method: 'POST',
      path: '/fhir/Observation',
      headers: { 'content-type': 'application/fhir+json' },
      body,
      bodyTruncated: false,
    });
    expect(attrs.patientsUnresolved).toContain('body-too-complex');
  });
});
