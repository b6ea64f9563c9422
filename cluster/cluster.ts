/**
 * Cluster: start and stop a cluster (controller + engines) from code, through
 * launchers (launcher/). `tscluster start` is this class driven from the
 * command line.
 */
import { cpus } from 'node:os';
import { Client } from '../client/client.js';
import type { ConnectOptions } from '../client/connect-options.js';
import { SettingError, resolveSettings } from '../config/resolve.js';
import { parseAdapt } from '../controller/adapt.js';
import type { Settings } from '../config/settings.js';
import type { SchemeName } from '../controller/schemes/index.js';
import { ClusterAlreadyRunning } from '../errors/index.js';
import { launcherOf } from '../launcher/index.js';
import {
  DEFAULT_PROFILE,
  checkName,
  connectionFilePath,
  ensureProfile,
  readClusterState,
  localProcesses,
  readConnectionFile,
  readProfileConfig,
  removeClusterState,
  removeConnectionFiles,
  runningCluster,
  writeClusterState,
} from '../profiles/index.js';
import type { ClusterState } from '../profiles/index.js';
import { dashboardUrlOf } from '../profiles/index.js';
import { checkMs, checkOptionKeys } from '../client/validate.js';
import { procStat } from '../util/proc.js';
import { atExit } from './at-exit.js';
import { launchController, launchEngines, startTimeoutMs, waitForController, waitForEngines } from './launch.js';
import type { StartProblem } from './launch.js';
import { stopCluster } from './stop.js';

/** How engines are started (the settings of `tscluster start --engines ...`, by their names in the profile config). */
export type EngineLaunchOptions = { launcher?: Settings['engines'] } & Partial<
  Pick<
    Settings,
    | 'hosts'
    | 'minEngines'
    | 'sshPort'
    | 'sshIdentity'
    | 'sshOptions'
    | 'remoteCmd'
    | 'remoteDir'
    | 'mpiexec'
    | 'mpiArgs'
    | 'partition'
    | 'timeLimit'
    | 'account'
    | 'cpusPerEngine'
    | 'memory'
    | 'sbatch'
    | 'enginesPerJob'
    | 'slurmTemplate'
    | 'startTimeoutS'
    | 'lifetimeS'
    | 'adapt'
    | 'adaptIdleS'
  >
>;

/** How the controller is started: here, on an ssh host, or as a Slurm job. */
export interface ControllerLaunchOptions {
  launcher?: Settings['controller'];
  /** with launcher 'ssh': [user@]host */
  host?: string;
}

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
  /**
   * tasks an engine may hold beyond hwm, ready to start when its task ends (no wait for the controller); one not
   * started yet is taken back for an engine that goes idle. 0 = none (the default)
   */
  prefetch?: number;
  /** address the controller binds (default 127.0.0.1; `0.0.0.0` for every interface) */
  ip?: string;
  /** address others reach the controller at (default: the bound address, or this host's address on the network) */
  location?: string;
  /** stop the cluster when this process exits (default true) */
  shutdownAtExit?: boolean;
  /** how long to wait for the controller and engines (default 60000; Slurm engines 300000) */
  timeoutMs?: number;
  /** called as each engine registers */
  onEngine?: (e: { id: number; pid: number }) => void;
  /** aborting it during start-up stops what was started and rejects the start */
  signal?: AbortSignal;
  /** CurveZMQ: encrypt all traffic and authenticate the controller (default: on when the controller is reachable off loopback; false turns it off) */
  curve?: boolean;
  /** how engines are started (default: processes of this machine) */
  engines?: EngineLaunchOptions;
  /** how the controller is started (default: a process of this machine) */
  controller?: ControllerLaunchOptions;
  /**
   * where the controller serves its web dashboard: `'[ADDR:]PORT'` (port 0: a free one), `'on'` (the default:
   * 127.0.0.1, a free port) or `'off'` / `false` (none). `cluster.dashboardUrl` has its address with its token.
   */
  dashboard?: string | false;
  /** also serve /metrics at `'[ADDR:]PORT'` without a token, for a Prometheus scraper on a private network (default: none) */
  metrics?: string;
  /**
   * where the controller keeps task records: `'sqlite'` (the default: a file in the profile's `db/`; a controller
   * restarted after a crash takes up the unfinished tasks) or `'none'` (memory only; a crash loses them)
   */
  store?: 'sqlite' | 'none';
  /** finished task records kept (default 100,000 in the SQLite store, 1024 with `store: 'none'`) */
  maxRecords?: number;
  /**
   * start a local controller under a supervisor that starts it again after a crash, on the same ports with the
   * same keys (default true; false: the controller alone, as `--no-supervise`)
   */
  supervise?: boolean;
}

