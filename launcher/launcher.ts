/**
 * Launchers start the parts of a cluster (the controller, sets of engines)
 * wherever they run (this machine, ssh hosts, an MPI job, Slurm jobs), and
 * poll and stop them again later, also from another process (`tscluster
 * stop`), through what they recorded in the cluster's state file
 * (profiles/state.ts).
 */
import type { Settings } from '../config/settings.js';
import type { LaunchRecord, LauncherName } from '../profiles/index.js';

/** What to start. */
export interface PartSpec {
  profile: string;
  clusterId: string;
  part: 'controller' | 'engines';
  /** the part's own arguments (those of `tscluster controller` or `tscluster engine`), without a connection file */
  args: string[];
  /** how many processes (1 for the controller) */
  n: number;
  /** the resolved settings (the launchers' options among them) */
  settings: Settings;
  /** for engines: the engine connection file, its path on this machine and its text */
  engineFile?: { path: string; text: string };
}

/** How a started set is doing. */
export interface LaunchStatus {
  /** processes (or engines of jobs) still running or about to */
  running: number;
  /** those started */
  total: number;
  /** ones that ended, each with what is known of why (its log, its job's state and output) */
  ended: { what: string; detail: string; count: number }[];
}

export interface Launcher<R extends LaunchRecord = LaunchRecord> {
  readonly name: LauncherName;
  /** Start the part; resolves with its record once its processes (or jobs) exist. */
  start(spec: PartSpec): Promise<R>;
  poll(rec: R): Promise<LaunchStatus>;
  /**
   * Give what the record names `graceMs` to end by itself (it was asked to),
   * then end it: only processes that are still the recorded ones. Files the
   * launcher put on other hosts are removed.
   */
  stop(rec: R, graceMs: number): Promise<void>;
  /** At exit, with no time to wait: signal what can be signalled at once (best effort, synchronous). */
  endNow(rec: R): void;
  /** One line for `tscluster list`, e.g. "local: 4 processes (pids 1, 2, 3, 4)". */
  describe(rec: R): string;
  /**
   * The same line with what the launcher can ask now (a batch system: each
   * job's state and why it waits), for `tscluster list` and for a start that
   * timed out; launchers without more to say have none. With `detail`, the
   * lines that follow say more (a job's output so far).
   */
  describeLive?(rec: R, detail?: boolean): Promise<string>;
  /**
   * For a controller on another host: the text of its connection files once
   * it has written them (the caller validates them and writes them here).
   */
  fetchConnectionFiles?(rec: R, clusterId: string, timeoutMs: number): Promise<{ client: string; engine: string }>;
}
