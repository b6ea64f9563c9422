/**
 * Clusters in tests: the one way to start, connect and stop a cluster for the
 * tests of a describe block (`sharedCluster`), stopping with a check by pid
 * that nothing is left, and the files a cluster leaves in its profile (state
 * file, connection files) and `tscluster list --json`.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { z } from 'zod';
import { Cluster } from '../../index.js';
import { Client } from '../../index.js';
import type { ClusterOptions, ConnectOptions } from '../../index.js';
import { assertAllGone, runCli } from './processes.js';

/**
 * Stop a cluster started from code, then check by pid that its controller and
 * engines (and `extraPids`) are gone; leftovers are SIGKILLed, then reported.
 */
export async function stopCluster(cluster: Cluster | undefined, extraPids: readonly number[] = []): Promise<void> {
  const supervisor = cluster?.supervisorPid ?? null;
  const pids = [...(cluster ? [cluster.controllerPid, ...cluster.enginePids] : []), ...(supervisor !== null ? [supervisor] : []), ...extraPids];
  let stopError: unknown;
  try {
    await cluster?.stop();
  } catch (e) {
    stopError = e;
  }
  await assertAllGone(pids, 'after cluster.stop()');
  if (stopError !== undefined) throw stopError;
}

/** What a suite may add to its shared cluster's start and stop. */
export interface SharedClusterHooks {
  /** environment variables set while the cluster starts (its processes inherit them), restored afterwards */
  env?: Record<string, string>;
  /** runs before the cluster stops (e.g. opens gates, so no task is left waiting) */
  beforeStop?: () => void | Promise<void>;
  /** more pids to check gone after the stop, read just before it (e.g. engines added by `tscluster engines`) */
  extraPids?: () => readonly number[];
}

/** Set `vars` in process.env while `fn` runs. */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.keys(vars).map((k) => [k, process.env[k]] as const);
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * One cluster for the tests of the enclosing describe block: started, with a
 * client connected and `opts.n` engines registered, before them; stopped (and
 * checked gone by pid) after them.
 */
