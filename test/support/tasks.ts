/**
 * Tasks that tests run on engines (or in a local executor's threads), and the
 * files that hold them: a task waits on a gate file the test creates when it
 * decides the task may end. The remote functions travel as source text, so
 * each is self-contained (it `require`s what it uses on the engine). Also the
 * waits and checks the task-level suites share.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AsyncResult, Client, LoadBalancedView, QueueStatus } from '../../index.js';
import { waitFor } from './env.js';

// ------------------------------------------------------------------ remote functions

/** Runs remotely: prints a line, then waits until the file `gate` exists (at most 60 s); returns the engine's pid. */
export const waitForGate = async (gate: string): Promise<number> => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  console.log('gated task started');
  const t0 = Date.now();
  while (!fs.existsSync(gate) && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 20));
  return process.pid;
};

/** Runs remotely: waits until the file `it.gate` exists (at most 60 s), then returns `it.v`. */
export const gated = async <V>(it: { gate: string; v: V }): Promise<V> => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  const t0 = Date.now();
  while (!fs.existsSync(it.gate) && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 10));
  return it.v;
};

/** Runs remotely: sleeps `ms`, returns it. */
export const sleepFor = async (ms: number): Promise<number> => {
  await new Promise((r) => setTimeout(r, ms));
  return ms;
};

/** Runs remotely: appends `label` to `file` as a line, returns the label. */
export const appendLine = (file: string, label: string): string => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  fs.appendFileSync(file, `${label}\n`);
  return label;
};

/** Runs remotely: writes `marker`, proof that the task ran. */
export const touch = (marker: string): string => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  fs.writeFileSync(marker, 'ran');
  return 'ran';
};

/** Runs remotely: prints 'spinning', then never returns on its own (a running task to time out or abort). */
export const spin = (): number => {
  console.log('spinning');
  for (;;) {
    // busy: only replacing the execution worker ends this
  }
};

/** Runs remotely or in a pool thread: writes `marker`, then spins forever (only a cancel ends it). */
export const markThenSpin = (marker: string): number => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('node:fs') as typeof import('node:fs')).writeFileSync(marker, 'started');
  for (;;) {
    // busy: only replacing the thread ends this
  }
};

/** What a chunk of a parallel function saw on its engine. */
export interface ChunkInfo {
  pid: number;
  size: number;
  first: number;
}

/** A sorted copy of a list of numbers (pids, engine ids). */
export const sortedNumbers = (xs: readonly number[]): number[] => [...xs].sort((p, q) => p - q);

// ------------------------------------------------------------------ gate files

/** Fresh paths in a test's directory: gates a test opens, markers and logs tasks write. */
export class TestFiles {
  readonly #made: string[] = [];

  constructor(readonly dir: string) {}

  /** A path no other call returned: `<dir>/<tag>-<n>`. */
  file(tag = 'gate'): string {
    const f = join(this.dir, `${tag}-${this.#made.length + 1}`);
    this.#made.push(f);
    return f;
  }

  /** Open a gate: create its file, and the task waiting on it goes on. */
  open(gate: string): void {
    writeFileSync(gate, '');
  }

  /** Open every gate handed out and not opened yet, so no task is left waiting (e.g. before a cluster stops). */
  openAll(): void {
    for (const f of this.#made) if (!existsSync(f)) this.open(f);
  }
}

// ------------------------------------------------------------------ waiting on tasks

/** The rejection of a result that must fail (waiting at most `timeoutMs`). */
export async function failure(ar: PromiseLike<unknown> & { get(o: { timeoutMs?: number }): Promise<unknown> }, timeoutMs = 30000): Promise<unknown> {
  return ar.get({ timeoutMs }).then(
    (v) => assert.fail(`the task was expected to fail, it returned ${JSON.stringify(v)}`),
    (e: unknown) => e,
  );
}

/** The rejection of a promise (a future) that must fail. */
export async function rejection(f: PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(f).then(
    (v) => assert.fail(`expected a failure, got ${JSON.stringify(v)}`),
    (e: unknown) => e,
  );
}

/** Wait until no task runs or waits anywhere in the cluster (no stray work between tests). */
export function waitIdle(rc: Client): Promise<unknown> {
  return waitFor(
    'the cluster idle',
    async () => {
      const s = await rc.queueStatus();
      return s.unassigned === 0 && Object.values(s.engines).every((e) => e.running === 0 && e.queued === 0);
    },
    { timeoutMs: 30000 },
  );
}

/** Wait until `n` tasks wait in the controller for an engine. */
export async function waitUnassigned(rc: Client, n: number): Promise<void> {
  await waitFor(`${n} tasks unassigned in the controller`, async () => (await rc.queueStatus()).unassigned === n, { timeoutMs: 10000 });
}

/** Occupy engines with gated tasks (one per engine, pinned by targets); `release` lets them finish. */
export async function occupy(
  rc: Client,
  ids: readonly number[],
  files: TestFiles,
): Promise<{ ars: AsyncResult<number>[]; release: () => Promise<void> }> {
  const gate = files.file('gate');
  const ars = ids.map((id) =>
    rc
      .loadBalancedView()
      .withOptions({ targets: [id] })
      .apply(waitForGate, gate),
  );
  const release = async (): Promise<void> => {
    files.open(gate);
    for (const ar of ars) await ar.wait(30000);
  };
  try {
    await waitFor('the gated tasks to start', () => ars.every((ar) => ar.stdout.includes('gated task started') || ar.ready()), { timeoutMs: 30000 });
    for (const ar of ars) assert.equal(ar.ready(), false, 'a gated task ended early');
  } catch (e) {
    await release();
    throw e;
  }
  return { ars, release };
}

/**
 * Run `body` while a gated task holds an engine: the task (submitted on
 * `view`) has started when `body` runs, unless `started: false`; `release`
 * lets it end, as it does after `body` at the latest.
 */
export async function whileHeld<T>(
  view: LoadBalancedView,
  files: TestFiles,
  body: (held: AsyncResult<number>, release: () => void) => Promise<T>,
  { started = true }: { started?: boolean } = {},
): Promise<T> {
  const gate = files.file('gate');
  const held = view.apply(waitForGate, gate);
  try {
    if (started) await waitFor('the held task to start', () => held.stdout.includes('gated task started'), { timeoutMs: 30000 });
    return await body(held, () => files.open(gate));
  } finally {
    files.open(gate);
    await held.wait(30000);
  }
}

/**
 * Assert that tasks that must never run left none of their marker files,
 * after a task on every engine (so that whatever was queued before has had
 * its turn).
 */
export async function assertNeverRan(rc: Client, markers: readonly string[], message?: string): Promise<void> {
  await rc.directView().apply(() => 'flush');
  for (const m of markers) assert.equal(existsSync(m), false, message ?? `${m} must not exist`);
}

/**
 * The per-engine entries of a queue status, in the order of `ids`, asserted
 * to be those of exactly the engines `ids`, each with exactly its completed,
 * queued and running counts.
 */
export function engineQueues(q: QueueStatus, ids: readonly number[]): QueueStatus['engines'][number][] {
  assert.deepEqual(sortedNumbers(Object.keys(q.engines).map(Number)), ids);
  return ids.map((id) => {
    const e = q.engines[id]!;
    assert.deepEqual(Object.keys(e).sort(), ['completed', 'queued', 'running']);
    return e;
  });
}

/** A checksum of a Float64Array that sees every element and its position (for arrays moved to and from engines). */
export function checksum(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s = (s + a[i]! * ((i % 7) + 1)) % 1e12;
  return s;
}
