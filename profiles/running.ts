/** Which clusters exist on this machine, and whether their controllers live. */
import { existsSync, readdirSync } from 'node:fs';
import { pidAlive } from '../util/proc.js';
import { connectionFilePath, listProfiles, profilePaths } from './paths.js';
import { readConnectionFile } from './connection.js';
import type { ConnectionInfo } from './connection.js';
import { readClusterState } from './state.js';
import type { ClusterState } from './state.js';

/** The client connection file of a cluster whose controller is alive, if any. */
export function runningCluster(profile: string, clusterId: string): { info: ConnectionInfo; path: string } | undefined {
  const path = connectionFilePath(profile, clusterId, 'client');
  if (!existsSync(path)) return undefined;
  try {
    const r = readConnectionFile('client', { profile, clusterId });
    return pidAlive(r.info.controller_pid) ? r : undefined;
  } catch {
    return undefined;
  }
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
      let controllerPid: number | null = typeof state === 'object' ? (state.controller.processes[0]?.pid ?? null) : null;
      let clientFile: string | null = null;
      try {
        const r = readConnectionFile('client', { profile, clusterId });
        controllerPid = r.info.controller_pid;
        clientFile = r.path;
      } catch {
        // no or bad connection file: the state file may still name the pids
      }
      out.push({ profile, clusterId, controllerPid, running: controllerPid !== null && pidAlive(controllerPid), clientFile, state });
    }
  }
  return out;
}
