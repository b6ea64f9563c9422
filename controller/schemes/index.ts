/** The scheme registry: every load-balancing scheme by name. Configuration takes its names from here. */
import { leastload } from './leastload.js';
import { lru } from './lru.js';
import { plainrandom } from './plainrandom.js';
import { twobin } from './twobin.js';
import { weighted } from './weighted.js';
import type { PickEngine } from './types.js';

export type { PickEngine } from './types.js';

export const schemes = { leastload, lru, weighted, plainrandom, twobin } as const satisfies Record<string, PickEngine>;

/** A load-balancing scheme's name. */
export type SchemeName = keyof typeof schemes;

/** The names of the schemes, in the order help texts show them. */
export const SCHEME_NAMES = Object.keys(schemes) as [SchemeName, ...SchemeName[]];
