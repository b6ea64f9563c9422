/**
 * The typed-array digest set behind the replay history (util/digest-set.ts)
 * and the Signer that uses it: the same answers as a Set under adds and
 * deletes that wrap around the table, growth, bad digests refused, and a
 * replay refused while its digest is in the history, accepted-as-new never.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DigestSet } from '../../util/digest-set.js';
import { Signer } from '../../protocol/signing.js';
import { ProtocolError } from '../../errors/protocol.js';
import { OutcomeCache } from '../../controller/store/outcomes.js';

/** a small deterministic generator (xorshift), so a failure repeats */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

describe('DigestSet', () => {
  test('agrees with a Set through 200,000 random adds and deletes, with many colliding low bits', () => {
    const next = rng(12345);
    const ds = new DigestSet(16);
    const ref = new Set<number>();
    const pool: number[] = [];
    // digests share their low 32 bits in groups of 8: long probe runs, wrap-around and backward shifts
    for (let i = 0; i < 4000; i++) pool.push((next() % 500) * 2 ** 32 + (next() % 64) + 1);
    for (let i = 0; i < 200_000; i++) {
      const d = pool[next() % pool.length]!;
      if (next() % 3 === 0) assert.equal(ds.delete(d), ref.delete(d), `delete ${d} at step ${i}`);
      else {
        const fresh = !ref.has(d);
        ref.add(d);
        assert.equal(ds.add(d), fresh, `add ${d} at step ${i}`);
      }
      if (i % 997 === 0) for (const p of pool.slice(0, 200)) assert.equal(ds.has(p), ref.has(p), `has ${p} at step ${i}`);
    }
    assert.equal(ds.size, ref.size);
    for (const p of pool) assert.equal(ds.has(p), ref.has(p));
  });

  test('grows by doubling and stays at most half full', () => {
    const ds = new DigestSet(16);
    for (let i = 1; i <= 10_000; i++) ds.add(i * 7919);
    assert.equal(ds.size, 10_000);
    assert.equal(ds.capacity, 32_768);
    for (let i = 1; i <= 10_000; i++) assert.ok(ds.has(i * 7919));
    assert.ok(!ds.has(3));
  });

  test('refuses what is not an integer digest from 1 to 2^53 - 1', () => {
    const ds = new DigestSet();
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53]) assert.throws(() => ds.add(bad), RangeError);
    assert.equal(ds.size, 0);
  });
});

describe('Signer replay history', () => {
  const key = 'k'.repeat(36);
  const frames = (i: number): [Buffer, Buffer, Buffer, Buffer] => [
    Buffer.from(`{"msg_id":"${i}"}`),
    Buffer.from('{}'),
    Buffer.from('{}'),
    Buffer.from(`{"i":${i}}`),
  ];

  test('a message is accepted once and refused as a replay while in the history, which forgets the oldest', () => {
    const s = new Signer(key, 1000, false);
    const sig = (i: number): Buffer => s.sign(...frames(i));
    for (let i = 0; i < 3000; i++) s.verify(sig(i), ...frames(i), Date.now());
    // the last 1000 are remembered
    for (const i of [2000, 2500, 2999]) {
      assert.throws(
        () => s.verify(sig(i), ...frames(i), Date.now()),
        (e: unknown) => e instanceof ProtocolError && e.reason === 'replay',
      );
    }
    // with the horizon off, one forgotten passes again (the engines' case: the controller checked it)
    s.verify(sig(5), ...frames(5), Date.now());
  });

  test('with the horizon on, a forgotten message is still refused by its date', () => {
    const s = new Signer(key, 100, true);
    const t0 = Date.now() - 10_000;
    for (let i = 0; i < 300; i++) s.verify(s.sign(...frames(i)), ...frames(i), t0 + i);
    assert.throws(
      () => s.verify(s.sign(...frames(5)), ...frames(5), t0 + 5),
      (e: unknown) => e instanceof ProtocolError && e.reason === 'replay',
    );
  });
});

describe('OutcomeCache', () => {
  test('keeps ok and engine (or none) for the newest max tasks', () => {
    const c = new OutcomeCache(3);
    c.remember('a', true, 0);
    c.remember('b', false, null);
    c.remember('c', true, 123456);
    assert.deepEqual(c.get('a'), { ok: true, engineId: 0 });
    assert.deepEqual(c.get('b'), { ok: false, engineId: null });
    assert.deepEqual(c.get('c'), { ok: true, engineId: 123456 });
    // finishing again (a resubmitted task) updates it without taking a second place
    c.remember('a', false, 2);
    assert.deepEqual(c.get('a'), { ok: false, engineId: 2 });
    assert.equal(c.size, 3);
    c.remember('d', true, 1);
    assert.equal(c.get('a'), undefined, 'the oldest is forgotten');
    assert.equal(c.size, 3);
    assert.equal(c.get('never'), undefined);
  });
});
