/** Launchers by name; a record in a state file names the launcher that can poll and stop it. */
import type { LaunchRecord, LauncherName } from '../profiles/index.js';
import type { Launcher } from './launcher.js';
import { localLauncher } from './local.js';

export type { LaunchStatus, Launcher, PartSpec } from './launcher.js';
export { localLauncher } from './local.js';
export { running, terminate, waitEnded } from './processes.js';

const launchers: { [K in LauncherName]: Launcher<Extract<LaunchRecord, { launcher: K }>> } = {
  local: localLauncher,
};

export function launcherNamed<K extends LauncherName>(name: K): Launcher<Extract<LaunchRecord, { launcher: K }>> {
  return launchers[name];
}

/** The launcher that made a record. */
export function launcherOf(rec: LaunchRecord): Launcher {
  return launchers[rec.launcher];
}
