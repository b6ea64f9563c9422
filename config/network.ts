/** Where the controller listens, where others reach it, and whether its traffic is encrypted. */
import { externalAddress, isLoopback, isWildcard } from '../util/net.js';
import type { Settings } from './settings.js';

/**
 * The address written into the connection files: `location` when given, the
 * bound address when it is one, else (bound to every interface) this host's
 * address on the network.
 */
export function advertisedAddress(s: Pick<Settings, 'ip' | 'location'>): string {
  if (s.location !== undefined) return s.location;
  if (!isWildcard(s.ip)) return s.ip;
  return externalAddress() ?? '127.0.0.1';
}

/** CurveZMQ is on when asked, or by default whenever the controller is reachable off loopback (unless --no-curve). */
export function curveOn(s: Pick<Settings, 'ip' | 'curve' | 'noCurve'>): boolean {
  if (s.curve !== undefined) return s.curve;
  if (s.noCurve) return false;
  return !isLoopback(s.ip);
}
