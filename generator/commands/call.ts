/**
 * `phiguard call`: send CheckRequest JSON files to a running service over gRPC. One line per request (the decision
 * as audited, rule, reason, HTTP status, decision id), or each whole CheckResponse with `--json`.
 */
import { Command, Option } from 'commander';
import { CheckInputSchema } from '../../authz/index.js';
import { PhiguardError } from '../../authz/model/index.js';
import { createCheckClient, toGrpcCheckRequest } from '../call/index.js';
import { readJsonFile } from '../read-input.js';
import { loadAuthzPackageDefinition } from '../../proto/envoy-protos.js';

type Fields = Record<string, { stringValue?: string } | undefined>;

/** HTTP status numbers by envoy.type.v3.StatusCode name (the client reads enums as names: `Forbidden`). */
function statusNumbers(): ReadonlyMap<string, number> {
  const def = loadAuthzPackageDefinition()['envoy.type.v3.StatusCode'] as
    { type?: { value?: Array<{ name: string; number: number }> } } | undefined;
  return new Map((def?.type?.value ?? []).map((v) => [v.name, v.number]));
}
let statusByName: ReadonlyMap<string, number> | undefined;
const httpStatus = (code: string | number): string =>
  String(typeof code === 'number' ? code : ((statusByName ??= statusNumbers()).get(code) ?? code));

/** `allow|deny|audit-deny rule=… reason=… status=… id=…` from phiguard's dynamic metadata and the denied status. */
export function summaryOf(res: Record<string, unknown>): string {
  const meta = (res['dynamic_metadata'] as { fields?: Fields } | undefined)?.fields ?? {};
  const status = res['status'] as { code?: number } | undefined;
  const denied = res['denied_response'] as { status?: { code?: string | number } } | undefined;
  // Another ext_authz service sends no metadata: the gRPC status is all there is.
  const decision = meta['decision']?.stringValue ?? (status?.code === 0 ? 'allow' : 'deny');
  const http = denied?.status?.code !== undefined ? httpStatus(denied.status.code) : '200';
  const field = (k: string): string => meta[k]?.stringValue ?? '';
  return `${decision.padEnd(10)} rule=${field('rule')} reason=${field('reason')} status=${http} id=${field('decision_id')}`;
}

/** A gRPC failure (nothing listening, a deadline) as a message: code and details, no stack. */
function callFailed(addr: string, e: unknown): PhiguardError {
  const g = e as { code?: number; details?: string };
  const detail = typeof g.details === 'string' && g.details !== '' ? g.details : e instanceof Error ? e.message : '';
  return new PhiguardError('io', `${addr}: the Check call failed (${detail || 'no details'})`);
}

export function callCommand(): Command {
  return new Command('call')
    .description('send CheckRequest JSON file(s) to a phiguard (or any ext_authz) gRPC service; one line per answer')
    .argument('<files...>', 'CheckRequest JSON files (Envoy JSON shape: {"attributes": {...}})')
    .addOption(new Option('--addr <host:port>', 'service address').env('PHIGUARD_ADDR').default('127.0.0.1:9191'))
    .option('--json', 'print each whole CheckResponse as JSON instead of the one-line summary')
    .option('--timeout-ms <ms>', 'deadline per Check', '5000')
    .action(async (files: string[], opts: { addr: string; json?: boolean; timeoutMs: string }) => {
      const timeout = Number(opts.timeoutMs);
      if (!Number.isInteger(timeout) || timeout < 1)
        throw new PhiguardError('usage', `--timeout-ms: a positive integer (got ${JSON.stringify(opts.timeoutMs)})`);
      const inputs = files.map((file) => ({ file, input: readJsonFile(file, CheckInputSchema, 'a CheckRequest') }));
      const client = createCheckClient(opts.addr);
      try {
        for (const { file, input } of inputs) {
          const res = await client.check(toGrpcCheckRequest(input), timeout).catch((e: unknown) => {
            throw callFailed(opts.addr, e);
          });
          if (opts.json === true) process.stdout.write(`${file}: ${JSON.stringify(res, null, 2)}\n`);
          else process.stdout.write(`${file}: ${summaryOf(res)}\n`);
        }
      } finally {
        client.close();
      }
    });
}
