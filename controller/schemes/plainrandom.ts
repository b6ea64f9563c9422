import type { PickEngine } from './types.js';

/** Uniformly random. */
export const plainrandom: PickEngine = (loads, random) => Math.floor(random() * loads.length);
