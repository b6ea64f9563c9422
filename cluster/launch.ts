/**
 * Starting the parts of a cluster through the launchers the settings name,
 * and waiting for them: the controller's connection files (brought here when
 * it runs elsewhere), then engines registered. Shared by Cluster.start,
 * cluster.addEngines and `tscluster engines`.
 */
import { readFileSync } from 'node:fs';
import type { Client } from '../client/client.js';
import { toFlags } from '../config/resolve.js';
import type { Scope, Settings } from '../config/settings.js';
import { describeLive, launcherNamed, launcherOf, parseHosts } from '../launcher/index.js';
import type { LaunchStatus } from '../launcher/index.js';
import { ConnectionInfoSchema, connectionFilePath, readConnectionFile, writeConnectionFile } from '../profiles/index.js';
import type { ConnectionInfo, LaunchRecord } from '../profiles/index.js';
import { isLoopback } from '../util/net.js';
import { procStat } from '../util/proc.js';
import { sleep } from '../util/sleep.js';

export interface Where {
  profile: string;
  clusterId: string;
}

/** A problem with part of a start that did not fail it (a host that could not be reached, with --min-engines). */
export interface StartProblem {
  what: string;
  detail: string;
}

/** How long engines (and a controller job) may take to register: --start-timeout, else 60 s (300 s for Slurm jobs, which may queue). */
export function startTimeoutMs(s: Settings): number {
  return (s.startTimeoutS ?? (s.engines === 'slurm' || s.controller === 'slurm' ? 300 : 60)) * 1000;
}

/** Start the controller through its launcher. */
export function launchController(w: Where, s: Settings, from: Scope, extra: string[]): Promise<LaunchRecord> {
  return launcherNamed(s.controller).start({
    ...w,
    part: 'controller',
    args: ['--profile', w.profile, '--cluster-id', w.clusterId, ...toFlags(s, from, 'controller'), ...extra],
    n: 1,
    settings: s,
  });
}

/**
 * Wait until the controller has written its connection files (brought here
 * from the host it runs on), failing early with its log when it exits.
 * Returns the client connection info.
 */
export async function waitForController(w: Where, rec: LaunchRecord, localPid: number | undefined, timeoutMs: number): Promise<ConnectionInfo> {
  const launcher = launcherOf(rec);
  if (launcher.fetchConnectionFiles) {
    const texts = await launcher.fetchConnectionFiles(rec, w.clusterId, timeoutMs);
    for (const [kind, text] of Object.entries(texts)) {
      const info = ConnectionInfoSchema.safeParse(JSON.parse(text) as unknown);
      if (!info.success) throw new Error(`the controller's ${kind} connection file is not valid: ${info.error.message}`);
      writeConnectionFile({ ...info.data, profile: w.profile });
    }
    return readConnectionFile('client', w).info;
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const info = readConnectionFile('client', w).info;
      // a local controller: its own file (by pid; a supervised one's pid is a child of the recorded supervisor's);
      // elsewhere: the stale files were removed before the start
      if (localPid === undefined || info.controller_pid === localPid || procStat(info.controller_pid)?.ppid === localPid) return info;
    } catch {
      // not written yet
    }
    const st = await launcher.poll(rec);
    const which = localPid !== undefined ? `pid ${localPid}` : launcher.describe(rec);
    if (st.running === 0) throw new Error(`the controller (${which}) exited during start-up. ${st.ended[0]?.detail ?? ''}`);
    if (Date.now() > deadline) {
      throw new Error(
        `the controller (${await describeLive(rec, true)}) wrote no connection file (${connectionFilePath(w.profile, w.clusterId, 'client')}) within ${timeoutMs} ms. ${st.ended[0]?.detail ?? ''}`,
      );
    }
    await sleep(localPid === undefined ? 250 : 5);
  }
}

/**
 * Start `n` engines through the launcher the settings name. Local engines may
 * start before the controller has written its files (they wait for them);
 * the others are given the engine connection file.
 */
