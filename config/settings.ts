/**
 * Every setting of a cluster, in one table: its schema (zod, with bounds),
 * default, command-line flag and help text, and which commands take it. The
 * CLI's options and `--help` rows, `Cluster.start`'s options, the controller
 * and the profile's `tscluster.json` are all read through this table
 * (config/resolve.ts), so they cannot drift apart.
 */
import { isIP } from 'node:net';
import * as z from 'zod';
import { SCHEME_NAMES } from '../controller/schemes/index.js';

/** The commands (and code paths) that take settings. */
/** The commands (and code paths) that take settings: start, controller, engine, and engines (adding engines). */
export type Scope = 'start' | 'controller' | 'engine' | 'engines';

const int = (min: number, max: number): z.ZodNumber => z.number().int().min(min).max(max);

/** A hostname or an IPv4/IPv6 address; refuses what can be neither (e.g. 999.1.1.1). */
const address = z
  .string()
  .min(1)
  .max(253)
  .refine((s) => isIP(s) !== 0 || (/^[A-Za-z0-9.-]+$/.test(s) && !/^[\d.]+$/.test(s)), 'not an IP address or a host name');

/** The launchers engines can be started with, and those that can start a controller. */
export const ENGINE_LAUNCHERS = ['local', 'ssh', 'mpi', 'slurm'] as const;
export const CONTROLLER_LAUNCHERS = ['local', 'ssh', 'slurm'] as const;

/** `host:count,user@host:count`: the engines of the ssh launcher. */
const hostList = z
  .string()
  .min(1)
  .max(100_000)
  .refine((s) => s.split(',').every((h) => /^([\w.-]+@)?[\w.-]+(:\d+)?$/.test(h.trim())), 'a list like h1:4,user@h2:2');

/** `MIN:MAX` engines for adaptive scaling. */
const range = z.string().refine((s) => {
  const m = /^(\d+):(\d+)$/.exec(s);
  return m !== null && Number(m[1]) <= Number(m[2]);
}, 'MIN:MAX with MIN <= MAX');

/** `[ADDR:]PORT` (an IPv6 address in brackets): where an HTTP server listens. */
const LISTEN_RE = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/;

