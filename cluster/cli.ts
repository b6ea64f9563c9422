#!/usr/bin/env node
/** The `tscluster` command line. */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { Client } from '../client/client.js';
import { LOOPBACK, runController, CONTROLLER_OPTIONS } from '../controller/main.js';
import { runEngine, ENGINE_OPTIONS } from '../engine/main.js';
import {
  DEFAULT_PROFILE, SCHEMES, checkName, createProfile, listClusters, listProfiles, profilePaths, readClusterState, rootDir, runningCluster, writeClusterState,
} from '../profiles/index.js';
import type { SchemeName } from '../profiles/index.js';
import { Cluster, stopCluster } from './cluster.js';
import { ENGINE_SCRIPT, spawnPart } from './processes.js';

const HELP: Record<string, string> = {
  main: `tscluster: a parallel computing cluster for TypeScript and JavaScript

Usage: tscluster <command> [options]

Commands:
  start       start a controller and engines on this machine
  stop        stop a running cluster
  list        list the clusters of every profile
  engines     add engines to a running cluster
  controller  run a controller alone, in the foreground
  engine      run one engine alone, in the foreground (e.g. on another machine)
  profile     create, list or locate profiles
  repl        a Node REPL connected to a cluster (rc, dv, lb)
  nbrun       run Jupyter notebooks cell by cell and save them with their outputs

Run 'tscluster <command> --help' for a command's options.
Profiles live in $TSCLUSTER_DIR (default ~/.tscluster; now ${rootDir()}).

Examples:
  tscluster start -n 4
  tscluster start -n 8 --profile big --cluster-id a --daemon
  tscluster list
  tscluster stop --all
  tscluster nbrun notebooks/*.ipynb --out /tmp/executed`,
  start: `Usage: tscluster start [-n N] [options]

Start a controller and N engines. In the foreground by default: Ctrl-C stops
everything. With --daemon it returns once every engine has registered.

Options:
  -n, --n N            number of engines (default: one per core)
  --profile P          profile name (default 'default')
  --cluster-id ID      cluster id, to run several clusters in one profile
  --daemon             return once all engines are registered; stop with 'tscluster stop'
  --scheme S           load-balancing scheme: ${SCHEMES.join(', ')} (default leastload)
  --hwm N              most outstanding tasks per engine, 0 = unlimited (default 1)
  --ip ADDR            address the controller binds (default 127.0.0.1)
  --curve              encrypt all traffic with CurveZMQ (use it whenever --ip leaves this machine)
  -h, --help           this help

Examples:
  tscluster start -n 4
  tscluster start -n 2 --scheme lru --daemon
  tscluster start -n 16 --profile big --cluster-id nightly --hwm 0`,
  stop: `Usage: tscluster stop [--profile P] [--cluster-id ID] [--all]

Stop a cluster: its engines, its controller, and its connection files. A
cluster whose controller died is cleaned up too.

Options:
  --profile P          profile name (default 'default')
  --cluster-id ID      cluster id (default empty)
  --all                every cluster of every profile
  -h, --help           this help

Examples:
  tscluster stop
  tscluster stop --profile big --cluster-id nightly
  tscluster stop --all`,
  list: `Usage: tscluster list [--json]

List every cluster of every profile: profile, cluster id, controller pid,
engines, and whether it is running or dead.

Options:
  --json               machine-readable output
  -h, --help           this help

Example:
  tscluster list --json`,
  engines: `Usage: tscluster engines -n N [--profile P] [--cluster-id ID]

Start N more engines for a running cluster on this machine and wait until they
have registered.

Options:
  -n, --n N            number of engines to add (default 1)
  --profile P          profile name (default 'default')
  --cluster-id ID      cluster id (default empty)
  --no-wait            return without waiting for registration
  -h, --help           this help

Example:
  tscluster engines -n 2`,
  controller: `Usage: tscluster controller [options]

Run a controller alone in the foreground; engines join with 'tscluster engine'.

Options:
  --profile P          profile name (default 'default')
  --cluster-id ID      cluster id (default empty)
  --ip ADDR            address to bind (default 127.0.0.1)
  --scheme S           ${SCHEMES.join(', ')} (default leastload)
  --hwm N              most outstanding tasks per engine, 0 = unlimited (default 1)
  --client-port N      port for clients (default: a free one)
  --engine-port N      port for engines (default: a free one)
  --heartbeat-ms N     heartbeat period (default 1000)
  --dead-after-ms N    declare a silent engine dead after this long (default 5000)
  --curve              encrypt all traffic with CurveZMQ
  -h, --help           this help

Example:
  tscluster controller --ip 0.0.0.0 --engine-port 5555`,
  engine: `Usage: tscluster engine [--file F | --profile P --cluster-id ID] [--timeout S]

Run one engine in the foreground. It reads the engine connection file (copy it
from the controller's machine to run engines elsewhere), waits up to --timeout
seconds for it and for registration, and exits when the controller goes away.

Options:
  --file F             engine connection file (default: the profile's)
  --profile P          profile name (default 'default')
  --cluster-id ID      cluster id (default empty)
  --timeout S          seconds to wait for the file and registration (default 30)
  --max-memory-mb N    heap limit of the engine's execution worker (default: the engine's own)
  -h, --help           this help

Example:
  tscluster engine --file ./tscluster-engine.json`,
  profile: `Usage: tscluster profile create|list|locate [NAME]

  create [NAME]        create a profile with a default config (tscluster.json)
  list                 list the profiles
  locate [NAME]        print a profile's directory

Example:
  tscluster profile create big && tscluster start -n 8 --profile big`,
  repl: `Usage: tscluster repl [--profile P] [--cluster-id ID]

A Node REPL connected to a running cluster, with rc (Client), dv (DirectView of
all engines) and lb (LoadBalancedView) defined; top-level await works.

Example:
  tscluster repl
  > await lb.map((x) => x * 3, [1, 2, 3])
  [ 3, 6, 9 ]`,
  nbrun: `Usage: tscluster nbrun NOTEBOOK... [--url URL --token T] [--out DIR] [--timeout S] [--kernel NAME]

Run notebooks cell by cell through a Jupyter server and save each with its
outputs. Each notebook gets a fresh kernel (the one its metadata.kernelspec
names; the notebooks of this project use tslab), shut down when it is done.
Prints a line per cell. Stops at the first cell that fails (an error, a
timeout, a dead kernel), names the notebook and the cell and prints the error
(name, value, traceback), writes that notebook with the outputs so far, and
exits 1.

Without --url it starts a temporary local server ('jupyter notebook' on
127.0.0.1, a random free port, a random token; its notebook directory is the
notebooks' common directory, so each kernel starts in its notebook's
directory, with node_modules/.bin on PATH) and ends it and every process that
ran under it when done, on error and on Ctrl-C.

Options:
  --url URL            a running Jupyter server, e.g. http://127.0.0.1:8888/ (a
                       ?token= in the URL is used); run nbrun from the server's
                       root directory so kernels start beside their notebooks
  --token T            the server's token (default: from --url, else $JUPYTER_TOKEN)
  --out DIR            write the executed notebooks into DIR (default: in place)
  --timeout S          seconds one cell may run before it is interrupted and
                       the run fails (default 600; 0 = no limit)
  --kernel NAME        run every notebook with this kernel
  -h, --help           this help

Exit codes: 0 every notebook ran, 1 a cell or the run failed, 2 bad usage,
130 interrupted.

Examples:
  tscluster nbrun notebooks/*.ipynb
  tscluster nbrun notebooks/01-quickstart.ipynb --out /tmp/executed --timeout 120
  tscluster nbrun analysis.ipynb --url http://127.0.0.1:8888/ --token "$JUPYTER_TOKEN"
  tscluster nbrun analysis.ipynb --url 'http://127.0.0.1:8888/?token=abc123'`,
};