export function launchEngines(w: Where, s: Settings, from: Scope, n: number): Promise<LaunchRecord> {
  const flags = toFlags(s, from, 'engine');
  if (s.engines === 'local') {
    return launcherNamed('local').start({
      ...w,
      part: 'engines',
      args: ['--profile', w.profile, '--cluster-id', w.clusterId, ...flags],
      n,
      settings: s,
    });
  }
  const path = connectionFilePath(w.profile, w.clusterId, 'engine');
  const text = readFileSync(path, 'utf8');
  const info = ConnectionInfoSchema.parse(JSON.parse(text) as unknown);
  if (s.engines === 'ssh' && isLoopback(info.ip) && !parseHosts(s.hosts ?? '', n).every((h) => isLoopbackHost(h.host))) {
    throw new Error(
      `engines on other hosts cannot reach a controller that listens on ${info.ip}: start the cluster with --ip 0.0.0.0 (or this host's address on their network), and --location if they reach it by another name`,
    );
  }
  return launcherNamed(s.engines).start({ ...w, part: 'engines', args: flags, n, settings: s, engineFile: { path, text } });
}

function isLoopbackHost(h: string): boolean {
  const host = h.replace(/^.*@/, '');
  return host === 'localhost' || isLoopback(host);
}

/** Engines a record launched (asked for). */
export function enginesOf(rec: LaunchRecord): number {
  switch (rec.launcher) {
    case 'local':
      return rec.processes.length;
    case 'ssh':
      return rec.hosts.reduce((a, h) => a + h.n, 0);
    case 'mpi':
      return rec.n;
    case 'slurm':
      return rec.jobs.reduce((a, j) => a + j.n, 0);
  }
}

export interface WaitOptions {
  /** engines registered before these were started */
  before: number;
  /** the start fails when fewer than this many register (default: all) */
  min?: number;
  timeoutMs: number;
  onEngine?: (e: { id: number; pid: number }) => void;
}

/**
 * Wait until every engine the records launched has registered, or those
 * that can still come cannot make `min`. Resolves with the problems of the
 * parts that did not come (hosts that could not be reached, engines that
 * exited) when at least `min` registered.
 */
export async function waitForEngines(rc: Client, recs: LaunchRecord[], o: WaitOptions): Promise<StartProblem[]> {
  const asked = recs.reduce((a, r) => a + enginesOf(r), 0);
  const min = Math.min(o.min ?? asked, asked);
  let wake = (): void => undefined;
  const off = rc.onEngine((e) => {
    if (e.type === 'registered') o.onEngine?.({ id: e.engine.id, pid: e.engine.pid });
    wake();
  });
  // at the start of a cluster, engines may have registered before this client connected
  if (o.before === 0) for (const e of rc.engines) o.onEngine?.({ id: e.id, pid: e.pid });
  const deadline = Date.now() + o.timeoutMs;
  try {
    for (;;) {
      const statuses: LaunchStatus[] = await Promise.all(recs.map((r) => launcherOf(r).poll(r)));
      const ended = statuses.flatMap((st) => st.ended);
      const lost = ended.reduce((a, e) => a + e.count, 0);
      const problems = ended.map((e) => ({ what: `engines ${e.what}`, detail: e.detail }));
      const registered = rc.ids.length - o.before;
      if (registered >= asked - lost && registered >= min) {
        // and their data endpoints, so the first large push goes straight to its engine
        await rc.waitForEngines(rc.ids.length, { timeoutMs: Math.max(1, deadline - Date.now()) }).catch(() => undefined);
        return problems;
      }
      if (asked - lost < min) {
        throw new Error(
          `${lost} of ${asked} engine${asked === 1 ? '' : 's'} could not start (${min} needed${o.min === undefined ? '; --min-engines lowers that' : ''}):\n` +
            problems.map((p) => `- ${p.what}: ${p.detail}`).join('\n'),
        );
      }
      if (Date.now() > deadline) {
        if (registered >= min)
          return [...problems, { what: `${asked - lost - registered} engine(s)`, detail: `not registered within ${o.timeoutMs} ms` }];
        const where = (await Promise.all(recs.map((r) => describeLive(r, true)))).join('; ');
        throw new Error(
          `${registered} of ${asked} engines registered within ${o.timeoutMs} ms (${min} needed; --start-timeout gives more time). Started: ${where}` +
            (problems.length ? `\n${problems.map((p) => `- ${p.what}: ${p.detail}`).join('\n')}` : ''),
        );
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  } finally {
    off();
  }
}
