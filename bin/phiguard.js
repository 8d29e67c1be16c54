#!/usr/bin/env node
// The `phiguard` command. The TypeScript sources are compiled to dist/ by `npm ci` (the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = (p) => new URL(`../dist/${p}`, import.meta.url);
// `phiguard report` loads only the report modules (a streaming scan; the whole CLI's start-up would cost more), as
// one file that `npm run build` bundles (loading them module by module costs a report 50 ms more).
// `phiguard serve` loads only the serve command: the service's threads then hold no module only the CLI uses.
const bundle = dist('report-cli.bundle.js');
const cli =
  process.argv[2] === 'serve'
    ? dist('generator/commands/serve-cli.js')
    : process.argv[2] !== 'report'
      ? dist('generator/cli.js')
      : existsSync(fileURLToPath(bundle))
        ? bundle
        : dist('generator/commands/report-cli.js');
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('phiguard: dist/ is missing; run `npm run build` (npm ci does it for you)\n');
  process.exit(2);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv);
