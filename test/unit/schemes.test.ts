/**
 * The load-balancing schemes' pick functions, without processes: which engine
 * each scheme picks from given loads and random draws, and the spread of its
 * picks over many draws (seeded where the bounds are tight).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { schemes } from '../../controller/schemes/index.js';
import type { PickEngine } from '../../controller/schemes/index.js';
import { Rng, seq } from '../support/index.js';

const { leastload, lru, plainrandom, twobin, weighted } = schemes;

/** A deterministic random source, so statistical tests of the schemes see the same draws every run. */
const seeded = (seed: number): (() => number) => new Rng(seed).random;

/** How often each index is picked over `draws` calls. */
function histogram(pick: PickEngine, loads: readonly number[], draws: number, random: () => number = Math.random): number[] {
  const counts = new Array<number>(loads.length).fill(0);
  for (let i = 0; i < draws; i++) {
    const k = pick(loads, random);
    assert.ok(Number.isInteger(k) && k >= 0 && k < loads.length, `index ${k} out of range for ${loads.length} engines`);
    counts[k]!++;
  }
  return counts;
}

describe('scheme pick functions', () => {
  test('every scheme is exported by name', () => {
    assert.deepEqual(Object.keys(schemes).sort(), ['leastload', 'lru', 'plainrandom', 'twobin', 'weighted']);
  });

  test('leastload picks the minimum load', () => {
    const never = seq();
    assert.equal(leastload([3, 1, 2], never), 1);
    assert.equal(leastload([5, 4, 3, 2, 0], never), 4);
    assert.equal(leastload([0, 9], never), 0);
    assert.equal(leastload([7], never), 0);
  });

  test('leastload ties go to the lowest index (the least recently used)', () => {
    const never = seq();
    assert.equal(leastload([0, 0, 0], never), 0);
    assert.equal(leastload([2, 1, 1], never), 1);
    assert.equal(leastload([4, 4, 0, 0], never), 2);
    assert.equal(leastload([3, 2, 5, 2, 2], never), 1);
  });

  test('lru always picks index 0, whatever the loads', () => {
    for (const loads of [[0], [0, 0], [9, 0, 0], [5, 4, 3, 2, 1], [0, 100]]) {
      assert.equal(lru(loads, Math.random), 0, JSON.stringify(loads));
    }
  });

  test('plainrandom maps a stub random sequence onto the expected indices', () => {
    const loads = [0, 0, 0, 0];
    assert.equal(plainrandom(loads, seq(0)), 0);
    assert.equal(plainrandom(loads, seq(0.2499)), 0);
    assert.equal(plainrandom(loads, seq(0.25)), 1);
    assert.equal(plainrandom(loads, seq(0.5)), 2);
    assert.equal(plainrandom(loads, seq(0.74)), 2);
    assert.equal(plainrandom(loads, seq(0.75)), 3);
    assert.equal(plainrandom(loads, seq(0.999999)), 3);
    // loads do not matter
    assert.equal(plainrandom([100, 0, 0], seq(0.1)), 0);
  });

  test('plainrandom with Math.random stays in range and is uniform (20,000 draws over 4 engines, each within 20% of 5000)', (t) => {
    const counts = histogram(plainrandom, [3, 0, 1, 7], 20000);
    t.diagnostic(`plainrandom counts: ${counts.join(', ')}`);
    for (const c of counts) assert.ok(c >= 4000 && c <= 6000, `counts ${counts.join(', ')}`);
    // chi-square with 3 degrees of freedom: 0.1% critical value is 16.27; use a far more generous bound
    const chi2 = counts.reduce((s, c) => s + (c - 5000) ** 2 / 5000, 0);
    assert.ok(chi2 < 40, `chi-square ${chi2.toFixed(2)} (counts ${counts.join(', ')})`);
  });

  test('twobin draws twice and returns the lower index (the less recently used) of the two', () => {
    const loads = [0, 0, 0, 0];
    assert.equal(twobin(loads, seq(0.9, 0.1)), 0);
    assert.equal(twobin(loads, seq(0.1, 0.9)), 0);
    assert.equal(twobin(loads, seq(0.6, 0.8)), 2);
    assert.equal(twobin(loads, seq(0.8, 0.6)), 2);
    assert.equal(twobin(loads, seq(0.99, 0.99)), 3);
    assert.equal(twobin(loads, seq(0.3, 0.3)), 1);
    // loads are ignored: only the order counts
    assert.equal(twobin([0, 0, 9, 9], seq(0.6, 0.9)), 2);
  });

  test('twobin over many draws stays in range, uses every index and favours the least recently used', (t) => {
    const counts = histogram(twobin, [0, 0, 0, 0], 20000, seeded(1));
    t.diagnostic(`twobin counts: ${counts.join(', ')}`);
    // P(min of two uniform draws over 4 = k) = ((4-k)^2 - (3-k)^2) / 16: 7/16, 5/16, 3/16, 1/16
    const expected = [7, 5, 3, 1].map((x) => (x / 16) * 20000);
    counts.forEach((c, i) => assert.ok(Math.abs(c - expected[i]!) < expected[i]! * 0.2, `index ${i}: ${c}, expected about ${expected[i]}`));
  });

  test('weighted prefers lighter loads: with loads [0, 10], index 0 wins almost every draw', (t) => {
    const counts = histogram(weighted, [0, 10], 20000);
    t.diagnostic(`weighted counts for loads [0, 10]: ${counts.join(', ')}`);
    assert.ok(counts[0]! >= 19990, `counts ${counts.join(', ')}`);
    // between two non-zero loads the lighter one still wins far more often
    const mixed = histogram(weighted, [1, 4], 20000, seeded(2));
    t.diagnostic(`weighted counts for loads [1, 4]: ${mixed.join(', ')}`);
    // P(1 wins) = P(both draws pick 1) = (0.25 / 1.25)^2 = 0.04
    assert.ok(mixed[0]! > 18000 && mixed[1]! > 400, `counts ${mixed.join(', ')}`);
  });

  test('weighted handles zero loads: all zero is uniform, a zero beats any non-zero load, a single engine is index 0', (t) => {
    const zeros = histogram(weighted, [0, 0, 0, 0], 20000, seeded(3));
    t.diagnostic(`weighted counts for loads [0, 0, 0, 0]: ${zeros.join(', ')}`);
    for (const c of zeros) assert.ok(c >= 4000 && c <= 6000, `counts ${zeros.join(', ')}`);
    const holes = histogram(weighted, [0, 5, 0], 20000, seeded(4));
    assert.ok(holes[1]! <= 2 && holes[0]! > 8000 && holes[2]! > 8000, `counts ${holes.join(', ')}`);
    assert.equal(weighted([0], seq(0.5, 0.5)), 0);
    assert.equal(weighted([3], seq(0.999, 0.999)), 0);
  });

  test('weighted with a stub random sequence: two weighted draws, the heavier weight wins', () => {
    // equal weights: x = 0.75 * total falls in the second bin; the first draw wins a tie
    assert.equal(weighted([0, 0], seq(0.75, 0.1)), 1);
    assert.equal(weighted([0, 0], seq(0.1, 0.75)), 0);
    // weights about [1, 1/3], total 4/3: 0.9 -> bin 1, 0.1 -> bin 0; the lighter load wins
    assert.equal(weighted([1, 3], seq(0.9, 0.1)), 0);
    assert.equal(weighted([1, 3], seq(0.9, 0.95)), 1);
    // a draw just below 1 lands in the last bin
    assert.equal(weighted([2, 2, 2], seq(0.9999999, 0.9999999)), 2);
  });
});
