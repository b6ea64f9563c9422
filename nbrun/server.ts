/**
 * The temporary local Jupyter server of `tscluster nbrun` without --url:
 * `jupyter notebook` on 127.0.0.1, a random free port and a random token,
 * ended, with every process under it, when done, on error and on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { tailFile } from '../util/tail.js';
import { freePort } from '../util/net.js';
import { descendants, sameProcess, signalPid, waitUntilGone } from '../util/proc.js';
import type { ProcessIdentity } from '../util/proc.js';
import { sleep } from '../util/sleep.js';
import { Interrupted } from './interrupt.js';

/** The install hint when `jupyter` is missing. */
export const JUPYTER_INSTALL_HINT = 'install it with `apt-get install -y jupyter-notebook` (Debian/Ubuntu) or `pip install notebook`';

export interface LocalServer {
  url: string;
  token: string;
  child: ChildProcess;
  pid: number;
  log: string;
  dir: string;
}

/** Servers this process started; ended at exit whatever happens. */
const servers = new Set<LocalServer>();
let exitHook = false;

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    // last resort (an uncaught error, process.exit): the server shuts its kernels down on SIGTERM
    for (const s of servers) {
      signalPid(s.pid, 'SIGTERM');
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
}

/** SIGTERM every server this process started, at once (a second Ctrl-C). */
export function terminateServers(): void {
  for (const s of servers) signalPid(s.pid, 'SIGTERM');
}

/** An executable on PATH, or undefined. */
function which(cmd: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `node_modules/.bin` of each directory from `dir` up, so a kernel installed by `npm i tslab` (kernel command `tslab`) starts. */
function binDirs(dir: string): string[] {
  const out: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    const bin = join(d, 'node_modules', '.bin');
    if (existsSync(bin)) out.push(bin);
    if (dirname(d) === d) return out;
  }
}

/** The environment of a server for these notebooks: PATH first has the `node_modules/.bin` above them and above the current directory. */
export function serverEnv(files: string[]): NodeJS.ProcessEnv {
  const path = [...new Set([...files.flatMap((f) => binDirs(dirname(f))), ...binDirs(process.cwd())])].join(delimiter);
  return { ...process.env, PATH: [path, process.env.PATH ?? ''].filter(Boolean).join(delimiter) };
}

/** Resolves true when the child has exited, false when `ms` passed first. */
function waitChild(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((res) => {
    const t = setTimeout(() => res(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      res(true);
    });
  });
}

/**
 * The same process still runs: same pid and start time, not exited. Not by
 * command line, which may change (exec) after the process was noted.
 */
const stillThere = (p: ProcessIdentity): boolean => sameProcess({ ...p, cmd: null });

/** Spawn `jupyter notebook` serving `root` on `port`, its output in a log file in a fresh temporary directory. */
function spawnServer(jupyter: string, root: string, port: number, env: NodeJS.ProcessEnv): LocalServer {
  const dir = mkdtempSync(join(tmpdir(), 'tscluster-nbrun-'));
  const token = randomBytes(24).toString('hex');
  // the token travels in a 0600 file, not on the command line where any local user could read it
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const logPath = join(dir, 'server.log');
  const args = [
    'notebook',
    '--no-browser',
    '--ip=127.0.0.1',
    `--port=${port}`,
    '--port-retries=0',
    '--NotebookApp.password=',
    '--NotebookApp.base_url=/',
    `--notebook-dir=${root}`,
  ];
  if (process.getuid?.() === 0) args.push('--allow-root');
  const fd = openSync(logPath, 'a', 0o600);
  let child: ChildProcess;
  try {
    const serverEnv: NodeJS.ProcessEnv = { ...env, JUPYTER_TOKEN_FILE: tokenFile };
    delete serverEnv.JUPYTER_TOKEN;
    // its own process group: a Ctrl-C in the terminal reaches nbrun, which ends the server in order
    child = spawn(jupyter, args, { cwd: root, env: serverEnv, detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not start ${jupyter}`);
  }
  child.on('error', () => undefined);
  return { url: `http://127.0.0.1:${port}/`, token, child, pid, log: logPath, dir };
}

/**
 * Wait until the server answers: 'ready', or 'port taken' when it exited
 * because another process bound its port first (and `retry` allows another
 * port); throws when it exited otherwise, did not answer in time, or on Ctrl-C.
 */
async function waitReady(server: LocalServer, retry: boolean, signal: AbortSignal, timeoutMs: number): Promise<'ready' | 'port taken'> {
  const { child, token } = server;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal.aborted) throw new Interrupted();
    if (child.exitCode !== null || child.signalCode !== null) {
      const logText = tailFile(server.log, 25);
      if (retry && /already in use|Address already in use/i.test(logText)) return 'port taken';
      throw new Error(`the Jupyter server exited during start-up (${child.exitCode ?? child.signalCode}). Its log:\n${logText}`);
    }
    try {
      const r = await fetch(`${server.url}api/status`, { headers: { Authorization: `token ${token}` }, signal: AbortSignal.timeout(2000) });
      if (r.ok) return 'ready';
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`the Jupyter server did not answer within ${timeoutMs / 1000} s. Its log:\n${tailFile(server.log, 25)}`);
    await sleep(100);
  }
}

/** Start a server serving `root`; ended by stopLocalServer (or, at the latest, when this process exits). */
export async function startLocalServer(
  root: string,
  env: NodeJS.ProcessEnv,
  log: (l: string) => void,
  signal: AbortSignal,
  timeoutMs = 120_000,
): Promise<LocalServer> {
  const jupyter = which('jupyter', env.PATH);
  if (!jupyter) throw new Error(`'jupyter' was not found on PATH: ${JUPYTER_INSTALL_HINT}, or pass --url and --token of a running server`);
  installExitHook();
  for (let attempt = 1; ; attempt++) {
    const server = spawnServer(jupyter, root, await freePort(), env);
    servers.add(server);
    log(`started a Jupyter server (pid ${server.pid}) at ${server.url}, notebook dir ${root}`);
    let state: 'ready' | 'port taken';
    try {
      state = await waitReady(server, attempt < 3, signal, timeoutMs);
    } catch (e) {
      await stopLocalServer(server, log);
      throw e;
    }
    if (state === 'ready') return server;
    // the port was taken between choosing and binding it: try another
    await stopLocalServer(server, log);
  }
}

/**
 * End a server this process started: SIGTERM (it shuts its kernels down),
 * then SIGKILL whatever is left of it and of every process that ran under it
 * (kernels, clusters started in a kernel), checked by pid and start time.
 */
export async function stopLocalServer(s: LocalServer, log: (l: string) => void, tracked: ProcessIdentity[] = []): Promise<void> {
  const under = [...tracked, ...descendants(s.pid)];
  signalPid(s.pid, 'SIGTERM');
  if (!(await waitChild(s.child, 10_000))) {
    log(`the Jupyter server (pid ${s.pid}) did not stop within 10 s of SIGTERM: killing it`);
    signalPid(-s.pid, 'SIGKILL');
    signalPid(s.pid, 'SIGKILL');
    await waitChild(s.child, 5000);
  }
  let left = await waitUntilGone(under, stillThere, 10_000);
  for (const p of left) {
    log(`ending a leftover process of the Jupyter server: pid ${p.pid} (${p.cmd ?? ''})`);
    signalPid(p.pid, 'SIGKILL');
  }
  left = await waitUntilGone(left, stillThere, 5000);
  for (const p of left) log(`pid ${p.pid} survived SIGKILL (${p.cmd ?? ''})`);
  servers.delete(s);
  rmSync(s.dir, { recursive: true, force: true });
}
