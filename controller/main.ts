#!/usr/bin/env node
/**
 * The controller process: `node controller/main.js --profile P --cluster-id ID ...`
 * (or `tscluster controller`). Binds, writes the connection files, serves until
 * SIGINT/SIGTERM or a client's shutdown request, then removes its files.
 */
import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { curveKeyPair } from 'zeromq';
import { argOptions, resolveSettings } from '../config/resolve.js';
import {
  DEFAULT_PROFILE, checkName, clusterStatePath, ensureProfile, newKey, readProfileConfig, removeConnectionFiles, runningCluster, writeConnectionFile,
} from '../profiles/index.js';
import { createLogger } from '../util/log.js';
import { isMainModule } from '../util/main-module.js';
import { isLoopback } from '../util/net.js';
import { pidAlive } from '../util/proc.js';
import { Controller } from './controller.js';

/** The controller's command-line options: its settings, plus where it belongs and who owns it. */
export const CONTROLLER_OPTIONS = {
  profile: { type: 'string' },
  'cluster-id': { type: 'string' },
  /** stop the cluster when this process is gone (the launcher of a cluster started from code or a notebook) */
  'owner-pid': { type: 'string' },
  ...argOptions('controller'),
} as const;

export async function runController(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: CONTROLLER_OPTIONS, strict: true, allowPositionals: false });
  const profile = String(values.profile ?? DEFAULT_PROFILE);
  const clusterId = String(values['cluster-id'] ?? '');
  checkName('profile', profile);
  checkName('cluster id', clusterId);
  const s = resolveSettings('controller', { flags: values, profile: readProfileConfig(profile) });
  const log = createLogger(`controller ${profile}${clusterId ? '/' + clusterId : ''}`);
  ensureProfile(profile);
  const other = runningCluster(profile, clusterId);
  if (other && other.info.controller_pid !== process.pid) {
    throw new Error(`a cluster is already running for profile '${profile}'${clusterId ? ` and cluster id '${clusterId}'` : ''} (controller pid ${other.info.controller_pid}, ${other.path})`);
  }
  const key = newKey();
  const curve = s.curve ? curveKeyPair() : undefined;
  if (!curve && !isLoopback(s.ip)) {
    log.warn(`listening on ${s.ip} without --curve: traffic is signed but not encrypted; use --curve on networks you do not trust`);
  }
  const controller = await Controller.start({
    ...(curve ? { curveSecretKey: curve.secretKey } : {}),
    key,
    ip: s.ip,
    clientPort: s.clientPort,
    enginePort: s.enginePort,
    scheme: s.scheme,
    hwm: s.hwm,
    heartbeatMs: s.heartbeatMs,
    deadAfterMs: s.deadAfterMs,
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
    ip: s.ip,
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
  const stopAll = (): void => void controller.stop({ engines: true }).then(() => finish(0), () => finish(1));
  const owner = values['owner-pid'] === undefined ? undefined : Number(values['owner-pid']);
  if (owner !== undefined) {
    // the process that started this cluster may die without stopping it (a kernel killed by Jupyter, SIGKILL)
    setInterval(() => {
      if (pidAlive(owner)) return;
      log.info(`the process that started this cluster (pid ${owner}) is gone: stopping`);
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
