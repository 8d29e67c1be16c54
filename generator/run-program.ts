/**
 * Runs a `phiguard` Commander program and maps its outcome to the exit code: 0 success, 1 findings/deny where a
 * command says so, 2 usage or unreadable input. Shared by the full CLI (cli.ts) and the report entry
 * (commands/report-cli.ts), which loads only the report modules.
 */
import { CommanderError, type Command } from 'commander';
import { isPhiguardError } from '../authz/model/phiguard-error.js';

/**
 * Commander exits the process itself on a usage error in a subcommand unless each command has `exitOverride`
 * (it is not inherited through `addCommand`). Set on every command, a bad option, choice or argument anywhere
 * throws a CommanderError, which `runProgram` turns into exit 2.
 */
export function overrideExits(cmd: Command): Command {
  cmd.exitOverride();
  for (const sub of cmd.commands) overrideExits(sub);
  return cmd;
}

export async function runProgram(program: Command, argv: readonly string[]): Promise<number> {
  try {
    await overrideExits(program).parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    // Usage mistakes and inputs that cannot be read or do not validate (JSON.parse's SyntaxError included).
    if (isPhiguardError(e, 'usage', 'io', 'config', 'data', 'policy') || e instanceof SyntaxError) {
      process.stderr.write(`phiguard: ${e.message}\n`);
      return 2;
    }
    if (e instanceof Error && 'code' in e && typeof e.code === 'string' && e.code.startsWith('E')) {
      process.stderr.write(`phiguard: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