/** Where an HTTP server listens: `[ADDR:]PORT` as host and port (ADDR defaults to 127.0.0.1), or undefined when it is not one. */
export function parseListen(s: string): { host: string; port: number } | undefined {
  const m = LISTEN_RE.exec(s.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  const host = (m[1] ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
  if (/^[\d.]+$/.test(host) && isIP(host) === 0) return undefined;
  return { host, port };
}

const listen = z
  .string()
  .max(300)
  .refine((s) => parseListen(s) !== undefined, '[ADDR:]PORT');

/** The value schemas, with defaults: the one source of truth for types and bounds. */
export const SettingsSchema = z.object({
  n: int(0, 4096).optional(),
  scheme: z.enum(SCHEME_NAMES).default('leastload'),
  hwm: int(0, 1_000_000).default(1),
  prefetch: int(0, 1000).default(0),
  ip: address.default('127.0.0.1'),
  location: address.optional(),
  clientPort: int(0, 65535).default(0),
  enginePort: int(0, 65535).default(0),
  heartbeatMs: int(10, 3_600_000).default(1000),
  deadAfterMs: int(100, 86_400_000).default(5000),
  curve: z.boolean().optional(),
  noCurve: z.boolean().optional(),
  maxRecords: int(1, 100_000_000).optional(),
  store: z.enum(['sqlite', 'none']).default('sqlite'),
  storeResultMaxBytes: int(0, Number.MAX_SAFE_INTEGER).default(1024 ** 2),
  storeRequestMaxBytes: int(0, Number.MAX_SAFE_INTEGER).default(1024 ** 2),
  controllerGraceS: z.number().min(1).max(86_400).default(60),
  maxRecordBytes: int(1024, Number.MAX_SAFE_INTEGER).default(1024 ** 3),
  sharedMaxBytes: int(1024, Number.MAX_SAFE_INTEGER).default(1024 ** 3),
  sharedObjectMaxBytes: int(1024, Number.MAX_SAFE_INTEGER).default(256 * 1024 ** 2),
  timeoutS: z.number().min(0.1).max(86_400).default(30),
  maxMemoryMb: int(16, 1_048_576).optional(),
  lifetimeS: z.number().min(1).max(31_536_000).optional(),
  // launchers
  engines: z.enum(ENGINE_LAUNCHERS).default('local'),
  controller: z.enum(CONTROLLER_LAUNCHERS).default('local'),
  controllerHost: z.string().min(1).max(300).optional(),
  supervise: z.boolean().default(true),
  hosts: hostList.optional(),
  minEngines: int(0, 100_000).optional(),
  sshPort: int(1, 65535).optional(),
  sshIdentity: z.string().min(1).max(4096).optional(),
  sshOptions: z.array(z.string().min(1).max(1000)).max(100).optional(),
  remoteCmd: z.string().min(1).max(4096).default('tscluster'),
  remoteDir: z.string().min(1).max(4096).optional(),
  mpiexec: z.string().min(1).max(4096).default('mpiexec'),
  mpiArgs: z.array(z.string().max(1000)).max(100).optional(),
  partition: z.string().min(1).max(200).optional(),
  timeLimit: z.string().min(1).max(50).optional(),
  account: z.string().min(1).max(200).optional(),
  cpusPerEngine: int(1, 1024).optional(),
  memory: z.string().min(1).max(50).optional(),
  sbatch: z.array(z.string().min(1).max(1000)).max(100).optional(),
  enginesPerJob: int(1, 100_000).optional(),
  slurmTemplate: z.string().min(1).max(4096).optional(),
  startTimeoutS: z.number().min(1).max(86_400).optional(),
  adapt: range.optional(),
  adaptIdleS: z.number().min(1).max(86_400).default(60),
  // the controller's HTTP servers (controller/dashboard/)
  dashboard: z.union([z.enum(['on', 'off']), listen]).default('on'),
  metrics: listen.optional(),
});
export type Settings = z.infer<typeof SettingsSchema>;
export type SettingKey = keyof Settings;

/** How a setting appears on the command line and in help. */
export interface SettingDoc {
  /** the flag without dashes */
  flag: string;
  short?: string;
  /** the placeholder in help (absent: a boolean flag) */
  arg?: string;
  /** the flag may be given several times (a list) */
  multiple?: boolean;
  help: string;
  /** the default as help shows it (absent: the schema's default) */
  shownDefault?: string;
  scopes: readonly Scope[];
  /** may be set in the profile's tscluster.json (default true) */
  profile?: boolean;
  /** a boolean flag that turns the setting off (`--no-supervise`: supervise false) */
  negated?: boolean;
}

const LAUNCH: readonly Scope[] = ['start', 'engines'];
/** Slurm's settings: the controller takes them too, for the engine jobs its adapter submits (--adapt) */
const SLURM: readonly Scope[] = ['start', 'engines', 'controller'];

export const SETTING_DOCS: Record<SettingKey, SettingDoc> = {
  n: { flag: 'n', short: 'n', arg: 'N', help: 'number of engines', shownDefault: 'one per core', scopes: ['start'] },
  scheme: { flag: 'scheme', arg: 'S', help: `load-balancing scheme: ${SCHEME_NAMES.join(', ')}`, scopes: ['start', 'controller'] },
  hwm: { flag: 'hwm', arg: 'N', help: 'most outstanding tasks per engine, 0 = unlimited', scopes: ['start', 'controller'] },
  prefetch: {
    flag: 'prefetch',
    arg: 'N',
    help: 'tasks an engine may hold beyond hwm, ready to start (taken back for an idle engine until they do)',
    scopes: ['start', 'controller'],
  },
  ip: { flag: 'ip', arg: 'ADDR', help: 'address the controller binds (0.0.0.0: every interface)', scopes: ['start', 'controller'] },
  location: {
    flag: 'location',
    arg: 'HOST',
    help: 'address others reach the controller at, written into the connection files',
    shownDefault: "the bound address, or this host's address on the network",
    scopes: ['start', 'controller'],
  },
  clientPort: { flag: 'client-port', arg: 'N', help: 'port for clients (0: a free one)', scopes: ['controller'] },
  enginePort: { flag: 'engine-port', arg: 'N', help: 'port for engines (0: a free one)', scopes: ['controller'] },
  heartbeatMs: { flag: 'heartbeat-ms', arg: 'N', help: 'heartbeat period, ms', scopes: ['controller'] },
  deadAfterMs: { flag: 'dead-after-ms', arg: 'N', help: 'declare a silent engine dead after this long, ms', scopes: ['controller'] },
  curve: {
    flag: 'curve',
    help: 'encrypt all traffic with CurveZMQ',
    shownDefault: 'on when the controller is reachable off loopback',
    scopes: ['start', 'controller'],
  },
  noCurve: { flag: 'no-curve', help: 'do not encrypt, even off loopback (a warning says so)', scopes: ['start', 'controller'] },
  maxRecords: {
    flag: 'max-records',
    arg: 'N',
    help: 'finished task records the controller keeps',
    shownDefault: '100,000 in the SQLite store, 1024 with --store none',
    scopes: ['start', 'controller'],
  },
  store: {
    flag: 'store',
    arg: 'KIND',
    help: "where task records go: 'sqlite' (the profile's db/ directory; a restarted controller takes up unfinished tasks) or 'none' (memory only)",
    scopes: ['start', 'controller'],
  },
  storeResultMaxBytes: {
    flag: 'store-result-max-bytes',
    arg: 'N',
    help: 'a larger result is kept in memory only, not in the SQLite store',
    shownDefault: '1 MiB',
    scopes: ['controller'],
  },
  storeRequestMaxBytes: {
    flag: 'store-request-max-bytes',
    arg: 'N',
    help: 'a request whose payload is larger goes into the SQLite store without it (after a restart, its client sends it again)',
    shownDefault: '1 MiB',
    scopes: ['controller'],
  },
  controllerGraceS: {
    flag: 'controller-grace',
    arg: 'S',
    help: 'an engine without its controller this long (it was not restarted) exits',
    scopes: ['start', 'engine'],
  },
  maxRecordBytes: {
    flag: 'max-record-bytes',
    arg: 'N',
    help: 'bytes of finished task records the controller keeps',
    shownDefault: '1 GiB',
    scopes: ['controller'],
  },
  sharedMaxBytes: {
    flag: 'shared-max-bytes',
    arg: 'N',
    help: 'bytes all shared objects (rc.queue, rc.dict...) may hold together',
    shownDefault: '1 GiB',
    scopes: ['controller'],
  },
  sharedObjectMaxBytes: {
    flag: 'shared-object-max-bytes',
    arg: 'N',
    help: 'bytes one shared object may hold',
    shownDefault: '256 MiB',
    scopes: ['controller'],
  },
  timeoutS: { flag: 'timeout', arg: 'S', help: 'seconds to wait for the connection file and registration', scopes: ['engine'], profile: false },
  maxMemoryMb: {
    flag: 'max-memory-mb',
    arg: 'N',
    help: "heap limit of the engine's execution worker, MB",
    shownDefault: "the engine's own",
    scopes: ['engine'],
  },
  lifetimeS: {
    flag: 'lifetime',
    arg: 'S',
    help: 'stop taking tasks after S seconds and exit once idle (a batch job ends at its time limit)',
    shownDefault: 'none; under Slurm, the time limit less a minute',
    scopes: ['engine', 'start', 'engines', 'controller'],
  },
  engines: { flag: 'engines', arg: 'L', help: `how engines are started: ${ENGINE_LAUNCHERS.join(', ')}`, scopes: LAUNCH },
  controller: { flag: 'controller', arg: 'L', help: `how the controller is started: ${CONTROLLER_LAUNCHERS.join(', ')}`, scopes: ['start'] },
  supervise: {
    flag: 'no-supervise',
    negated: true,
    help: 'start the controller alone, without the supervisor that restarts it after a crash (local controller)',
    scopes: ['start'],
  },
  controllerHost: { flag: 'controller-host', arg: 'HOST', help: 'with --controller ssh: the host ([user@]host) it runs on', scopes: ['start'] },
  hosts: { flag: 'hosts', arg: 'LIST', help: 'with --engines ssh: hosts and engines per host, e.g. h1:4,user@h2:2', scopes: LAUNCH },
  minEngines: {
    flag: 'min-engines',
    arg: 'N',
    help: 'the start fails when fewer engines than this register',
    shownDefault: 'all of them',
    scopes: LAUNCH,
  },
  sshPort: { flag: 'ssh-port', arg: 'N', help: 'ssh: the port of the hosts', shownDefault: "ssh's", scopes: LAUNCH },
  sshIdentity: { flag: 'ssh-identity', arg: 'FILE', help: 'ssh: the identity (private key) file', scopes: LAUNCH },
  sshOptions: { flag: 'ssh-option', arg: 'K=V', multiple: true, help: 'ssh: an extra -o option (repeatable)', scopes: LAUNCH },
  remoteCmd: {
    flag: 'remote-cmd',
    arg: 'CMD',
    help: "ssh: how to run tscluster on the hosts (e.g. 'cd /srv/app && npx tscluster')",
    scopes: LAUNCH,
  },
  remoteDir: {
    flag: 'remote-dir',
    arg: 'DIR',
    help: "ssh: the profiles' root on the hosts",
    shownDefault: "the hosts' $TSCLUSTER_DIR or ~/.tscluster",
    scopes: LAUNCH,
  },
  mpiexec: { flag: 'mpiexec', arg: 'CMD', help: 'mpi: the mpiexec to run', scopes: LAUNCH },
  mpiArgs: {
    flag: 'mpi-arg',
    arg: 'ARG',
    multiple: true,
    help: 'mpi: an extra mpiexec argument (repeatable), e.g. --mpi-arg=--host=a,b',
    scopes: LAUNCH,
  },
  partition: { flag: 'partition', arg: 'P', help: 'slurm: the partition', scopes: SLURM },
  timeLimit: { flag: 'time-limit', arg: 'T', help: 'slurm: the time limit of each job, e.g. 1:00:00', scopes: SLURM },
  account: { flag: 'account', arg: 'A', help: 'slurm: the account', scopes: SLURM },
  cpusPerEngine: { flag: 'cpus-per-engine', arg: 'N', help: 'slurm: CPUs of each engine', shownDefault: '1', scopes: SLURM },
  memory: { flag: 'memory', arg: 'M', help: 'slurm: memory of each engine, e.g. 2G', scopes: SLURM },
  sbatch: { flag: 'sbatch', arg: 'LINE', multiple: true, help: 'slurm: an extra #SBATCH line (repeatable), e.g. --sbatch=--qos=long', scopes: SLURM },
  enginesPerJob: {
    flag: 'engines-per-job',
    arg: 'K',
    help: 'slurm: engines per batch job',
    shownDefault: 'all in one job; 1 with --adapt',
    scopes: SLURM,
  },
  slurmTemplate: { flag: 'slurm-template', arg: 'FILE', help: 'slurm: the batch script template', shownDefault: 'the built-in one', scopes: SLURM },
  startTimeoutS: {
    flag: 'start-timeout',
    arg: 'S',
    help: 'seconds engines may take to register before the start fails',
    shownDefault: '60; 300 for slurm',
    scopes: SLURM,
  },
  adapt: {
    flag: 'adapt',
    arg: 'MIN:MAX',
    help: 'slurm: submit engine jobs while tasks wait, cancel idle ones, keep MIN..MAX engines',
    scopes: ['start', 'controller'],
  },
  adaptIdleS: { flag: 'adapt-idle', arg: 'S', help: 'slurm: with --adapt, cancel engines idle this long', scopes: ['start', 'controller'] },
  dashboard: {
    flag: 'dashboard',
    arg: '[ADDR:]PORT',
    help: "where the controller serves its web dashboard and /metrics, behind a token ('off': nowhere)",
    shownDefault: 'on: 127.0.0.1, a free port',
    scopes: ['start', 'controller'],
  },
  metrics: {
    flag: 'metrics',
    arg: '[ADDR:]PORT',
    help: 'also serve /metrics here without a token, for a Prometheus scraper on a private network',
    shownDefault: 'none',
    scopes: ['start', 'controller'],
  },
};

/** The keys a scope takes, in table order. */
export function keysOf(scope: Scope): SettingKey[] {
  return (Object.keys(SETTING_DOCS) as SettingKey[]).filter((k) => SETTING_DOCS[k].scopes.includes(scope));
}
