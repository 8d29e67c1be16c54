/**
 * The trace ids phiguard records from a request's headers: the W3C traceparent format only (version 00, lower-case
 * hex, ids not all zeros), else B3 single or multi headers; anything malformed counts as absent. Cases are in
 * fixtures/trace-headers.yaml.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { z } from 'zod';
import { loggableRequestId, traceIds } from '../../authz/model/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const Case = z.object({
  name: z.string(),
  headers: z.record(z.string(), z.string()),
  traceId: z.string(),
  spanId: z.string(),
});
const cases = z.array(Case).parse(yaml.load(readFileSync(path.join(here, 'fixtures/trace-headers.yaml'), 'utf8')));

describe('trace context', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(traceIds(new Map(Object.entries(c.headers)))).toEqual({ traceId: c.traceId, spanId: c.spanId });
  });

  test('no headers at all', () => {
    expect(traceIds(undefined)).toEqual({ traceId: '', spanId: '' });
  });

  test.each([
    ['7f3e0b8e-52c1-4d0e-9a51-3c0f1e7a9d21', '7f3e0b8e-52c1-4d0e-9a51-3c0f1e7a9d21'],
    ['req-1.a:b_c', 'req-1.a:b_c'],
    ['', ''],
    ['patient p-1001', ''],
    ['a\nb', ''],
    ['x'.repeat(129), ''],
  ])('request id %j is logged as %j', (id, logged) => {
    expect(loggableRequestId(id)).toBe(logged);
  });
});
