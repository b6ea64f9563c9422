/**
 * Cluster: start and stop a cluster (controller + engines) from code, through
 * launchers (launcher/). `tscluster start` is this class driven from the
 * command line.
 */
import { cpus } from 'node:os';
import { Client } from '../client/client.js';
import type { ConnectOptions } from '../client/client.js';
import { resolveSettings, toFlags } from '../config/resolve.js';
import type { SchemeName } from '../controller/schemes/index.js';
import { ClusterAlreadyRunning } from '../errors/index.js';
import { launcherOf, localLauncher } from '../launcher/index.js';
import {
  DEFAULT_PROFILE,
  checkName,
  connectionFilePath,
  ensureProfile,
  readClusterState,
  readConnectionFile,
  readProfileConfig,
  recordedProcesses,
  removeClusterState,
  removeConnectionFiles,
  runningCluster,
  writeClusterState,
} from '../profiles/index.js';
import type { ClusterState, LaunchRecord } from '../profiles/index.js';
import { signalPid } from '../util/proc.js';
import { sleep } from '../util/sleep.js';
import { checkMs, checkOptionKeys } from '../client/validate.js';
import { atExit } from './at-exit.js';
import { stopCluster } from './stop.js';

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

const CLUSTER_START_OPTIONS = [
  'n',
  'profile',
  'clusterId',
  'scheme',
  'hwm',
  'ip',
  'shutdownAtExit',
  'timeoutMs',
  'onEngine',
  'signal',
  'curve',
] as const;

/**
 * A cluster started from code.
 * @example
 * const cluster = await Cluster.start({ n: 4 });
 * const rc = await cluster.connect();
 * console.log(await rc.loadBalancedView().map((x: number) => x * x, [1, 2, 3]));
 * await cluster.stop();
 */
export class Cluster {
  readonly profile: string;
  readonly clusterId: string;
  readonly #state: ClusterState;
  #client: Client | undefined;
  #stopped = false;
  readonly #removeExitHook: (() => void) | undefined;

  private constructor(state: ClusterState, shutdownAtExit: boolean) {
    this.profile = state.profile;
    this.clusterId = state.cluster_id;
    this.#state = state;
    // at exit there is no time to ask: end the recorded processes by signal
    this.#removeExitHook = shutdownAtExit ? atExit(() => this.#signalAll()) : undefined;
  }

  /** The controller's pid. */
  get controllerPid(): number {
    return this.#state.controller.processes[0]?.pid ?? -1;
  }