const CLUSTER_START_OPTIONS = [
  'n',
  'profile',
  'clusterId',
  'scheme',
  'hwm',
  'prefetch',
  'ip',
  'location',
  'shutdownAtExit',
  'timeoutMs',
  'onEngine',
  'signal',
  'curve',
  'engines',
  'controller',
  'dashboard',
  'metrics',
  'store',
  'maxRecords',
  'supervise',
] as const;

const ENGINE_LAUNCH_KEYS = [
  'hosts',
  'minEngines',
  'sshPort',
  'sshIdentity',
  'sshOptions',
  'remoteCmd',
  'remoteDir',
  'mpiexec',
  'mpiArgs',
  'partition',
  'timeLimit',
  'account',
  'cpusPerEngine',
  'memory',
  'sbatch',
  'enginesPerJob',
  'slurmTemplate',
  'startTimeoutS',
  'lifetimeS',
  'adapt',
  'adaptIdleS',
] as const satisfies readonly (keyof EngineLaunchOptions)[];

/** Cluster.start's options for resolved settings (what `tscluster start` passes on). */
export function clusterOptionsOf(s: Settings): ClusterOptions {
  const engines: EngineLaunchOptions = { launcher: s.engines };
  for (const k of ENGINE_LAUNCH_KEYS) if (s[k] !== undefined) Object.assign(engines, { [k]: s[k] });
  return {
    ...(s.n !== undefined ? { n: s.n } : {}),
    scheme: s.scheme,
    hwm: s.hwm,
    prefetch: s.prefetch,
    ip: s.ip,
    ...(s.location !== undefined ? { location: s.location } : {}),
    ...(s.curve !== undefined || s.noCurve ? { curve: s.curve ?? false } : {}),
    engines,
    controller: { launcher: s.controller, ...(s.controllerHost !== undefined ? { host: s.controllerHost } : {}) },
    dashboard: s.dashboard,
    ...(s.metrics !== undefined ? { metrics: s.metrics } : {}),
    store: s.store,
    ...(s.maxRecords !== undefined ? { maxRecords: s.maxRecords } : {}),
    supervise: s.supervise,
  };
}

/** Settings from Cluster.start's options (code options win over flags and the profile). */
function startOptions(o: ClusterOptions): Partial<Settings> {
  const { launcher, ...engineSettings } = o.engines ?? {};
  return {
    n: o.n,
    scheme: o.scheme,
    hwm: o.hwm,
    prefetch: o.prefetch,
    ip: o.ip,
    location: o.location,
    ...(o.curve === false ? { noCurve: true } : { curve: o.curve }),
    ...engineSettings,
    engines: launcher,
    controller: o.controller?.launcher,
    controllerHost: o.controller?.host,
    dashboard: o.dashboard === false ? 'off' : o.dashboard,
    metrics: o.metrics,
    store: o.store,
    maxRecords: o.maxRecords,
    supervise: o.supervise,
  };
}

/**
 * A cluster started from code.
 * @example
 * const cluster = await Cluster.start({ n: 4 });
 * const rc = await cluster.connect();
 * console.log(await rc.loadBalancedView().map((x: number) => x * x, [1, 2, 3]));
 * await cluster.stop();
 * @example
 * // engines on other hosts, over ssh
 * await Cluster.start({ ip: '0.0.0.0', engines: { launcher: 'ssh', hosts: 'node1:8,node2:8' } });
 */
