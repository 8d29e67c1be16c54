/**
 * Usage errors exit 2 in every command, as docs/cli.md says: an unknown option, and a value outside an option's
 * choices, for every command and subcommand commander knows (none of them may exit the process itself).
 */
import { describe, expect, test } from '@jest/globals';
import type { Command } from 'commander';
import { buildCli } from '../../generator/cli.js';
import { cli } from '../helpers/cli.js';

/** Every command below the root, as its argv path (`['generate', 'cilium']`). */
function commandPaths(cmd: Command, prefix: string[] = []): Array<{ argv: string[]; cmd: Command }> {
  return cmd.commands.flatMap((sub) => {
    const argv = [...prefix, sub.name()];
    return [{ argv, cmd: sub }, ...commandPaths(sub, argv)];
  });
}

const commands = commandPaths(buildCli());
const withChoices = commands.flatMap(({ argv, cmd }) =>
  cmd.options
    .filter((o) => Array.isArray(o.argChoices) && o.argChoices.length > 0)
    .map((o) => [`${argv.join(' ')} ${o.long ?? ''}`, argv, o.long ?? ''] as const),
);

describe('usage errors exit 2 in every command', () => {
  test('the CLI has the commands this test walks', () => {
    expect(commands.map((c) => c.argv.join(' '))).toEqual(expect.arrayContaining(['check', 'serve', 'generate']));
    expect(withChoices.map(([name]) => name)).toEqual(expect.arrayContaining(['check --format', 'check --fail-on']));
  });

  test.each(commands.map((c) => [c.argv.join(' '), c.argv] as const))(
    '%s --no-such-option: exit 2',
    async (_n, argv) => {
      const r = await cli([...argv, '--no-such-option']);
      expect(r.code).toBe(2);
      expect(r.err).not.toBe('');
    },
  );

  test.each(withChoices)('%s with a value outside its choices: exit 2', async (_n, argv, flag) => {
    const r = await cli([...argv, flag, 'errro']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/invalid|required|unknown/);
  });

  test('an unknown command exits 2', async () => {
    expect((await cli(['no-such-command'])).code).toBe(2);
  });
});
