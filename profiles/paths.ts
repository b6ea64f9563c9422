/**
 * Profile directories: `$TSCLUSTER_DIR` or `~/.tscluster`, then
 * `profile_<name>/{security,log,pid}` and `tscluster.json` (config).
 */
import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const DEFAULT_PROFILE = 'default';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Check a profile name or cluster id; they become parts of file names. */
export function checkName(kind: 'profile' | 'cluster id', name: string): void {
  if (kind === 'cluster id' && name === '') return;
  if (!NAME_RE.test(name)) {
    throw new Error(`invalid ${kind} '${name}': use letters, digits, '.', '_' or '-' (at most 100 characters, not starting with '.' or '-')`);
  }
}

export function rootDir(): string {
  return process.env.TSCLUSTER_DIR || join(homedir(), '.tscluster');
}

export interface ProfilePaths {
  name: string;
  dir: string;
  security: string;
  log: string;
  pid: string;
  config: string;
}

export function profilePaths(name: string = DEFAULT_PROFILE): ProfilePaths {
  checkName('profile', name);
  const dir = join(rootDir(), `profile_${name}`);
  return { name, dir, security: join(dir, 'security'), log: join(dir, 'log'), pid: join(dir, 'pid'), config: join(dir, 'tscluster.json') };
}

/** Create the profile's directories; security/ is 0700. */
export function ensureProfile(name: string = DEFAULT_PROFILE): ProfilePaths {
  const p = profilePaths(name);
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  mkdirSync(p.security, { recursive: true, mode: 0o700 });
  chmodSync(p.security, 0o700);
  mkdirSync(p.log, { recursive: true, mode: 0o700 });
  mkdirSync(p.pid, { recursive: true, mode: 0o700 });
  return p;
}

/** Names of all profiles under the root. */
export function listProfiles(): string[] {
  const root = rootDir();
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name.startsWith('profile_'))
    .map((d) => d.name.slice('profile_'.length))
    .sort();
}

/** `tscluster` or `tscluster-<clusterId>`: the stem of a cluster's file names. */
export function clusterStem(clusterId: string): string {
  checkName('cluster id', clusterId);
  return clusterId ? `tscluster-${clusterId}` : 'tscluster';
}

export function connectionFilePath(profile: string, clusterId: string, kind: 'client' | 'engine'): string {
  return join(profilePaths(profile).security, `${clusterStem(clusterId)}-${kind}.json`);
}

export function clusterStatePath(profile: string, clusterId: string): string {
  return join(profilePaths(profile).pid, `${clusterStem(clusterId)}.json`);
}

/** The cluster's durable task store (controller/store/sqlite.ts). */
export function storePath(profile: string, clusterId: string): string {
  return join(profilePaths(profile).dir, 'db', `${clusterStem(clusterId)}.sqlite`);
}

export function logPath(profile: string, clusterId: string, part: string): string {
  return join(profilePaths(profile).log, `${clusterStem(clusterId)}-${part}.log`);
}
