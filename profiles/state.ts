/**
 * A cluster's state file, `pid/tscluster[-<id>].json`: what its launchers
 * started, so that `tscluster stop` and `list` (other processes, later) can
 * find and end it. Each process is recorded with its start time and command
 * line, so a pid reused by an unrelated process is never taken for it.
 */
import { existsSync, rmSync } from 'node:fs';
import { z } from 'zod';
import { writeJsonAtomic } from '../util/atomic.js';
import { readJsonFile } from './jsonfile.js';
import { clusterStatePath } from './paths.js';

export const ProcessRecordSchema = z.object({
  host: z.string(),
  pid: z.number().int().positive(),
  /** start time in clock ticks since boot (/proc/<pid>/stat), null where unknown */
  start: z.string().nullable(),
  cmd: z.string().nullable(),
});
export type ProcessRecord = z.infer<typeof ProcessRecordSchema>;

/** What one launcher started: processes of this machine (local). */
export const LaunchRecordSchema = z.discriminatedUnion('launcher', [
  z.object({ launcher: z.literal('local'), processes: z.array(ProcessRecordSchema) }),
]);
export type LaunchRecord = z.infer<typeof LaunchRecordSchema>;
export type LauncherName = LaunchRecord['launcher'];

export const ClusterStateSchema = z.object({
  version: z.literal(2),
  profile: z.string(),
  cluster_id: z.string(),
  started: z.string(),
  controller: LaunchRecordSchema,
  /** one record per launch (tscluster start, each tscluster engines) */
  engines: z.array(LaunchRecordSchema),
});
export type ClusterState = z.infer<typeof ClusterStateSchema>;

/** A cluster's state, `undefined` when there is no file, or `'corrupt'` when it cannot be read. */
export function readClusterState(profile: string, clusterId: string): ClusterState | 'corrupt' | undefined {
  const path = clusterStatePath(profile, clusterId);
  if (!existsSync(path)) return undefined;
  try {
    return readJsonFile(path, ClusterStateSchema, { what: 'cluster state file', missingHint: '', corruptHint: '' });
  } catch {
    return 'corrupt';
  }
}

export function writeClusterState(s: ClusterState): void {
  writeJsonAtomic(clusterStatePath(s.profile, s.cluster_id), s, 0o600);
}

export function removeClusterState(profile: string, clusterId: string): void {
  rmSync(clusterStatePath(profile, clusterId), { force: true });
}

/** Every process a state records (controller first). */
export function recordedProcesses(s: ClusterState): ProcessRecord[] {
  return [s.controller, ...s.engines].flatMap((r) => r.processes);
}
