import type { SchemeName } from '../../profiles/config.js';
import { leastload } from './leastload.js';
import { lru } from './lru.js';
import { plainrandom } from './plainrandom.js';
import { twobin } from './twobin.js';
import { weighted } from './weighted.js';
import type { PickEngine } from './types.js';

export type { PickEngine } from './types.js';

export const schemes: Record<SchemeName, PickEngine> = { leastload, lru, plainrandom, twobin, weighted };
