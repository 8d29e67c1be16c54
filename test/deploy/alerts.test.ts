/**
 * The PrometheusRule of deploy/base, as rendered: its groups pass `promtool check rules`, and the unit tests of
 * fixtures/alert-tests.yaml pass `promtool test rules` (each alert fires on the failure it names, with its labels and
 * annotations, and stays silent before). Every alert has a test in which it fires. promtool comes with Debian's
 * `prometheus` package; without it these tests are skipped, loudly.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { tempDir } from '../helpers/temp.js';
import { arr, at, render, testWhenKubectl, type Obj } from './render.js';

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
const FIXTURE = 'test/deploy/fixtures/alert-tests.yaml';

function testWhenPromtool(what: string): typeof test.skip {
  if (PROMTOOL === undefined) {
    process.stderr.write(`\n*** SKIPPED ***: ${what}: needs promtool (apt-get install prometheus), not installed\n\n`);
    return test.skip;
  }
  return testWhenKubectl(what);
}

const rule = render('deploy/base').find((d) => d['kind'] === 'PrometheusRule');
const groups = arr(at(rule, 'spec', 'groups'));
const alerts = groups.flatMap((g) => arr(g['rules'])).map((r) => String(r['alert']));

describe('the alert rules', () => {
  const t = tempDir();
  afterAll(() => t.remove());
  const rules = path.join(t.dir, 'rules.yaml');
  writeFileSync(rules, yaml.dump({ groups }));

  testWhenKubectl('alert rules')('the PrometheusRule renders with alerts', () => {
    expect(alerts.length).toBeGreaterThan(10);
  });

  testWhenPromtool('promtool check rules')('pass `promtool check rules`', () => {
    const r = spawnSync(PROMTOOL ?? '', ['check', 'rules', rules], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(r.status).toBe(0);
  });

  testWhenPromtool('promtool test rules')('pass their unit tests (`promtool test rules`)', () => {
    copyFileSync(FIXTURE, path.join(t.dir, 'alert-tests.yaml'));
    const out = execFileSync(PROMTOOL ?? '', ['test', 'rules', 'alert-tests.yaml'], { cwd: t.dir, encoding: 'utf8' });
    expect(out).toContain('SUCCESS');
  });

  testWhenPromtool('promtool test rules')('a broken expectation fails (the unit tests are read and compared)', () => {
    const broken = yaml.load(readFixture()) as Obj as { tests: Array<{ alert_rule_test: Obj[] }> };
    const first = broken.tests[0]?.alert_rule_test.find((a) => arr(a['exp_alerts']).length > 0);
    (at(first, 'exp_alerts', 0, 'exp_labels') as Obj)['severity'] = 'info';
    writeFileSync(path.join(t.dir, 'broken-tests.yaml'), yaml.dump(broken));
    const r = spawnSync(PROMTOOL ?? '', ['test', 'rules', 'broken-tests.yaml'], { cwd: t.dir, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
  });

  testWhenKubectl('alert rules')('every alert has a unit test in which it fires', () => {
    const tests = (yaml.load(readFixture()) as { tests: Array<{ alert_rule_test: Obj[] }> }).tests;
    const firing = new Set(
      tests.flatMap((x) => x.alert_rule_test.filter((a) => arr(a['exp_alerts']).length > 0).map((a) => a['alertname'])),
    );
    expect(alerts.filter((a) => !firing.has(a))).toEqual([]);
  });
});

function readFixture(): string {
  return readFileSync(FIXTURE, 'utf8');
}
