/**
 * Every setting of a cluster, in one table: its schema (zod, with bounds),
 * default, command-line flag and help text, and which commands take it. The
 * CLI's options and `--help` rows, `Cluster.start`'s options, the controller
 * and the profile's `tscluster.json` are all read through this table
 * (config/resolve.ts), so they cannot drift apart.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { SCHEME_NAMES } from '../controller/schemes/index.js';

/** The commands (and code paths) that take settings. */
export type Scope = 'start' | 'controller' | 'engine';

const int = (min: number, max: number): z.ZodNumber => z.number().int().min(min).max(max);

/** A hostname or an IPv4/IPv6 address; refuses what can be neither (e.g. 999.1.1.1). */
const address = z
  .string()
  .min(1)
  .max(253)
  .refine((s) => isIP(s) !== 0 || (/^[A-Za-z0-9.-]+$/.test(s) && !/^[\d.]+$/.test(s)), 'not an IP address or a host name');

/** The value schemas, with defaults: the one source of truth for types and bounds. */
export const SettingsSchema = z.object({
  n: int(0, 4096).optional(),
  scheme: z.enum(SCHEME_NAMES).default('leastload'),
  hwm: int(0, 1_000_000).default(1),
  ip: address.default('127.0.0.1'),
  clientPort: int(0, 65535).default(0),
  enginePort: int(0, 65535).default(0),
  heartbeatMs: int(10, 3_600_000).default(1000),
  deadAfterMs: int(100, 86_400_000).default(5000),
  curve: z.boolean().default(false),
  maxRecords: int(1, 100_000_000).default(1024),
  maxRecordBytes: int(1024, Number.MAX_SAFE_INTEGER).default(1024 ** 3),
  timeoutS: z.number().min(0.1).max(86_400).default(30),
  maxMemoryMb: int(16, 1_048_576).optional(),
});
export type Settings = z.infer<typeof SettingsSchema>;
export type SettingKey = keyof Settings;

/** How a setting appears on the command line and in help. */
export interface SettingDoc {
  /** the flag without dashes */
  flag: string;
  short?: string;
  /** the placeholder in help (absent: a boolean flag) */
  arg?: string;
  help: string;
  /** the default as help shows it (absent: the schema's default) */
  shownDefault?: string;
  scopes: readonly Scope[];
  /** may be set in the profile's tscluster.json (default true) */
  profile?: boolean;
}

export const SETTING_DOCS: Record<SettingKey, SettingDoc> = {
  n: { flag: 'n', short: 'n', arg: 'N', help: 'number of engines', shownDefault: 'one per core', scopes: ['start'] },
  scheme: { flag: 'scheme', arg: 'S', help: `load-balancing scheme: ${SCHEME_NAMES.join(', ')}`, scopes: ['start', 'controller'] },
  hwm: { flag: 'hwm', arg: 'N', help: 'most outstanding tasks per engine, 0 = unlimited', scopes: ['start', 'controller'] },
  ip: { flag: 'ip', arg: 'ADDR', help: 'address the controller binds', scopes: ['start', 'controller'] },
  clientPort: { flag: 'client-port', arg: 'N', help: 'port for clients (0: a free one)', scopes: ['controller'] },
  enginePort: { flag: 'engine-port', arg: 'N', help: 'port for engines (0: a free one)', scopes: ['controller'] },
  heartbeatMs: { flag: 'heartbeat-ms', arg: 'N', help: 'heartbeat period, ms', scopes: ['controller'] },
  deadAfterMs: { flag: 'dead-after-ms', arg: 'N', help: 'declare a silent engine dead after this long, ms', scopes: ['controller'] },
  curve: { flag: 'curve', help: 'encrypt all traffic with CurveZMQ (use it whenever --ip leaves this machine)', scopes: ['start', 'controller'] },
  maxRecords: { flag: 'max-records', arg: 'N', help: 'finished task records the controller keeps', scopes: ['controller'] },
  maxRecordBytes: {
    flag: 'max-record-bytes',
    arg: 'N',
    help: 'bytes of finished task records the controller keeps',
    shownDefault: '1 GiB',
    scopes: ['controller'],
  },
  timeoutS: { flag: 'timeout', arg: 'S', help: 'seconds to wait for the connection file and registration', scopes: ['engine'], profile: false },
  maxMemoryMb: {
    flag: 'max-memory-mb',
    arg: 'N',
    help: "heap limit of the engine's execution worker, MB",
    shownDefault: "the engine's own",
    scopes: ['engine'],
  },
};

/** The keys a scope takes, in table order. */
export function keysOf(scope: Scope): SettingKey[] {
  return (Object.keys(SETTING_DOCS) as SettingKey[]).filter((k) => SETTING_DOCS[k].scopes.includes(scope));
}
