/**
 * A set of integer digests (1 <= d < 2^53) in one Float64Array: open
 * addressing with linear probing, deletion by backward shift (no tombstones),
 * doubling when half full.
 *
 * Why not `Set<number>`: a digest wider than 31 bits is a heap number (16
 * bytes) in a Set, and the Set's table takes about 40 bytes per entry more;
 * the replay history of one busy endpoint (262,144 digests) took 15 MB that
 * way and takes 4 MB here. Digests are HMAC bits, so their low 32 bits are
 * already a good hash.
 */
const EMPTY = 0;

export class DigestSet {
  #slots: Float64Array;
  #mask: number;
  #size = 0;

  /** @param initialCapacity slots to start with (rounded up to a power of two, at least 16) */
  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    this.#slots = new Float64Array(cap);
    this.#mask = cap - 1;
  }

  get size(): number {
    return this.#size;
  }

  /** Slots allocated (for tests and memory accounting). */
  get capacity(): number {
    return this.#slots.length;
  }

  has(d: number): boolean {
    return this.#find(d) >= 0;
  }

  /** Add `d`; false when it was already there. */
  add(d: number): boolean {
    check(d);
    if (this.#find(d) >= 0) return false;
    if ((this.#size + 1) * 2 > this.#slots.length) this.#grow();
    this.#place(d);
    this.#size++;
    return true;
  }

  /** Remove `d`; false when it was not there. */
  delete(d: number): boolean {
    let i = this.#find(d);
    if (i < 0) return false;
    const s = this.#slots;
    const mask = this.#mask;
    // backward shift: pull later members of the probe run into the hole when their home allows it
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const v = s[j]!;
      if (v === EMPTY) break;
      const home = (v >>> 0) & mask;
      // v may move to i unless its home lies cyclically in (i, j]
      const between = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!between) {
        s[i] = v;
        i = j;
      }
    }
    s[i] = EMPTY;
    this.#size--;
    return true;
  }

  #find(d: number): number {
    const s = this.#slots;
    const mask = this.#mask;
    let i = (d >>> 0) & mask;
    for (;;) {
      const v = s[i]!;
      if (v === d) return i;
      if (v === EMPTY) return -1;
      i = (i + 1) & mask;
    }
  }

  #place(d: number): void {
    const s = this.#slots;
    const mask = this.#mask;
    let i = (d >>> 0) & mask;
    while (s[i] !== EMPTY) i = (i + 1) & mask;
    s[i] = d;
  }

  #grow(): void {
    const old = this.#slots;
    this.#slots = new Float64Array(old.length * 2);
    this.#mask = this.#slots.length - 1;
    for (const v of old) if (v !== EMPTY) this.#place(v);
  }
}

function check(d: number): void {
  if (!Number.isSafeInteger(d) || d < 1) throw new RangeError(`a digest must be an integer from 1 to 2^53 - 1, got ${d}`);
}
