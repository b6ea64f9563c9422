#!/usr/bin/env node
/**
 * The supervisor of a local controller: `node controller/supervisor.js <the
 * controller's arguments>`, what the local launcher starts unless
 * `--no-supervise` (launcher/local.ts). It makes the cluster's HMAC key and
 * CurveZMQ key pair once, hands them to each controller it starts on stdin
 * (controller/handover.ts), and starts the controller again when it dies
 * abnormally (a non-zero exit, a signal it was not asked for): on the client
 * and engine ports the first one bound, with the same keys, so engines and
 * clients that keep their sockets reach the new one. Each restarted
 * controller is told its number (`--restart N`) and rewrites the connection
 * files with its own pid.
 *
 * It ends when its controller exits 0 (a client's shutdown request, the
 * owner's death, a signal the controller handled), forwards SIGINT/SIGTERM to
 * it, and gives up after more than MAX_CRASHES crashes within CRASH_WINDOW_MS
 * (the cluster's files removed, its recorded engines stopped, exit 1). A
 * controller whose supervisor is gone (SIGKILL) stops the cluster
 * (controller/main.ts, `--supervisor-pid`).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { curveKeyPair } from 'zeromq';
import { curveOn } from '../config/network.js';
import { parsePartArgs, partOptions } from '../config/part-args.js';
import type { Options } from '../config/part-args.js';
import { CONTROLLER_SCRIPT, nodeCommand } from '../launcher/processes.js';
import { clusterStatePath, newKey, readClusterState, readConnectionFile, removeConnectionFiles } from '../profiles/index.js';
import { createLogger } from '../util/log.js';
import type { Logger } from '../util/log.js';
import { isMainModule } from '../util/main-module.js';
import { handKeys } from './handover.js';
import type { HandedKeys } from './handover.js';

/** Crashes tolerated within CRASH_WINDOW_MS: one more and the supervisor gives up. */
export const MAX_CRASHES = 5;
export const CRASH_WINDOW_MS = 60_000;
/** How often the connection files are read while a started controller has not written them yet. */
const READY_POLL_MS = 20;
/** A restarted controller that died before it was ready (its ports still held, say) is started again after this. */
const UNREADY_DELAY_MS = 250;

/** The supervisor takes the controller's own arguments (controller/main.ts CONTROLLER_OPTIONS, less the ones it adds itself). */
const SUPERVISOR_OPTIONS: Options = partOptions('controller', { 'owner-pid': { type: 'string' } });

interface Started {
  child: ChildProcess;
  pid: number;
  /** it has written the connection files */
  ready: boolean;
}

export class Supervisor {
  readonly #argv: readonly string[];
  readonly #keys: HandedKeys;
  readonly #where: { profile: string; clusterId: string };
  readonly #log: Logger;
  #current: Started | undefined;
  #restarts = 0;
  /** the ports the first controller bound: every later one binds them too */
  #ports: { client: number; engine: number } | undefined;
  #crashes: number[] = [];
  #stopping = false;
  /** the cluster is being ended by this process (no controller runs) */
  #ending = false;
  #pending: NodeJS.Timeout | undefined;

  constructor(o: { argv: readonly string[]; keys: HandedKeys; profile: string; clusterId: string; log: Logger }) {
    this.#argv = o.argv;
    this.#keys = o.keys;
    this.#where = { profile: o.profile, clusterId: o.clusterId };
    this.#log = o.log;
  }

  start(): void {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => this.#stop(sig));
    this.#spawn();
  }

