/**
 * Processes a test starts: checking by pid that they are gone (and ending
 * leftovers so nothing is orphaned), running the `tscluster` command line,
 * watching a child's output, and finding every process of a test by its
 * TSCLUSTER_DIR.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess, ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { CLI, sleep, waitFor } from './env.js';

/** The state letter of a process (R, S, D, Z...) in /proc/<pid>/stat; undefined when it cannot be read. */
function stateOf(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/**
 * True once `process.kill(pid, 0)` throws ESRCH, or the process has exited and
 * waits to be reaped (a zombie): an orphan's zombie waits for pid 1, which on
 * some machines reaps only every few seconds.
 */
export function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as { code?: string }).code === 'ESRCH';
  }
  const state = stateOf(pid);
  return state === undefined || state === 'Z';
}

function procState(pid: number): string {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return `state ${stateOf(pid) ?? '?'}${cmd ? `, ${cmd}` : ''}`;
  } catch {
    return 'state unknown';
  }
}

/** Wait until every pid is gone; returns the ones still there at the deadline. */
export async function waitGone(pids: readonly number[], timeoutMs = 10000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = pids.filter((p) => !pidGone(p));
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = left.filter((p) => !pidGone(p));
  }
  return left;
}

/**
 * Cleanup that never leaves orphans: wait for the pids to be gone (an exited
 * process may take a moment to be reaped), SIGKILL whatever is still there and
 * wait again. Returns a description of each process that was still alive
 * after `timeoutMs` (and had to be killed), so a caller can assert none was.
 */
export async function ensureGone(pids: readonly number[], timeoutMs = 10000): Promise<string[]> {
  const unique = [...new Set(pids)].filter((p) => Number.isInteger(p) && p > 0 && p !== process.pid);
  const left = await waitGone(unique, timeoutMs);
  const described = left.map((p) => `pid ${p} (${procState(p)})`);
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  const still = await waitGone(left, 5000);
  for (const p of still) described.push(`pid ${p} survived SIGKILL (${procState(p)})`);
  return described;
}

/** Assert that every pid is gone (polling), SIGKILLing leftovers so nothing is orphaned. */
export async function assertAllGone(pids: readonly number[], context: string, timeoutMs = 10000): Promise<void> {
  const leftovers = await ensureGone(pids, timeoutMs);
  assert.deepEqual(leftovers, [], `${context}: processes still alive ${timeoutMs} ms later (now SIGKILLed): ${leftovers.join('; ')}`);
}

/**
 * Emergency cleanup for a test that failed half-way: SIGTERM every pid still
 * there, then wait, SIGKILL and wait again (see ensureGone).
 */
export async function killAll(pids: readonly number[]): Promise<void> {
  for (const pid of new Set(pids)) {
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || pidGone(pid)) continue;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone meanwhile
    }
  }
  await ensureGone(pids, 5000);
}

/** A process found in /proc: its pid and its command line. */
export interface ProcessInfo {
  pid: number;
  cmd: string;
}

/**
 * Processes (not this one, not exited zombies) for which `match(pid)` is true;
 * a process that cannot be read (gone meanwhile, not ours) does not match.
 */
