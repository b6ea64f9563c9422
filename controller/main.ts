#!/usr/bin/env node
/**
 * The controller process: `node controller/main.js --profile P --cluster-id ID ...`
 * (or `tscluster controller`). Binds, writes the connection files, serves until
 * SIGINT/SIGTERM or a client's shutdown request, then removes its files.
 */
import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { curveKeyPair } from 'zeromq';
import { advertisedAddress, curveOn } from '../config/network.js';
import { parsePartArgs, partOptions } from '../config/part-args.js';
import type { Options } from '../config/part-args.js';
import { clusterStatePath, ensureProfile, storePath, newKey, removeConnectionFiles, runningCluster, writeConnectionFile } from '../profiles/index.js';
import { createLogger } from '../util/log.js';
import type { Logger } from '../util/log.js';
import { isMainModule } from '../util/main-module.js';
import { isLoopback } from '../util/net.js';
import { identify, pidAlive, procStat } from '../util/proc.js';
import { toFlags } from '../config/resolve.js';
import { Adapter, parseAdapt, slurmEngineJobs } from './adapt.js';
import { Controller } from './controller.js';
import { readHandedKeys } from './handover.js';
import { MemoryTaskStore } from './store/memory.js';
import { openSqliteStore } from './store/sqlite.js';
import type { TaskStore } from './store/store.js';
import type { Settings } from '../config/settings.js';

/** The controller's command-line options: its settings, plus where it belongs and who owns it. */
export const CONTROLLER_OPTIONS: Options = partOptions('controller', {
  /** stop the cluster when this process is gone (the launcher of a cluster started from code or a notebook) */
  'owner-pid': { type: 'string' },
  /** set by the supervisor (controller/supervisor.ts): take the cluster's keys from stdin instead of making them */
  'keys-stdin': { type: 'boolean' },
  /** set by the supervisor: the pid it runs as (this controller stops when it is gone), and which restart this is */
  'supervisor-pid': { type: 'string' },
  restart: { type: 'string' },
});

/** Engine jobs come and go with the work (--adapt MIN:MAX); their engines take the engine settings given here (--lifetime). */
function startAdapter(controller: Controller, s: Settings, profile: string, clusterId: string, log: Logger): void {
  const { min, max } = parseAdapt(s.adapt!);
  const adapter = new Adapter({
    min,
    max,
    idleMs: s.adaptIdleS * 1000,
    perJob: s.enginesPerJob ?? 1,
    startTimeoutMs: (s.startTimeoutS ?? 300) * 1000,
    hub: controller.adaptHub(),
    jobs: slurmEngineJobs({ profile, clusterId }, s, toFlags(s, 'controller', 'engine')),
    log,
  });
  controller.adapter = adapter;
  adapter.start();
}

export async function runController(argv: string[]): Promise<void> {
  const { values, profile, clusterId, settings: s } = parsePartArgs(argv, 'controller', CONTROLLER_OPTIONS);
  const log = createLogger(`controller ${profile}${clusterId ? '/' + clusterId : ''}`);
  ensureProfile(profile);
  const restart = typeof values.restart === 'string' ? Number(values.restart) : 0;
  if (!Number.isInteger(restart) || restart < 0) throw new Error(`--restart takes a whole number >= 0, got '${String(values.restart)}'`);
  if (restart > 0) log.info(`restart ${restart} of the controller (pid ${process.pid})`);
  const other = runningCluster(profile, clusterId);
  // a restarted controller takes over the files of its cluster, which name the controller before it
  if (restart === 0 && other && other.info.controller_pid !== process.pid) {
    throw new Error(
      `a cluster is already running for profile '${profile}'${clusterId ? ` and cluster id '${clusterId}'` : ''} (controller pid ${other.info.controller_pid}, ${other.path})`,
    );
  }
  const handed = values['keys-stdin'] === true ? await readHandedKeys(process.stdin) : undefined;
  const key = handed?.key ?? newKey();
  const curve = handed ? (handed.curve ?? undefined) : curveOn(s) ? curveKeyPair() : undefined;
  if (!curve && !isLoopback(s.ip)) {
    log.warn(`listening on ${s.ip} without CurveZMQ (--no-curve): traffic is signed but not encrypted; drop --no-curve on networks you do not trust`);
  }
  const finish = (code: number): never => {
    removeConnectionFiles(profile, clusterId);
    // the cluster is over, however it ended: its state goes too (else `tscluster list` shows it dead)
    rmSync(clusterStatePath(profile, clusterId), { force: true });
    process.exit(code);
  };
  const controller = await Controller.start({
    ...(curve ? { curveSecretKey: curve.secretKey } : {}),
    ...pick(s, ['ip', 'clientPort', 'enginePort', 'scheme', 'hwm', 'prefetch', 'heartbeatMs', 'deadAfterMs']),
    key,
    profile,
    clusterId,
    log,
    store: openStore(profile, clusterId, s),
    shared: { maxBytes: s.sharedMaxBytes, objectMaxBytes: s.sharedObjectMaxBytes },
    onShutdown: () => finish(0),
    restart,
  });
  // the dashboard and /metrics (its module, and prom-client, load only when served)
  const http =
    s.dashboard !== 'off' || s.metrics !== undefined
      ? await (await import('./dashboard/index.js')).serveHttp({ controller, dashboard: s.dashboard, metrics: s.metrics, profile, clusterId, log })
      : undefined;
  const ip = advertisedAddress(s);
  const supervisor = typeof values['supervisor-pid'] === 'string' ? Number(values['supervisor-pid']) : undefined;
  writeFiles({ profile, clusterId, ip, key, curveServerKey: curve?.publicKey ?? null, controller, log, dashboard: http?.dashboard, supervisor });
  if (s.adapt !== undefined) startAdapter(controller, s, profile, clusterId, log);
  const pidOf = (v: unknown): number | undefined => (typeof v === 'string' ? Number(v) : undefined);
  stopOn(controller, pidOf(values['owner-pid']), pidOf(values['supervisor-pid']), log, finish);
}

