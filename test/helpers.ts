/**
 * Shared helpers for the end-to-end tests: a private TSCLUSTER_DIR per test
 * file, polling with deadlines, running the CLI as a child process, and
 * checking by pid that every process a test started is gone.
 *
 * This module has no tests of its own. Node 20's `node --test dist/test/`
 * loads every .js file under dist/test/, so it also loads this one (and
 * reports it as one passing file).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { Cluster } from '../index.js';
import type { Client, ClusterOptions } from '../index.js';

/** dist/ (this file is dist/test/helpers.js once compiled). */
export const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The project root, where package.json lives. */
export const ROOT = resolve(DIST, '..');
/** The `tscluster` command line. */
export const CLI = join(DIST, 'cli', 'main.js');

/**
 * Make a fresh profile root for this test file and point TSCLUSTER_DIR at it.
 * Must run before anything starts a cluster (children inherit process.env).
 */
export function useTempRoot(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tscluster-test-${tag}-`));
  process.env.TSCLUSTER_DIR = dir;
  return dir;
}

export function removeTempRoot(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `check` until it returns a value other than undefined/false, or fail
 * with `what` after `timeoutMs`.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 10000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ------------------------------------------------------------------ processes

/** True once `process.kill(pid, 0)` throws ESRCH. */
export function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as { code?: string }).code === 'ESRCH';
  }
}

function procState(pid: number): string {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = s.slice(s.lastIndexOf(')') + 2).split(' ')[0] ?? '?';
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return `state ${state}${cmd ? `, ${cmd}` : ''}`;
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

/**
 * Stop a cluster started from code, then check by pid that its controller and
 * engines (and `extraPids`) are gone; leftovers are SIGKILLed, then reported.
 */
export async function stopCluster(cluster: Cluster | undefined, extraPids: readonly number[] = []): Promise<void> {
  const pids = [...(cluster ? [cluster.controllerPid, ...cluster.enginePids] : []), ...extraPids];
  let stopError: unknown;
  try {
    await cluster?.stop();
  } catch (e) {
    stopError = e;
  }
  await assertAllGone(pids, 'after cluster.stop()');
  if (stopError !== undefined) throw stopError;
}

// ------------------------------------------------------------------ the CLI

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Run `tscluster <args>` to completion (SIGKILLed after `timeoutMs`, which
 * then rejects). The environment is this process's, so TSCLUSTER_DIR carries over.
 */
/**
 * One cluster for the tests of the enclosing describe block: started before
 * them, stopped (and checked gone by pid) after them.
 */
export function sharedCluster(opts: ClusterOptions & { n: number }, clusterId: string): { rc: () => Client; cluster: () => Cluster } {
  let cluster: Cluster | undefined;
  let rc: Client | undefined;
  before(async () => {
    cluster = await Cluster.start({ ...opts, clusterId });
    rc = await cluster.connect();
    await rc.waitForEngines(opts.n, { timeoutMs: 30000 });
  });
  after(async () => {
    await stopCluster(cluster);
  });
  return {
    rc: () => {
      assert.ok(rc, 'the cluster started');
      return rc;
    },
    cluster: () => {
      assert.ok(cluster, 'the cluster started');
      return cluster;
    },
  };
}

/** A row of `tscluster list --json`. */
export interface ListRow {
  profile: string;
  clusterId: string;
  controllerPid: number | null;
  engines: number | null;
  state: 'running' | 'dead';
  dropped: Record<string, number> | null;
}

/** `tscluster list --json`, checked to exit 0. */
export async function listJson(): Promise<ListRow[]> {
  const r = await runCli(['list', '--json'], { timeoutMs: 30000 });
  assert.equal(r.code, 0, `tscluster list --json failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as ListRow[];
}

export function runCli(
  args: readonly string[],
  { timeoutMs = 60000, env = {} }: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tscluster ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
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

// ------------------------------------------------------------------ cluster files

export interface StateFile {
  controller_pid: number;
  engine_pids: number[];
}

function stem(clusterId: string): string {
  return clusterId ? `tscluster-${clusterId}` : 'tscluster';
}

export function stateFilePath(root: string, profile = 'default', clusterId = ''): string {
  return join(root, `profile_${profile}`, 'pid', `${stem(clusterId)}.json`);
}

export function connectionFile(root: string, kind: 'client' | 'engine', profile = 'default', clusterId = ''): string {
  return join(root, `profile_${profile}`, 'security', `${stem(clusterId)}-${kind}.json`);
}

interface RecordedProcess {
  pid: number;
}
interface LaunchRecordFile {
  launcher: string;
  processes: RecordedProcess[];
}

/** The pids of the cluster state file (what its launchers recorded), or undefined when there is none. */
export function readState(root: string, profile = 'default', clusterId = ''): StateFile | undefined {
  const p = stateFilePath(root, profile, clusterId);
  if (!existsSync(p)) return undefined;
  const s = JSON.parse(readFileSync(p, 'utf8')) as { controller: LaunchRecordFile; engines: LaunchRecordFile[] };
  const controller = s.controller.processes[0]?.pid;
  assert.equal(typeof controller, 'number', `${p}: controller.processes[0].pid`);
  assert.ok(Array.isArray(s.engines), `${p}: engines`);
  return { controller_pid: controller!, engine_pids: s.engines.flatMap((r) => r.processes.map((x) => x.pid)) };
}

/** A list of consecutive integers 0..n-1. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