export function sharedCluster(
  opts: ClusterOptions & { n: number },
  clusterId = '',
  hooks: SharedClusterHooks = {},
): { rc: () => Client; cluster: () => Cluster } {
  let cluster: Cluster | undefined;
  let rc: Client | undefined;
  before(async () => {
    assert.match(
      process.env.TSCLUSTER_DIR ?? '',
      /tscluster-test-/,
      'a test file makes its own profile root (useTempRoot) before it starts a cluster',
    );
    cluster = await withEnv(hooks.env ?? {}, () => Cluster.start({ ...opts, clusterId }));
    rc = await cluster.connect();
    await rc.waitForEngines(opts.n, { timeoutMs: 30000 });
  });
  after(async () => {
    try {
      await hooks.beforeStop?.();
    } finally {
      await stopCluster(cluster, hooks.extraPids?.() ?? []);
    }
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

/**
 * The error of a Client.connect that must fail (`why` says why it must); a
 * client that gets through is closed, and the test fails.
 */
export async function connectError(opts: ConnectOptions, why: string): Promise<unknown> {
  return Client.connect(opts).then(
    async (c) => {
      await c.close();
      return assert.fail(why);
    },
    (e: unknown) => e,
  );
}

// ------------------------------------------------------------------ tscluster list

/** A row of `tscluster list --json`: checked against this schema, so a change of the output's shape fails the tests that read it. */
const ListRowSchema = z.strictObject({
  profile: z.string(),
  clusterId: z.string(),
  controllerPid: z.number().int().positive().nullable(),
  engines: z.number().int().nonnegative().nullable(),
  state: z.enum(['running', 'dead']),
  dropped: z.record(z.string(), z.number().int()).nullable(),
  /** adaptive scaling (--adapt): range, target, registered, starting */
  adapt: z
    .strictObject({
      min: z.number().int(),
      max: z.number().int(),
      target: z.number().int(),
      engines: z.number().int(),
      starting: z.number().int(),
      problem: z.string().optional(),
    })
    .nullable(),
  /** the web dashboard's address with its token, or null */
  dashboard: z.string().nullable(),
  /** one line per launch, e.g. "local: 2 processes (pids 1, 2)" */
  launched: z.array(z.string()),
  /** what is wrong with the cluster's files, if anything */
  problem: z.string().nullable(),
});
export type ListRow = z.infer<typeof ListRowSchema>;

/** `tscluster list --json`, checked to exit 0 and to print rows of the documented shape. */
export async function listJson(): Promise<ListRow[]> {
  const r = await runCli(['list', '--json'], { timeoutMs: 30000 });
  assert.equal(r.code, 0, `tscluster list --json failed:\n${r.stderr}`);
  return z.array(ListRowSchema).parse(JSON.parse(r.stdout));
}

// ------------------------------------------------------------------ cluster files

export interface StateFile {
  /** the controller: under a supervisor, the one its client connection file names (the supervisor's while there is none) */
  controller_pid: number;
  /** the controller's supervisor (controller/supervisor.ts), null for a controller started alone (--no-supervise) */
  supervisor_pid: number | null;
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

/** The fields of a connection file the tests read (and change, to make broken copies). */
export interface ConnectionFileJson {
  ip: string;
  port: number;
  key: string;
  curve_serverkey: string | null;
  controller_pid: number;
  [k: string]: unknown;
}

/** A connection file of a running cluster, parsed. */
export function readConnectionFile(root: string, kind: 'client' | 'engine', profile = 'default', clusterId = ''): ConnectionFileJson {
  return JSON.parse(readFileSync(connectionFile(root, kind, profile, clusterId), 'utf8')) as ConnectionFileJson;
}

/**
 * A copy of a cluster's connection file with some fields changed, written
 * (0600) to `<root>/<name>`; returns its path.
 */
export function writeConnectionFileCopy(
  root: string,
  name: string,
  change: (f: ConnectionFileJson) => unknown,
  { kind = 'client', profile = 'default', clusterId = '' }: { kind?: 'client' | 'engine'; profile?: string; clusterId?: string } = {},
): string {
  const path = join(root, name);
  writeFileSync(path, JSON.stringify(change(readConnectionFile(root, kind, profile, clusterId)), null, 2), { mode: 0o600 });
  return path;
}

/** Assert that a cluster's client and engine connection files are gone. */
export function assertNoConnectionFiles(root: string, profile = 'default', clusterId = ''): void {
  for (const kind of ['client', 'engine'] as const) {
    const p = connectionFile(root, kind, profile, clusterId);
    assert.equal(existsSync(p), false, `${p} should be removed`);
  }
}

interface RecordedProcess {
  pid: number;
}
interface LaunchRecordFile {
  launcher: string;
  processes: RecordedProcess[];
  supervisor?: boolean;
}

/** The pids of the cluster state file (what its launchers recorded), or undefined when there is none. */
export function readState(root: string, profile = 'default', clusterId = ''): StateFile | undefined {
  const p = stateFilePath(root, profile, clusterId);
  if (!existsSync(p)) return undefined;
  const s = JSON.parse(readFileSync(p, 'utf8')) as { controller: LaunchRecordFile; engines: LaunchRecordFile[] };
  const recorded = s.controller.processes[0]?.pid;
  assert.equal(typeof recorded, 'number', `${p}: controller.processes[0].pid`);
  assert.ok(Array.isArray(s.engines), `${p}: engines`);
  const supervisor = s.controller.supervisor === true ? recorded! : null;
  let controller = recorded!;
  if (supervisor !== null && existsSync(connectionFile(root, 'client', profile, clusterId))) {
    try {
      controller = readConnectionFile(root, 'client', profile, clusterId).controller_pid;
    } catch {
      // being rewritten: the supervisor's pid stands for it
    }
  }
  return { controller_pid: controller, supervisor_pid: supervisor, engine_pids: s.engines.flatMap((r) => r.processes.map((x) => x.pid)) };
}

/** Every pid of the cluster state file (its supervisor and controller first), or none when there is no state file. */
export function statePids(root: string, profile = 'default', clusterId = ''): number[] {
  const s = readState(root, profile, clusterId);
  return s ? [...(s.supervisor_pid !== null ? [s.supervisor_pid] : []), s.controller_pid, ...s.engine_pids] : [];
}

/** A list of consecutive integers 0..n-1. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
