/**
 * Test hosts for the multi-host suites (ssh, MPI, Slurm launchers): each host
 * is a Linux network namespace on this machine, plugged into a bridge that
 * lives in a hub namespace, so every host reaches every other and nothing
 * else (no default route; the root namespace has no interface on their
 * network). The namespaces share the file system and the process table: a
 * file written "on" host B is the same file here, and a pid seen in a
 * namespace is a pid here.
 *
 *   describeGated(hostsGate(), 'ssh launcher', () => {
 *     const dir = tempRootForFile('ssh-launcher');
 *     let hosts: Hosts | undefined;
 *     before(async () => (hosts = await createHosts({ names: ['a', 'b', 'c'], dir })));
 *     after(async () => await hosts?.cleanup());       // runs when a test or `before` failed too
 *     test('...', async () => {
 *       const [a, b] = [hosts!.get('a'), hosts!.get('b')];
 *       const sshd = await startSshd(b);
 *       const r = await sshd.ssh(a, 'node --version');    // ssh from A to B
 *     });
 *   });
 *
 * Names are `tsc-<pid>-<random>-<host>` (hub: `-hub`), so parallel runs never
 * collide. Three nets catch what a suite leaves behind: `cleanup()` in the
 * suite's `after`; a process 'exit' hook (and SIGINT/SIGTERM/SIGHUP) that
 * SIGKILLs what the hosts started and deletes their namespaces; and
 * `sweepStaleHosts()` (run by every createHosts) for the namespaces of a
 * test process that was SIGKILLed.
 *
 * Addresses: a /24 of the RFC 5737 documentation nets, the first one this
 * machine does not use itself (192.0.2.0/24, else 198.51.100.0/24, else
 * 203.0.113.0/24): host 1 is .1, host 2 .2... Read `host.ip`; do not assume
 * 192.0.2.x. Partitions are `linkDown()`/`linkUp()` (`tc netem` is not
 * available). Needs root: gate suites with hostsGate().
 */
import { exitHook } from './exit-hook.js';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { FIXTURES, waitFor } from './env.js';
import { gate, which } from './gates.js';
import type { Gate } from './gates.js';
import { OutputWatcher, childEnv, ensureGone, findProcesses, pidGone, runProcess, showResult } from './processes.js';
import type { CliResult, ProcessInfo } from './processes.js';

/** The RFC 5737 documentation nets, in order of preference (never routed on the internet). */
const TEST_NETS = ['192.0.2', '198.51.100', '203.0.113'] as const;
/** A host's interface, inside its namespace. */
const DEV = 'eth0';
const BRIDGE = 'br0';
const NAME_RE = /^[a-z][a-z0-9]{0,7}$/;
/** tsc-<owner pid>-<random>-<host or hub> */
const NS_RE = /^tsc-(\d+)-[0-9a-f]{6}-[a-z0-9]+$/;
const SSHD_PATH = [process.env.PATH ?? '', '/usr/sbin', '/usr/local/sbin'].join(delimiter);

// ------------------------------------------------------------------ types

