/**
 * Cluster: start and stop a local cluster (controller + engines) from code.
 * `tscluster start` is this class driven from the command line.
 */
import { rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { Client } from '../client/client.js';
import { ClusterAlreadyRunning } from '../errors/index.js';
import type { ConnectOptions } from '../client/client.js';
import {
  DEFAULT_PROFILE, SCHEMES, checkName, clusterStatePath, connectionFilePath, ensureProfile, readClusterState, readConnectionFile,
  readProfileConfig, removeConnectionFiles, runningCluster, writeClusterState,
} from '../profiles/index.js';
import type { ClusterState, SchemeName } from '../profiles/index.js';
import { CONTROLLER_SCRIPT, ENGINE_SCRIPT, alive, logTail, sleep, spawnPart, terminate, waitExit } from './processes.js';
import type { Spawned } from './processes.js';

export interface ClusterOptions {
  /** number of engines (default: one per core) */
  n?: number;
  /** profile name (default `default`) */
  profile?: string;
  /** cluster id within the profile (default empty) */
  clusterId?: string;
  /** load-balancing scheme (default from the profile config, else `leastload`) */
  scheme?: SchemeName;
  /** most outstanding tasks per engine; 0 = unlimited (default 1) */
  hwm?: number;
  /** address the controller binds (default 127.0.0.1) */
  ip?: string;
  /** stop the cluster when this process exits (default true) */
  shutdownAtExit?: boolean;
  /** how long to wait for the controller and engines (default 60000) */
  timeoutMs?: number;
  /** called as each engine registers */
  onEngine?: (e: { id: number; pid: number }) => void;
  /** aborting it during start-up stops what was started and rejects the start */
  signal?: AbortSignal;
  /** CurveZMQ: encrypt all traffic and authenticate the controller (its public key goes in the connection files) */
  curve?: boolean;
}

/**
 * A local cluster started from code.
 * @example
 * const cluster = await Cluster.start({ n: 4 });
 * const rc = await cluster.connect();
 * console.log(await rc.loadBalancedView().map((x: number) => x * x, [1, 2, 3]));
 * await cluster.stop();
 */
export class Cluster {
  readonly profile: string;
  readonly clusterId: string;
  readonly controllerPid: number;
  readonly #enginePids: number[] = [];
  #client: Client | undefined;
  #stopped = false;
  readonly #exitHook: () => void;

  private constructor(profile: string, clusterId: string, controllerPid: number, shutdownAtExit: boolean) {
    this.profile = profile;
    this.clusterId = clusterId;
    this.controllerPid = controllerPid;
    this.#exitHook = () => {
      for (const pid of [this.controllerPid, ...this.#enginePids]) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // gone
        }
      }
    };
    if (shutdownAtExit) {
      process.once('exit', this.#exitHook);
      atSignal.add(this.#exitHook);
      installSignalHooks();
    }
  }

  /** Pids of the engines this object started. */
  get enginePids(): number[] {
    return [...this.#enginePids];
  }

  /** The client connection file of this cluster. */
  get connectionFile(): string {
    return connectionFilePath(this.profile, this.clusterId, 'client');
  }

  /**
   * Start a controller and `n` engines; resolves once every engine is registered.
   * Fails with ClusterAlreadyRunning if this profile and cluster id are taken.
   */
  static async start(o: ClusterOptions = {}): Promise<Cluster> {
    const profile = o.profile ?? DEFAULT_PROFILE;
    const clusterId = o.clusterId ?? '';
    checkName('profile', profile);
    checkName('cluster id', clusterId);
    const n = o.n ?? cpus().length;
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a whole number >= 0, got ${n}`);
    if (o.scheme !== undefined && !SCHEMES.includes(o.scheme)) throw new RangeError(`unknown scheme '${o.scheme}': choose one of ${SCHEMES.join(', ')}`);
    const cfg = readProfileConfig(profile);
    ensureProfile(profile);
    const running = runningCluster(profile, clusterId);
    if (running) {
      const flags = `${profile === DEFAULT_PROFILE ? '' : ` --profile ${profile}`}${clusterId ? ` --cluster-id ${clusterId}` : ''}`;
      throw new ClusterAlreadyRunning(
        `a cluster is already running for profile '${profile}'${clusterId ? ` and cluster id '${clusterId}'` : ''} ` +
          `(controller pid ${running.info.controller_pid}, started ${running.info.created}, ${running.path}). ` +
          `Connect to it with Client.connect(), stop it with \`tscluster stop${flags}\`, or choose another cluster id.`,
      );
    }
    await cleanStale(profile, clusterId);
    const timeoutMs = o.timeoutMs ?? 60000;
    const args = ['--profile', profile, '--cluster-id', clusterId];
    const cargs = [...args];
    if (o.scheme ?? cfg.scheme) cargs.push('--scheme', (o.scheme ?? cfg.scheme)!);
    if (o.hwm !== undefined) cargs.push('--hwm', String(o.hwm));
    if (o.ip !== undefined) cargs.push('--ip', o.ip);
    if (o.curve) cargs.push('--curve');
    // a cluster that stops with this process also stops if this process dies without a word (SIGKILL)
    if (o.shutdownAtExit ?? true) cargs.push('--owner-pid', String(process.pid));
    const controller = spawnPart(CONTROLLER_SCRIPT, cargs, profile, clusterId, 'controller');
    const cluster = new Cluster(profile, clusterId, controller.pid, o.shutdownAtExit ?? true);
    const signal = o.signal;
    // engines start with the controller and wait for its connection file
    const engines = Array.from({ length: n }, () => spawnPart(ENGINE_SCRIPT, args, profile, clusterId, 'engines'));
    cluster.#enginePids.push(...engines.map((e) => e.pid));
    cluster.#saveState();
    try {
      await abortable(waitForController(controller, profile, clusterId, timeoutMs), signal);
      if (n > 0) await abortable(cluster.#waitForEngines(engines, n, timeoutMs, o.onEngine), signal);
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  }

  /**
   * A client of this cluster (one shared client; `close()` it or let `stop()` do it).
   * @example const rc = await cluster.connect();
   */
  async connect(opts: Omit<ConnectOptions, 'profile' | 'clusterId' | 'connectionFile'> = {}): Promise<Client> {
    if (this.#stopped) throw new Error('the cluster is stopped');
    if (!this.#client) this.#client = await Client.connect({ ...opts, profile: this.profile, clusterId: this.clusterId });
    else if (opts.echo !== undefined) this.#client.echo = opts.echo;
    return this.#client;
  }

  /**
   * Start `n` more engines; resolves when they are registered.
   * @example await cluster.addEngines(2);
   */
  async addEngines(n: number, timeoutMs = 60000): Promise<number[]> {
    const args = ['--profile', this.profile, '--cluster-id', this.clusterId];
    const engines = Array.from({ length: n }, () => spawnPart(ENGINE_SCRIPT, args, this.profile, this.clusterId, 'engines'));
    this.#enginePids.push(...engines.map((e) => e.pid));
    this.#saveState();
    const rc = await this.connect();
    await this.#waitForEngines(engines, rc.ids.length + n, timeoutMs);
    return engines.map((e) => e.pid);
  }

  /** Stop the engines and the controller, and remove the cluster's files. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    process.removeListener('exit', this.#exitHook);
    atSignal.delete(this.#exitHook);
    const client = this.#client;
    this.#client = undefined;
    await stopProcesses(this.profile, this.clusterId, [this.controllerPid], this.#enginePids, client);
  }

  #saveState(): void {
    const s: ClusterState = {
      profile: this.profile,
      cluster_id: this.clusterId,
      controller_pid: this.controllerPid,
      engine_pids: this.#enginePids,
      started: new Date().toISOString(),
    };
    writeClusterState(s);
  }

  async #waitForEngines(engines: Spawned[], total: number, timeoutMs: number, onEngine?: ClusterOptions['onEngine']): Promise<void> {
    const rc = await this.connect();
    const off = onEngine ? rc.onEngine((e) => e.type === 'registered' && onEngine({ id: e.engine.id, pid: e.engine.pid })) : undefined;
    if (onEngine) for (const e of rc.engines) onEngine({ id: e.id, pid: e.pid });
    try {
      const ready = rc.waitForEngines(total, { timeoutMs });
      // an engine that exits during start-up fails the start with its log
      for (;;) {
        const done = await Promise.race([ready.then(() => true), sleep(50).then(() => false)]);
        if (done) return;
        const dead = engines.find((e) => !alive(e.pid));
        if (dead) throw new Error(`engine pid ${dead.pid} exited during start-up. Its log (${dead.log}):\n${logTail(dead.log)}`);
      }
    } finally {
      off?.();
    }
  }
}

/** Reject with the signal's reason once it is aborted. */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  const reason = (): Error => (signal.reason instanceof Error ? signal.reason : new Error('cluster start-up was aborted'));
  if (signal.aborted) return Promise.reject(reason());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(reason());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Clusters to end when this process is ended by a signal nobody else handles. */
const atSignal = new Set<() => void>();
let signalHooks = false;

/**
 * A signal whose default action ends the process skips 'exit' hooks. When
 * nothing else listens for it, end the clusters this process started, then
 * let the signal do what it would have done.
 */
function installSignalHooks(): void {
  if (signalHooks) return;
  signalHooks = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const hook = (): void => {
      if (process.listenerCount(sig) > 1) return;
      for (const h of [...atSignal]) h();
      process.removeListener(sig, hook);
      process.kill(process.pid, sig);
    };
    process.on(sig, hook);
  }
}

async function waitForController(c: Spawned, profile: string, clusterId: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const path = connectionFilePath(profile, clusterId, 'client');
  while (Date.now() < deadline) {
    try {
      const { info } = readConnectionFile('client', { profile, clusterId });
      if (info.controller_pid === c.pid) return;
    } catch {
      // not written yet
    }
    if (!alive(c.pid)) throw new Error(`the controller (pid ${c.pid}) exited during start-up. Its log (${c.log}):\n${logTail(c.log)}`);
    await sleep(5);
  }
  throw new Error(`the controller (pid ${c.pid}) wrote no connection file (${path}) within ${timeoutMs} ms. Its log (${c.log}):\n${logTail(c.log)}`);
}

/** Files of a cluster whose controller is dead: end its leftover engines and remove them. */
async function cleanStale(profile: string, clusterId: string): Promise<void> {
  const state = readClusterState(profile, clusterId);
  if (state) await terminate(state.engine_pids.filter(alive));
  removeConnectionFiles(profile, clusterId);
  rmSync(clusterStatePath(profile, clusterId), { force: true });
}

/**
 * Stop a cluster: ask the controller to shut down (it stops its engines), then
 * end by pid whatever is left, then remove the cluster's files.
 */
export async function stopProcesses(profile: string, clusterId: string, controllerPids: number[], enginePids: number[], client?: Client): Promise<void> {
  const controllerUp = controllerPids.some(alive);
  if (controllerUp) {
    let rc = client;
    try {
      rc ??= await Client.connect({ profile, clusterId, timeoutMs: 2000 });
      await rc.shutdown({ hub: true });
    } catch {
      // unreachable controller: signals below
    } finally {
      await rc?.close().catch(() => undefined);
    }
  } else {
    await client?.close().catch(() => undefined);
  }
  // the controller stops its registered engines before it exits; an engine not yet registered
  // (still starting) hears nothing, so after the controller, engines get a short grace only
  const controllersLeft = await waitExit(controllerPids, 5000);
  const enginesLeft = await waitExit(enginePids, 1000);
  await terminate([...controllersLeft, ...enginesLeft]);
  removeConnectionFiles(profile, clusterId);
  rmSync(clusterStatePath(profile, clusterId), { force: true });
}

/** Stop the cluster of a profile and cluster id, found through its files. Returns what was stopped. */
export async function stopCluster(profile: string, clusterId: string): Promise<{ controllerPid: number | null; engines: number } | undefined> {
  const state = readClusterState(profile, clusterId);
  let controllerPid: number | null = state?.controller_pid ?? null;
  try {
    controllerPid = readConnectionFile('client', { profile, clusterId }).info.controller_pid;
  } catch {
    // no connection file: the state file may still name the pids
  }
  if (controllerPid === null && !state) return undefined;
  const enginePids = state?.engine_pids ?? [];
  await stopProcesses(profile, clusterId, controllerPid === null ? [] : [controllerPid], enginePids);
  return { controllerPid, engines: enginePids.length };
}
