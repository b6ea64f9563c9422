import type { PickEngine } from './types.js';

/** Two random picks; the less recently used (lower index) of the two wins. */
export const twobin: PickEngine = (loads, random) => {
  const a = Math.floor(random() * loads.length);
  const b = Math.floor(random() * loads.length);
  return Math.min(a, b);
};
