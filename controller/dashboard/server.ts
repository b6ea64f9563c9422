/**
 * The controller's HTTP server (node:http): the dashboard (a static app from
 * the package's dashboard/ folder, uPlot from node_modules, JSON and
 * Server-Sent Events from the monitor) and /metrics, every request behind the
 * token (auth.ts). A second server may serve /metrics alone, without a token
 * (--metrics), for a scraper on a private network.
 *
 *   GET /                      the app (index.html); /app/<file> its scripts and styles
 *   GET /vendor/uPlot.*        uPlot
 *   GET /events                live snapshots (text/event-stream)
 *   GET /api/snapshot          one snapshot (JSON)
 *   GET /api/engine/<id>       an engine and its recent tasks (JSON)
 *   GET /api/logs?lines=N      the tail of the controller's log (JSON)
 *   GET /metrics               Prometheus text format
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../util/log.js';
import { tailFile } from '../../util/tail.js';
import { TokenCheck } from './auth.js';
import { EventStreams } from './events.js';
import type { Monitor } from './monitor.js';

/** A running HTTP server of the controller. */
export interface DashboardServer {
  /** `http://host:port`, without a path or token */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface DashboardOptions {
  host: string;
  /** 0: a free port */
  port: number;
  monitor: Monitor;
  log: Logger;
  /** the token every request must carry; absent: serve /metrics only, to anyone (the --metrics bind) */
  token?: string;
  /** the controller's log file, for the logs page */
  logPath?: string;
}

/** The app's files (the package's dashboard/ folder; this file is dist/controller/dashboard/server.js). */
const APP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'dashboard');
const UPLOT_DIR = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
const VENDOR = new Set(['uPlot.iife.min.js', 'uPlot.min.css']);
const TYPES: Record<string, string> = { js: 'text/javascript', css: 'text/css', html: 'text/html' };
const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  // the token may be in the address: it never goes to another site
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
};
const FORBIDDEN =
  '403 Forbidden: this dashboard needs its token. Open the address `tscluster dashboard` prints (it carries the token), or send Authorization: Bearer <token>.\n';

interface Ctx {
  o: DashboardOptions;
  auth: TokenCheck | undefined;
  streams: EventStreams;
  files: Map<string, Buffer>;
}

/** Start serving; resolves once listening. */
export async function startDashboard(o: DashboardOptions): Promise<DashboardServer> {
  const streams = new EventStreams(o.monitor);
  const ctx: Ctx = { o, auth: undefined, streams, files: new Map() };
  const server = createServer((req, res) => {
    handle(ctx, req, res).catch((e: unknown) => {
      o.log.warn(`dashboard: ${req.url ?? ''}: ${e instanceof Error ? e.message : String(e)}`);
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.end();
    });
  });
  await listen(server, o.host, o.port);
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  if (o.token !== undefined) ctx.auth = new TokenCheck(o.token, port);
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((done) => {
        streams.close();
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function handle(ctx: Ctx, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://dashboard');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'text/plain', 'only GET\n');
    return;
  }
  if (!ctx.auth) {
    // the metrics-only server
    if (url.pathname === '/metrics') await metrics(ctx, res, {});
    else send(res, 404, 'text/plain', 'only /metrics here\n');
    return;
  }
  const proof = ctx.auth.check(req, url);
  if (proof === 'none') {
    send(res, 403, 'text/plain', FORBIDDEN);
    return;
  }
  await route(ctx, url, res, proof === 'query' ? { 'Set-Cookie': ctx.auth.setCookie() } : {});
}

/** Serve a request that carried the token. */
async function route(ctx: Ctx, url: URL, res: ServerResponse, headers: Record<string, string>): Promise<void> {
  const path = url.pathname;
  const engine = /^\/api\/engine\/(\d{1,9})$/.exec(path);
  const app = /^\/app\/([a-z][a-z0-9-]*\.(js|css))$/.exec(path);
  const vendor = /^\/vendor\/(.+)$/.exec(path)?.[1];
  if (path === '/' || path === '/index.html') await file(ctx, res, join(APP_DIR, 'index.html'), headers);
  else if (path === '/metrics') await metrics(ctx, res, headers);
  else if (path === '/events') {
    if (!ctx.streams.open(res, { ...SECURITY_HEADERS, ...headers })) send(res, 503, 'text/plain', 'too many pages open\n');
  } else if (path === '/api/snapshot') json(res, ctx.o.monitor.snapshot(Number(url.searchParams.get('from') ?? 0) || 0), headers);
  else if (engine) json(res, ctx.o.monitor.engine(Number(engine[1])), headers);
  else if (path === '/api/logs') json(res, logs(ctx, url), headers);
  else if (app) await file(ctx, res, join(APP_DIR, app[1]!), headers);
  else if (vendor !== undefined && VENDOR.has(vendor)) await file(ctx, res, join(UPLOT_DIR, vendor), headers);
  else send(res, 404, 'text/plain', 'not found\n', headers);
}

function logs(ctx: Ctx, url: URL): { path: string | null; text: string } {
  const lines = Math.min(Math.max(Number(url.searchParams.get('lines') ?? 200) || 200, 1), 2000);
  const path = ctx.o.logPath ?? null;
  return { path, text: path === null ? '(the controller does not write to a log file)' : tailFile(path, lines) };
}

async function metrics(ctx: Ctx, res: ServerResponse, headers: Record<string, string>): Promise<void> {
  const m = ctx.o.monitor.metrics;
  send(res, 200, m.contentType, await m.text(), headers);
}

async function file(ctx: Ctx, res: ServerResponse, path: string, headers: Record<string, string>): Promise<void> {
  let body = ctx.files.get(path);
  if (!body) {
    try {
      body = await readFile(path);
    } catch {
      send(res, 404, 'text/plain', 'not found\n', headers);
      return;
    }
    ctx.files.set(path, body);
  }
  send(res, 200, TYPES[path.slice(path.lastIndexOf('.') + 1)] ?? 'application/octet-stream', body, headers);
}

function json(res: ServerResponse, value: unknown, headers: Record<string, string>): void {
  send(res, 200, 'application/json', JSON.stringify(value), headers);
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, ...headers, 'Content-Type': type.includes('charset') ? type : `${type}; charset=utf-8` });
  res.end(body);
}
