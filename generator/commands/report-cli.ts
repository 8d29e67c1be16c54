/**
 * `phiguard report …` without the rest of the CLI: bin/phiguard.js enters here for `report` (through the bundle
 * `npm run build` makes of this file, dist/report-cli.bundle.js), so a report loads the report modules only (the full
 * CLI's start-up, gRPC and CEL among it, costs more CPU than scanning a large file).
 */
import { Command } from 'commander';
import { reportCommand } from './report.js';
import { runProgram } from '../run-program.js';

/**
 * Runs the report command; the exit code as runProgram maps it. An error runProgram does not map (a bug) is written
 * as its stack and exits 1, as an uncaught error would, without Node's copy of the throwing source line, which in the
 * minified bundle is a line of many kilobytes (`node --enable-source-maps` maps the stack to the sources).
 */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    return await runProgram(new Command('phiguard').addCommand(reportCommand()), argv);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}