export interface HostExecOptions {
  /** SIGKILLed after this, which then rejects (default 30 s) */
  timeoutMs?: number;
  /** on top of this process's environment; a variable set to undefined is left out */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface Host {
  /** as given to createHosts ('a') */
  readonly name: string;
  /** its network namespace (`tsc-<pid>-<random>-a`) */
  readonly ns: string;
  /** its address (x.y.z.1 for the first host...) */
  readonly ip: string;
  /** its one interface, inside the namespace */
  readonly dev: string;
  /** the hosts' directory (createHosts' dir), where the files of their sshd and relays go */
  readonly dir: string;
  /** Run `cmd` in the namespace (`ip netns exec NS cmd...`) to completion. */
  exec(cmd: readonly string[], opts?: HostExecOptions): Promise<CliResult>;
  /** Start `cmd` in the namespace; ended by cleanup() if still running. Its pid is the command's (`ip netns exec` execs). */
  spawn(cmd: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** The partition: this host's link goes down (nothing in or out), until linkUp(). */
  linkDown(): Promise<void>;
  /** Heal the partition; resolves once the link is up again. */
  linkUp(): Promise<void>;
  /** The processes running in this host's namespace now (started here or, say, by sshd). */
  processes(): ProcessInfo[];
}

export interface CleanupReport {
  /** processes started through the hosts that had not ended 5 s after SIGTERM (then SIGKILLed) */
  stubborn: string[];
  /** processes still running in the namespaces after that, started some other way (e.g. over ssh): SIGKILLed */
  leftovers: string[];
}

export interface Hosts {
  /** tsc-<pid>-<random>: the prefix of every namespace */
  readonly id: string;
  readonly dir: string;
  /** the hosts' network, x.y.z.0/24 */
  readonly subnet: string;
  /** in the order of the names given */
  readonly all: readonly Host[];
  /** every namespace made: the hosts' and the hub's */
  readonly namespaces: readonly string[];
  /** The host of that name (throws for an unknown one). */
  get(name: string): Host;
  /**
   * End every process started through the hosts (SIGTERM, then SIGKILL), SIGKILL
   * whatever else still runs in the namespaces, delete the namespaces (and with
   * them the interfaces and the bridge), and check they are gone. Safe to call
   * twice (the second call returns the first's result). Throws when a namespace
   * could not be deleted or a process survived SIGKILL.
   */
  cleanup(): Promise<CleanupReport>;
}

// ------------------------------------------------------------------ what this process made (the safety nets)

interface Made {
  namespaces: string[];
  /** our children that still run (removed on 'exit', so a pid here is never someone else's) */
  children: Map<number, ChildProcess>;
}

const made = new Set<Made>();

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone meanwhile
  }
}

/** Synchronous: SIGKILL what a set of hosts started and runs in them, delete their namespaces. */
function destroySync(m: Made): void {
  for (const pid of m.children.keys()) tryKill(pid, 'SIGKILL');
  for (const ns of m.namespaces) {
    for (const p of nsProcesses(ns)) tryKill(p.pid, 'SIGKILL');
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
  made.delete(m);
}

const cleanupAtExit = exitHook(() => {
  for (const m of [...made]) destroySync(m);
});

/**
 * Delete the namespaces (and SIGKILL their processes) left by test processes
 * that are gone (SIGKILLed before their exit hook could run). Those of live
 * processes, parallel runs included, are not touched. Returns the names deleted.
 */
export function sweepStaleHosts(): string[] {
  const stale = netnsList().filter((ns) => {
    const owner = NS_RE.exec(ns)?.[1];
    return owner !== undefined && Number(owner) !== process.pid && pidGone(Number(owner));
  });
  destroySync({ namespaces: stale, children: new Map() });
  return stale;
}

// ------------------------------------------------------------------ namespaces, addresses

/** The names of this machine's network namespaces (`ip netns list`). */
export function netnsList(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

/** The processes whose network namespace is `ns` (what `ip netns pids` lists: same nsfs inode). */
export function nsProcesses(ns: string): ProcessInfo[] {
  let link: string;
  try {
    link = `net:[${statSync(`/run/netns/${ns}`).ino}]`;
  } catch {
    return [];
  }
  return findProcesses((pid) => readlinkSync(`/proc/${pid}/ns/net`) === link);
}

async function ip(args: readonly string[]): Promise<string> {
  const r = await runProcess('ip', args, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed: ${showResult(r)}`);
  return r.stdout;
}

const toInt = (a: string): number => a.split('.').reduce((n, b) => n * 256 + Number(b), 0);

/** Does a.b.c.d[/len] overlap the /24 `net` (x.y.z)? */
function overlaps(prefix: string, net: string): boolean {
  const [addr = '', lenText = '32'] = prefix.split('/');
  const len = Math.min(Number(lenText), 24);
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  return (toInt(addr) & mask) >>> 0 === (toInt(`${net}.0`) & mask) >>> 0;
}

/** The first documentation /24 that the root namespace has no address or route (but the default one) in. */
function freeTestNet(): string {
  interface Row {
    dst?: string;
    addr_info?: { local: string; prefixlen: number }[];
  }
  const json = (args: string[]): Row[] => JSON.parse(spawnSync('ip', ['-j', '-4', ...args], { encoding: 'utf8' }).stdout || '[]') as Row[];
  const used = [
    ...json(['route', 'show', 'table', 'all']).flatMap((r) => (r.dst && r.dst !== 'default' ? [r.dst] : [])),
    ...json(['addr']).flatMap((l) => (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`)),
  ];
  const net = TEST_NETS.find((n) => !used.some((p) => overlaps(p, n)));
  if (net === undefined) throw new Error(`every documentation net (${TEST_NETS.join(', ')}) is in use on this machine: ${used.join(', ')}`);
  return net;
}

