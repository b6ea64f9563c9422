/** The command line of one part of a cluster (a controller, an engine): where it belongs, and its settings. */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { DEFAULT_PROFILE, checkName, readProfileConfig } from '../profiles/index.js';
import { argOptions, resolveSettings } from './resolve.js';
import type { Scope, Settings } from './settings.js';

/** Command-line options, as node:util parseArgs takes them. */
export type Options = NonNullable<ParseArgsConfig['options']>;

/** A part's options: --profile, --cluster-id, its own `extra`, and the settings of its scope. */
export function partOptions(scope: Scope, extra: Options): Options {
  return { profile: { type: 'string' }, 'cluster-id': { type: 'string' }, ...extra, ...argOptions(scope) };
}

export interface PartArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  profile: string;
  clusterId: string;
  settings: Settings;
}

/** Parse a part's arguments and resolve its settings (flags over the profile's tscluster.json over defaults). */
export function parsePartArgs(argv: string[], scope: Scope, options: Options): PartArgs {
  const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  const profile = typeof values.profile === 'string' ? values.profile : DEFAULT_PROFILE;
  const clusterId = typeof values['cluster-id'] === 'string' ? values['cluster-id'] : '';
  checkName('profile', profile);
  checkName('cluster id', clusterId);
  return { values, profile, clusterId, settings: resolveSettings(scope, { flags: values, profile: readProfileConfig(profile) }) };
}
