/**
 * A profile's config file, `profile_<name>/tscluster.json`: cluster defaults
 * that `tscluster start` and `Cluster.start` use when not given explicitly.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { ensureProfile, profilePaths } from './paths.js';
import { readJsonFile } from './jsonfile.js';
import { writeJsonAtomic } from '../util/atomic.js';

export const SCHEMES = ['lru', 'leastload', 'weighted', 'plainrandom', 'twobin'] as const;
export type SchemeName = (typeof SCHEMES)[number];

export const ProfileConfigSchema = z
  .object({
    /** load-balancing scheme */
    scheme: z.enum(SCHEMES).optional(),
    /** most outstanding tasks per engine; 0 = unlimited */
    hwm: z.number().int().nonnegative().optional(),
    /** address the controller binds */
    ip: z.string().optional(),
    /** heartbeat period, ms */
    heartbeatMs: z.number().int().positive().optional(),
    /** an engine silent this long is declared dead, ms */
    deadAfterMs: z.number().int().positive().optional(),
  })
  .strict();
export type ProfileConfig = z.infer<typeof ProfileConfigSchema>;

export function readProfileConfig(profile: string): ProfileConfig {
  const p = profilePaths(profile);
  if (!existsSync(p.config)) return {};
  return readJsonFile(p.config, ProfileConfigSchema, {
    what: 'profile config file',
    missingHint: 'create it with `tscluster profile create`.',
    corruptHint: `Fix it or delete it (defaults apply without it); fields: scheme (${SCHEMES.join('|')}), hwm, ip, heartbeatMs, deadAfterMs.`,
  });
}

/** Create a profile with a default config; keeps an existing config. Returns the profile dir. */
export function createProfile(profile: string): { dir: string; created: boolean } {
  const p = ensureProfile(profile);
  if (existsSync(p.config)) return { dir: p.dir, created: false };
  writeJsonAtomic(p.config, { scheme: 'leastload', hwm: 1, ip: '127.0.0.1' } satisfies ProfileConfig, 0o600);
  return { dir: p.dir, created: true };
}
