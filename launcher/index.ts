/** Launchers by name; a record in a state file names the launcher that can poll and stop it. */
import type { LaunchRecord, LauncherName } from '../profiles/index.js';
import type { Launcher } from './launcher.js';
import { localLauncher } from './local.js';
import { mpiLauncher } from './mpi.js';
import { slurmLauncher } from './slurm.js';
import { sshLauncher } from './ssh.js';

export type { LaunchStatus, Launcher, PartSpec } from './launcher.js';
export { localLauncher } from './local.js';
export { mpiLauncher } from './mpi.js';
export { parseHosts, sshLauncher } from './ssh.js';
export { slurmLauncher } from './slurm.js';
export { running, terminate, waitEnded } from './processes.js';

const launchers: { [K in LauncherName]?: Launcher<Extract<LaunchRecord, { launcher: K }>> } = {
  local: localLauncher,
  ssh: sshLauncher,
  mpi: mpiLauncher,
  slurm: slurmLauncher,
};

export function launcherNamed(name: LauncherName): Launcher {
  const l = launchers[name] as Launcher | undefined;
  if (!l) throw new Error(`the ${name} launcher is not available yet`);
  return l;
}

/** The launcher that made a record. */
export function launcherOf(rec: LaunchRecord): Launcher {
  return launcherNamed(rec.launcher);
}

/** A record's line for `tscluster list` with what its launcher can tell now (its describe() when it cannot ask); `detail`: see Launcher.describeLive. */
export async function describeLive(rec: LaunchRecord, detail = false): Promise<string> {
  const l = launcherOf(rec);
  return l.describeLive ? l.describeLive(rec, detail).catch(() => l.describe(rec)) : l.describe(rec);
}
