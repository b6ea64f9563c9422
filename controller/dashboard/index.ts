/**
 * The controller's HTTP side, started by controller/main.ts (and loaded only
 * when it serves one): a monitor attached to the hub, the dashboard behind a
 * fresh token (--dashboard), and /metrics without one (--metrics).
 */
import { existsSync, readlinkSync, statSync } from 'node:fs';
import { parseListen } from '../../config/settings.js';
import { logPath } from '../../profiles/index.js';
import type { Logger } from '../../util/log.js';
import { externalAddress, isLoopback, isWildcard } from '../../util/net.js';
import type { Controller } from '../controller.js';
import { newToken } from './auth.js';
import { Monitor } from './monitor.js';
import { startDashboard } from './server.js';
import type { DashboardServer } from './server.js';

export type { DashboardServer } from './server.js';
export { Monitor } from './monitor.js';

export interface HttpOptions {
  controller: Controller;
  /** the settings: `on`, `off` or `[ADDR:]PORT`; `[ADDR:]PORT` or none */
  dashboard: string;
  metrics: string | undefined;
  profile: string;
  clusterId: string;
  log: Logger;
}

export interface HttpServers {
  /** what goes into the client connection file, when the dashboard is served */
  dashboard: { url: string; token: string } | undefined;
  servers: DashboardServer[];
}

/** Attach a monitor to the controller and serve what the settings ask for. */
export async function serveHttp(o: HttpOptions): Promise<HttpServers> {
  const monitor = new Monitor(o.controller.hubView());
  o.controller.observer = monitor;
  const out: HttpServers = { dashboard: undefined, servers: [] };
  if (o.dashboard !== 'off') {
    const at = o.dashboard === 'on' ? { host: '127.0.0.1', port: 0 } : parseListen(o.dashboard)!;
    const token = newToken();
    const logFile = controllerLog(o.profile, o.clusterId);
    const server = await startDashboard({ ...at, monitor, log: o.log, token, ...(logFile ? { logPath: logFile } : {}) });
    out.servers.push(server);
    out.dashboard = { url: reachableUrl(at.host, server.port), token };
    if (!isLoopback(at.host)) {
      o.log.warn(
        `the dashboard listens on ${at.host}: other machines can reach it. Every request needs its token, but plain HTTP is not encrypted: on networks you do not trust, bind it to 127.0.0.1 and tunnel (ssh -L)`,
      );
    }
    o.log.info(`dashboard: ${out.dashboard.url}/ (its token is in the client connection file; \`tscluster dashboard\` prints the link)`);
  }
  if (o.metrics !== undefined) {
    const at = parseListen(o.metrics)!;
    const server = await startDashboard({ ...at, monitor, log: o.log });
    out.servers.push(server);
    if (!isLoopback(at.host)) o.log.warn(`/metrics is served on ${at.host} without a token: anyone who reaches it can read the cluster's counters`);
    o.log.info(`metrics (no token): ${reachableUrl(at.host, server.port)}/metrics`);
  }
  return out;
}

/** The address others open: the bound one, or this host's address on the network when bound to every interface. */
function reachableUrl(host: string, port: number): string {
  const h = isWildcard(host) ? (externalAddress() ?? '127.0.0.1') : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/** The file this controller logs to: where its stderr goes (the launchers send it to the profile's log), else the profile's log. */
function controllerLog(profile: string, clusterId: string): string | undefined {
  try {
    const target = readlinkSync('/proc/self/fd/2');
    if (target.startsWith('/') && statSync(target).isFile()) return target;
  } catch {
    // no /proc, or stderr is not a file
  }
  const path = logPath(profile, clusterId, 'controller');
  return existsSync(path) ? path : undefined;
}