export function findProcesses(match: (pid: number) => boolean): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (!match(Number(d))) continue;
      if (stateOf(Number(d)) === 'Z') continue; // exited, not yet reaped
      out.push({ pid: Number(d), cmd: readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').trim() });
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/** Processes (not this one) whose environment has TSCLUSTER_DIR=dir: every process a test started, and theirs. */
export function processesOf(dir: string): ProcessInfo[] {
  const needle = `TSCLUSTER_DIR=${dir}`;
  return findProcesses((pid) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(needle));
}

/** Wait up to `ms` for every process of a test (by its TSCLUSTER_DIR) to be gone, then assert none is left (SIGKILLing leftovers). */
export async function assertNoProcesses(dir: string, context: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  let left = processesOf(dir);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(100);
    left = processesOf(dir);
  }
  await ensureGone(
    left.map((p) => p.pid),
    0,
  );
  assert.deepEqual(
    left.map((p) => `pid ${p.pid}: ${p.cmd}`),
    [],
    `${context}: processes left ${ms / 1000} s later (now SIGKILLed)`,
  );
}

// ------------------------------------------------------------------ child processes

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A finished command for an assertion message: its exit and its output. */
export function showResult(r: CliResult): string {
  return `exit ${r.code ?? r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

/** This process's environment with `env` on top; a variable set to undefined in `env` is left out. */
export function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...process.env, ...env };
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
  return out;
}

export interface RunOptions {
  /** SIGKILLed after this, which then rejects (default 60 s) */
  timeoutMs?: number;
  /** on top of this process's environment; a variable set to undefined is left out */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** names the command in the timeout error (default: the command line) */
  label?: string;
  /** gets the child once started (to signal it) and a reader of its stdout so far */
  onStart?: (child: ChildProcess, stdout: () => string) => void;
}

/**
 * Run `file <args>` to completion (SIGKILLed after `timeoutMs`, which then
 * rejects). The environment is this process's (so TSCLUSTER_DIR carries
 * over) with `env` on top (a variable set to undefined is left out).
 */
export function runProcess(
  file: string,
  args: readonly string[],
  { timeoutMs = 60000, env = {}, cwd, label = [file, ...args].join(' '), onStart }: RunOptions = {},
): Promise<CliResult & { ms: number }> {
  return new Promise((resolvePromise, reject) => {
    const t0 = Date.now();
    const child = spawn(file, args, { cwd, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label} did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
    onStart?.(child, () => stdout);
  });
}

/** Run `node <script> <args>` to completion: runProcess with this node; `label` names the script in the timeout error. */
export function runNode(script: string, args: readonly string[], o: RunOptions = {}): Promise<CliResult & { ms: number }> {
  return runProcess(process.execPath, [script, ...args], { ...o, label: `${o.label ?? `node ${script}`} ${args.join(' ')}` });
}

/**
 * Run `tscluster <args>` to completion (SIGKILLed after `timeoutMs`, which
 * then rejects). The environment is this process's, so TSCLUSTER_DIR carries over.
 */
export async function runCli(
  args: readonly string[],
  { timeoutMs = 60000, env = {} }: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  const { code, signal, stdout, stderr } = await runNode(CLI, args, { timeoutMs, env, label: 'tscluster' });
  return { code, signal, stdout, stderr };
}

/** Collects a child's output as text and lets a test wait for a line. */
export class OutputWatcher {
  text = '';
  constructor(stream: NodeJS.ReadableStream) {
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (this.text += d));
  }

  async waitForLine(re: RegExp, child: ChildProcess, timeoutMs: number, stderr?: OutputWatcher): Promise<string> {
    return waitFor(
      `a line matching ${re}`,
      () => {
        const line = this.text.split('\n').find((l) => re.test(l));
        if (line !== undefined) return line;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(
            `the process exited (${child.exitCode ?? child.signalCode}) before printing ${re}\nstdout:\n${this.text}\nstderr:\n${stderr?.text ?? ''}`,
          );
        }
        return undefined;
      },
      { timeoutMs },
    );
  }
}

/** Resolves with the exit code (or signal name) of a child, waiting at most `timeoutMs`. */
export function waitExit(child: ChildProcess, timeoutMs: number): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`pid ${child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolvePromise(code ?? signal ?? 'unknown');
    });
  });
}

/** A node child process whose stdout and stderr are watched. */
export interface WatchedChild {
  child: ChildProcessWithoutNullStreams;
  out: OutputWatcher;
  err: OutputWatcher;
}

/**
 * Start `node <args>` and watch its output. The environment is this
 * process's with `env` on top; stdin is closed at once unless `stdin` (then a
 * test writes to it).
 */
export function spawnWatched(
  args: readonly string[],
  { cwd, env = {}, stdin = false }: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: boolean } = {},
): WatchedChild {
  const child = spawn(process.execPath, args, { cwd, env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  if (!stdin) child.stdin.end();
  return { child, out: new OutputWatcher(child.stdout), err: new OutputWatcher(child.stderr) };
}

/** SIGKILL a child that still runs (cleanup after a test that may have failed half-way). */
export function killIfRunning(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