class UsageError extends Error {}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, cmd: string) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${HELP[cmd]}`);
  }
}

function intOpt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number >= 0, got '${v}'`);
  return n;
}

function flags(profile: string, clusterId: string): string {
  return `${profile === DEFAULT_PROFILE ? '' : ` --profile ${profile}`}${clusterId ? ` --cluster-id ${clusterId}` : ''}`;
}

const COMMON = { profile: { type: 'string' }, 'cluster-id': { type: 'string' } } as const;

async function start(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON, n: { type: 'string', short: 'n' }, daemon: { type: 'boolean' }, scheme: { type: 'string' }, hwm: { type: 'string' }, ip: { type: 'string' }, curve: { type: 'boolean' } }, 'start');
  if (values.help) return help('start');
  const profile = values.profile ?? DEFAULT_PROFILE;
  const clusterId = values['cluster-id'] ?? '';
  const scheme = values.scheme as SchemeName | undefined;
  if (scheme !== undefined && !SCHEMES.includes(scheme)) throw new UsageError(`unknown scheme '${scheme}': choose one of ${SCHEMES.join(', ')}`);
  const n = values.n === undefined ? undefined : intOpt('n', values.n, 0);
  if (values.ip && !LOOPBACK.test(values.ip) && !values.curve) {
    console.error(`warning: --ip ${values.ip} accepts connections from other machines, and without --curve the traffic is not encrypted (messages are signed, but readable on the network). Add --curve unless the network is trusted.`);
  }
  const t0 = Date.now();
  // Ctrl-C is handled from the start: during start-up it aborts it (stopping what was started)
  const interrupted = new AbortController();
  let onSignal = (sig: string): void => interrupted.abort(new Error(`${sig} during start-up: stopped what was started`));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => onSignal(sig));
  let cluster: Cluster;
  try {
    cluster = await Cluster.start({
      signal: interrupted.signal,
      ...(n !== undefined ? { n } : {}),
      profile,
      clusterId,
      ...(scheme ? { scheme } : {}),
      ...(values.hwm !== undefined ? { hwm: intOpt('hwm', values.hwm, 1) } : {}),
      ...(values.ip ? { ip: values.ip } : {}),
      ...(values.curve ? { curve: true } : {}),
      shutdownAtExit: !values.daemon,
      onEngine: (e) => console.log(`engine ${e.id} registered (pid ${e.pid})`),
    });
  } catch (e) {
    if (interrupted.signal.aborted) {
      console.error(`tscluster: ${(e as Error).message}`);
      return 130;
    }
    throw e;
  }
  const rc = await cluster.connect();
  const c = rc.cluster;
  console.log(
    `cluster ready in ${((Date.now() - t0) / 1000).toFixed(2)} s: profile '${profile}'${clusterId ? `, cluster id '${clusterId}'` : ''}, ` +
      `${rc.ids.length} engines, scheme ${c.scheme}, hwm ${c.hwm}, controller pid ${cluster.controllerPid}`,
  );
  const connectArgs = profile === DEFAULT_PROFILE && !clusterId ? '' : `{ ${profile === DEFAULT_PROFILE ? '' : `profile: '${profile}'`}${profile !== DEFAULT_PROFILE && clusterId ? ', ' : ''}${clusterId ? `clusterId: '${clusterId}'` : ''} }`;
  console.log(`connect with:  const rc = await Client.connect(${connectArgs});   // import { Client } from 'tscluster'`);
  console.log(`connection file: ${cluster.connectionFile}`);
  if (values.daemon) {
    await rc.close();
    console.log(`running in the background; stop it with: tscluster stop${flags(profile, clusterId)}`);
    return 0;
  }
  console.log('press Ctrl-C to stop the cluster');
  rc.onEngine((e) => {
    if (e.type === 'unregistered') console.log(`engine ${e.engine.id} (pid ${e.engine.pid}) unregistered${e.reason ? `: ${e.reason}` : ''}`);
    else console.log(`engine ${e.engine.id} registered (pid ${e.engine.pid})`);
  });
  await new Promise<void>((resolve) => {
    let stopping = false;
    onSignal = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      console.log(`\n${sig}: stopping the cluster...`);
      void cluster.stop().then(resolve);
    };
    // the controller may stop on its own (a client's shutdown request)
    const watch = setInterval(() => {
      if (!stopping && runningCluster(profile, clusterId)?.info.controller_pid !== cluster.controllerPid) {
        stopping = true;
        clearInterval(watch);
        console.log('the controller has stopped');
        void cluster.stop().then(resolve);
      }
    }, 500);
    watch.unref();
  });
  console.log('stopped');
  return 0;
}

