/** `phiguard parity`: may a staging-built envelope be enforced in production? */
import { Command, Option } from 'commander';
import { readYamlFile } from '../../authz/config/index.js';
import { PhiguardError } from '../../authz/model/index.js';
import { checkParity, expectationsFrom, parityText, ParityExpectationsSchema } from '../parity.js';
import { loadMergedEnvelopes } from './load-envelopes.js';

export function parityCommand(): Command {
  return new Command('parity')
    .description(
      'check a staging envelope against a production sample (or declared expectations): FHIR coverage, burst shape, break-glass classes',
    )
    .requiredOption('--staging <paths...>', 'staging envelope file(s)')
    .option('--production-sample <paths...>', 'production envelope file(s)')
    .option('--expectations <file>', 'declared expectations (YAML/JSON) instead of a production sample')
    .option('--threshold <ratio>', 'minimum staging/production ratio for burst metrics', '0.8')
    .addOption(new Option('--format <format>', 'output').choices(['text', 'json']).default('text'))
    .action(
      (opts: {
        staging: string[];
        productionSample?: string[];
        expectations?: string;
        threshold: string;
        format: string;
      }) => {
        const threshold = Number(opts.threshold);
        if (!(threshold > 0 && threshold <= 1)) throw new PhiguardError('usage', '--threshold must be in (0, 1]');
        const staging = loadMergedEnvelopes(opts.staging);
        if (staging.length !== 1)
          throw new PhiguardError('usage', `--staging must hold exactly one workload (found ${staging.length})`);
        let expected;
        if (opts.expectations !== undefined) {
          const r = readYamlFile(opts.expectations, ParityExpectationsSchema);
          if (!r.ok) throw r.error;
          expected = r.value;
        } else if (opts.productionSample !== undefined) {
          const prod = loadMergedEnvelopes(opts.productionSample);
          if (prod.length !== 1)
            throw new PhiguardError(
              'usage',
              `--production-sample must hold exactly one workload (found ${prod.length})`,
            );
          expected = expectationsFrom(prod[0] as (typeof prod)[number]);
        } else {
          throw new PhiguardError('usage', 'give --production-sample or --expectations');
        }
        const report = checkParity(staging[0] as (typeof staging)[number], expected, threshold);
        process.stdout.write(opts.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : parityText(report));
        if (!report.pass) process.exitCode = 1;
      },
    );
}
