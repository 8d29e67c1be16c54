/**
 * The documentation is one connected set: every page under docs/ is reachable from README.md by relative links,
 * every relative link in README.md and docs/ names a file that exists, and each heading anchor it names exists.
 * LICENSE, SECURITY.md and CHANGELOG.md are linked from README.md, and README.md stays short (the rest of the
 * documentation is in docs/).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return markdownFiles(p);
    return p.endsWith('.md') ? [p] : [];
  });
}

/** Relative link targets of a markdown file (code blocks and inline code skipped), resolved from the repo root. */
function links(file: string): string[] {
  const text = readFileSync(file, 'utf8')
    .replace(/^```[\s\S]*?^```/gm, '')
    .replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1] ?? '')
    .filter((t) => !/^(https?:|mailto:|#)/.test(t))
    .map((t) => path.normalize(path.join(path.dirname(file), decodeURIComponent(t.split('#')[0] ?? ''))));
}

const pages = markdownFiles('docs');

/** GitHub's heading anchors of a markdown file: lower-case, punctuation dropped, spaces to `-`, repeats numbered. */
function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  for (const m of text.matchAll(/^#{1,6} (.*)$/gm)) {
    const slug = (m[1] ?? '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** Links of `file` to a heading (`page.md#anchor`, `#anchor`) whose anchor the target page does not have. */
function brokenAnchors(file: string): string[] {
  const text = readFileSync(file, 'utf8')
    .replace(/^```[\s\S]*?^```/gm, '')
    .replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]*#[^)\s]+)\)/g)]
    .map((m) => m[1] ?? '')
    .filter((t) => !/^(https?:|mailto:)/.test(t))
    .filter((t) => {
      const [target = '', anchor = ''] = t.split('#');
      const page = target === '' ? file : path.normalize(path.join(path.dirname(file), target));
      return page.endsWith('.md') && existsSync(page) && !anchors(page).has(anchor);
    });
}

describe('documentation links', () => {
  test('every docs/ page is reachable from README.md', () => {
    const seen = new Set<string>(['README.md']);
    const queue = ['README.md'];
    while (queue.length > 0) {
      const file = queue.shift() ?? '';
      for (const target of links(file))
        if (target.endsWith('.md') && existsSync(target) && !seen.has(target)) {
          seen.add(target);
          queue.push(target);
        }
    }
    expect(pages.filter((p) => !seen.has(p))).toEqual([]);
  });

  test('README.md fits on a few screens: what phiguard is, the quickstart, the picture and links (≤ 120 lines)', () => {
    expect(readFileSync('README.md', 'utf8').split('\n').length).toBeLessThanOrEqual(120);
    expect(readFileSync('README.md', 'utf8')).toMatch(/npm ci && npm start[\s\S]*npm ci && npm test/);
  });

  test('README.md links LICENSE, SECURITY.md and CHANGELOG.md', () => {
    expect(links('README.md')).toEqual(expect.arrayContaining(['LICENSE', 'SECURITY.md', 'CHANGELOG.md']));
  });

  test.each(['README.md', ...pages])('every link to a heading in %s names a heading that exists', (file) => {
    expect(brokenAnchors(file)).toEqual([]);
  });

  test.each(['README.md', ...pages])('every relative link in %s names a file that exists', (file) => {
    const outsideRepo = (t: string) => t.startsWith('..');
    expect(links(file).filter((t) => !outsideRepo(t) && !existsSync(t))).toEqual([]);
  });
});
