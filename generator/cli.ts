/**
 * The `phiguard` command: one entry point dispatching to both wings.
 * Exit codes: 0 success, 1 findings/deny where a command says so, 2 usage or unreadable input.
 */
import { Command, CommanderError } from 'commander';
import {
  attestCommand,
  callCommand,
  checkCommand,
  containCommand,
  envelopeCommand,
  explainCommand,
  generateCommand,
  parityCommand,
  reportCommand,
  serveCommand,
  statusCommand,
  testCommand,
} from './commands/index.js';
import { isPhiguardError } from '../authz/model/index.js';

/**
 * Commander exits the process itself on a usage error in a subcommand unless each command has `exitOverride`
 * (it is not inherited through `addCommand`). Set on every command, a bad option, choice or argument anywhere
 * throws a CommanderError, which `main` turns into exit 2.
 */
function overrideExits(cmd: Command): Command {
  cmd.exitOverride();
  for (const sub of cmd.commands) overrideExits(sub);
  return cmd;
}

export function buildCli(): Command {
  return overrideExits(buildCommands());
}

function buildCommands(): Command {
  return new Command('phiguard')
    .description('FHIR-aware ext_authz and Cilium policy tooling for healthcare AI agents')
    .version('0.1.0')
    .addCommand(serveCommand())
    .addCommand(explainCommand())
    .addCommand(callCommand())
    .addCommand(envelopeCommand())
    .addCommand(generateCommand())
    .addCommand(attestCommand())
    .addCommand(parityCommand())
    .addCommand(checkCommand())
    .addCommand(testCommand())
    .addCommand(reportCommand())
    .addCommand(statusCommand())
    .addCommand(containCommand());
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync([...argv]);
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
