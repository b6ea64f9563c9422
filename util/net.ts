/** Addresses and ports. */
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';

/** Addresses that do not leave this machine. */
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

/** Does an address stay on this machine? */
export function isLoopback(ip: string): boolean {
  return LOOPBACK.test(ip);
}

/** A TCP port free on `host` right now (bound and released at once). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Does an address mean every interface? */
export function isWildcard(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::' || ip === '*';
}

/** This host's first IPv4 address that is not loopback (what others on the network reach it at), or undefined. */
export function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/**
 * The address of this host that packets to `host` leave from (a UDP socket
 * connected there: no packet is sent), so a peer that reaches `host` can
 * usually reach this host at it too. Loopback for a loopback `host`.
 */
export async function outwardAddress(host: string, port: number): Promise<string> {
  if (isLoopback(host)) return '127.0.0.1';
  const { createSocket } = await import('node:dgram');
  const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.connect(port, host, () => resolve());
    });
    return sock.address().address;
  } finally {
    sock.close();
  }
}

/** Does this address mean a process on this machine (so its pid can be checked)? */
export function isLocal(ip: string): boolean {
  return isLoopback(ip) || ip === '0.0.0.0';
}