async function stop(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON, all: { type: 'boolean' } }, 'stop');
  if (values.help) return help('stop');
  const targets = values.all
    ? listClusters().map((c) => ({ profile: c.profile, clusterId: c.clusterId }))
    : [{ profile: values.profile ?? DEFAULT_PROFILE, clusterId: values['cluster-id'] ?? '' }];
  let stopped = 0;
  for (const t of targets) {
    checkName('profile', t.profile);
    const r = await stopCluster(t.profile, t.clusterId);
    const name = `profile '${t.profile}'${t.clusterId ? `, cluster id '${t.clusterId}'` : ''}`;
    if (r) {
      stopped++;
      console.log(`stopped the cluster of ${name} (controller pid ${r.controllerPid ?? 'unknown'})`);
    } else if (!values.all) {
      console.error(`no cluster found for ${name}; 'tscluster list' shows the clusters`);
      return 1;
    }
  }
  if (values.all && stopped === 0) console.log('no clusters to stop');
  return 0;
}

async function list(argv: string[]): Promise<number> {
  const { values } = parse(argv, { json: { type: 'boolean' } }, 'list');
  if (values.help) return help('list');
  const rows = [];
  for (const c of listClusters()) {
    let engines: number | null = null;
    let dropped: Record<string, number> | null = null;
    if (c.running) {
      try {
        const rc = await Client.connect({ profile: c.profile, clusterId: c.clusterId, timeoutMs: 2000 });
        engines = rc.ids.length;
        dropped = (await rc.stats()).dropped;
        await rc.close();
      } catch {
        engines = null;
      }
    }
    rows.push({ profile: c.profile, clusterId: c.clusterId, controllerPid: c.controllerPid, engines, state: c.running ? 'running' : 'dead', dropped });
  }
  if (values.json) {
    console.log(JSON.stringify(rows, null, 2));
    return 0;
  }
  if (rows.length === 0) {
    console.log('no clusters (start one with: tscluster start -n 4)');
    return 0;
  }
  const table = [['PROFILE', 'CLUSTER ID', 'CONTROLLER PID', 'ENGINES', 'STATE'], ...rows.map((r) => [r.profile, r.clusterId || '-', String(r.controllerPid ?? '-'), r.engines === null ? '-' : String(r.engines), r.state])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  for (const r of table) console.log(r.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd());
  if (rows.some((r) => r.state === 'dead')) console.log("\ndead clusters left files behind; 'tscluster stop --all' cleans them");
  return 0;
}

async function engines(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON, n: { type: 'string', short: 'n' }, 'no-wait': { type: 'boolean' } }, 'engines');
  if (values.help) return help('engines');
  const profile = values.profile ?? DEFAULT_PROFILE;
  const clusterId = values['cluster-id'] ?? '';
  const n = intOpt('n', values.n, 1);
  const running = runningCluster(profile, clusterId);
  if (!running) {
    console.error(`no running cluster for profile '${profile}'${clusterId ? `, cluster id '${clusterId}'` : ''}: start one with 'tscluster start${flags(profile, clusterId)}'`);
    return 1;
  }
  const rc = values['no-wait'] ? undefined : await Client.connect({ profile, clusterId });
  const before = rc?.ids.length ?? 0;
  const args = ['--profile', profile, '--cluster-id', clusterId];
  const spawned = Array.from({ length: n }, () => spawnPart(ENGINE_SCRIPT, args, profile, clusterId, 'engines'));
  const state = readClusterState(profile, clusterId);
  if (state) writeClusterState({ ...state, engine_pids: [...state.engine_pids, ...spawned.map((s) => s.pid)] });
  console.log(`started ${n} engine${n === 1 ? '' : 's'} (pids ${spawned.map((s) => s.pid).join(', ')})`);
  if (rc) {
    await rc.waitForEngines(before + n, { timeoutMs: 60000 });
    console.log(`${rc.ids.length} engines registered`);
    await rc.close();
  }
  return 0;
}