  /** Pids of the engines this object started. */
  get enginePids(): number[] {
    return this.#state.engines.flatMap((r) => r.processes.map((p) => p.pid));
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
    checkOptionKeys('Cluster.start', o, CLUSTER_START_OPTIONS);
    if (o.timeoutMs !== undefined) checkMs('Cluster.start: timeoutMs', o.timeoutMs);
    const profile = o.profile ?? DEFAULT_PROFILE;
    const clusterId = o.clusterId ?? '';
    checkName('profile', profile);
    checkName('cluster id', clusterId);
    const s = resolveSettings('start', {
      options: { n: o.n, scheme: o.scheme, hwm: o.hwm, ip: o.ip, curve: o.curve },
      profile: readProfileConfig(profile),
    });
    const n = s.n ?? cpus().length;
    ensureProfile(profile);
    checkNotRunning(profile, clusterId);
    await cleanStale(profile, clusterId);
    const timeoutMs = o.timeoutMs ?? 60000;
    const where = ['--profile', profile, '--cluster-id', clusterId];
    // a cluster that stops with this process also stops if this process dies without a word (SIGKILL)
    const owner = (o.shutdownAtExit ?? true) ? ['--owner-pid', String(process.pid)] : [];
    const controller = await localLauncher.start({
      profile,
      clusterId,
      part: 'controller',
      args: [...where, ...toFlags(s, 'start', 'controller'), ...owner],
      n: 1,
    });
    const state: ClusterState = { version: 2, profile, cluster_id: clusterId, started: new Date().toISOString(), controller, engines: [] };
    const cluster = new Cluster(state, o.shutdownAtExit ?? true);
    try {
      // engines start with the controller and wait for its connection file
      if (n > 0) state.engines.push(await localLauncher.start({ profile, clusterId, part: 'engines', args: where, n }));
      writeClusterState(state);
      await abortable(cluster.#waitForController(timeoutMs), o.signal);
      if (n > 0) await abortable(cluster.#waitForEngines(state.engines, n, timeoutMs, o.onEngine), o.signal);
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
   * Start `n` more engines; resolves with their pids when they are registered.
   * @example await cluster.addEngines(2);
   */
  async addEngines(n: number, timeoutMs = 60000): Promise<number[]> {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`addEngines takes a whole number of engines >= 1, got ${String(n)}`);
    if (this.#stopped) throw new Error('the cluster is stopped');
    const rc = await this.connect();
    const before = rc.ids.length;
    const rec = await localLauncher.start({
      profile: this.profile,
      clusterId: this.clusterId,
      part: 'engines',
      args: ['--profile', this.profile, '--cluster-id', this.clusterId],
      n,
    });
    this.#state.engines.push(rec);
    writeClusterState(this.#state);
    await this.#waitForEngines([rec], before + n, timeoutMs);
    return rec.processes.map((p) => p.pid);
  }

  /** Stop the engines and the controller, and remove the cluster's files. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#removeExitHook?.();
    const client = this.#client;
    this.#client = undefined;
    // the state file may not be written yet (a failed start): stop by what this object knows
    writeClusterState(this.#state);
    await stopCluster(this.profile, this.clusterId, client);
  }

  #signalAll(): void {
    for (const p of recordedProcesses(this.#state)) signalPid(p.pid, 'SIGTERM');
  }

  async #waitForController(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const rec = this.#state.controller;
    const pid = this.controllerPid;
    while (Date.now() < deadline) {
      try {
        if (readConnectionFile('client', { profile: this.profile, clusterId: this.clusterId }).info.controller_pid === pid) return;
      } catch {
        // not written yet
      }
      const st = await launcherOf(rec).poll(rec);
      if (st.running === 0) throw new Error(`the controller (pid ${pid}) exited during start-up. ${st.ended[0]?.detail ?? ''}`);
      await sleep(5);
    }
    const st = await launcherOf(rec).poll(rec);
    throw new Error(
      `the controller (pid ${pid}) wrote no connection file (${this.connectionFile}) within ${timeoutMs} ms. ${st.ended[0]?.detail ?? ''}`,
    );
  }

  async #waitForEngines(recs: LaunchRecord[], total: number, timeoutMs: number, onEngine?: ClusterOptions['onEngine']): Promise<void> {
    const rc = await this.connect();
    const off = onEngine ? rc.onEngine((e) => e.type === 'registered' && onEngine({ id: e.engine.id, pid: e.engine.pid })) : undefined;
    if (onEngine) for (const e of rc.engines) onEngine({ id: e.id, pid: e.pid });
    try {
      const ready = rc.waitForEngines(total, { timeoutMs });
      // an engine that exits during start-up fails the start with its log
      for (;;) {
        const done = await Promise.race([ready.then(() => true), sleep(50).then(() => false)]);
        if (done) return;
        for (const rec of recs) {
          const st = await launcherOf(rec).poll(rec);
          const dead = st.ended[0];
          if (dead) throw new Error(`engine ${dead.what} exited during start-up. ${dead.detail}`);
        }
      }
    } finally {
      off?.();
    }
  }
}

function checkNotRunning(profile: string, clusterId: string): void {
  const running = runningCluster(profile, clusterId);
  if (!running) return;
  const flags = `${profile === DEFAULT_PROFILE ? '' : ` --profile ${profile}`}${clusterId ? ` --cluster-id ${clusterId}` : ''}`;
  throw new ClusterAlreadyRunning(
    `a cluster is already running for profile '${profile}'${clusterId ? ` and cluster id '${clusterId}'` : ''} ` +
      `(controller pid ${running.info.controller_pid}, started ${running.info.created}, ${running.path}). ` +
      `Connect to it with Client.connect(), stop it with \`tscluster stop${flags}\`, or choose another cluster id.`,
  );
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
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Files of a cluster whose controller is dead: end what its launchers left, and remove them. */
async function cleanStale(profile: string, clusterId: string): Promise<void> {
  const state = readClusterState(profile, clusterId);
  if (typeof state === 'object') for (const rec of state.engines) await launcherOf(rec).stop(rec);
  removeConnectionFiles(profile, clusterId);
  removeClusterState(profile, clusterId);
}
