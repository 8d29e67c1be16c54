/**
 * How `phiguard test` reports: text for the terminal (failures with their diffs, then `N passed, N failed`) and
 * JUnit XML for CI (one testsuite per test file; the schema Jenkins, GitLab and GitHub reporters read).
 */
import path from 'node:path';
import type { CaseResult } from './run-policy-tests.js';

function where(r: CaseResult, cwd: string): string {
  return `${path.relative(cwd, r.file) || r.file}:${r.line}`;
}

/** The lines of one failed case: where, name, and each differing field. */
export function failureText(r: CaseResult, cwd = process.cwd()): string {
  const lines = [`FAIL ${where(r, cwd)} ${r.name}`];
  const width = Math.max(...r.diffs.map((d) => d.field.length));
  for (const d of r.diffs)
    lines.push(`  ${`${d.field}:`.padEnd(width + 1)} expected ${String(d.expected)}, got ${String(d.actual)}`);
  lines.push(
    `  decided: ${r.actual.decision} by ${r.actual.rule} (${r.actual.reason}, ${r.actual.status})` +
      (r.unresolved.length > 0 ? `; unresolved scope: ${r.unresolved.join(', ')}` : ''),
  );
  return lines.join('\n');
}

/** The summary line. */
export function summaryLine(results: readonly CaseResult[]): string {
  const failed = results.filter((r) => !r.passed).length;
  return `${results.length - failed} passed, ${failed} failed`;
}

/** Text output: failures (and, verbose, every pass), then the summary line. */
export function textReport(results: readonly CaseResult[], verbose: boolean, cwd = process.cwd()): string {
  const out: string[] = [];
  for (const r of results) {
    if (!r.passed) out.push(failureText(r, cwd));
    else if (verbose) out.push(`PASS ${where(r, cwd)} ${r.name}`);
  }
  out.push(summaryLine(results));
  return `${out.join('\n')}\n`;
}

const XML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

/** XML 1.0 text: the five entities escaped and characters XML cannot hold dropped. */
function xml(s: string): string {
  return s
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c);
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

/** JUnit XML: a testsuite per test file, a testcase per case, a failure element with the diff for each failure. */
export function junitReport(results: readonly CaseResult[], cwd = process.cwd()): string {
  const byFile = new Map<string, CaseResult[]>();
  for (const r of results) byFile.set(r.file, [...(byFile.get(r.file) ?? []), r]);
  const total = results.length;
  const failed = results.filter((r) => !r.passed).length;
  const time = results.reduce((s, r) => s + r.ms, 0);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="phiguard test" tests="${total}" failures="${failed}" errors="0" time="${seconds(time)}">`,
  ];
  for (const [file, rs] of byFile) {
    const rel = path.relative(cwd, file) || file;
    const f = rs.filter((r) => !r.passed).length;
    const t = rs.reduce((s, r) => s + r.ms, 0);
    out.push(
      `  <testsuite name="${xml(rel)}" tests="${rs.length}" failures="${f}" errors="0" skipped="0" time="${seconds(t)}">`,
    );
    for (const r of rs) {
      const open = `    <testcase classname="${xml(rel)}" name="${xml(r.name)}" file="${xml(rel)}" line="${r.line}" time="${seconds(r.ms)}"`;
      if (r.passed) {
        out.push(`${open}/>`);
        continue;
      }
      const message = r.diffs.map((d) => `${d.field}: expected ${String(d.expected)}, got ${String(d.actual)}`);
      out.push(`${open}>`);
      out.push(
        `      <failure message="${xml(message.join('; '))}" type="decision">${xml(failureText(r, cwd))}</failure>`,
      );
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}
