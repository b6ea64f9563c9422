/**
 * tscluster clusters of the benchmarks: each is stopped after its
 * measurement, however the measurement ends (also on Ctrl-C), and then none
 * of its processes may still run.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Cluster } from '../index.js';
import type { ClusterOptions } from '../index.js';
import { guarded, reap } from './procs.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');

/** The benchmarks run with a TSCLUSTER_DIR of their own: its processes carry it in their environment. */
function mark(): string {
  return `TSCLUSTER_DIR=${process.env.TSCLUSTER_DIR ?? ''}`;
}

/** Throws if one of the processes still runs (it is killed). */
async function checkGone(pids: number[]): Promise<void> {
  const killed = await reap(pids, mark());
  if (killed.length > 0) throw new Error(`tscluster processes left running after the stop (killed): pids ${killed.join(' ')}`);
}

/**
 * `body(cluster, seconds Cluster.start took until every engine registered)`;
 * then the cluster is stopped and its processes checked gone.
 */
export async function withCluster<T>(o: ClusterOptions, body: (cluster: Cluster, startS: number) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const t0 = performance.now();
  const starting = Cluster.start({ ...o, signal: abort.signal }).then((cluster) => ({ cluster, startS: (performance.now() - t0) / 1000 }));
  const stop = async (): Promise<void> => {
    abort.abort();
    // a start that fails or is aborted stops what it started
    const started = await starting.catch(() => undefined);
    if (!started) return;
    const pids = [started.cluster.controllerPid, ...started.cluster.enginePids];
    await started.cluster.stop();
    await checkGone(pids);
  };
  return guarded(stop, async () => {
    const { cluster, startS } = await starting;
    return body(cluster, startS);
  });
}

function cli(args: string[]): void {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tscluster ${args.join(' ')} failed: ${r.stderr}`);
}

/** Seconds from `tscluster start -n <n> --daemon` until all engines are registered and a client connected; then `tscluster stop`. */
export async function timeDaemonStart(n: number, profile: string): Promise<number> {
  const pids: number[] = [];
  let started = false;
  const stop = async (): Promise<void> => {
    if (started) cli(['stop', '--profile', profile]);
    await checkGone(pids);
  };
  return guarded(stop, async () => {
    const t0 = performance.now();
    cli(['start', '-n', String(n), '--daemon', '--profile', profile]);
    started = true;
    const rc = await Client.connect({ profile });
    try {
      await rc.waitForEngines(n);
      const dt = (performance.now() - t0) / 1000;
      pids.push(rc.cluster.controllerPid, ...(await rc.directView().apply(() => process.pid)));
      return dt;
    } finally {
      await rc.close();
    }
  });
}
