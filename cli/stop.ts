/** `tscluster stop`: stop a cluster (or all), also one whose controller died. */
import { stopCluster } from '../cluster/stop.js';
import { DEFAULT_PROFILE, checkName, listClusters } from '../profiles/index.js';
import { CLUSTER_OPTIONS, PROFILE_ROWS, parse } from './args.js';
import type { Command } from './args.js';

const help = (): string => `Usage: tscluster stop [--profile P] [--cluster-id ID] [--all]

Stop a cluster: its engines, its controller, and its connection files. A
cluster whose controller died is cleaned up too.

Options:
${PROFILE_ROWS}
  --all                  every cluster of every profile
  -h, --help             this help

Examples:
  tscluster stop
  tscluster stop --profile big --cluster-id nightly
  tscluster stop --all`;

async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...CLUSTER_OPTIONS, all: { type: 'boolean' } }, help);
  if (values.help) return (console.log(help()), 0);
  const targets = values.all
    ? listClusters().map((c) => ({ profile: c.profile, clusterId: c.clusterId }))
    : [{ profile: String(values.profile ?? DEFAULT_PROFILE), clusterId: String(values['cluster-id'] ?? '') }];
  let stopped = 0;
  for (const t of targets) {
    checkName('profile', t.profile);
    checkName('cluster id', t.clusterId);
    const r = await stopCluster(t.profile, t.clusterId);
    const name = `profile '${t.profile}'${t.clusterId ? `, cluster id '${t.clusterId}'` : ''}`;
    if (r) {
      stopped++;
      console.log(`stopped the cluster of ${name} (controller pid ${r.controllerPid ?? 'unknown'})`);
    } else if (!values.all) {
      console.error(`no cluster found for ${name}; 'tscluster list' shows the clusters`);
      return 1;
    }
  }
  if (values.all && stopped === 0) console.log('no clusters to stop');
  return 0;
}

export const stop: Command = { summary: 'stop a running cluster', help, run };