export class Cluster {
  readonly profile: string;
  readonly clusterId: string;
  readonly #state: ClusterState;
  readonly #settings: Settings;
  #controllerPid = -1;
  #dashboardUrl: string | null = null;
  #client: Client | undefined;
  #stopped = false;
  readonly #removeExitHook: (() => void) | undefined;
  /** what did not start (hosts that could not be reached, engines that exited) when the start still succeeded (--min-engines) */
  readonly problems: StartProblem[] = [];

  private constructor(state: ClusterState, settings: Settings, shutdownAtExit: boolean) {
    this.profile = state.profile;
    this.clusterId = state.cluster_id;
    this.#state = state;
    this.#settings = settings;
    // at exit there is no time to ask: end what was launched (signals here, a blocking ssh per host)
    this.#removeExitHook = shutdownAtExit ? atExit(() => this.#endAllNow()) : undefined;
  }

  /** The controller's pid (on the host it runs on): a supervised controller's current one (its connection file's). */
  get controllerPid(): number {
    const supervisor = this.supervisorPid;
    if (supervisor !== null) {
      try {
        const pid = readConnectionFile('client', this).info.controller_pid;
        if (procStat(pid)?.ppid === supervisor) this.#controllerPid = pid;
      } catch {
        // no file now (stopped, or between a crash and the restart): the last one known
      }
    }
    return this.#controllerPid;
  }

  /** The pid of the local controller's supervisor (controller/supervisor.ts), or null when the controller runs alone or elsewhere. */
  get supervisorPid(): number | null {
    const c = this.#state.controller;
    return c.launcher === 'local' && c.supervisor === true ? (c.processes[0]?.pid ?? null) : null;
  }

  /** Pids of the engines this object started on this machine. */
  get enginePids(): number[] {
    return this.#state.engines.flatMap((r) => localProcesses(r).map((p) => p.pid));
  }

