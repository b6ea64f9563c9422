/**
 * Processes by pid, read from /proc where there is one. A pid alone is not an
 * identity: after a crash or a reboot it can belong to an unrelated process.
 * A recorded process is its pid plus its start time (and command line), and
 * nothing is signalled or trusted unless all of them still match.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { sleep } from './sleep.js';

/** What /proc/<pid>/stat says of a process. */
export interface ProcStat {
  /** one letter: R running, S sleeping, Z zombie, T stopped... */
  state: string;
  ppid: number;
  /** start time in clock ticks since boot: with the pid, a process's identity */
  start: string;
}

/** A process as recorded: pid, start time and command line (null where /proc does not tell). */
export interface ProcessIdentity {
  pid: number;
  start: string | null;
  cmd: string | null;
}

/** The parsed /proc/<pid>/stat, or undefined when the process (or /proc) is not there. */
export function procStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // "pid (comm) S ppid ...": comm may hold spaces and parentheses; the fields follow the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', ppid: Number(fields[1]), start: fields[19] ?? '' };
}

/** The command line of a process, its arguments joined by spaces ('' when unknown). */
export function procCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

function hasProc(): boolean {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
}
const PROC = hasProc();

/** Is the process running? A zombie (exited, not yet reaped by its parent) is not. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (!PROC) return true; // not Linux: the signal check is all there is
  const s = procStat(pid);
  return s !== undefined && s.state !== 'Z';
}

/** Record a running process: its pid with its start time and command line. */
export function identify(pid: number): ProcessIdentity {
  const s = procStat(pid);
  return { pid, start: s?.start ?? null, cmd: PROC ? procCmdline(pid) || null : null };
}

/**
 * Is the recorded process still the one running under its pid? False when the
 * pid is gone, a zombie, or now belongs to another process (another start
 * time, or a command line that is not the recorded one).
 */
export function sameProcess(p: ProcessIdentity): boolean {
  if (!pidAlive(p.pid)) return false;
  if (!PROC) return true;
  if (p.start !== null && procStat(p.pid)?.start !== p.start) return false;
  if (p.cmd !== null && procCmdline(p.pid) !== p.cmd) return false;
  return true;
}

/** Send a signal; false when the process is gone (or not ours to signal). */
export function signalPid(pid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** The pids /proc lists (none where there is no /proc). */
function procPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
}

/** Every process under `root` (children, their children...), from /proc; empty where there is no /proc. */
export function descendants(root: number): ProcessIdentity[] {
  const children = new Map<number, { pid: number; start: string }[]>();
  for (const pid of procPids()) {
    const s = procStat(pid);
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push({ pid, start: s.start });
    children.set(s.ppid, list);
  }
  const out: ProcessIdentity[] = [];
  const queue = [root];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const c of children.get(next) ?? []) {
      out.push({ ...c, cmd: procCmdline(c.pid) || null });
      queue.push(c.pid);
    }
  }
  return out;
}

/**
 * Every process (of those this user may read) whose environment holds
 * `entry` (`NAME=value`), e.g. a mark a launcher set on the process it started
 * and that its children inherit; empty where there is no /proc.
 */
export function processesWithEnv(entry: string): ProcessIdentity[] {
  const out: ProcessIdentity[] = [];
  for (const pid of procPids()) {
    if (pid === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(entry)) continue;
    } catch {
      continue; // gone, or not ours to read
    }
    const id = identify(pid);
    // a process that ended meanwhile has no start time left to record it by
    if (id.start !== null && pidAlive(pid)) out.push(id);
  }
  return out;
}

/**
 * Poll every `intervalMs` until `running` is false for each of `procs`, or
 * `timeoutMs` pass. Returns those still running.
 */
export async function waitUntilGone<T>(procs: readonly T[], running: (p: T) => boolean, timeoutMs: number, intervalMs = 50): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  let left = procs.filter(running);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(intervalMs);
    left = left.filter(running);
  }
  return left;
}
