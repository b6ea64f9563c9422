/**
 * Randomness the tests control: one seeded PRNG (reproducible fuzz runs, kill
 * schedules and statistical checks), the seed of a run taken from the
 * environment, and a stub random() that returns given values.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';

/**
 * mulberry32: a tiny, fast, seeded 32-bit PRNG. Good enough to make a fuzz
 * run or a kill schedule reproducible from one number.
 */
export class Rng {
  #a: number;
  constructor(readonly seed: number) {
    this.#a = seed >>> 0;
  }

  /** uniform in [0, 1) */
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) | 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** `next` as a `() => number`, for code that takes a random source (like Math.random). */
  readonly random = (): number => this.next();

  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** integer in [lo, hi] */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    assert.ok(xs.length > 0, 'pick from an empty list');
    return xs[this.int(xs.length)]!;
  }

  /** `n` pseudo-random bytes (fast: 4 bytes per draw) */
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) b.writeUInt32LE((this.next() * 4294967296) >>> 0, i);
    for (; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** printable ASCII without `"`, `}` and `\`: appended to `{"` it never closes the string */
  unterminated(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) {
      let c = 32 + this.int(95);
      if (c === 0x22 || c === 0x7d || c === 0x5c) c = 0x61;
      s += String.fromCharCode(c);
    }
    return s;
  }

  /** A random (version 4 shaped) uuid, from this generator's stream. */
  uuid(variant = 'a'): string {
    const h = this.bytes(16).toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }

  /** A child generator with its own stream, so one test's draws do not shift another's. */
  fork(tag: number): Rng {
    return new Rng((Math.imul(this.seed ^ 0x9e3779b9, 0x85ebca6b) + tag * 0x27d4eb2d) >>> 0);
  }
}

/**
 * The seed of this run: `$<envName>` when set (to reproduce a failure), else a
 * fresh random one. Printed either way.
 */
export function seedFromEnv(envName: string, what: string): number {
  const fromEnv = process.env[envName];
  let seed: number;
  if (fromEnv !== undefined && fromEnv !== '') {
    seed = Number(fromEnv);
    assert.ok(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32, `${envName} must be an integer in [0, 2^32), got '${fromEnv}'`);
  } else {
    seed = randomInt(2 ** 32 - 1);
  }
  console.log(`# ${what} seed ${seed} (reproduce with ${envName}=${seed})`);
  return seed;
}

/** A random() that returns the given values in turn (and fails if asked for more). */
export function seq(...values: number[]): () => number {
  let i = 0;
  return () => {
    if (i >= values.length) throw new Error(`the stub random was called more than ${values.length} times`);
    return values[i++]!;
  };
}