async function waitLinkUp(ns: string): Promise<void> {
  await waitFor(
    `${DEV} up in ${ns}`,
    async () => {
      const [link] = JSON.parse(await ip(['-j', '-n', ns, 'link', 'show', DEV])) as { operstate?: string }[];
      return link?.operstate === 'UP';
    },
    { timeoutMs: 5000, intervalMs: 20 },
  );
}

// ------------------------------------------------------------------ createHosts

function makeHost(m: Made, name: string, ns: string, hostIp: string, dir: string): Host {
  const inNs = (cmd: readonly string[]): string[] => ['netns', 'exec', ns, ...cmd];
  const track = (child: ChildProcess): void => {
    const pid = child.pid;
    if (pid === undefined) return; // did not start: its 'error' says why
    m.children.set(pid, child);
    child.once('exit', () => m.children.delete(pid));
  };
  return {
    name,
    ns,
    ip: hostIp,
    dev: DEV,
    dir,
    exec: (cmd, o = {}) =>
      runProcess('ip', inNs(cmd), {
        timeoutMs: o.timeoutMs ?? 30_000,
        env: o.env,
        cwd: o.cwd,
        label: `on ${name}: ${cmd.join(' ')}`,
        onStart: track,
      }),
    spawn(cmd, o = {}): ChildProcess {
      const child = spawn('ip', inNs(cmd), { ...o, env: childEnv(o.env ?? {}) });
      track(child);
      return child;
    },
    async linkDown(): Promise<void> {
      await ip(['-n', ns, 'link', 'set', DEV, 'down']);
    },
    async linkUp(): Promise<void> {
      await ip(['-n', ns, 'link', 'set', DEV, 'up']);
      await waitLinkUp(ns);
    },
    processes: () => nsProcesses(ns),
  };
}

async function cleanupMade(m: Made): Promise<CleanupReport> {
  const children = [...m.children.keys()];
  for (const pid of children) tryKill(pid, 'SIGTERM');
  const stubborn = await ensureGone(children, 5000);
  const inside = m.namespaces.flatMap((ns) => nsProcesses(ns));
  const leftovers = await ensureGone(
    inside.map((p) => p.pid),
    0,
  );
  for (const ns of m.namespaces) {
    const r = await runProcess('ip', ['netns', 'del', ns], { timeoutMs: 10_000 });
    if (r.code !== 0 && existsSync(`/run/netns/${ns}`)) throw new Error(`could not delete the namespace ${ns}: ${showResult(r)}`);
  }
  made.delete(m);
  if (made.size === 0) cleanupAtExit.disarm();
  const left = netnsList().filter((ns) => m.namespaces.includes(ns));
  const survivors = [...stubborn, ...leftovers].filter((d) => d.includes('survived SIGKILL'));
  if (left.length > 0 || survivors.length > 0) {
    throw new Error(`hosts cleanup: namespaces left: ${left.join(', ') || 'none'}; processes left: ${survivors.join('; ') || 'none'}`);
  }
  return { stubborn, leftovers };
}

/**
 * Make one network namespace a host (names: 1 to 8 lowercase letters and
 * digits, starting with a letter), all on one bridge, addresses .1, .2... of
 * a free documentation /24 (or `subnet`, 'x.y.z.0/24'), loopback up, no other
 * route. `dir` (the test's, which it removes) holds the files of their sshd and relays.
 */
