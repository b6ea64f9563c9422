/**
 * Stopping a cluster found through its files (its own Cluster object, or
 * `tscluster stop` from another process): ask the controller to shut down
 * (it stops its engines), then end by their records whatever is left, then
 * remove the cluster's files.
 */
import { Client } from '../client/client.js';
import { hostname } from 'node:os';
import { launcherOf, terminate, waitEnded } from '../launcher/index.js';
import { controllerRuns, readClusterState, readConnectionFile, removeClusterState, removeConnectionFiles } from '../profiles/index.js';
import type { ClusterState, ConnectionInfo } from '../profiles/index.js';
import { sameProcess } from '../util/proc.js';
import { sleep } from '../util/sleep.js';
import { enginesOf } from './launch.js';

export interface Stopped {
  /** the controller's pid, when known */
  controllerPid: number | null;
  /** engine processes recorded */
  engines: number;
}

/** The controller of a cluster answers when its recorded process (or, without a record, the one its file names) runs. */
function controllerUp(state: ClusterState | undefined, file: ConnectionInfo | undefined): boolean {
  if (!file) return false;
  // a controller on another host is asked (a short connect) whenever its file is there
  if (state) return state.controller.launcher === 'local' ? state.controller.processes.some(sameProcess) || controllerRuns(file) : true;
  return controllerRuns(file);
}

/** A supervised controller between a crash and its restart: wait (a little) for the restarted one to write its file. */
async function waitForRestart(profile: string, clusterId: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (controllerRuns(readConnectionFile('client', { profile, clusterId }).info)) return;
    } catch {
      // no file: none written yet
    }
    await sleep(50);
  }
}

/**
 * The controller a local supervisor started, if it still runs once the supervisor has ended (a supervisor
 * SIGKILLed; its controller stops by itself within a second or two): ended by the identity its file gives.
 */
async function endSupervisedController(file: ConnectionInfo | undefined): Promise<void> {
  if (!file) return;
  const p = { host: hostname(), pid: file.controller_pid, start: file.controller_start ?? null, cmd: null };
  await terminate(await waitEnded([p], 3000));
}

/**
 * Stop the cluster of a profile and cluster id. Returns what was stopped, or
 * undefined when there was no cluster (no connection file, no state file).
 * @param client a client of the cluster to send the shutdown through (it is closed)
 */
export async function stopCluster(profile: string, clusterId: string, client?: Client): Promise<Stopped | undefined> {
  const read = readClusterState(profile, clusterId);
  const state = typeof read === 'object' ? read : undefined;
  // no (or a bad) connection file: the state file may still name the processes
  const file = readFile(profile, clusterId);
  const filePid = file?.controller_pid ?? null;
  if (file === undefined && read === undefined) {
    await client?.close().catch(() => undefined);
    return undefined;
  }
  const supervised = state?.controller.launcher === 'local' && state.controller.supervisor === true;
  const up = controllerUp(state, file);
  if (up && supervised && file && !controllerRuns(file)) await waitForRestart(profile, clusterId, 2000);
  await shutdownController(up, profile, clusterId, client);
  if (state) {
    // the controller stops its registered engines before it exits; an engine not yet registered
    // (still starting) hears nothing, so after the controller, engines get a short grace only
    await launcherOf(state.controller).stop(state.controller, 5000);
    if (supervised) await endSupervisedController(readFile(profile, clusterId) ?? file);
    await Promise.all(state.engines.map((rec) => launcherOf(rec).stop(rec, 1000)));
  }
  removeConnectionFiles(profile, clusterId);
  removeClusterState(profile, clusterId);
  // a supervised controller: the one its file named (the recorded process is its supervisor)
  const recorded = state?.controller.launcher === 'local' && !supervised ? state.controller.processes[0]?.pid : undefined;
  return { controllerPid: recorded ?? filePid, engines: state ? state.engines.reduce((a, r) => a + enginesOf(r), 0) : 0 };
}

function readFile(profile: string, clusterId: string): ConnectionInfo | undefined {
  try {
    return readConnectionFile('client', { profile, clusterId }).info;
  } catch {
    return undefined;
  }
}

async function shutdownController(up: boolean, profile: string, clusterId: string, client: Client | undefined): Promise<void> {
  if (!up) {
    await client?.close().catch(() => undefined);
    return;
  }
  let rc = client;
  try {
    rc ??= await Client.connect({ profile, clusterId, timeoutMs: 2000 });
    await rc.shutdown({ hub: true });
  } catch {
    // unreachable controller: its process is ended by its record
  } finally {
    await rc?.close().catch(() => undefined);
  }
}
