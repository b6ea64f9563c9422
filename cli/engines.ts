/** `tscluster engines`: add engines to a running cluster, through any launcher. */
import { Client } from '../client/client.js';
import { launchEngines, startTimeoutMs, waitForEngines } from '../cluster/launch.js';
import { argOptions, helpRows, resolveSettings } from '../config/resolve.js';
import { launcherOf } from '../launcher/index.js';
import { DEFAULT_PROFILE, readClusterState, readProfileConfig, runningCluster, writeClusterState } from '../profiles/index.js';
import { CLUSTER_OPTIONS, PROFILE_ROWS, asUsage, clusterFlags, intFlag, parse } from './args.js';
import type { Command } from './args.js';

const help = (): string => `Usage: tscluster engines -n N [--engines L ...] [--profile P] [--cluster-id ID]

Start N more engines for a running cluster (on this machine, or through the
ssh, mpi or slurm launcher) and wait until they have registered.

Options:
  -n, --n N              number of engines to add (default 1)
${helpRows('engines')}
${PROFILE_ROWS}
  --no-wait              return without waiting for registration
  -h, --help             this help

Examples:
  tscluster engines -n 2
  tscluster engines --engines ssh --hosts node3:8
  tscluster engines -n 4 --engines mpi --mpi-arg=--host=node3:4`;

async function run(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    { ...CLUSTER_OPTIONS, ...argOptions('engines'), n: { type: 'string', short: 'n' }, 'no-wait': { type: 'boolean' } },
    help,
  );
  if (values.help) return (console.log(help()), 0);
  const profile = String(values.profile ?? DEFAULT_PROFILE);
  const clusterId = String(values['cluster-id'] ?? '');
  const n = intFlag('n', typeof values.n === 'string' ? values.n : undefined, 1, 1);
  const s = await asUsage(() => resolveSettings('engines', { flags: values, profile: readProfileConfig(profile) }));
  if (!runningCluster(profile, clusterId)) {
    console.error(
      `no running cluster for profile '${profile}'${clusterId ? `, cluster id '${clusterId}'` : ''}: start one with 'tscluster start${clusterFlags(profile, clusterId)}'`,
    );
    return 1;
  }
  const rc = values['no-wait'] ? undefined : await Client.connect({ profile, clusterId });
  try {
    const before = rc?.ids.length ?? 0;
    const rec = await launchEngines({ profile, clusterId }, s, 'engines', n);
    const state = readClusterState(profile, clusterId);
    if (typeof state === 'object') writeClusterState({ ...state, engines: [...state.engines, rec] });
    console.log(`started ${n} engine${n === 1 ? '' : 's'} (${launcherOf(rec).describe(rec)})`);
    if (rc) {
      const problems = await waitForEngines(rc, [rec], { before, min: s.minEngines, timeoutMs: startTimeoutMs(s) }).catch(async (e: unknown) => {
        // a failed add changes nothing: what it started is stopped and forgotten
        await launcherOf(rec).stop(rec, 0);
        const now = readClusterState(profile, clusterId);
        if (typeof now === 'object') writeClusterState({ ...now, engines: now.engines.filter((r) => JSON.stringify(r) !== JSON.stringify(rec)) });
        throw e;
      });
      for (const p of problems) console.error(`warning: ${p.what}: ${p.detail}`);
      console.log(`${rc.ids.length} engines registered`);
    }
  } finally {
    await rc?.close();
  }
  return 0;
}

export const engines: Command = { summary: 'add engines to a running cluster', help, run };