export async function createHosts(opts: { names: readonly string[]; dir: string; subnet?: string }): Promise<Hosts> {
  const { names, dir } = opts;
  if (names.length === 0 || names.length > 250 || new Set(names).size !== names.length || !names.every((n) => NAME_RE.test(n))) {
    throw new Error(`createHosts: 1 to 250 unique names of 1-8 lowercase letters and digits, starting with a letter; got ${JSON.stringify(names)}`);
  }
  const net = opts.subnet === undefined ? freeTestNet() : /^(\d+\.\d+\.\d+)\.0\/24$/.exec(opts.subnet)?.[1];
  if (net === undefined) throw new Error(`createHosts: subnet must be x.y.z.0/24, got ${opts.subnet}`);
  sweepStaleHosts();
  const id = `tsc-${process.pid}-${randomBytes(3).toString('hex')}`;
  const hub = `${id}-hub`;
  const m: Made = { namespaces: [], children: new Map() };
  made.add(m);
  cleanupAtExit.arm();
  const addNs = async (ns: string): Promise<void> => {
    m.namespaces.push(ns); // first, so that a failure half-way still deletes it
    await ip(['netns', 'add', ns]);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  };
  const all: Host[] = [];
  try {
    await addNs(hub);
    await ip(['-n', hub, 'link', 'add', BRIDGE, 'type', 'bridge']);
    await ip(['-n', hub, 'link', 'set', BRIDGE, 'up']);
    for (const [i, name] of names.entries()) {
      const ns = `${id}-${name}`;
      const hostIp = `${net}.${i + 1}`;
      const port = `h${i + 1}`;
      await addNs(ns);
      // made straight in the namespaces: nothing ever appears in the root namespace
      await ip(['link', 'add', DEV, 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', hub]);
      await ip(['-n', hub, 'link', 'set', port, 'master', BRIDGE, 'up']);
      await ip(['-n', ns, 'addr', 'add', `${hostIp}/24`, 'dev', DEV]);
      await ip(['-n', ns, 'link', 'set', DEV, 'up']);
      all.push(makeHost(m, name, ns, hostIp, dir));
    }
    for (const h of all) await waitLinkUp(h.ns);
  } catch (e) {
    await cleanupMade(m).catch(() => undefined);
    throw e;
  }
  let cleaning: Promise<CleanupReport> | undefined;
  return {
    id,
    dir,
    subnet: `${net}.0/24`,
    all,
    namespaces: [...m.namespaces],
    get(name: string): Host {
      const h = all.find((x) => x.name === name);
      if (h === undefined) throw new Error(`no host '${name}' (hosts: ${names.join(', ')})`);
      return h;
    },
    cleanup: () => (cleaning ??= cleanupMade(m)),
  };
}

// ------------------------------------------------------------------ sshd

export interface Sshd {
  readonly host: Host;
  readonly port: number;
  readonly pid: number;
  /** the private key that logs in as root on every sshd started with the same dir */
  readonly userKey: string;
  readonly hostKey: string;
  /** sshd's log (-E) */
  readonly log: string;
  /** root@<host ip> */
  readonly destination: string;
  /**
   * ssh's options to reach this sshd non-interactively from another host:
   * `ssh ...sshArgs root@ip cmd`. No config file is read (-F /dev/null), nothing
   * is written to known_hosts, and a host that does not answer fails after 5 s
   * (ConnectTimeout).
   */
  readonly sshArgs: readonly string[];
  /** the same for scp (-P for the port) */
  readonly scpArgs: readonly string[];
  /** sshArgs with another port (e.g. a relay's in front of this sshd) */
  clientArgs(port: number): string[];
  /** `ssh ...sshArgs root@ip command` run on host `from` */
  ssh(from: Host, command: string, opts?: HostExecOptions): Promise<CliResult>;
  /** SIGTERM, and wait until it is gone (cleanup() does it too) */
  stop(): Promise<void>;
}

const userKeys = new Map<string, Promise<string>>();

async function keygen(file: string): Promise<void> {
  if (existsSync(file)) return;
  const r = await runProcess('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tscluster-test', '-f', file], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${showResult(r)}`);
}

/** The user key pair of `dir` and its authorized_keys, made once. */
function userKeyOf(dir: string): Promise<string> {
  let key = userKeys.get(dir);
  if (key === undefined) {
    key = (async () => {
      const file = join(dir, 'id_ed25519');
      await keygen(file);
      writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${file}.pub`));
      return file;
    })();
    userKeys.set(dir, key);
  }
  return key;
}

