/** The `phiguard` command from the TypeScript sources, for tests that run the service as a process of its own. */
import { main } from '../../generator/cli.js';

process.exitCode = await main(process.argv);
