/** `tscluster engines`: add engines to a running cluster. */
import { Client } from '../client/client.js';
import { localLauncher } from '../launcher/index.js';
import { DEFAULT_PROFILE, readClusterState, runningCluster, writeClusterState } from '../profiles/index.js';
import { CLUSTER_OPTIONS, PROFILE_ROWS, clusterFlags, intFlag, parse } from './args.js';
import type { Command } from './args.js';

const help = (): string => `Usage: tscluster engines -n N [--profile P] [--cluster-id ID]

Start N more engines for a running cluster on this machine and wait until they
have registered.

Options:
  -n, --n N              number of engines to add (default 1)
${PROFILE_ROWS}
  --no-wait              return without waiting for registration
  -h, --help             this help

Example:
  tscluster engines -n 2`;

async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...CLUSTER_OPTIONS, n: { type: 'string', short: 'n' }, 'no-wait': { type: 'boolean' } }, help);
  if (values.help) return (console.log(help()), 0);
  const profile = String(values.profile ?? DEFAULT_PROFILE);
  const clusterId = String(values['cluster-id'] ?? '');
  const n = intFlag('n', typeof values.n === 'string' ? values.n : undefined, 1, 1);
  if (!runningCluster(profile, clusterId)) {
    console.error(
      `no running cluster for profile '${profile}'${clusterId ? `, cluster id '${clusterId}'` : ''}: start one with 'tscluster start${clusterFlags(profile, clusterId)}'`,
    );
    return 1;
  }
  const rc = values['no-wait'] ? undefined : await Client.connect({ profile, clusterId });
  const before = rc?.ids.length ?? 0;
  const rec = await localLauncher.start({ profile, clusterId, part: 'engines', args: ['--profile', profile, '--cluster-id', clusterId], n });
  const state = readClusterState(profile, clusterId);
  if (typeof state === 'object') writeClusterState({ ...state, engines: [...state.engines, rec] });
  console.log(`started ${n} engine${n === 1 ? '' : 's'} (${localLauncher.describe(rec)})`);
  if (rc) {
    await rc.waitForEngines(before + n, { timeoutMs: 60000 });
    console.log(`${rc.ids.length} engines registered`);
    await rc.close();
  }
  return 0;
}

export const engines: Command = { summary: 'add engines to a running cluster', help, run };