/**
 * Start sshd on `host` (listening on its address only). The user key pair and
 * authorized_keys are `dir`'s (default: the hosts' dir), one for every sshd
 * started with that dir; the host key, pid file and log are in
 * `dir`/sshd-<host>/. Nothing is read from or written to /etc/ssh or ~/.ssh.
 * Resolves once it accepts connections. Root logs in with the user key only.
 */
export async function startSshd(host: Host, opts: { dir?: string; port?: number } = {}): Promise<Sshd> {
  const dir = opts.dir ?? host.dir;
  const port = opts.port ?? 2222;
  const own = join(dir, `sshd-${host.name}`);
  mkdirSync(own, { recursive: true });
  mkdirSync('/run/sshd', { recursive: true }); // its privilege separation directory
  const hostKey = join(own, 'ssh_host_ed25519_key');
  const log = join(own, 'sshd.log');
  writeFileSync(log, '');
  const [userKey] = await Promise.all([userKeyOf(dir), keygen(hostKey)]);
  const sshd = which('sshd', SSHD_PATH) ?? 'sshd';
  // -D: in the foreground, so its pid is our child's; -f /dev/null: no system config, only these options
  const options = [
    `PidFile=${join(own, 'sshd.pid')}`,
    `AuthorizedKeysFile=${join(dir, 'authorized_keys')}`,
    'StrictModes=no',
    'PermitRootLogin=prohibit-password',
    `ListenAddress=${host.ip}`,
    'UsePAM=no',
    'PasswordAuthentication=no',
    'KbdInteractiveAuthentication=no',
    'UseDNS=no',
    'PrintMotd=no',
    'PrintLastLog=no',
    'MaxStartups=100',
    'MaxSessions=100',
    'Subsystem=sftp internal-sftp',
  ];
  const child = host.spawn([sshd, '-D', '-f', '/dev/null', '-E', log, '-h', hostKey, '-p', String(port), ...options.flatMap((o) => ['-o', o])], {
    stdio: 'ignore',
  });
  child.unref(); // a suite that forgets it still exits (and its exit hook ends it)
  await waitFor(
    `sshd on ${host.name} listening on ${host.ip}:${port}`,
    () => {
      const text = readFileSync(log, 'utf8');
      if (text.includes(`Server listening on ${host.ip} port ${port}.`)) return true;
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`sshd on ${host.name} exited (${child.exitCode ?? child.signalCode}):\n${text}`);
      return false;
    },
    { timeoutMs: 10_000, intervalMs: 20 },
  );
  const pid = child.pid ?? 0;
  const clientArgs = (p: number): string[] => [
    ...['-F', '/dev/null', '-i', userKey, '-p', String(p)],
    ...['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'],
    ...['-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'ConnectTimeout=5'],
  ];
  const sshArgs = clientArgs(port);
  const destination = `root@${host.ip}`;
  return {
    host,
    port,
    pid,
    userKey,
    hostKey,
    log,
    destination,
    sshArgs,
    scpArgs: sshArgs.map((a) => (a === '-p' ? '-P' : a)),
    clientArgs,
    ssh: (from, command, o) => from.exec(['ssh', ...sshArgs, destination, command], o),
    async stop(): Promise<void> {
      tryKill(pid, 'SIGTERM');
      await ensureGone([pid], 5000);
    },
  };
}

// ------------------------------------------------------------------ TCP: probes and relays

export type TcpProbeResult = 'connected' | 'refused' | 'unreachable' | 'timeout' | `error ${string}`;

/**
 * One TCP connection attempt from host `from` to ip:port, given up after
 * `timeoutMs` (only a probe that fails waits that long). 'connected' or 'refused' (nothing listens, but the host
 * answered) mean reachable; 'timeout' or 'unreachable' mean not.
 */
