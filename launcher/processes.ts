/**
 * Processes of this machine: parts of a cluster spawned detached with their
 * output appended to the profile's log (each run marked, so a failure quotes
 * this run's lines only), and ended by their recorded identity (a pid that
 * now belongs to another process is never signalled).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ProcessRecord } from '../profiles/index.js';
import { identify, sameProcess, signalPid, waitUntilGone } from '../util/proc.js';
import { tailFile } from '../util/tail.js';

export const CONTROLLER_SCRIPT = fileURLToPath(new URL('../controller/main.js', import.meta.url));
export const SUPERVISOR_SCRIPT = fileURLToPath(new URL('../controller/supervisor.js', import.meta.url));
const ENGINE_MAIN = fileURLToPath(new URL('../engine/main.js', import.meta.url));
const ENGINE_BUNDLE = fileURLToPath(new URL('../bundle/engine.js', import.meta.url));

/** tsconfig.json is in a checkout of tscluster, not in the installed package */
const TSCONFIG = fileURLToPath(new URL('../../tsconfig.json', import.meta.url));

/**
 * The engine's script: its one-file bundle (`npm run build` makes it, see
 * tools/bundle-engine.js; it starts in about half the CPU time), unless it is
 * missing, `TSCLUSTER_ENGINE_BUNDLE=0` asks for the modules (e.g. to profile
 * them), or, in a checkout, tsc built the modules after it (an installed
 * package's files all come from one build, whatever their times). Looked up
 * at each launch, not when this module loads (the engine's bundle loads it too).
 */
export function engineScript(): string {
  if (process.env.TSCLUSTER_ENGINE_BUNDLE === '0') return ENGINE_MAIN;
  try {
    const bundle = statSync(ENGINE_BUNDLE).mtimeMs;
    return !existsSync(TSCONFIG) || bundle >= statSync(ENGINE_MAIN).mtimeMs ? ENGINE_BUNDLE : ENGINE_MAIN;
  } catch {
    return ENGINE_MAIN;
  }
}

/** How children of this process ended, exit code or signal, by pid (a dead child must not look alive before it is reaped). */
const endings = new Map<number, string>();

/** Is the recorded process still running (and still the one recorded)? */
export function running(p: ProcessRecord): boolean {
  return !endings.has(p.pid) && sameProcess(p);
}

/** Extra node flags for controller and engine processes, e.g. `TSCLUSTER_NODE_ARGS="--cpu-prof --max-old-space-size=8192"`. */
export function extraNodeArgs(): string[] {
  return (process.env.TSCLUSTER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
}

/** A log file with this run marked: lines written from `offset` on are this run's. */
export interface RunLog {
  path: string;
  offset: number;
}

/** Mark the start of a run in a log; its lines from here on are this run's. */
export function markRun(path: string, what: string): RunLog {
  const fd = openSync(path, 'a', 0o600);
  try {
    const offset = statSync(path).size;
    writeSync(fd, `==== ${new Date().toISOString()} ${what} (started by pid ${process.pid}) ====\n`);
    return { path, offset };
  } finally {
    closeSync(fd);
  }
}

/** The last `lines` lines a run wrote to its log (after its mark). */
export function runLogTail(log: RunLog, lines = 15): string {
  const text = tailFile(log.path, lines + 1, log.offset).split('\n');
  // the first line from the offset is the run's mark
  const own = text[0]?.startsWith('==== ') ? text.slice(1) : text.slice(-lines);
  return own.join('\n') || '(nothing logged)';
}

/** The command line of a node script as parts are run: this node, its flags, the script and its arguments. */
export function nodeCommand(script: string, args: readonly string[]): string[] {
  return [process.execPath, '--disable-warning=ExperimentalWarning', ...extraNodeArgs(), script, ...args];
}

/** Start a node script detached, its output appended to `log`. Returns its record. */
export function spawnDetached(script: string, args: string[], log: string): ProcessRecord {
  const [node = process.execPath, ...rest] = nodeCommand(script, args);
  return spawnCommandDetached(node, rest, log);
}

/** How a child of this process ended ("exit code 1", "signal SIGKILL"), if it was this process's child and has ended. */
export function endingOf(pid: number): string | undefined {
  return endings.get(pid);
}

/**
 * Start a command detached (its own session), its output appended to `log`,
 * with `env` added to this process's environment. Returns its record; a
 * command that cannot be started (not found, not executable) throws.
 */
export function spawnCommandDetached(file: string, args: readonly string[], log: string, env: NodeJS.ProcessEnv = {}): ProcessRecord {
  const fd = openSync(log, 'a', 0o600);
  try {
    const child = spawn(file, args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
    const pid = child.pid;
    if (pid === undefined) {
      child.on('error', () => undefined);
      throw new Error(`could not start ${file}`);
    }
    child.on('exit', (code, signal) => {
      endings.set(pid, signal !== null ? `signal ${signal}` : `exit code ${code ?? '?'}`);
    });
    child.unref();
    return { ...identify(pid), host: hostname() };
  } finally {
    closeSync(fd);
  }
}

/** Wait until none of the processes runs, or the time runs out. Returns the survivors. */
export function waitEnded(procs: ProcessRecord[], timeoutMs: number): Promise<ProcessRecord[]> {
  return waitUntilGone(procs, running, timeoutMs, 20);
}

/** SIGTERM, then SIGKILL what is still there: only processes that are still the recorded ones. */
export async function terminate(procs: ProcessRecord[], graceMs = 2000): Promise<void> {
  const signal = (list: ProcessRecord[], sig: NodeJS.Signals): void => {
    for (const p of list) if (running(p)) signalPid(p.pid, sig);
  };
  let left = procs.filter(running);
  if (left.length === 0) return;
  signal(left, 'SIGTERM');
  left = await waitEnded(left, graceMs);
  if (left.length === 0) return;
  signal(left, 'SIGKILL');
  await waitEnded(left, 2000);
}
