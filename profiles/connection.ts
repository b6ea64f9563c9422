/**
 * Connection files: `<profile>/security/tscluster[-<clusterId>]-{client,engine}.json`.
 * They hold the controller's address and the cluster key; mode 0600 from creation.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { curveKeyPair } from 'zeromq';
import * as z from 'zod';
import { ensureProfile, connectionFilePath } from './paths.js';
import { readJsonFile } from './jsonfile.js';
import { writeJsonAtomic } from '../util/atomic.js';

export const ConnectionInfoSchema = z.object({
  tscluster: z.literal(1),
  kind: z.enum(['client', 'engine']),
  profile: z.string(),
  cluster_id: z.string(),
  transport: z.literal('tcp'),
  ip: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  key: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 hex characters (32 random bytes)'),
  signature_scheme: z.literal('hmac-sha256'),
  /** CurveZMQ public key of the controller (Z85), or null when traffic is not encrypted */
  curve_serverkey: z.string().length(40).nullable(),
  controller_pid: z.number().int().positive(),
  /** the controller process's start time (/proc), so a reused pid is not taken for it; null where unknown */
  controller_start: z.string().max(40).nullable().optional(),
  /** the supervisor that restarts the controller after a crash (controller/supervisor.ts), if it has one */
  supervisor_pid: z.number().int().positive().optional(),
  supervisor_start: z.string().max(40).nullable().optional(),
  created: z.string(),
  /** the controller's web dashboard (client files only): its address and the token every request must carry */
  dashboard: z.object({ url: z.string().min(1).max(1000), token: z.string().min(16).max(200) }).optional(),
});
export type ConnectionInfo = z.infer<typeof ConnectionInfoSchema>;

/** The dashboard's address with its token, as a browser opens it; null when the controller serves none. */
export function dashboardUrlOf(info: Pick<ConnectionInfo, 'dashboard'>): string | null {
  if (!info.dashboard) return null;
  return `${info.dashboard.url}/?token=${encodeURIComponent(info.dashboard.token)}`;
}

export function newKey(): string {
  return randomBytes(32).toString('hex');
}

/** Socket options of a CurveZMQ client of `serverKey` (a fresh key pair of its own), or none. */
export function curveClient(
  serverKey: string | null,
): { curveServerKey: string; curvePublicKey: string; curveSecretKey: string } | Record<string, never> {
  if (!serverKey) return {};
  const own = curveKeyPair();
  return { curveServerKey: serverKey, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey };
}

export function endpointOf(info: Pick<ConnectionInfo, 'transport' | 'ip' | 'port'>): string {
  const host = info.ip.includes(':') ? `[${info.ip}]` : info.ip;
  return `${info.transport}://${host}:${info.port}`;
}

/** Write one connection file (0600, atomically) and return its path. */
export function writeConnectionFile(info: ConnectionInfo): string {
  ensureProfile(info.profile);
  const path = connectionFilePath(info.profile, info.cluster_id, info.kind);
  writeJsonAtomic(path, info, 0o600);
  return path;
}

export interface LocateOptions {
  profile?: string;
  clusterId?: string;
  connectionFile?: string;
}

/** Read and validate a connection file, with errors that name the file and the fix. */
export function readConnectionFile(kind: 'client' | 'engine', o: LocateOptions = {}): { info: ConnectionInfo; path: string } {
  const profile = o.profile ?? 'default';
  const clusterId = o.clusterId ?? '';
  const path = o.connectionFile ?? connectionFilePath(profile, clusterId, kind);
  const flags = `${profile === 'default' ? '' : ` --profile ${profile}`}${clusterId ? ` --cluster-id ${clusterId}` : ''}`;
  const info = readJsonFile(path, ConnectionInfoSchema, {
    what: `${kind} connection file`,
    missingHint: `is a cluster running for profile '${profile}'${clusterId ? ` and cluster id '${clusterId}'` : ''}? Start one with \`tscluster start -n 4${flags}\`, or list the running ones with \`tscluster list\`.`,
    corruptHint: `Restart the cluster (\`tscluster stop${flags}\` then \`tscluster start${flags}\`) to write it anew.`,
  });
  if (info.kind !== kind) {
    throw new Error(`${path} is an ${info.kind} connection file, but a ${kind} connection file is needed`);
  }
  return { info, path };
}

export function removeConnectionFiles(profile: string, clusterId: string): void {
  for (const kind of ['client', 'engine'] as const) rmSync(connectionFilePath(profile, clusterId, kind), { force: true });
}
