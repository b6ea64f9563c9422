/** `tscluster repl`: a Node REPL connected to a cluster. */
import type { REPLServer } from 'node:repl';
import { Client } from '../client/client.js';
import { DEFAULT_PROFILE } from '../profiles/index.js';
import { CLUSTER_OPTIONS, PROFILE_ROWS, intFlag, parse } from './args.js';
import type { Command } from './args.js';

const help = (): string => `Usage: tscluster repl [--profile P] [--cluster-id ID] [--file F] [--ssh [USER@]HOST]

A Node REPL connected to a running cluster, with rc (Client), dv (DirectView of
all engines) and lb (LoadBalancedView) defined; top-level await works. Ctrl-C
during an await interrupts it and aborts the remote tasks it submitted.

Options:
${PROFILE_ROWS}
  --file F               the client connection file (instead of profile and cluster id)
  --ssh [USER@]HOST      reach the controller through an ssh tunnel via this gateway
  --ssh-port N           the gateway's ssh port
  --ssh-identity FILE    the identity (private key) file for the gateway
  --ssh-option K=V       an extra ssh -o option (repeatable)
  -h, --help             this help

Examples:
  tscluster repl --ssh me@gateway --file ./tscluster-client.json
  tscluster repl
  > await lb.map((x) => x * 3, [1, 2, 3])
  [ 3, 6, 9 ]`;

async function run(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      ...CLUSTER_OPTIONS,
      file: { type: 'string' },
      ssh: { type: 'string' },
      'ssh-port': { type: 'string' },
      'ssh-identity': { type: 'string' },
      'ssh-option': { type: 'string', multiple: true },
    },
    help,
  );
  if (values.help) return (console.log(help()), 0);
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const [file, ssh, identity] = [str(values.file), str(values.ssh), str(values['ssh-identity'])];
  const sshPort = str(values['ssh-port']) === undefined ? undefined : intFlag('ssh-port', str(values['ssh-port']), 22, 1);
  const options = (Array.isArray(values['ssh-option']) ? values['ssh-option'] : []).filter((o): o is string => typeof o === 'string');
  const rc = await Client.connect({
    profile: String(values.profile ?? DEFAULT_PROFILE),
    clusterId: String(values['cluster-id'] ?? ''),
    ...(file !== undefined ? { connectionFile: file } : {}),
    ...(ssh !== undefined
      ? {
          sshServer: ssh,
          sshOptions: { ...(sshPort !== undefined ? { port: sshPort } : {}), ...(identity !== undefined ? { identity } : {}), options },
        }
      : {}),
  });
  const { start: startRepl } = await import('node:repl');
  console.log(`connected: ${rc.ids.length} engines (rc, dv, lb defined; top-level await works; .exit to leave)`);
  const r = startRepl({ prompt: 'tscluster> ', useGlobal: false, breakEvalOnSigint: true });
  Object.assign(r.context, { rc, dv: rc.directView(), lb: rc.loadBalancedView() });
  abortOnInterrupt(r, rc);
  await new Promise<void>((resolve) => r.on('exit', resolve));
  await rc.close();
  return 0;
}

export const repl: Command = { summary: 'a Node REPL connected to a cluster (rc, dv, lb)', help, run };

type Eval = REPLServer['eval'];

/**
 * An await interrupted by Ctrl-C (breakEvalOnSigint) leaves its remote tasks
 * running: abort those the interrupted input submitted. (An interrupted await
 * never calls the eval's callback: the input in progress is tracked from its
 * start and closed by its callback, and Ctrl-C during it aborts its tasks.)
 */
function abortOnInterrupt(r: REPLServer, rc: Client): void {
  let running: ReadonlySet<string> | undefined;
  const evaluate: Eval = r.eval;
  const wrapped: Eval = function (this: REPLServer, cmd, context, file, cb) {
    running = rc.outstanding;
    evaluate.call(this, cmd, context, file, (err, result) => {
      running = undefined;
      cb(err, result);
    });
  };
  (r as { eval: Eval }).eval = wrapped;
  r.on('SIGINT', () => {
    const before = running;
    running = undefined;
    if (!before) return;
    const started = [...rc.outstanding].filter((id) => !before.has(id));
    if (started.length === 0) return;
    rc.abort(started).then(
      (n) => console.log(`aborted ${n} remote task${n === 1 ? '' : 's'}`),
      (e: unknown) => console.error(`could not abort the remote tasks: ${e instanceof Error ? e.message : String(e)}`),
    );
  });
}
