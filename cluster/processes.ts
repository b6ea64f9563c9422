/** Spawning the controller and engines as detached processes, and ending them by pid. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { logPath } from '../profiles/index.js';
import { pidAlive } from '../util/proc.js';

export const CONTROLLER_SCRIPT = fileURLToPath(new URL('../controller/main.js', import.meta.url));
export const ENGINE_SCRIPT = fileURLToPath(new URL('../engine/main.js', import.meta.url));

/** Children of this process that have exited (a dead child must not look alive). */
const exited = new Set<number>();

export function alive(pid: number): boolean {
  return !exited.has(pid) && pidAlive(pid);
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
  log: string;
}

/** Extra node flags for controller and engine processes, e.g. `TSCLUSTER_NODE_ARGS="--cpu-prof --max-old-space-size=8192"`. */
export function extraNodeArgs(): string[] {
  return (process.env.TSCLUSTER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
}

/** Start a part of the cluster detached, its output appended to the profile's log file. */
export function spawnPart(script: string, args: string[], profile: string, clusterId: string, part: string): Spawned {
  const log = logPath(profile, clusterId, part);
  const fd = openSync(log, 'a', 0o600);
  try {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', ...extraNodeArgs(), script, ...args], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: process.env,
    });
    if (child.pid === undefined) throw new Error(`could not start ${script}`);
    const pid = child.pid;
    child.on('exit', () => exited.add(pid));
    child.unref();
    return { child, pid, log };
  } finally {
    closeSync(fd);
  }
}

export function logTail(path: string, lines = 15): string {
  if (!existsSync(path)) return '(no log)';
  const text = readFileSync(path, 'utf8').trimEnd().split('\n');
  return text.slice(-lines).join('\n');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until none of `pids` is alive, or the time runs out. Returns the survivors. */
export async function waitExit(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = pids.filter(alive);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(20);
    left = left.filter(alive);
  }
  return left;
}

/** SIGTERM, then SIGKILL what is still there. Resolves when all are gone. */
export async function terminate(pids: number[], graceMs = 2000): Promise<void> {
  const signal = (list: number[], sig: NodeJS.Signals): void => {
    for (const pid of list) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  let left = pids.filter(alive);
  if (left.length === 0) return;
  signal(left, 'SIGTERM');
  left = await waitExit(left, graceMs);
  if (left.length === 0) return;
  signal(left, 'SIGKILL');
  await waitExit(left, 2000);
}
