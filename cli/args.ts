/** What every command shares: parsing its arguments, usage errors, help. */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { SettingError } from '../config/resolve.js';
import { DEFAULT_PROFILE } from '../profiles/index.js';

/** Bad usage: the message and the command's help are printed, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A command of the `tscluster` command line. */
export interface Command {
  /** one line for the main help */
  summary: string;
  /** the full `--help` text */
  help: () => string;
  /** run it; the exit code, or -1 for a part that keeps running (controller, engine) */
  run: (argv: string[]) => Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** A command's parsed arguments. */
export interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** Parse a command's arguments; unknown options are a UsageError that shows the command's help. */
export function parse(argv: string[], options: Options, help: () => string): Parsed {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${help()}`);
  }
}

/** Settings errors in flags are usage errors. */
export async function asUsage<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof SettingError) throw new UsageError(e.message);
    throw e;
  }
}

/** A whole number flag >= `min` (default `dflt` when absent). */
export function intFlag(name: string, v: string | undefined, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number >= ${min}, got '${v}'`);
  return n;
}

/** The --profile / --cluster-id flags that name a cluster, as a command line would give them. */
export function clusterFlags(profile: string, clusterId: string): string {
  return `${profile === DEFAULT_PROFILE ? '' : ` --profile ${profile}`}${clusterId ? ` --cluster-id ${clusterId}` : ''}`;
}

/** Options naming a cluster. */
export const CLUSTER_OPTIONS = { profile: { type: 'string' }, 'cluster-id': { type: 'string' } } as const;

export const PROFILE_ROWS = `  --profile P            profile name (default 'default')
  --cluster-id ID        cluster id, to run several clusters in one profile (default empty)`;
