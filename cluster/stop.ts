/**
 * Stopping a cluster found through its files (its own Cluster object, or
 * `tscluster stop` from another process): ask the controller to shut down
 * (it stops its engines), then end by their records whatever is left, then
 * remove the cluster's files.
 */
import { Client } from '../client/client.js';
import { launcherOf } from '../launcher/index.js';
import { controllerRuns, readClusterState, readConnectionFile, removeClusterState, removeConnectionFiles } from '../profiles/index.js';
import type { ClusterState, ConnectionInfo } from '../profiles/index.js';
import { sameProcess } from '../util/proc.js';
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
  if (state) return state.controller.launcher === 'local' ? state.controller.processes.some(sameProcess) : true;
  return controllerRuns(file);
}

/**
 * Stop the cluster of a profile and cluster id. Returns what was stopped, or
 * undefined when there was no cluster (no connection file, no state file).
 * @param client a client of the cluster to send the shutdown through (it is closed)
 */
export async function stopCluster(profile: string, clusterId: string, client?: Client): Promise<Stopped | undefined> {
  const read = readClusterState(profile, clusterId);
  const state = typeof read === 'object' ? read : undefined;
  let file: ConnectionInfo | undefined;
  try {
    file = readConnectionFile('client', { profile, clusterId }).info;
  } catch {
    // no (or a bad) connection file: the state file may still name the processes
  }
  const filePid = file?.controller_pid ?? null;
  if (file === undefined && read === undefined) {
    await client?.close().catch(() => undefined);
    return undefined;
  }
  await shutdownController(controllerUp(state, file), profile, clusterId, client);
  if (state) {
    // the controller stops its registered engines before it exits; an engine not yet registered
    // (still starting) hears nothing, so after the controller, engines get a short grace only
    await launcherOf(state.controller).stop(state.controller, 5000);
    await Promise.all(state.engines.map((rec) => launcherOf(rec).stop(rec, 1000)));
  }
  removeConnectionFiles(profile, clusterId);
  removeClusterState(profile, clusterId);
  const recorded = state?.controller.launcher === 'local' ? state.controller.processes[0]?.pid : undefined;
  return { controllerPid: recorded ?? filePid, engines: state ? state.engines.reduce((a, r) => a + enginesOf(r), 0) : 0 };
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
