/**
 * `phiguard test [PATH…]`: policy tests as data. A PATH is a policy directory (its `*.test.yaml` files run against
 * the policies beside them) or one test file (run against the policies of its directory). Exit 0 when every case
 * passes, 1 when any fails, 2 on usage errors, unreadable or invalid test files, and policies that do not load.
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { ClaimsConfigSchema, createClaimsResolver, formatFinding } from '../../authz/index.js';
import { PhiguardError, type Finding } from '../../authz/model/index.js';
import { POLICY_TEST_FILE, readPolicyDir } from '../../authz/policy/index.js';
import {
  junitReport,
  readPolicyTestFile,
  runPolicyTests,
  textReport,
  type CaseResult,
  type LocatedCase,
} from '../policy-test/index.js';
import { addDecisionSourceOptions, explainSources } from './explain.js';

/** Policy directory -> its test files, in argument order; a directory's tests sorted by name. */
function testFilesByDirectory(paths: readonly string[]): Map<string, string[]> {
  const byDir = new Map<string, string[]>();
  const add = (dir: string, file: string): void => {
    const files = byDir.get(dir) ?? [];
    if (!files.includes(file)) files.push(file);
    byDir.set(dir, files);
  };
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (e) {
      throw new PhiguardError('io', `${p}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, {
        cause: e,
      });
    }
    if (!isDir) {
      if (!POLICY_TEST_FILE.test(p)) throw new PhiguardError('usage', `${p}: a test file is named *.test.yaml`);
      add(path.dirname(p), p);
      continue;
    }
    const tests = readdirSync(p)
      .filter((f) => !f.startsWith('.') && POLICY_TEST_FILE.test(f))
      .sort()
      .map((f) => path.join(p, f));
    if (tests.length === 0) throw new PhiguardError('usage', `${p}: no *.test.yaml files`);
    for (const t of tests) add(p, t);
  }
  return byDir;
}

function printFindings(findings: readonly Finding[]): void {
  for (const f of findings) process.stderr.write(`${formatFinding(f)}\n`);
}

export function testCommand(): Command {
  return addDecisionSourceOptions(new Command('test'))
    .description('run policy tests (*.test.yaml beside the policies); exit 0 all pass, 1 failures, 2 usage')
    .argument('<paths...>', 'policy directories, or test files (their directory holds the policies)')
    .option('--junit <file>', 'also write JUnit XML to this file')
    .option('-v, --verbose', 'list passing cases too')
    .action(async (paths: string[], opts: Record<string, string | string[] | boolean | undefined>) => {
      const sources = explainSources(opts as Record<string, string | string[] | undefined>);
      const bases = (opts['fhirBase'] as string[] | undefined) ?? ['/fhir'];
      const claims = createClaimsResolver(ClaimsConfigSchema.parse({}));
      const results: CaseResult[] = [];
      let unusable = false;
      for (const [dir, files] of testFilesByDirectory(paths)) {
        const loaded = readPolicyDir(dir);
        if (!loaded.ok) {
          printFindings(loaded.error.findings);
          unusable = true;
          continue;
        }
        const cases: LocatedCase[] = [];
        for (const file of files) {
          const read = readPolicyTestFile(file);
          if (read.ok) cases.push(...read.value);
          else {
            printFindings(read.error.findings);
            unusable = true;
          }
        }
        const run = { set: loaded.value.set, claims, fhirBasePaths: bases, sources };
        results.push(...(await runPolicyTests(cases, run)));
      }
      process.stdout.write(textReport(results, opts['verbose'] === true));
      if (typeof opts['junit'] === 'string') writeFileSync(opts['junit'], junitReport(results));
      process.exitCode = unusable ? 2 : results.some((r) => !r.passed) ? 1 : 0;
    });
}
