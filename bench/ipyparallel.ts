/**
 * The ipyparallel side of the benchmarks: a Python script of bench/ run with
 * Debian's python3-ipyparallel and an IPYTHONDIR of its own. The script
 * reports on stdout, one JSON object a line, the pids of what it starts and
 * its results (see bench/ipyparallel_common.py).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { guarded, reap } from './procs.js';
import type { Measured } from './report.js';
import { withTimeout } from '../util/timers.js';
import { log } from './util.js';

const PYTHON = '/usr/bin/python3';
const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench');
/** how long a script has to stop its cluster after SIGTERM */
const STOP_GRACE_MS = 120_000;

const Line = z.object({
  pids: z.array(z.number()).optional(),
  result: z.record(z.string(), z.number()).optional(),
  error: z.record(z.string(), z.string()).optional(),
});

/** The version of ipyparallel that /usr/bin/python3 imports, or undefined if it does not. */
export function ipyparallelVersion(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import ipyparallel; print(ipyparallel.__version__)'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : undefined;
}

/**
 * Run bench/`script` with `args`; SIGTERM after `timeoutMs`. Whatever ends
 * it, every process it reported is gone when this resolves.
 */
export async function runIpyparallel(script: string, args: string[], timeoutMs: number): Promise<Measured> {
  const ipdir = mkdtempSync(join(tmpdir(), 'ipp-bench-'));
  const run: Measured = { results: {}, errors: {}, problems: [] };
  const pids = new Set<number>();
  // a session of its own: a Ctrl-C reaches bench/run.ts, which stops the script by SIGTERM
  const child = spawn(PYTHON, [join(BENCH, script), ...args], {
    env: { ...process.env, IPYTHONDIR: ipdir },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  const ended = new Promise<string | undefined>((resolve) => {
    child.on('close', (code, signal) => resolve(code === 0 ? undefined : `${script} ended with ${signal ?? `exit status ${code}`}`));
  });
  createInterface({ input: child.stdout }).on('line', (line) => take(line, run, pids));
  const stop = async (): Promise<void> => {
    await end(child, ended);
    const killed = await reap(pids, `IPYTHONDIR=${ipdir}`);
    if (killed.length > 0) run.problems.push(`left running when ${script} ended (killed): pids ${killed.join(' ')}`);
    rmSync(ipdir, { recursive: true, force: true });
  };
  await guarded(stop, async () => {
    const timedOut = `${script} timed out after ${timeoutMs / 1000} s`;
    // `ended` does not reject: what is caught is the timeout
    const problem = await withTimeout(ended, timeoutMs, () => new Error(timedOut)).catch(() => timedOut);
    if (problem !== undefined) run.problems.push(problem);
  });
  return run;
}

/** One line of the script's stdout into `run` and `pids`. */
function take(line: string, run: Measured, pids: Set<number>): void {
  const msg = parseLine(line);
  if (!msg) {
    log(`ipyparallel said: ${line}`);
    return;
  }
  for (const p of msg.pids ?? []) pids.add(p);
  Object.assign(run.results, msg.result);
  Object.assign(run.errors, msg.error);
}

function parseLine(line: string): z.infer<typeof Line> | undefined {
  try {
    const r = Line.safeParse(JSON.parse(line));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** The script ended, by SIGTERM (it then stops its cluster) if it had not, by SIGKILL if it takes too long. */
async function end(child: ChildProcess, ended: Promise<unknown>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await withTimeout(ended, STOP_GRACE_MS, () => new Error('not stopped')).catch(() => child.kill('SIGKILL'));
  }
  await ended;
}
