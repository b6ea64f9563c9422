/**
 * Launchers start the parts of a cluster (the controller, sets of engines)
 * wherever they run, and find, poll and stop them again later, also from
 * another process (`tscluster stop`), through what they recorded in the
 * cluster's state file (profiles/state.ts).
 */
import type { LaunchRecord, LauncherName } from '../profiles/index.js';

/** What to start. */
export interface PartSpec {
  profile: string;
  clusterId: string;
  part: 'controller' | 'engines';
  /** the part's own arguments (those of `tscluster controller` or `tscluster engine`) */
  args: string[];
  /** how many processes (1 for the controller) */
  n: number;
}

/** How a started set is doing. */
export interface LaunchStatus {
  /** processes (or jobs' engines) still running */
  running: number;
  /** those started */
  total: number;
  /** ones that ended, each with what is known of why (its log since it started) */
  ended: { what: string; detail: string }[];
}

export interface Launcher<R extends LaunchRecord = LaunchRecord> {
  readonly name: LauncherName;
  /** Start the part; resolves with its record once its processes (or job) exist. */
  start(spec: PartSpec): Promise<R>;
  poll(rec: R): Promise<LaunchStatus>;
  /** End what the record names (only processes that are still the recorded ones). */
  stop(rec: R, graceMs?: number): Promise<void>;
  /** One line for `tscluster list`, e.g. "local: 4 processes (pids 1, 2, 3, 4)". */
  describe(rec: R): string;
}
