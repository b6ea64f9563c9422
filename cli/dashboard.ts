/** `tscluster dashboard`: the address of a running cluster's web dashboard, with its token; `--open` opens it. */
import { spawn } from 'node:child_process';
import { DEFAULT_PROFILE, checkName, dashboardUrlOf, runningCluster } from '../profiles/index.js';
import { CLUSTER_OPTIONS, PROFILE_ROWS, clusterFlags, parse } from './args.js';
import type { Command } from './args.js';

const help = (): string => `Usage: tscluster dashboard [--profile P] [--cluster-id ID] [--open]

Print the address of a running cluster's web dashboard (status, task stream,
progress, engines, logs, and /metrics for Prometheus), with the token that
every request needs. Anyone with the address can watch the cluster: share it
as you would its connection file.

Options:
${PROFILE_ROWS}
  --open                 also open it in a browser (xdg-open)
  -h, --help             this help

Examples:
  tscluster dashboard
  tscluster dashboard --profile big --cluster-id nightly --open`;

async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...CLUSTER_OPTIONS, open: { type: 'boolean' } }, help);
  if (values.help) return (console.log(help()), 0);
  const profile = String(values.profile ?? DEFAULT_PROFILE);
  const clusterId = String(values['cluster-id'] ?? '');
  checkName('profile', profile);
  checkName('cluster id', clusterId);
  const running = runningCluster(profile, clusterId);
  const name = `profile '${profile}'${clusterId ? `, cluster id '${clusterId}'` : ''}`;
  if (!running) {
    console.error(`no cluster is running for ${name}; start one with: tscluster start -n 4${clusterFlags(profile, clusterId)}`);
    return 1;
  }
  const url = dashboardUrlOf(running.info);
  if (url === null) {
    console.error(`the cluster of ${name} serves no dashboard (it was started with --dashboard off)`);
    return 1;
  }
  console.log(url);
  if (values.open) await openBrowser(url);
  return 0;
}

/** Open `url` with xdg-open; a missing or failing opener is reported, not fatal (the address is printed). */
function openBrowser(url: string): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true });
    child.once('error', (e) => {
      console.error(`could not open a browser (xdg-open: ${e.message}): open the address above`);
      resolve();
    });
    child.once('spawn', () => {
      child.unref();
      resolve();
    });
  });
}

export const dashboard: Command = { summary: "print (or --open) the address of a cluster's web dashboard", help, run };