  /** One line per launch: where the controller and engines run (as `tscluster list` shows them). */
  get launched(): string[] {
    return [this.#state.controller, ...this.#state.engines].map((r) => launcherOf(r).describe(r));
  }

  /**
   * The controller's web dashboard, its token in the query (`http://127.0.0.1:PORT/?token=...`), or null
   * when it serves none (`dashboard: 'off'`). Anyone with it can watch the cluster (not run code): share it as such.
   */
  get dashboardUrl(): string | null {
    return this.#dashboardUrl;
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
    const s = resolveSettings('start', { options: startOptions(o), profile: readProfileConfig(profile) });
    const adaptMin = adaptiveMin(s);
    // with --adapt the controller starts the engines (MIN of them first)
    const n = adaptMin !== undefined ? 0 : (s.n ?? cpus().length);
    ensureProfile(profile);
    checkNotRunning(profile, clusterId);
    await cleanStale(profile, clusterId);
    const w = { profile, clusterId };
    const timeoutMs = o.timeoutMs ?? startTimeoutMs(s);
    const shutdownAtExit = o.shutdownAtExit ?? true;
    // a cluster that stops with this process also stops if this process dies without a word (SIGKILL); a controller elsewhere cannot watch this pid
    const owner = shutdownAtExit && s.controller === 'local' ? ['--owner-pid', String(process.pid)] : [];
    const controller = await launchController(w, s, 'start', owner);
    const state: ClusterState = { version: 2, profile, cluster_id: clusterId, started: new Date().toISOString(), controller, engines: [] };
    const cluster = new Cluster(state, s, shutdownAtExit);
    try {
      writeClusterState(state);
      // local engines start with a local controller and wait for its connection file; others need the file first
      const early = n > 0 && s.engines === 'local';
      if (early) state.engines.push(await launchEngines(w, s, 'start', n));
      writeClusterState(state);
      const localPid = controller.launcher === 'local' ? controller.processes[0]?.pid : undefined;
      const info = await abortable(waitForController(w, controller, localPid, Math.max(timeoutMs, 60_000)), o.signal);
      cluster.#controllerPid = info.controller_pid;
      cluster.#dashboardUrl = dashboardUrlOf(info);
      if (n > 0 && !early) {
        state.engines.push(await launchEngines(w, s, 'start', n));
        writeClusterState(state);
      }
      if (n > 0) {
        const rc = await cluster.connect();
        const waiting = waitForEngines(rc, state.engines, {
          before: 0,
          min: s.minEngines,
          timeoutMs,
          ...(o.onEngine ? { onEngine: o.onEngine } : {}),
        });
        cluster.problems.push(...(await abortable(waiting, o.signal)));
      }
      if (adaptMin !== undefined && adaptMin > 0) {
        const rc = await cluster.connect();
        await abortable(waitForAdaptiveMin(rc, adaptMin, timeoutMs), o.signal);
        if (o.onEngine) for (const e of rc.engines) o.onEngine({ id: e.id, pid: e.pid });
      }
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
   * Start `n` more engines (through the launcher the cluster was started with,
   * or the one `engines` names); resolves with the pids of those on this
   * machine when they are registered.
   * @example await cluster.addEngines(2);
   * @example await cluster.addEngines(4, { engines: { launcher: 'ssh', hosts: 'node3' } });
   */
  async addEngines(n: number, o: number | { timeoutMs?: number; engines?: EngineLaunchOptions } = {}): Promise<number[]> {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`addEngines takes a whole number of engines >= 1, got ${String(n)}`);
    if (this.#stopped) throw new Error('the cluster is stopped');
    const opts = typeof o === 'number' ? { timeoutMs: o } : o;
    const s = opts.engines
      ? resolveSettings('engines', { options: startOptions({ engines: opts.engines }), profile: readProfileConfig(this.profile) })
      : { ...this.#settings, n };
    const rc = await this.connect();
    const before = rc.ids.length;
    const rec = await launchEngines({ profile: this.profile, clusterId: this.clusterId }, s, opts.engines ? 'engines' : 'start', n);
    this.#state.engines.push(rec);
    writeClusterState(this.#state);
    try {
      this.problems.push(...(await waitForEngines(rc, [rec], { before, min: s.minEngines, timeoutMs: opts.timeoutMs ?? startTimeoutMs(s) })));
    } catch (e) {
      // a failed add changes nothing: what it started is stopped and forgotten
      await launcherOf(rec).stop(rec, 0);
      this.#state.engines = this.#state.engines.filter((r) => r !== rec);
      writeClusterState(this.#state);
      throw e;
    }
    return localProcesses(rec).map((p) => p.pid);
  }

  /** Stop the engines and the controller, and remove the cluster's files (here and on the hosts engines ran on). */
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

  #endAllNow(): void {
    for (const rec of [...this.#state.engines, this.#state.controller]) {
      try {
        launcherOf(rec).endNow(rec);
      } catch {
        // at exit: best effort
      }
    }
  }
}

/** Wait until the adaptive controller has `min` engines; fail as soon as it reports that its jobs bring none. */
async function waitForAdaptiveMin(rc: Client, min: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (rc.ids.length < min) {
    const problem = (await rc.stats()).adapt?.problem;
    if (problem !== undefined) throw new Error(`the controller could not start engines (--adapt): ${problem}`);
    if (Date.now() > deadline) throw new Error(`${rc.ids.length} of the ${min} engines --adapt starts first registered within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** With --adapt (Slurm engines only, no -n): its MIN; undefined without it. */
function adaptiveMin(s: Settings): number | undefined {
  if (s.adapt === undefined) return undefined;
  if (s.engines !== 'slurm') throw new SettingError(`--adapt takes Slurm engines (--engines slurm), not ${s.engines}`, 'adapt');
  if (s.n !== undefined) {
    throw new SettingError('give either -n or --adapt MIN:MAX: with --adapt the controller starts MIN engines and keeps MIN..MAX', 'adapt');
  }
  return parseAdapt(s.adapt).min;
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
  if (typeof state === 'object') await Promise.all(state.engines.map((rec) => launcherOf(rec).stop(rec, 0)));
  removeConnectionFiles(profile, clusterId);
  removeClusterState(profile, clusterId);
}
