/**
 * `phiguard report accounting|breakglass|aibom|baa-violations` over audit JSON lines: files (several replicas,
 * gzipped or not) or - for stdin. docs/reports.md says what each report is and the regulation it serves.
 */
import { Command, Option } from 'commander';
import {
  accounting,
  aibom,
  baaViolations,
  breakglass,
  formatReport,
  parseTime,
  type Period,
  type ReadInput,
  type Report,
  type ReportFormat,
} from '../report/index.js';
import { PhiguardError } from '../../authz/model/phiguard-error.js';

const format = (): Option =>
  new Option('--format <format>', 'output').choices(['table', 'json', 'csv']).default('table');
const skipCorrupt = (): Option =>
  new Option(
    '--skip-corrupt',
    'skip lines that are not audit records (counted in the header) instead of failing with exit 2',
  );
const period = (o: { since?: string; until?: string }): Period => {
  try {
    return {
      since: o.since !== undefined ? parseTime(o.since) : 0,
      until: o.until !== undefined ? parseTime(o.until) : Number.MAX_SAFE_INTEGER,
    };
  } catch (e) {
    throw new PhiguardError('usage', e instanceof Error ? e.message : 'bad time', { cause: e });
  }
};

interface Common {
  skipCorrupt?: boolean;
  format: ReportFormat;
}

const input = (files: string[], o: Common): ReadInput => ({
  files,
  skipCorrupt: o.skipCorrupt === true,
  onSkipped: (file, count, first) =>
    process.stderr.write(
      `phiguard report: ${file}: ${count} line(s) skipped (not audit records), first at line(s) ${first.join(', ')}\n`,
    ),
});

const print = (r: Report, o: Common): void => {
  process.stdout.write(formatReport(r, o.format));
};

export function reportCommand(): Command {
  const cmd = new Command('report').description(
    'evidence from the audit trail (JSON lines, .gz or plain; several files are merged in time order; - for stdin)',
  );
  cmd
    .command('accounting')
    .description(
      "one patient's access report: every AI-agent access (HITECH 13405(c) access log; not by itself a 164.528 " +
        'accounting, which excludes TPO), and the accesses not attributed to any patient',
    )
    .argument('<audit...>', 'audit files')
    .requiredOption('--patient <id>', 'patient id')
    .option('--since <time>', 'ISO time or 90d/24h (applied to requestTime, the access time)')
    .option('--until <time>', 'ISO time or 1d')
    .option('--agent <name>', 'only this agent')
    .option('--include-denied', 'also list denied attempts')
    .addOption(skipCorrupt())
    .addOption(format())
    .action(
      async (
        files: string[],
        o: Common & { patient: string; since?: string; until?: string; agent?: string; includeDenied?: boolean },
      ) => {
        const opts = { includeDenied: o.includeDenied === true, ...(o.agent !== undefined ? { agent: o.agent } : {}) };
        print(await accounting(input(files, o), o.patient, period(o), opts), o);
      },
    );
  cmd
    .command('breakglass')
    .description('every break-glass access and what it touched, and every failed lane attempt')
    .argument('<audit...>', 'audit files')
    .option('--since <time>', 'ISO time or 90d', '90d')
    .option('--until <time>', 'ISO time')
    .addOption(skipCorrupt())
    .addOption(format())
    .action(async (files: string[], o: Common & { since?: string; until?: string }) => {
      print(await breakglass(input(files, o), period(o)), o);
    });
  cmd
    .command('aibom')
    .description('per agent, every outside endpoint contacted, with BAA status at first contact')
    .argument('<audit...>', 'audit files')
    .addOption(skipCorrupt())
    .addOption(format())
    .action(async (files: string[], o: Common) => {
      print(await aibom(input(files, o)), o);
    });
  cmd
    .command('baa-violations')
    .description('every outside-egress attempt without an active BAA, whichever rule or lane denied it')
    .argument('<audit...>', 'audit files')
    .option('--since <time>', 'ISO time or 30d')
    .option('--until <time>', 'ISO time')
    .addOption(skipCorrupt())
    .addOption(format())
    .action(async (files: string[], o: Common & { since?: string; until?: string }) => {
      print(await baaViolations(input(files, o), period(o)), o);
    });
  return cmd;
}
