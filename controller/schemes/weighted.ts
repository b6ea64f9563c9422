import type { PickEngine } from './types.js';

/** Two draws weighted by 1/(1e-6 + load); the one with the heavier weight (lighter load) wins. */
export const weighted: PickEngine = (loads, random) => {
  const weights = loads.map((l) => 1 / (1e-6 + l));
  let total = 0;
  for (const w of weights) total += w;
  const draw = (): number => {
    let x = random() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i]!;
      if (x < 0) return i;
    }
    return weights.length - 1;
  };
  const a = draw();
  const b = draw();
  return weights[a]! >= weights[b]! ? a : b;
};
