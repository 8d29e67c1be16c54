/** `phiguard call`: send CheckRequest JSON files to a running service over gRPC and print the responses. */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { CheckInputSchema } from '../../authz/index.js';
import { createCheckClient, toGrpcCheckRequest } from '../call/index.js';
import { PhiguardError } from '../../authz/model/index.js';

export function callCommand(): Command {
  return new Command('call')
    .description(
      'send CheckRequest JSON file(s) to a phiguard (or any ext_authz) gRPC service; print each CheckResponse',
    )
    .argument('<files...>', 'CheckRequest JSON files (Envoy JSON shape: {"attributes": {...}})')
    .addOption(new Option('--addr <host:port>', 'service address').env('PHIGUARD_ADDR').default('127.0.0.1:9191'))
    .action(async (files: string[], opts: { addr: string }) => {
      const client = createCheckClient(opts.addr);
      try {
        for (const file of files) {
          const parsed = CheckInputSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
          if (!parsed.success) throw new PhiguardError('usage', `${file}: not a CheckRequest`);
          const res = await client.check(toGrpcCheckRequest(parsed.data));
          const status = res['status'] as { code?: number } | undefined;
          const denied = res['denied_response'] as { status?: { code?: string | number }; body?: string } | undefined;
          const line = status?.code === 0 ? 'ALLOW' : `DENY ${String(denied?.status?.code ?? '')}`;
          process.stdout.write(`${file}: ${line}\n${JSON.stringify(res, null, 2)}\n`);
        }
      } finally {
        client.close();
      }
    });
}
