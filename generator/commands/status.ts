/**
 * `phiguard status` (the containment states in force) and `phiguard contain lift AGENT --reason TEXT [--by WHO]`.
 * Both read the directory `phiguard serve --containment-dir` writes and never create it: a directory that is missing
 * or cannot be read is an error (exit 2), not "no agent is contained".
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Command, Option } from 'commander';
import {
  containmentFile,
  inForce,
  liftContainment,
  listContainmentFiles,
  readContainmentFile,
  type ContainmentState,
} from '../../authz/containment/index.js';
import { liftClusterContainment, loadKubeConfig } from '../../authz/kube/index.js';
import { PhiguardError, type Result } from '../../authz/model/index.js';
import { formatRows } from '../report/index.js';

/** Where the kubelet mounts a pod's service account token (Kubernetes: "Configure Service Accounts for Pods"). */
export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** The `sub` claim of a service account token: `system:serviceaccount:<namespace>:<name>` (not verified: a label). */
function tokenSubject(tokenFile: string): { sub: string; pod: string } | undefined {
  try {
    const payload = readFileSync(tokenFile, 'utf8').trim().split('.')[1] ?? '';
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const k8s = claims['kubernetes.io'] as { pod?: { name?: unknown } } | undefined;
    const sub = claims['sub'];
    if (typeof sub !== 'string' || sub === '') return undefined;
    return { sub, pod: typeof k8s?.pod?.name === 'string' ? k8s.pod.name : '' };
  } catch {
    return undefined;
  }
}

/**
 * Who runs the command, for `contain lift` without `--by`: in a pod, its service account (from the mounted token's
 * `sub`) and pod (`kubernetes.io.pod.name`, else `POD_NAME`); else the OS user. A default, not an authentication:
 * pass `--by` with the person's name (`kubectl exec` runs as the pod, whoever types it).
 */
export function operatorIdentity(
  tokenFile = SERVICE_ACCOUNT_TOKEN,
  env: NodeJS.ProcessEnv = process.env,
  osUser: () => string = () => userInfo().username,
): string {
  const podName = env['POD_NAME'] ?? '';
  const t = tokenSubject(tokenFile);
  if (t !== undefined) {
    const pod = t.pod !== '' ? t.pod : podName;
    return pod === '' ? t.sub : `${t.sub} (pod ${pod})`;
  }
  if (podName !== '') return `pod ${env['POD_NAMESPACE'] !== undefined ? `${env['POD_NAMESPACE']}/` : ''}${podName}`;
  try {
    return osUser();
  } catch {
    return `uid ${process.getuid?.() ?? 'unknown'}`;
  }
}

/** The states in force, or throws an `io`/`data` PhiguardError naming what could not be read. */
function statesInForce(dir: string): ContainmentState[] {
  const names = listContainmentFiles(dir);
  if (!names.ok) throw names.error;
  const now = Date.now();
  const states: ContainmentState[] = [];
  const problems: string[] = [];
  for (const f of names.value) {
    const r = readContainmentFile(containmentFile(dir, f.slice(0, -'.containment.json'.length)));
    if (!r.ok) problems.push(r.error.message);
    else if (inForce(r.value, now)) states.push(r.value);
  }
  if (problems.length > 0)
    throw new PhiguardError('io', `cannot tell which agents are contained: ${problems.join('; ')}`);
  return states.sort((a, b) => (a.agent < b.agent ? -1 : 1));
}

const dirOption = (): Option =>
  new Option('--containment-dir <dir>', 'the directory phiguard serve uses')
    .env('PHIGUARD_CONTAINMENT_DIR')
    .makeOptionMandatory();

export function statusCommand(): Command {
  return new Command('status')
    .description('containment state of every agent (from the shared containment directory)')
    .addOption(dirOption())
    .addOption(new Option('--format <format>', 'output').choices(['table', 'json', 'csv']).default('table'))
    .action((o: { containmentDir: string; format: 'table' | 'json' | 'csv' }) => {
      const rows = statesInForce(o.containmentDir).map((s) => ({
        agent: s.agent,
        action: s.action,
        trigger: s.trigger,
        since: s.since,
        until: s.until,
        replica: s.replica,
        decisionId: s.decisionId,
      }));
      process.stdout.write(
        rows.length === 0 && o.format === 'table' ? 'no agent is contained\n' : formatRows(rows, o.format),
      );
    });
}

export function containCommand(): Command {
  const cmd = new Command('contain').description('manage containment');
  cmd
    .command('lift')
    .description(
      "lift an agent's containment (every replica sees it at its next poll and records containment-ended with who " +
        'lifted it and why)',
    )
    .argument('<agent>', 'agent policy name')
    .addOption(
      new Option('--containment-dir <dir>', 'the directory phiguard serve uses').env('PHIGUARD_CONTAINMENT_DIR'),
    )
    .option('--cluster <namespace>', "lift through the API: the containment ConfigMaps in phiguard's namespace")
    .option('--kubeconfig <file>', 'with --cluster: kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .addOption(new Option('--reason <text>', 'why the containment is lifted (recorded)').makeOptionMandatory())
    .addOption(new Option('--by <who>', 'who lifts it (recorded; default: the pod service account, else the OS user)'))
    .action(
      async (
        agent: string,
        o: { containmentDir?: string; cluster?: string; kubeconfig?: string; reason: string; by?: string },
      ) => {
        const reason = o.reason.trim();
        if (reason === '') throw new PhiguardError('usage', 'contain lift: --reason must say why');
        const by = (o.by ?? operatorIdentity()).trim();
        if (by === '') throw new PhiguardError('usage', 'contain lift: --by must name who lifts it');
        if ((o.cluster === undefined) === (o.containmentDir === undefined))
          throw new PhiguardError('usage', 'contain lift: give --containment-dir or --cluster, one of them');
        const lift = { by, reason, at: new Date().toISOString() };
        const r: Result<ContainmentState | undefined> =
          o.cluster !== undefined
            ? await liftClusterContainment(loadKubeConfig(o.kubeconfig), o.cluster, agent, lift)
            : liftContainment(o.containmentDir ?? '', agent, lift);
        if (!r.ok) throw r.error;
        if (r.value === undefined) {
          process.stdout.write(`${agent} was not contained\n`);
          process.exitCode = 1;
          return;
        }
        process.stdout.write(`lifted containment of ${agent} (${r.value.action}), by ${by}: ${reason}\n`);
      },
    );
  return cmd;
}
