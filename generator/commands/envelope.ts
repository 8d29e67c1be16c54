/** `phiguard envelope merge|import-hubble`. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { envelopeFileName, serializeEnvelope } from '../../authz/index.js';
import { importHubble } from '../envelope/index.js';
import { loadMergedEnvelopes } from './load-envelopes.js';

function writeAll(envs: ReturnType<typeof loadMergedEnvelopes>, out: string): void {
  mkdirSync(out, { recursive: true });
  for (const e of envs) {
    const file = path.join(out, envelopeFileName(e));
    writeFileSync(file, serializeEnvelope(e));
    process.stdout.write(`${file}\n`);
  }
}

export function envelopeCommand(): Command {
  const cmd = new Command('envelope').description('behavioral envelopes: merge replicas, import Hubble flows');
  cmd
    .command('merge')
    .description('merge envelope files (e.g. one per replica) into one envelope per workload')
    .argument('<paths...>', 'envelope files or directories')
    .requiredOption('--out <dir>', 'output directory')
    .action((paths: string[], opts: { out: string }) => {
      writeAll(loadMergedEnvelopes(paths), opts.out);
    });
  cmd
    .command('import-hubble')
    .description('build envelopes from `hubble observe -o json` output')
    .argument('<file>', 'Hubble JSON lines (- for stdin)')
    .requiredOption('--out <dir>', 'output directory')
    .action((file: string, opts: { out: string }) => {
      const r = importHubble(readFileSync(file === '-' ? 0 : file, 'utf8'));
      writeAll(r.envelopes, opts.out);
      process.stderr.write(
        `import-hubble: ${r.lines} lines, ${r.envelopes.length} workload(s); skipped ${JSON.stringify(r.skipped)}\n`,
      );
    });
  return cmd;
}
