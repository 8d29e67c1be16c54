/**
 * The generated reference pages are what the code says today: docs/attributes.md (the attribute model and its CEL
 * types), docs/cli.md (every command and option) and docs/check/<ID>.md (one page per check rule, with the finding
 * the rule really reports). A field, option or rule changed without `npm run generate:docs` fails here.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { RULES } from '../../generator/check/index.js';
import { CEL_VARIABLES } from '../../authz/model/index.js';
import { attributeRows, attributesPage, generatedPages } from '../../scripts/generate-docs.js';

const pages = generatedPages();

describe('generated docs', () => {
  test.each([...pages.keys()])('%s is up to date (npm run generate:docs)', (file) => {
    expect(existsSync(file) ? readFileSync(file, 'utf8') : `${file} is missing`).toBe(pages.get(file));
  });

  test('every check rule has a page, docs/check.md links each one, and no page names a rule the catalog lacks', () => {
    const ids = RULES.map((r) => r.id).sort();
    expect(
      readdirSync('docs/check')
        .map((f) => f.replace(/\.md$/, ''))
        .sort(),
    ).toEqual(ids);
    const index = readFileSync('docs/check.md', 'utf8');
    for (const id of ids) expect(index).toContain(`](check/${id}.md)`);
  });

  test('the attribute page has a row per CEL variable field, with its doc comment', () => {
    const rows = attributeRows();
    const leaves = (decl: unknown, prefix: string): string[] =>
      typeof decl === 'string'
        ? [prefix]
        : Object.entries(decl as Record<string, unknown>).flatMap(([k, v]) => [
            ...(typeof v === 'string' ? [] : [prefix ? `${prefix}.${k}` : k]),
            ...leaves(v, prefix ? `${prefix}.${k}` : k),
          ]);
    const expected = leaves(CEL_VARIABLES, '');
    expect(rows.filter((r) => !r.path.includes('[]')).map((r) => r.path)).toEqual(expected);
    for (const r of rows) expect([r.path, r.doc.length > 0]).toEqual([r.path, true]);
    expect(attributesPage()).toContain('| `fhir.entries[].patientsUnresolved` | `list<string>` |');
  });

  test('a model field missing from CEL_VARIABLES is a generation error, not a silent row', () => {
    const source = readFileSync('authz/model/attributes.ts', 'utf8').replace(
      '    /** Peer IP address, e.g. `10.0.3.7`. */\n    address: string;\n',
      '    /** Peer IP address, e.g. `10.0.3.7`. */\n    address: string;\n    /** New. */\n    port: string;\n',
    );
    expect(() => attributeRows(source)).toThrow(/source\.port: in RequestAttributesModel but not in CEL_VARIABLES/);
  });
});
