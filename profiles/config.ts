/**
 * The profile's config file, `tscluster.json`: any setting of config/settings.ts
 * that a profile may hold (scheme, hwm, ip, heartbeats, limits...), checked
 * against the same schemas as flags and options.
 */
import { existsSync } from 'node:fs';
import * as z from 'zod';
import { inner } from '../config/resolve.js';
import { SETTING_DOCS } from '../config/settings.js';
import type { SettingKey, Settings } from '../config/settings.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { readJsonFile } from './jsonfile.js';
import { ensureProfile, profilePaths } from './paths.js';

const PROFILE_KEYS = (Object.keys(SETTING_DOCS) as SettingKey[]).filter((k) => SETTING_DOCS[k].profile !== false);

/** What tscluster.json may hold: the profile-settable settings, each optional (no defaults filled in), nothing else. */
export const ProfileConfigSchema = z.object(Object.fromEntries(PROFILE_KEYS.map((k) => [k, inner(k).optional()]))).strict();
export type ProfileConfig = Partial<Settings>;

/** A profile's config: its values (none when the file does not exist) and the file's path. */
export function readProfileConfig(profile: string): { values: ProfileConfig; path: string } {
  const path = profilePaths(profile).config;
  if (!existsSync(path)) return { values: {}, path };
  const values = readJsonFile(path, ProfileConfigSchema as z.ZodType<ProfileConfig>, {
    what: 'profile config file',
    missingHint: 'create it with `tscluster profile create`.',
    corruptHint: `Fix it or delete it (defaults apply without it); fields: ${PROFILE_KEYS.join(', ')}.`,
  });
  return { values, path };
}

/** Create a profile with a default config; keeps an existing config. Returns the profile dir. */
export function createProfile(profile: string): { dir: string; created: boolean } {
  const p = ensureProfile(profile);
  if (existsSync(p.config)) return { dir: p.dir, created: false };
  writeJsonAtomic(p.config, { scheme: 'leastload', hwm: 1, ip: '127.0.0.1' } satisfies ProfileConfig, 0o600);
  return { dir: p.dir, created: true };
}
