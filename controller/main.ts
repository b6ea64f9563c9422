#!/usr/bin/env node
/**
 * The controller process: `node controller/main.js --profile P --cluster-id ID ...`
 * (or `tscluster controller`). Binds, writes the connection files, serves until
 * SIGINT/SIGTERM or a client's shutdown request, then removes its files.
 */
import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { createLogger } from '../util/log.js';
import { isMainModule } from '../util/main-module.js';
import { pidAlive } from '../util/proc.js';
import {
  DEFAULT_PROFILE, SCHEMES, checkName, clusterStatePath, ensureProfile, newKey, readProfileConfig, removeConnectionFiles, runningCluster, writeConnectionFile,
} from '../profiles/index.js';
import type { SchemeName } from '../profiles/index.js';
import { curveKeyPair } from 'zeromq';
import { Controller } from './controller.js';

/** Addresses that do not leave this machine. */
export const LOOPBACK = /^(127\.|localhost$|::1$)/;

export const CONTROLLER_OPTIONS = {
  profile: { type: 'string' },
  'cluster-id': { type: 'string' },
  ip: { type: 'string' },
  scheme: { type: 'string' },
  hwm: { type: 'string' },
  'client-port': { type: 'string' },
  'engine-port': { type: 'string' },
  'heartbeat-ms': { type: 'string' },
  'dead-after-ms': { type: 'string' },
  /** stop the cluster when this process is gone (the launcher of a cluster started from code or a notebook) */
  'owner-pid': { type: 'string' },
  /** CurveZMQ: authenticate the server and encrypt all traffic */
  curve: { type: 'boolean' },
} as const;

function intArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number >= 0, got '${v}'`);
  return n;
}

export async function runController(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: CONTROLLER_OPTIONS, strict: true, allowPositionals: false });
  const profile = values.profile ?? DEFAULT_PROFILE;
  const clusterId = values['cluster-id'] ?? '';
  checkName('profile', profile);
  checkName('cluster id', clusterId);
  const cfg = readProfileConfig(profile);
  const scheme = (values.scheme ?? cfg.scheme ?? 'leastload') as SchemeName;
  if (!SCHEMES.includes(scheme)) throw new Error(`unknown scheme '${scheme}': choose one of ${SCHEMES.join(', ')}`);
  const ip = values.ip ?? cfg.ip ?? '127.0.0.1';
  const log = createLogger(`controller ${profile}${clusterId ? '/' + clusterId : ''}`);
  ensureProfile(profile);
  const other = runningCluster(profile, clusterId);
  if (other && other.info.controller_pid !== process.pid) {
    throw new Error(`a cluster is already running for profile '${profile}'${clusterId ? ` and cluster id '${clusterId}'` : ''} (controller pid ${other.info.controller_pid}, ${other.path})`);
  }
  const key = newKey();
  const curve = values.curve ? curveKeyPair() : undefined;
  if (!curve && !LOOPBACK.test(ip)) {
    log.warn(`listening on ${ip} without --curve: traffic is signed but not encrypted; use --curve on networks you do not trust`);
  }
  const controller = await Controller.start({
    ...(curve ? { curveSecretKey: curve.secretKey } : {}),
    key,
    ip,
    clientPort: intArg('client-port', values['client-port']) ?? 0,
    enginePort: intArg('engine-port', values['engine-port']) ?? 0,
    scheme,
    hwm: intArg('hwm', values.hwm) ?? cfg.hwm ?? 1,
    heartbeatMs: intArg('heartbeat-ms', values['heartbeat-ms']) ?? cfg.heartbeatMs ?? 1000,
    deadAfterMs: intArg('dead-after-ms', values['dead-after-ms']) ?? cfg.deadAfterMs ?? 5000,
    profile,
    clusterId,
    log,
    onShutdown: () => finish(0),
  });
  const common = {
    tscluster: 1 as const,
    profile,
    cluster_id: clusterId,
    transport: 'tcp' as const,
    ip,
    key,
    signature_scheme: 'hmac-sha256' as const,
    curve_serverkey: curve?.publicKey ?? null,
    controller_pid: process.pid,
    created: new Date().toISOString(),
  };
  // the engine file first: a client that sees the client file may start engines at once
  writeConnectionFile({ ...common, kind: 'engine', port: controller.enginePort });
  const clientFile = writeConnectionFile({ ...common, kind: 'client', port: controller.clientPort });
  log.info(`ready on ${hostname()}: client connection file ${clientFile}`);

  let finishing = false;
  function finish(code: number): void {
    if (finishing) return;
    finishing = true;
    removeConnectionFiles(profile, clusterId);
    // the cluster is over, however it ended: its pid record goes too (else `tscluster list` shows it dead)
    rmSync(clusterStatePath(profile, clusterId), { force: true });
    process.exit(code);
  }
  const onSignal = (sig: string): void => {
    log.info(`${sig}: stopping engines and controller`);
    void controller.stop({ engines: true }).then(() => finish(0), () => finish(1));
  };
  const owner = intArg('owner-pid', values['owner-pid']);
  if (owner !== undefined) {
    // the process that started this cluster may die without stopping it (a kernel killed by Jupyter, SIGKILL)
    setInterval(() => {
      if (!pidAlive(owner)) {
        log.info(`the process that started this cluster (pid ${owner}) is gone: stopping`);
        void controller.stop({ engines: true }).then(() => finish(0), () => finish(1));
      }
    }, 1000).unref();
  }
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('uncaughtException', (e) => log.error(`uncaught: ${e.stack ?? String(e)}`));
  process.on('unhandledRejection', (e) => log.error(`unhandled rejection: ${e instanceof Error ? e.stack : String(e)}`));
}

if (isMainModule(import.meta.url)) {
  runController(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`tscluster controller: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
