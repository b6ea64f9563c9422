/**
 * Processes a benchmark started and what is left of them: after a cluster is
 * stopped none of its pids may still run, and on failure or interruption the
 * clusters it has running are stopped before the process ends.
 */
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { pidAlive, signalPid, waitUntilGone } from '../util/proc.js';
import { log } from './util.js';

/**
 * Whether `pid` runs and is ours: its environment holds `mark` (`NAME=value`,
 * a variable set to a directory of this run), so that a pid reused by another
 * process is never signalled.
 */
function runs(pid: number, mark: string): boolean {
  try {
    return pidAlive(pid) && readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(mark);
  } catch {
    return false;
  }
}

/**
 * Give the processes `graceMs` to end, then SIGKILL those still running.
 * Returns the pids that had to be killed (none, when the stop did its job).
 */
export async function reap(pids: Iterable<number>, mark: string, graceMs = 10_000): Promise<number[]> {
  const left = await waitUntilGone([...new Set(pids)], (p) => runs(p, mark), graceMs, 100);
  for (const p of left) signalPid(p, 'SIGKILL');
  if (left.length > 0) log(`still running after the stop, killed: ${left.join(' ')}`);
  return left;
}

/** Stops of the clusters now running, each to run once. */
const running = new Set<() => Promise<void>>();

/**
 * `body()`, then `stop()` however it ends; on SIGINT, SIGTERM or SIGHUP
 * meanwhile (see stopOnSignals), `stop()` runs at once and the process exits.
 */
export async function guarded<T>(stop: () => Promise<void>, body: () => Promise<T>): Promise<T> {
  let stopping: Promise<void> | undefined;
  const once = (): Promise<void> => (stopping ??= stop());
  running.add(once);
  try {
    return await body();
  } finally {
    await once();
    running.delete(once);
  }
}

/** On a terminating signal: run the stops of what runs, then exit as the signal would have. */
export function stopOnSignals(): void {
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      log(`${sig}: ${stopping ? 'still ' : ''}stopping the clusters`);
      if (stopping) return;
      stopping = true;
      void Promise.allSettled([...running].map((s) => s())).then(() => process.exit(128 + constants.signals[sig]));
    });
  }
}