/** The task store the settings name: the profile's SQLite file (durable), or memory (`--store none`). */
function openStore(profile: string, clusterId: string, s: Settings): TaskStore {
  if (s.store === 'none') return new MemoryTaskStore({ maxRecords: s.maxRecords ?? 1024, maxBytes: s.maxRecordBytes });
  return openSqliteStore(storePath(profile, clusterId), {
    ...(s.maxRecords !== undefined ? { maxRecords: s.maxRecords } : {}),
    maxBytes: s.maxRecordBytes,
    resultMaxBytes: s.storeResultMaxBytes,
    requestMaxBytes: s.storeRequestMaxBytes,
  });
}

function pick<T, K extends keyof T>(o: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) out[k] = o[k];
  return out;
}

/** The connection files: the engine file first, since a client that sees the client file may start engines at once. */
function writeFiles(o: {
  profile: string;
  clusterId: string;
  ip: string;
  key: string;
  curveServerKey: string | null;
  controller: Controller;
  log: Logger;
  /** the dashboard's address and token: for clients only */
  dashboard: { url: string; token: string } | undefined;
  /** the supervisor's pid: clients and engines wait for a controller it restarts */
  supervisor: number | undefined;
}): void {
  const common = {
    tscluster: 1 as const,
    profile: o.profile,
    cluster_id: o.clusterId,
    transport: 'tcp' as const,
    ip: o.ip,
    key: o.key,
    signature_scheme: 'hmac-sha256' as const,
    curve_serverkey: o.curveServerKey,
    controller_pid: process.pid,
    controller_start: identify(process.pid).start,
    ...(o.supervisor !== undefined ? { supervisor_pid: o.supervisor, supervisor_start: identify(o.supervisor).start } : {}),
    created: new Date().toISOString(),
  };
  writeConnectionFile({ ...common, kind: 'engine', port: o.controller.enginePort });
  const clientFile = writeConnectionFile({
    ...common,
    kind: 'client',
    port: o.controller.clientPort,
    ...(o.dashboard ? { dashboard: o.dashboard } : {}),
  });
  o.log.info(`ready on ${hostname()}: client connection file ${clientFile}`);
}

/**
 * Stop engines and controller on SIGINT/SIGTERM, or when the process that
 * started the cluster is gone, or the supervisor that started this controller.
 */
function stopOn(
  controller: Controller,
  owner: number | undefined,
  supervisor: number | undefined,
  log: Logger,
  finish: (code: number) => never,
): void {
  let stopping = false;
  const stopAll = (): void => {
    if (stopping) return;
    stopping = true;
    void controller.stop({ engines: true }).then(
      () => finish(0),
      () => finish(1),
    );
  };
  if (owner !== undefined) {
    // the process that started this cluster may die without stopping it (a kernel killed by Jupyter, SIGKILL)
    setInterval(() => {
      if (pidAlive(owner)) return;
      log.info(`the process that started this cluster (pid ${owner}) is gone: stopping`);
      stopAll();
    }, 1000).unref();
  }
  if (supervisor !== undefined) {
    // a supervisor killed outright (SIGKILL) restarts nothing and is what `tscluster stop` ends: the cluster stops with it
    setInterval(() => {
      if (pidAlive(supervisor) && (procStat(process.pid)?.ppid ?? supervisor) === supervisor) return;
      log.info(`the supervisor of this controller (pid ${supervisor}) is gone: stopping`);
      stopAll();
    }, 1000).unref();
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      log.info(`${sig}: stopping engines and controller`);
      stopAll();
    });
  }
  process.on('uncaughtException', (e) => log.error(`uncaught: ${e.stack ?? String(e)}`));
  process.on('unhandledRejection', (e) => log.error(`unhandled rejection: ${e instanceof Error ? e.stack : String(e)}`));
}

if (isMainModule(import.meta.url)) {
  runController(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`tscluster controller: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
