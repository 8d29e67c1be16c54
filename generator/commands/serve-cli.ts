/**
 * The `phiguard serve` entry (bin/phiguard.js routes `serve` here): the serve command alone, without the CLI's other
 * commands, whose modules (the Kubernetes client behind apply/discover/check --cluster, about 90 MB) the service's
 * main thread would otherwise load and keep.
 */
import { Command } from 'commander';
import { runProgram } from '../run-program.js';
import { serveCommand } from './serve.js';

export async function main(argv: readonly string[]): Promise<number> {
  return runProgram(new Command('phiguard').addCommand(serveCommand()), argv);
}
