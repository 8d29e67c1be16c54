/** `phiguard status` (containment states) and `phiguard contain lift AGENT`. */
import { Command, Option } from 'commander';
import { createContainmentStore } from '../../authz/containment/index.js';
import { formatRows } from '../report/index.js';

export function statusCommand(): Command {
  return new Command('status')
    .description('containment state of every agent (from the shared containment directory)')
    .addOption(
      new Option('--containment-dir <dir>', 'the directory phiguard serve uses')
        .env('PHIGUARD_CONTAINMENT_DIR')
        .makeOptionMandatory(),
    )
    .addOption(new Option('--format <format>', 'output').choices(['table', 'json', 'csv']).default('table'))
    .action((o: { containmentDir: string; format: 'table' | 'json' | 'csv' }) => {
      const store = createContainmentStore(o.containmentDir, 60_000);
      const rows = store.list(Date.now()).map((s) => ({
        agent: s.agent,
        action: s.action,
        trigger: s.trigger,
        since: s.since,
        until: s.until,
        replica: s.replica,
        decisionId: s.decisionId,
      }));
      store.close();
      process.stdout.write(
        rows.length === 0 && o.format === 'table' ? 'no agent is contained\n' : formatRows(rows, o.format),
      );
    });
}

export function containCommand(): Command {
  const cmd = new Command('contain').description('manage containment');
  cmd
    .command('lift')
    .description(
      "lift an agent's containment explicitly (every replica sees it at its next poll; the service audits it)",
    )
    .argument('<agent>', 'agent policy name')
    .addOption(
      new Option('--containment-dir <dir>', 'the directory phiguard serve uses')
        .env('PHIGUARD_CONTAINMENT_DIR')
        .makeOptionMandatory(),
    )
    .action((agent: string, o: { containmentDir: string }) => {
      const store = createContainmentStore(o.containmentDir, 60_000);
      const had = store.lift(agent);
      store.close();
      process.stdout.write(had ? `lifted containment of ${agent}\n` : `${agent} was not contained\n`);
      if (!had) process.exitCode = 1;
    });
  return cmd;
}