  #spawn(): Started | undefined {
    const restart = this.#restarts;
    const extra = ['--keys-stdin', '--supervisor-pid', String(process.pid)];
    if (restart > 0 && this.#ports) {
      // later flags win: the restarted controller binds what the first one bound
      extra.push('--restart', String(restart), '--client-port', String(this.#ports.client), '--engine-port', String(this.#ports.engine));
    }
    const [node = process.execPath, ...args] = nodeCommand(CONTROLLER_SCRIPT, [...this.#argv, ...extra]);
    // its output goes where this process's goes (the controller's log)
    const child = spawn(node, args, { stdio: ['pipe', 'inherit', 'inherit'] });
    if (child.pid === undefined) {
      child.on('error', () => undefined);
      this.#giveUp(`the controller could not be started (${node})`);
      return undefined;
    }
    const started: Started = { child, pid: child.pid, ready: false };
    this.#current = started;
    handKeys(child.stdin, this.#keys);
    child.on('exit', (code, signal) => this.#exited(started, code, signal));
    void this.#watchReady(started);
    return started;
  }

  /** Read the connection files until they name this controller: then it is ready, and the first one's ports are known. */
  async #watchReady(s: Started): Promise<void> {
    while (!s.ready && s.child.exitCode === null && s.child.signalCode === null) {
      if (this.#checkReady(s)) return;
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
  }

  #checkReady(s: Started): boolean {
    try {
      const client = readConnectionFile('client', this.#where).info;
      if (client.controller_pid !== s.pid) return false;
      const engine = readConnectionFile('engine', this.#where).info;
      this.#ports ??= { client: client.port, engine: engine.port };
      s.ready = true;
    } catch {
      // not written yet (or being replaced)
    }
    return s.ready;
  }

  #exited(s: Started, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#current === s) this.#current = undefined;
    if (!s.ready) this.#checkReady(s);
    const how = signal !== null ? `signal ${signal}` : `exit code ${code ?? '?'}`;
    if (code === 0 || this.#stopping) {
      // it stopped the cluster (or was told to): so does this process
      if (code !== 0) this.#log.warn(`the controller (pid ${s.pid}) ended with ${how} while stopping`);
      process.exit(code ?? 1);
    }
    if (!s.ready && this.#restarts === 0) {
      // the first controller failed to start (a taken port, a bad setting): reported by the start, not retried
      this.#log.error(`the controller (pid ${s.pid}) ended during start-up (${how}): not restarted`);
      process.exit(code ?? 1);
    }
    const now = Date.now();
    this.#crashes = [...this.#crashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
    if (this.#crashes.length > MAX_CRASHES) {
      this.#giveUp(
        `the controller (pid ${s.pid}) ended with ${how}, its ${this.#crashes.length}th crash within ${CRASH_WINDOW_MS / 1000} s (at most ${MAX_CRASHES} are restarted)`,
      );
      return;
    }
    const restart = (): void => {
      this.#pending = undefined;
      this.#restarts += 1;
      const next = this.#spawn();
      if (next) this.#log.warn(`restarted the controller (pid ${s.pid} -> ${next.pid}, ${how}, restart ${this.#restarts})`);
    };
    if (s.ready) restart();
    else this.#pending = setTimeout(restart, UNREADY_DELAY_MS);
  }

  #stop(sig: NodeJS.Signals): void {
    this.#stopping = true;
    if (this.#current) {
      this.#log.info(`${sig}: stopping the controller (pid ${this.#current.pid})`);
      this.#current.child.kill(sig);
      return;
    }
    // between a crash and the restart: no controller to stop the engines, so this process does
    clearTimeout(this.#pending);
    this.#log.info(`${sig}: no controller runs; ending the cluster`);
    this.#end(0);
  }

  #giveUp(why: string): void {
    this.#log.error(`${why}: giving up; the cluster is stopped`);
    this.#end(1);
  }

  /** End the cluster as its controller would have, then exit with `code`. */
  #end(code: number): void {
    if (this.#ending) return;
    this.#ending = true;
    this.#stopping = true;
    void this.#endCluster()
      .catch((e: unknown) => this.#log.error(`ending the cluster: ${String(e)}`))
      .then(() => process.exit(code));
  }

  /** What a stopping controller leaves: no connection files, no state; the engines it recorded ended. */
  async #endCluster(): Promise<void> {
    const { profile, clusterId } = this.#where;
    const state = readClusterState(profile, clusterId);
    if (typeof state === 'object') {
      const { launcherOf } = await import('../launcher/index.js');
      await Promise.all(
        state.engines.map((rec) =>
          launcherOf(rec)
            .stop(rec, 0)
            .catch(() => undefined),
        ),
      );
    }
    removeConnectionFiles(profile, clusterId);
    rmSync(clusterStatePath(profile, clusterId), { force: true });
  }
}

export function runSupervisor(argv: string[]): void {
  const { profile, clusterId, settings: s } = parsePartArgs(argv, 'controller', SUPERVISOR_OPTIONS);
  const log = createLogger(`supervisor ${profile}${clusterId ? '/' + clusterId : ''}`);
  const curve = curveOn(s) ? curveKeyPair() : null;
  const keys: HandedKeys = { key: newKey(), curve: curve ? { publicKey: curve.publicKey, secretKey: curve.secretKey } : null };
  process.on('uncaughtException', (e) => log.error(`uncaught: ${e.stack ?? String(e)}`));
  process.on('unhandledRejection', (e) => log.error(`unhandled rejection: ${e instanceof Error ? e.stack : String(e)}`));
  log.info(`supervising the controller (pid ${process.pid})`);
  new Supervisor({ argv, keys, profile, clusterId, log }).start();
}

if (isMainModule(import.meta.url)) {
  try {
    runSupervisor(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`tscluster supervisor: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
