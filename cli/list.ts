/** `tscluster list`: the clusters of every profile. */
import { Client } from '../client/client.js';
import { describeLive } from '../launcher/index.js';
import { dashboardUrlOf, listClusters, readConnectionFile } from '../profiles/index.js';
import { parse } from './args.js';
import type { Command } from './args.js';

const help = (): string => `Usage: tscluster list [--json]

List every cluster of every profile: profile, cluster id, controller pid,
engines, and whether it is running or dead; under each, its web dashboard
(with its token), what runs elsewhere (ssh hosts, Slurm jobs with their
states) and, with --adapt, the engines it aims for and has.

Options:
  --json                 machine-readable output
  -h, --help             this help

Example:
  tscluster list --json`;

interface Row {
  profile: string;
  clusterId: string;
  controllerPid: number | null;
  engines: number | null;
  state: 'running' | 'dead';
  dropped: Record<string, number> | null;
  /** adaptive scaling (--adapt): the range, the engines aimed for, registered and still to come; null without it */
  adapt: { min: number; max: number; target: number; engines: number; starting: number; problem?: string } | null;
  /** the address of its web dashboard with its token, or null (none, or the cluster is not running) */
  dashboard: string | null;
  /** what its launchers started, one line each */
  launched: string[];
  /** what is wrong with its files, if anything */
  problem: string | null;
}

async function rows(): Promise<Row[]> {
  const out: Row[] = [];
  for (const c of listClusters()) {
    let engines: number | null = null;
    let dropped: Record<string, number> | null = null;
    let adapt: Row['adapt'] = null;
    if (c.running) {
      try {
        const rc = await Client.connect({ profile: c.profile, clusterId: c.clusterId, timeoutMs: 2000 });
        engines = rc.ids.length;
        const stats = await rc.stats();
        dropped = stats.dropped;
        if (stats.adapt) {
          const { min, max, target, engines: registered, starting, problem } = stats.adapt;
          adapt = { min, max, target, engines: registered, starting, ...(problem !== undefined ? { problem } : {}) };
        }
        await rc.close();
      } catch {
        engines = null;
      }
    }
    // a batch system is asked for its jobs' states (a dead cluster's too: its jobs may still be queued)
    const launched = typeof c.state === 'object' ? await Promise.all([c.state.controller, ...c.state.engines].map((r) => describeLive(r))) : [];
    const problem = c.state === 'corrupt' ? 'its state file is corrupt' : null;
    out.push({
      profile: c.profile,
      clusterId: c.clusterId,
      controllerPid: c.controllerPid,
      engines,
      state: c.running ? 'running' : 'dead',
      dropped,
      adapt,
      dashboard: c.running ? dashboardOf(c.profile, c.clusterId) : null,
      launched,
      problem,
    });
  }
  return out;
}

function dashboardOf(profile: string, clusterId: string): string | null {
  try {
    return dashboardUrlOf(readConnectionFile('client', { profile, clusterId }).info);
  } catch {
    return null;
  }
}

async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, { json: { type: 'boolean' } }, help);
  if (values.help) return (console.log(help()), 0);
  const all = await rows();
  if (values.json) {
    console.log(JSON.stringify(all, null, 2));
    return 0;
  }
  if (all.length === 0) {
    console.log('no clusters (start one with: tscluster start -n 4)');
    return 0;
  }
  const table = [
    ['PROFILE', 'CLUSTER ID', 'CONTROLLER PID', 'ENGINES', 'STATE'],
    ...all.map((r) => [r.profile, r.clusterId || '-', String(r.controllerPid ?? '-'), r.engines === null ? '-' : String(r.engines), r.state]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  table.forEach((r, i) => {
    console.log(
      r
        .map((x, j) => x.padEnd(widths[j]!))
        .join('  ')
        .trimEnd(),
    );
    // what runs elsewhere (ssh hosts, batch jobs and their states), under its cluster's row
    const row = all[i - 1];
    for (const line of row?.launched.filter((l) => !l.startsWith('local:')) ?? []) console.log(`  ${line}`);
    if (row?.dashboard) console.log(`  dashboard: ${row.dashboard}`);
    const a = row?.adapt;
    if (a)
      console.log(
        `  adaptive ${a.min}:${a.max}: target ${a.target}, ${a.engines} engine${a.engines === 1 ? '' : 's'} registered, ${a.starting} starting`,
      );
    if (a?.problem) console.log(`  adaptive: ${a.problem.split('\n')[0] ?? ''}`);
  });
  for (const r of all.filter((x) => x.problem))
    console.log(`\nprofile '${r.profile}'${r.clusterId ? `, cluster id '${r.clusterId}'` : ''}: ${r.problem}`);
  if (all.some((r) => r.state === 'dead')) console.log("\ndead clusters left files behind; 'tscluster stop --all' cleans them");
  return 0;
}

export const list: Command = { summary: 'list the clusters of every profile', help, run };
