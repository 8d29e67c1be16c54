/**
 * `phiguard report …` without the rest of the CLI: bin/phiguard.js enters here for `report`, so a report loads the
 * report modules only (the full CLI's start-up, gRPC and CEL among it, costs more CPU than scanning a large file).
 */
import { Command } from 'commander';
import { reportCommand } from './report.js';
import { runProgram } from '../run-program.js';

export function main(argv: readonly string[]): Promise<number> {
  return runProgram(new Command('phiguard').addCommand(reportCommand()), argv);
}
