/** Which clusters exist on this machine, and whether their controllers live. */
import { existsSync, readdirSync } from 'node:fs';
import { sameProcess } from '../util/proc.js';
import { connectionFilePath, listProfiles, profilePaths } from './paths.js';
import { readConnectionFile } from './connection.js';
import type { ConnectionInfo } from './connection.js';
import { localProcesses, readClusterState } from './state.js';
import type { ClusterState } from './state.js';

/** Does the controller a connection file names still run (the same process, not another one that got its pid)? */
export function controllerRuns(info: Pick<ConnectionInfo, 'controller_pid' | 'controller_start'>): boolean {
  return sameProcess({ pid: info.controller_pid, start: info.controller_start ?? null, cmd: null });
}

/** The client connection file of a cluster whose controller is alive, if any. */
export function runningCluster(profile: string, clusterId: string): { info: ConnectionInfo; path: string } | undefined {
  const path = connectionFilePath(profile, clusterId, 'client');
  if (!existsSync(path)) return undefined;
  try {
    const r = readConnectionFile('client', { profile, clusterId });
    return controllerRuns(r.info) || recordedRunning(readClusterState(profile, clusterId)) ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Is the cluster's controller recorded as running: on another host (ssh,
 * Slurm: its pid cannot be checked here), or here under a supervisor that
 * lives (its controller may be between a crash and its restart)?
 */
function recordedRunning(state: ClusterState | 'corrupt' | undefined): boolean {
  if (typeof state !== 'object') return false;
  const c = state.controller;
  return c.launcher !== 'local' || (c.supervisor === true && c.processes.some(sameProcess));
}

export interface ClusterEntry {
  profile: string;
  clusterId: string;
  controllerPid: number | null;
  running: boolean;
  clientFile: string | null;
  /** what its launchers started; 'corrupt' when the state file cannot be read */
  state: ClusterState | 'corrupt' | undefined;
}

/** Every cluster of every profile: from connection files and state files. */
export function listClusters(): ClusterEntry[] {
  const out: ClusterEntry[] = [];
  for (const profile of listProfiles()) {
    const p = profilePaths(profile);
    const ids = new Set<string>();
    const stemId = (file: string, suffix: string): string | undefined => {
      if (!file.endsWith(suffix)) return undefined;
      const stem = file.slice(0, -suffix.length);
      if (stem === 'tscluster') return '';
      if (stem.startsWith('tscluster-')) return stem.slice('tscluster-'.length);
      return undefined;
    };
    if (existsSync(p.security))
      for (const f of readdirSync(p.security)) {
        const id = stemId(f, '-client.json');
        if (id !== undefined) ids.add(id);
      }
    if (existsSync(p.pid))
      for (const f of readdirSync(p.pid)) {
        const id = stemId(f, '.json');
        if (id !== undefined) ids.add(id);
      }
    for (const clusterId of [...ids].sort()) {
      const state = readClusterState(profile, clusterId);
      const recorded = typeof state === 'object' ? localProcesses(state.controller)[0] : undefined;
      let controllerPid = recorded?.pid ?? null;
      let running = recorded !== undefined && sameProcess(recorded);
      let clientFile: string | null = null;
      try {
        const r = readConnectionFile('client', { profile, clusterId });
        controllerPid = r.info.controller_pid;
        running = controllerRuns(r.info) || recordedRunning(state);
        clientFile = r.path;
      } catch {
        // no or bad connection file: the state file may still name the processes
      }
      out.push({ profile, clusterId, controllerPid, running, clientFile, state });
    }
  }
  return out;
}