export async function tcpProbe(from: Host, targetIp: string, port: number, timeoutMs = 3000): Promise<TcpProbeResult> {
  const r = await from.exec([process.execPath, join(FIXTURES, 'tcp-probe.mjs'), targetIp, String(port), String(timeoutMs)], {
    timeoutMs: timeoutMs + 10_000,
  });
  if (r.code !== 0) throw new Error(`tcp-probe on ${from.name} failed: ${showResult(r)}`);
  return r.stdout.trim() as TcpProbeResult;
}

export interface Relay {
  readonly host: Host;
  /** where to connect: the host's address (or 127.0.0.1 on the host itself) and this port */
  readonly ip: string;
  readonly port: number;
  readonly pid: number;
  /** every byte sent towards the target so far (all connections, in order) */
  toTarget(): Buffer;
  /** every byte the target sent back so far */
  fromTarget(): Buffer;
  /** connections accepted so far */
  connections(): number;
  /** SIGTERM, and wait until it is gone (cleanup() does it too) */
  stop(): Promise<void>;
}

let relays = 0;

/**
 * A TCP relay on `host`: listens on `listenPort` (0: a free one) and forwards
 * each connection to targetIp:targetPort, capturing the bytes both ways (a
 * byte is captured before it is forwarded), so a test can check what travels
 * on the wire, e.g. that it holds no plaintext. The target is reached from
 * `host`'s namespace.
 */
export async function relay(host: Host, listenPort: number, targetIp: string, targetPort: number): Promise<Relay> {
  const dir = join(host.dir, `relay-${++relays}-${host.name}`);
  mkdirSync(dir, { recursive: true });
  const child = host.spawn([process.execPath, join(FIXTURES, 'relay.mjs'), String(listenPort), targetIp, String(targetPort), dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [stdout, stderr] = [child.stdout, child.stderr];
  if (stdout === null || stderr === null) throw new Error('relay: no output pipes');
  const out = new OutputWatcher(stdout);
  const err = new OutputWatcher(stderr);
  const line = await out.waitForLine(/^listening \d+$/, child, 10_000, err);
  // a suite that forgets it still exits (and its exit hook ends it)
  child.unref();
  for (const s of [stdout, stderr]) (s as { unref?: () => void }).unref?.();
  const pid = child.pid ?? 0;
  return {
    host,
    ip: host.ip,
    port: Number(line.split(' ')[1]),
    pid,
    toTarget: () => readFileSync(join(dir, 'to-target')),
    fromTarget: () => readFileSync(join(dir, 'from-target')),
    connections: () => out.text.split('\n').filter((l) => l.startsWith('accepted ')).length,
    async stop(): Promise<void> {
      tryKill(pid, 'SIGTERM');
      await ensureGone([pid], 5000);
    },
  };
}

// ------------------------------------------------------------------ the gate

let hostsGateMade: Gate | undefined;

function probeHosts(): string | undefined {
  const uid = process.getuid?.();
  if (uid !== 0) return `not root (uid ${uid ?? 'unknown'}): network namespaces need root`;
  for (const [cmd, path] of [
    ['ip', undefined],
    ['ssh', undefined],
    ['ssh-keygen', undefined],
    ['sshd', SSHD_PATH],
  ] as const) {
    if (which(cmd, path) === undefined) return `no '${cmd}' on PATH`;
  }
  const ns = `tsc-${process.pid}-${randomBytes(3).toString('hex')}-probe`;
  const r = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8', timeout: 10_000 });
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
  if (r.status !== 0) return `cannot make a network namespace: ${r.stderr.trim() || r.error?.message || `exit ${r.status}`}`;
  return undefined;
}

/**
 * The gate of the multi-host suites: root, network namespaces (`ip netns`),
 * sshd, ssh and ssh-keygen. Made (probed) on the first call.
 */
export function hostsGate(): Gate {
  hostsGateMade ??= gate({
    name: 'test hosts (root, network namespaces, sshd, ssh-keygen)',
    install: 'apt-get install -y openssh-server iproute2',
    probe: probeHosts,
  });
  return hostsGateMade;
}