async function profile(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {}, 'profile');
  if (values.help || positionals.length === 0) return help('profile');
  const [sub, name = DEFAULT_PROFILE] = positionals;
  switch (sub) {
    case 'create': {
      const r = createProfile(name);
      console.log(r.created ? `created profile '${name}' at ${r.dir}` : `profile '${name}' exists at ${r.dir}`);
      return 0;
    }
    case 'list':
      for (const p of listProfiles()) console.log(p);
      return 0;
    case 'locate':
      console.log(profilePaths(name).dir);
      return 0;
    default:
      throw new UsageError(`unknown profile command '${sub}'\n\n${HELP.profile}`);
  }
}

async function repl(argv: string[]): Promise<number> {
  const { values } = parse(argv, COMMON, 'repl');
  if (values.help) return help('repl');
  const rc = await Client.connect({ profile: values.profile ?? DEFAULT_PROFILE, clusterId: values['cluster-id'] ?? '' });
  const { start: startRepl } = await import('node:repl');
  console.log(`connected: ${rc.ids.length} engines (rc, dv, lb defined; top-level await works; .exit to leave)`);
  const r = startRepl({ prompt: 'tscluster> ', useGlobal: false });
  Object.assign(r.context, { rc, dv: rc.directView(), lb: rc.loadBalancedView() });
  await new Promise<void>((resolve) => r.on('exit', resolve));
  await rc.close();
  return 0;
}

