/**
 * A cluster's state file, `pid/tscluster[-<id>].json`: what its launchers
 * started, so that `tscluster stop` and `list` (other processes, later) can
 * find and end it. Each process is recorded with its start time and command
 * line, so a pid reused by an unrelated process is never taken for it.
 */
import { existsSync, rmSync } from 'node:fs';
import * as z from 'zod';
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

/** How ssh reaches the hosts (kept so that another process can stop what was started). */
export const SshOptionsSchema = z.object({
  port: z.number().int().min(1).max(65535).optional(),
  identity: z.string().optional(),
  options: z.array(z.string()),
});
export type SshOptions = z.infer<typeof SshOptionsSchema>;

/** Processes on one ssh host, and the connection file put there for them. */
export const SshHostRecordSchema = z.object({
  /** [user@]host as ssh takes it */
  host: z.string(),
  /** processes asked for */
  n: z.number().int().nonnegative(),
  processes: z.array(ProcessRecordSchema),
  /** files put (or written) there for them: removed when they are stopped */
  files: z.array(z.string()),
  /** their log on that host */
  log: z.string(),
  /** why nothing started there (ssh's error), when it failed */
  error: z.string().optional(),
});
export type SshHostRecord = z.infer<typeof SshHostRecordSchema>;

/** One Slurm batch job. */
export const SlurmJobSchema = z.object({
  /** its job id ('' when the submission failed) */
  id: z.string(),
  /** its job name: the launcher cancels only a job of this id and name */
  name: z.string(),
  /** engines (tasks) in it, or 1 for a controller */
  n: z.number().int().nonnegative(),
  /** its batch script and output file */
  script: z.string(),
  output: z.string(),
  /** when it was submitted (ISO time) */
  submitted: z.string(),
  /** why the submission failed (sbatch's message) */
  error: z.string().optional(),
});
export type SlurmJob = z.infer<typeof SlurmJobSchema>;

/** What one launcher started: processes of this machine, processes on ssh hosts, an mpiexec, Slurm jobs. */
export const LaunchRecordSchema = z.discriminatedUnion('launcher', [
  /** `supervisor`: the one process is the controller's supervisor (controller/supervisor.ts), whose child the controller is */
  z.object({ launcher: z.literal('local'), processes: z.array(ProcessRecordSchema), supervisor: z.boolean().optional() }),
  z.object({ launcher: z.literal('ssh'), ssh: SshOptionsSchema, hosts: z.array(SshHostRecordSchema) }),
  /** the mpiexec process (its ranks are the engines) */
  z.object({
    launcher: z.literal('mpi'),
    processes: z.array(ProcessRecordSchema),
    n: z.number().int().nonnegative(),
    /** the mark (TSCLUSTER_MPI_JOB=<job>) in the environment of mpiexec and of every rank it starts here: ranks left behind are found by it */
    job: z.string().min(1),
    /** the command line run (for messages: an mpiexec that fails at once may be gone before /proc shows it) */
    command: z.array(z.string()),
    /** mpiexec's log (with its ranks' output) and where this run's lines start */
    log: z.object({ path: z.string(), offset: z.number().int().nonnegative() }),
  }),
  /** Slurm batch jobs; `adapt`: the jobs the controller's adapter started (--adapt), kept by it */
  z.object({ launcher: z.literal('slurm'), jobs: z.array(SlurmJobSchema), adapt: z.boolean().optional() }),
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

/** The record of the jobs the controller's adapter started (--adapt): the controller writes it, no one else. */
function isAdaptRecord(r: LaunchRecord): boolean {
  return r.launcher === 'slurm' && r.adapt === true;
}

/**
 * Write a cluster's state. The adapter's record is the controller's: the one
 * in the file (re-read now) is kept, whatever `s` holds of it.
 */
export function writeClusterState(s: ClusterState): void {
  const file = readClusterState(s.profile, s.cluster_id);
  const adapt = typeof file === 'object' && file.started === s.started ? file.engines.filter(isAdaptRecord) : s.engines.filter(isAdaptRecord);
  writeJsonAtomic(clusterStatePath(s.profile, s.cluster_id), { ...s, engines: [...s.engines.filter((r) => !isAdaptRecord(r)), ...adapt] }, 0o600);
}

/**
 * Record the jobs the adapter has now (re-reading the file just before), so
 * that `tscluster stop` can cancel them if the controller cannot. False when
 * there is no state file (a controller started alone).
 */
export function recordAdaptJobs(profile: string, clusterId: string, jobs: SlurmJob[]): boolean {
  const file = readClusterState(profile, clusterId);
  if (typeof file !== 'object') return false;
  const others = file.engines.filter((r) => !isAdaptRecord(r));
  const engines: LaunchRecord[] = jobs.length > 0 ? [...others, { launcher: 'slurm', adapt: true, jobs }] : others;
  writeJsonAtomic(clusterStatePath(profile, clusterId), { ...file, engines }, 0o600);
  return true;
}

export function removeClusterState(profile: string, clusterId: string): void {
  rmSync(clusterStatePath(profile, clusterId), { force: true });
}

/** The processes of this machine a record names (ssh hosts' and Slurm jobs' are elsewhere). */
export function localProcesses(r: LaunchRecord): ProcessRecord[] {
  return r.launcher === 'local' || r.launcher === 'mpi' ? r.processes : [];
}

/** Every process of this machine a state records (controller first). */
export function recordedProcesses(s: ClusterState): ProcessRecord[] {
  return [s.controller, ...s.engines].flatMap(localProcesses);
}
