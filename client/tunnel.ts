/**
 * An ssh tunnel to a controller that this machine cannot reach directly (it
 * listens on a private interface behind a gateway): `ssh -N -L` from a free
 * local port to the controller's address as the ssh server sees it, as
 * ipyparallel's `sshserver` does. The tunnel ends with the client; a small
 * watchdog ends it too when this process dies without a word (SIGKILL).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { sshArgs } from '../launcher/ssh-exec.js';
import { freePort } from '../util/net.js';
import { sleep } from '../util/sleep.js';

/** How ssh reaches the gateway. */
export interface SshTunnelOptions {
  /** its ssh port (default ssh's) */
  port?: number;
  /** identity (private key) file */
  identity?: string;
  /** extra `-o` options, e.g. `['StrictHostKeyChecking=accept-new']` */
  options?: string[];
}

export interface Tunnel {
  /** the local end: connect here */
  ip: string;
  port: number;
  close(): void;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Open a tunnel through `server` ([user@]host) to `target`; resolves once the
 * local end accepts connections.
 * @throws Error naming the gateway and quoting ssh when it cannot be set up
 */
export async function openTunnel(server: string, o: SshTunnelOptions, target: { ip: string; port: number }, timeoutMs: number): Promise<Tunnel> {
  const ssh = {
    ...(o.port !== undefined ? { port: o.port } : {}),
    ...(o.identity !== undefined ? { identity: o.identity } : {}),
    options: o.options ?? [],
  };
  const remote = target.ip.includes(':') ? `[${target.ip}]` : target.ip;
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn(
      'ssh',
      ['-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${port}:${remote}:${target.port}`, ...sshArgs(ssh, server)],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    let exited: number | null | undefined;
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('exit', (code) => (exited = code));
    child.on('error', (e) => {
      stderr += e.message;
      exited = -1;
    });
    const watchdog = guard(child);
    const close = (): void => {
      child.kill('SIGTERM');
      watchdog?.kill('SIGTERM');
    };
    for (;;) {
      if (exited !== undefined) break;
      if (await accepts(port)) {
        child.unref();
        child.stderr.destroy();
        return { ip: '127.0.0.1', port, close };
      }
      if (Date.now() > deadline) {
        close();
        throw new Error(
          `the ssh tunnel through ${server} to ${remote}:${target.port} was not up within ${timeoutMs} ms${stderr ? `: ${stderr.trim()}` : ''}`,
        );
      }
      await sleep(50);
    }
    watchdog?.kill('SIGTERM');
    // the local port was taken between choosing and binding it: choose again
    if (/address already in use/i.test(stderr) && attempt < 3) continue;
    throw new Error(
      `could not open an ssh tunnel through ${server} to the controller at ${remote}:${target.port} (ssh exited ${String(exited)}): ${stderr.trim() || 'no message'}. ` +
        'Check that `ssh ' +
        server +
        '` works without a password prompt (a key, BatchMode), and the controller address as the gateway sees it.',
    );
  }
}

/** A process that ends the tunnel when this process goes away without closing it (its stdin reaches end of file). */
function guard(child: ChildProcess): ChildProcess | undefined {
  if (child.pid === undefined) return undefined;
  const w = spawn('sh', ['-c', `read _ ; kill ${child.pid} 2>/dev/null`], { stdio: ['pipe', 'ignore', 'ignore'] });
  w.unref();
  (w.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return w;
}
