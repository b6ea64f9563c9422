/** `tscluster repl`: a Node REPL connected to a cluster. */
import { Client } from '../client/client.js';
import { DEFAULT_PROFILE } from '../profiles/index.js';
import { CLUSTER_OPTIONS, PROFILE_ROWS, parse } from './args.js';
import type { Command } from './args.js';

const help = (): string => `Usage: tscluster repl [--profile P] [--cluster-id ID]

A Node REPL connected to a running cluster, with rc (Client), dv (DirectView of
all engines) and lb (LoadBalancedView) defined; top-level await works.

Options:
${PROFILE_ROWS}
  -h, --help             this help

Example:
  tscluster repl
  > await lb.map((x) => x * 3, [1, 2, 3])
  [ 3, 6, 9 ]`;

async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, CLUSTER_OPTIONS, help);
  if (values.help) return (console.log(help()), 0);
  const rc = await Client.connect({ profile: String(values.profile ?? DEFAULT_PROFILE), clusterId: String(values['cluster-id'] ?? '') });
  const { start: startRepl } = await import('node:repl');
  console.log(`connected: ${rc.ids.length} engines (rc, dv, lb defined; top-level await works; .exit to leave)`);
  const r = startRepl({ prompt: 'tscluster> ', useGlobal: false });
  Object.assign(r.context, { rc, dv: rc.directView(), lb: rc.loadBalancedView() });
  await new Promise<void>((resolve) => r.on('exit', resolve));
  await rc.close();
  return 0;
}

export const repl: Command = { summary: 'a Node REPL connected to a cluster (rc, dv, lb)', help, run };
