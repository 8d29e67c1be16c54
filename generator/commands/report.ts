/** `phiguard report accounting|breakglass|aibom|baa-violations` over audit JSON lines. */
import { Command, Option } from 'commander';
import { accounting, aibom, baaViolations, breakglass, formatRows, parseTime, type Period } from '../report/index.js';
import { PhiguardError } from '../../authz/model/index.js';

const format = (): Option =>
  new Option('--format <format>', 'output').choices(['table', 'json', 'csv']).default('table');
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
type Fmt = 'table' | 'json' | 'csv';

export function reportCommand(): Command {
  const cmd = new Command('report').description('evidence from the audit trail (JSON lines; files or - for stdin)');
  cmd
    .command('accounting')
    .description('every AI-agent access to one patient (45 CFR 164.528 accounting of disclosures)')
    .argument('<audit...>', 'audit files')
    .requiredOption('--patient <id>', 'patient id')
    .option('--since <time>', 'ISO time or 90d/24h')
    .option('--until <time>', 'ISO time or 1d')
    .option('--include-denied', 'also list denied attempts')
    .addOption(format())
    .action(
      async (
        files: string[],
        o: { patient: string; since?: string; until?: string; includeDenied?: boolean; format: Fmt },
      ) => {
        process.stdout.write(
          formatRows(await accounting(files, o.patient, period(o), o.includeDenied === true), o.format),
        );
      },
    );
  cmd
    .command('breakglass')
    .description('every break-glass lane access and what it touched')
    .argument('<audit...>', 'audit files')
    .option('--since <time>', 'ISO time or 90d', '90d')
    .option('--until <time>', 'ISO time')
    .addOption(format())
    .action(async (files: string[], o: { since?: string; until?: string; format: Fmt }) => {
      process.stdout.write(formatRows(await breakglass(files, period(o)), o.format));
    });
  cmd
    .command('aibom')
    .description('per agent, every outside endpoint contacted, with BAA status at first contact')
    .argument('<audit...>', 'audit files')
    .addOption(format())
    .action(async (files: string[], o: { format: Fmt }) => {
      process.stdout.write(formatRows(await aibom(files), o.format));
    });
  cmd
    .command('baa-violations')
    .description('outside requests denied for a missing, terminated or expired BAA')
    .argument('<audit...>', 'audit files')
    .option('--since <time>', 'ISO time or 30d')
    .option('--until <time>', 'ISO time')
    .addOption(format())
    .action(async (files: string[], o: { since?: string; until?: string; format: Fmt }) => {
      process.stdout.write(formatRows(await baaViolations(files, period(o)), o.format));
    });
  return cmd;
}
