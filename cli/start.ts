/** `tscluster start`: a controller and engines on this machine. */
import { argOptions, helpRows, resolveSettings } from '../config/resolve.js';
import type { Client } from '../client/client.js';
import { Cluster, clusterOptionsOf } from '../cluster/cluster.js';
import { curveOn } from '../config/network.js';
import { parseListen } from '../config/settings.js';
import { DEFAULT_PROFILE, readProfileConfig, runningCluster } from '../profiles/index.js';
import { isLoopback } from '../util/net.js';
import { CLUSTER_OPTIONS, PROFILE_ROWS, asUsage, clusterFlags, parse } from './args.js';
import type { Command } from './args.js';

const help = (): string => `Usage: tscluster start [-n N] [options]

Start a controller and N engines: here, or on other hosts through ssh, MPI or
Slurm (--engines, --controller). In the foreground by default: Ctrl-C stops
everything. With --daemon it returns once every engine has registered.

Options:
${helpRows('start')}
${PROFILE_ROWS}
  --daemon               return once all engines are registered; stop with 'tscluster stop'
  -h, --help             this help

Examples:
  tscluster start -n 4
  tscluster start -n 2 --scheme lru --daemon
  tscluster start -n 16 --profile big --cluster-id nightly --hwm 0
  tscluster start -n 4 --dashboard 8080 --metrics 10.0.0.5:9464
  tscluster start --ip 0.0.0.0 --engines ssh --hosts node1:8,me@node2:8
  tscluster start -n 8 --engines mpi --mpi-arg=--host=node1:4,node2:4
  tscluster start -n 32 --engines slurm --partition cpu --time-limit 2:00:00 --engines-per-job 8`;

async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...CLUSTER_OPTIONS, ...argOptions('start'), daemon: { type: 'boolean' } }, help);
  if (values.help) return (console.log(help()), 0);
  const profile = String(values.profile ?? DEFAULT_PROFILE);
  const clusterId = String(values['cluster-id'] ?? '');
  const s = await asUsage(() => resolveSettings('start', { flags: values, profile: readProfileConfig(profile) }));
  if (!isLoopback(s.ip) && !curveOn(s)) {
    console.error(
      `warning: --ip ${s.ip} accepts connections from other machines, and with --no-curve the traffic is not encrypted (messages are signed, but readable on the network). Drop --no-curve unless the network is trusted.`,
    );
  }
  warnOffLoopback(s.dashboard, s.metrics);
  const t0 = Date.now();
  // Ctrl-C is handled from the start: during start-up it aborts it (stopping what was started)
  const interrupted = new AbortController();
  let onSignal = (sig: string): void => interrupted.abort(new Error(`${sig} during start-up: stopped what was started`));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => onSignal(sig));
  let cluster: Cluster;
  try {
    cluster = await Cluster.start({
      signal: interrupted.signal,
      ...clusterOptionsOf(s),
      profile,
      clusterId,
      shutdownAtExit: !values.daemon,
      onEngine: (e) => console.log(`engine ${e.id} registered (pid ${e.pid})`),
    });
  } catch (e) {
    if (!interrupted.signal.aborted) throw e;
    console.error(`tscluster: ${(e as Error).message}`);
    return 130;
  }
  const rc = await cluster.connect();
  for (const p of cluster.problems) console.error(`warning: ${p.what}: ${p.detail}`);
  report(cluster, rc, Date.now() - t0);
  if (values.daemon) {
    await rc.close();
    console.log(`running in the background; stop it with: tscluster stop${clusterFlags(profile, clusterId)}`);
    return 0;
  }
  await serve(cluster, rc, (stop) => (onSignal = (sig) => stop(`\n${sig}: stopping the cluster...`)));
  console.log('stopped');
  return 0;
}

function report(cluster: Cluster, rc: Client, ms: number): void {
  const c = rc.cluster;
  const { profile, clusterId } = cluster;
  console.log(
    `cluster ready in ${(ms / 1000).toFixed(2)} s: profile '${profile}'${clusterId ? `, cluster id '${clusterId}'` : ''}, ` +
      `${rc.ids.length} engines, scheme ${c.scheme}, hwm ${c.hwm}, controller pid ${cluster.controllerPid}`,
  );
  const named = [profile === DEFAULT_PROFILE ? '' : `profile: '${profile}'`, clusterId ? `clusterId: '${clusterId}'` : ''].filter(Boolean).join(', ');
  console.log(`connect with:  const rc = await Client.connect(${named ? `{ ${named} }` : ''});   // import { Client } from 'tscluster'`);
  console.log(`connection file: ${cluster.connectionFile}`);
  if (cluster.dashboardUrl !== null) console.log(`dashboard: ${cluster.dashboardUrl}`);
  for (const line of cluster.launched) console.log(`  ${line}`);
}

/** The dashboard and /metrics bound off loopback: say who can reach them, as --ip does for the controller. */
function warnOffLoopback(dashboard: string, metrics: string | undefined): void {
  const dash = dashboard === 'on' || dashboard === 'off' ? undefined : parseListen(dashboard);
  if (dash && !isLoopback(dash.host)) {
    console.error(
      `warning: --dashboard ${dashboard} serves the dashboard to other machines over plain HTTP: every request needs its token, but the traffic (token included) is not encrypted. Bind it to 127.0.0.1 and tunnel (ssh -L) unless the network is trusted.`,
    );
  }
  const m = metrics === undefined ? undefined : parseListen(metrics);
  if (m && !isLoopback(m.host)) {
    console.error(
      `warning: --metrics ${metrics} serves /metrics to other machines without a token: anyone who reaches it reads the cluster's counters.`,
    );
  }
}

/** In the foreground: report engines coming and going until Ctrl-C or the controller stops on its own. */
async function serve(cluster: Cluster, rc: Client, onStop: (stop: (why: string) => void) => void): Promise<void> {
  console.log('press Ctrl-C to stop the cluster');
  rc.onEngine((e) => {
    if (e.type === 'unregistered') console.log(`engine ${e.engine.id} (pid ${e.engine.pid}) unregistered${e.reason ? `: ${e.reason}` : ''}`);
    else console.log(`engine ${e.engine.id} registered (pid ${e.engine.pid})`);
  });
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (why: string): void => {
      if (stopping) return;
      stopping = true;
      console.log(why);
      void cluster.stop().then(resolve);
    };
    onStop(stop);
    // the controller may stop on its own (a client's shutdown request); this timer also keeps the foreground process alive
    const watch = setInterval(() => {
      if (runningCluster(cluster.profile, cluster.clusterId)?.info.controller_pid === cluster.controllerPid) return;
      clearInterval(watch);
      stop('the controller has stopped');
    }, 500);
  });
}

export const start: Command = { summary: 'start a controller and engines (here, over ssh, MPI or Slurm)', help, run };
