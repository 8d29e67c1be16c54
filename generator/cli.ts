/**
 * The `phiguard` command: one entry point dispatching to both wings.
 * Exit codes: 0 success, 1 findings/deny where a command says so, 2 usage or unreadable input.
 */
import { Command } from 'commander';
import {
  applyCommand,
  attestCommand,
  callCommand,
  checkCommand,
  containCommand,
  discoverCommand,
  envelopeCommand,
  explainCommand,
  generateCommand,
  parityCommand,
  reportCommand,
  serveCommand,
  statusCommand,
  testCommand,
  wasmConfigCommand,
} from './commands/index.js';
import { overrideExits, runProgram } from './run-program.js';

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
    .addCommand(generateCommand().addCommand(wasmConfigCommand()))
    .addCommand(attestCommand())
    .addCommand(parityCommand())
    .addCommand(checkCommand())
    .addCommand(testCommand())
    .addCommand(reportCommand())
    .addCommand(statusCommand())
    .addCommand(containCommand())
    .addCommand(applyCommand())
    .addCommand(discoverCommand());
}

export async function main(argv: readonly string[]): Promise<number> {
  return runProgram(buildCli(), argv);
}
