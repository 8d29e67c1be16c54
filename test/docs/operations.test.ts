/**
 * docs/operations.md is the runbook for what the deployment ships: every alert of deploy/base/prometheus-rule.yaml
 * has its row there (with what to do), the page names no alert the rules lack, and every failure the runbook promises
 * has its section. (The metrics and reason tables are held against a running service in
 * test/service/signals-metrics.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';

const doc = readFileSync('docs/operations.md', 'utf8');
const rule = yaml.load(readFileSync('deploy/base/prometheus-rule.yaml', 'utf8')) as {
  spec: { groups: Array<{ rules: Array<{ alert?: string }> }> };
};
const alerts = rule.spec.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
const documented = [...doc.matchAll(/^\| `(Phiguard\w+)` \| (\w+) \| [^|]+ \| ([^|]+) \|$/gm)];

describe('docs/operations.md', () => {
  test('every alert of prometheus-rule.yaml has a row with what to do, and no row names an alert that is not there', () => {
    expect(alerts.length).toBeGreaterThan(10);
    expect(documented.map((m) => m[1]).sort()).toEqual([...alerts].sort());
    for (const m of documented) expect([m[1], (m[3] ?? '').trim().length > 10]).toEqual([m[1], true]);
  });

  test('the severity in each row is the rule’s', () => {
    const severity = new Map(
      (rule.spec.groups.flatMap((g) => g.rules) as Array<{ alert?: string; labels?: { severity?: string } }>).map(
        (r) => [r.alert, r.labels?.severity],
      ),
    );
    for (const m of documented) expect([m[1], m[2]]).toEqual([m[1], severity.get(m[1])]);
  });

  test.each(['Audit sink', 'JWKS', 'Decision thread', 'Containment', 'Policy reload', 'BAA registry'])(
    'has a "%s" failure section',
    (title) => {
      expect(doc).toMatch(new RegExp(`^### ${title}$`, 'm'));
    },
  );
});
