/** The options of `Client.connect`, and their checks. */
import { ConnectionLost } from '../errors/index.js';
import type { ConnectionInfo } from '../profiles/index.js';
import type { SshTunnelOptions } from './tunnel.js';
import { checkMs, checkOptionKeys, show } from './validate.js';

export interface ConnectOptions {
  /** profile name (default `default`) */
  profile?: string;
  /** cluster id within the profile (default empty) */
  clusterId?: string;
  /** explicit client connection file; overrides profile and clusterId */
  connectionFile?: string;
  /** how long to wait for the controller (default 10000) */
  timeoutMs?: number;
  /**
   * print remote output here as it arrives, each line prefixed by `[engine N]`
   * (default: on inside a Jupyter kernel, off elsewhere; `ar.stdout` has it either way)
   */
  echo?: boolean;
  /** reject pending work with ConnectionLost after this long without a word from the controller (default 10000) */
  lostAfterMs?: number;
  /**
   * a controller that has a supervisor is restarted after a crash: wait this long for it (default 60000) before
   * rejecting pending work with ConnectionLost; pending results arrive through the restart
   */
  controllerGraceMs?: number;
  /**
   * reach the controller through an ssh tunnel via this gateway ([user@]host),
   * for a controller that listens on an interface only the gateway reaches
   */
  sshServer?: string;
  /** how ssh reaches the gateway: port, identity file, extra `-o` options */
  sshOptions?: SshTunnelOptions;
  /**
   * send the large payload (1 MiB or more) of a request to one engine straight
   * to that engine's data endpoint, past the controller, when this client can
   * reach it (default true; false with `sshServer`)
   */
  directData?: boolean;
  /**
   * most of this client's tasks at the controller at once (default 10,000): more wait in the client, in order,
   * and go as earlier ones finish, so a burst of submissions never fills the controller's memory
   */
  submitWindow?: number;
}

const CONNECT_OPTIONS = [
  'profile',
  'clusterId',
  'connectionFile',
  'timeoutMs',
  'echo',
  'lostAfterMs',
  'controllerGraceMs',
  'sshServer',
  'sshOptions',
  'directData',
  'submitWindow',
] as const;

/** Throw a TypeError naming the option that is wrong. */
export function checkConnectOptions(opts: ConnectOptions): void {
  checkOptionKeys('Client.connect', opts, CONNECT_OPTIONS);
  if (opts.timeoutMs !== undefined) checkMs('Client.connect: timeoutMs', opts.timeoutMs);
  if (opts.lostAfterMs !== undefined) checkMs('Client.connect: lostAfterMs', opts.lostAfterMs);
  if (opts.controllerGraceMs !== undefined) checkMs('Client.connect: controllerGraceMs', opts.controllerGraceMs);
  if (opts.submitWindow !== undefined && !(Number.isInteger(opts.submitWindow) && opts.submitWindow >= 1)) {
    throw new TypeError(`Client.connect: submitWindow must be a whole number >= 1, got ${show(opts.submitWindow)}`);
  }
  if (opts.sshServer !== undefined && (typeof opts.sshServer !== 'string' || opts.sshServer === '')) {
    throw new TypeError(`Client.connect: sshServer must be a [user@]host string, got ${show(opts.sshServer)}`);
  }
}

/** The error for a connection file whose (local) controller is not running. */
export function staleFile(info: ConnectionInfo, path: string): ConnectionLost {
  const flags = (info.profile === 'default' ? '' : ` --profile ${info.profile}`) + (info.cluster_id ? ` --cluster-id ${info.cluster_id}` : '');
  return new ConnectionLost(
    `the controller of ${path} (pid ${info.controller_pid}) is not running: the file is left from a cluster that did not stop cleanly. ` +
      `Clean it with \`tscluster stop${flags}\` and start a new cluster.`,
  );
}
