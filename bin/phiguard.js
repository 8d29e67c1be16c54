#!/usr/bin/env node
// The `phiguard` command. The TypeScript sources are compiled to dist/ by `npm ci` (the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// `phiguard report` loads only the report modules (a streaming scan; the whole CLI's start-up would cost more).
const cli = new URL(
  process.argv[2] === 'report' ? '../dist/generator/commands/report-cli.js' : '../dist/generator/cli.js',
  import.meta.url,
);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('phiguard: dist/ is missing; run `npm run build` (npm ci does it for you)\n');
  process.exit(2);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv);
