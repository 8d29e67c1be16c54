/** The YAML reader every phiguard input goes through: file, line, document and field on every problem. */
import { describe, expect, test } from '@jest/globals';
import { z } from 'zod';
import { parseYamlDocuments, readYamlDocument, readYamlFile } from '../../authz/config/index.js';
import { readBaaRegistry } from '../../authz/egress/index.js';
import { tempDir } from '../helpers/temp.js';

const Schema = z.object({ name: z.string(), ports: z.array(z.number()).default([]) }).strict();

describe('readYamlDocument / parseYamlDocuments', () => {
  test('valid documents come back validated (defaults applied), located', () => {
    const { documents, findings } = parseYamlDocuments(
      'name: a\n---\n\n# two\nname: b\nports: [1]\n---\n',
      'f.yaml',
      Schema,
    );
    expect(findings).toEqual([]);
    expect(documents.map((d) => [d.value, d.document, d.line])).toEqual([
      [{ name: 'a', ports: [] }, 0, 1],
      [{ name: 'b', ports: [1] }, 1, 5],
    ]);
  });

  test('schema problems name the line of the field, unknown keys their own line', () => {
    const { findings } = parseYamlDocuments('name: a\nports:\n  - 1\n  - "two"\nnmae: x\n', 'f.yaml', Schema);
    expect(findings).toEqual([
      expect.objectContaining({ code: 'schema', file: 'f.yaml', document: 0, path: 'ports[1]', line: 4 }),
      expect.objectContaining({
        code: 'schema',
        file: 'f.yaml',
        document: 0,
        path: '',
        line: 5,
        message: expect.stringMatching(/nmae/),
      }),
    ]);
  });

  test('YAML 1.2 core schema: yes and dates stay strings; duplicate keys are errors', () => {
    const S = z.object({ a: z.string(), d: z.string() }).strict();
    expect(readYamlDocument('a: yes\nd: 2026-01-01\n', 'f.yaml', S)).toEqual({
      ok: true,
      value: { a: 'yes', d: '2026-01-01' },
    });
    const dup = readYamlDocument('a: x\na: y\nd: z\n', 'f.yaml', S);
    expect(dup.ok).toBe(false);
    if (!dup.ok) expect(dup.error.findings[0]).toMatchObject({ code: 'yaml', line: 2 });
  });

  test('a single-document input with several documents is a config error', () => {
    const r = readYamlDocument('name: a\n---\nname: b\n', 'f.yaml', Schema);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('config');
      expect(r.error.findings[0]).toMatchObject({ code: 'document-count', line: 3 });
    }
  });

  test('an unreadable file is an io error naming file and errno code', () => {
    const r = readYamlFile('no/such/file.yaml', Schema);
    expect(r.ok).toBe(false);
    if (!r.ok) expect([r.error.code, r.error.message]).toEqual(['io', 'no/such/file.yaml: cannot read (ENOENT)']);
  });

  test('a BAA registry error now carries the line (and keeps file and field)', () => {
    const t = tempDir({
      'r.yaml':
        'apiVersion: phiguard.io/v1alpha1\nkind: BAARegistry\nmetadata: { name: r }\nspec:\n  vendors:\n    - name: v\n      agreementId: a\n      status: lapsed\n      effective: "2026-01-01"\n      endpoints: [{ host: a.example }]\n',
    });
    try {
      const r = readBaaRegistry(`${t.dir}/r.yaml`);
      expect(r.ok).toBe(false);
      if (!r.ok)
        expect(r.error.message).toMatch(
          new RegExp(`^error schema at ${t.dir}/r.yaml:8 spec\\.vendors\\[0\\]\\.status: `),
        );
    } finally {
      t.remove();
    }
  });
});