async function nbrunCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { url: { type: 'string' }, token: { type: 'string' }, out: { type: 'string' }, timeout: { type: 'string' }, kernel: { type: 'string' } }, 'nbrun');
  if (values.help) return help('nbrun');
  if (positionals.length === 0) throw new UsageError(`name at least one notebook\n\n${HELP.nbrun}`);
  if (values.token !== undefined && values.url === undefined) throw new UsageError('--token goes with --url (a temporary local server makes its own token)');
  const timeoutS = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutS !== undefined && !(Number.isFinite(timeoutS) && timeoutS >= 0)) throw new UsageError(`--timeout must be a number of seconds >= 0, got '${values.timeout}'`);
  const { nbrun } = await import('./nbrun.js');
  return nbrun(positionals, {
    ...(values.url !== undefined ? { url: values.url } : {}),
    ...(values.token !== undefined ? { token: values.token } : {}),
    ...(values.out !== undefined ? { out: values.out } : {}),
    ...(timeoutS !== undefined ? { timeoutS } : {}),
    ...(values.kernel !== undefined ? { kernel: values.kernel } : {}),
  });
}

function help(cmd: string): number {
  console.log(HELP[cmd]);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      return help('main');
    case '--version':
    case '-v': {
      const { createRequire } = await import('node:module');
      console.log((createRequire(import.meta.url)('../../package.json') as { version: string }).version);
      return 0;
    }
    case 'start':
      return start(rest);
    case 'stop':
      return stop(rest);
    case 'list':
      return list(rest);
    case 'engines':
      return engines(rest);
    case 'profile':
      return profile(rest);
    case 'repl':
      return repl(rest);
    case 'nbrun':
      return nbrunCommand(rest);
    case 'controller': {
      const { values } = parse(rest, CONTROLLER_OPTIONS, 'controller');
      if (values.help) return help('controller');
      await runController(rest);
      return -1;
    }
    case 'engine': {
      const { values } = parse(rest, ENGINE_OPTIONS, 'engine');
      if (values.help) return help('engine');
      await runEngine(rest);
      return -1;
    }
    default:
      throw new UsageError(`unknown command '${cmd}'\n\n${HELP.main}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // -1: a long-running part (controller, engine) keeps the process alive
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`tscluster: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
