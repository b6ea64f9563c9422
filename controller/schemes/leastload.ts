import type { PickEngine } from './types.js';

/** The engine with the fewest outstanding tasks; ties go to the least recently used. */
export const leastload: PickEngine = (loads) => {
  let best = 0;
  for (let i = 1; i < loads.length; i++) if (loads[i]! < loads[best]!) best = i;
  return best;
};
