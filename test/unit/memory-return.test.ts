/**
 * Returning freed memory (util/memory-return.ts, with the addon native/trim.c):
 * after many small allocations are freed around a few that live on, glibc
 * keeps the pages resident; an idle check collects and trims them back, a busy
 * one (tasks unfinished, or arrived since the last check) trims at most every
 * busyEveryMs without collecting, and a small growth does nothing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runInNewContext } from 'node:vm';
import { MemoryReturn, youngBytes } from '../../util/memory-return.js';
import type { MemoryReturnOptions } from '../../util/memory-return.js';
import type { Logger } from '../../util/log.js';
import { canTrim, mallocTrim } from '../../util/malloc-trim.js';

const MB = 1024 * 1024;

function logger(lines: string[]): Logger {
  return { debug: (m) => lines.push(m), info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
}

/** ~110 MB of small Buffers (one malloc each), of which 1 in 64 is kept: the freed ones leave holes glibc keeps. */
function fragment(): Buffer[] {
  const all: Buffer[] = [];
  for (let i = 0; i < 400_000; i++) all.push(Buffer.allocUnsafeSlow(200 + (i % 5) * 40));
  return all.filter((_, i) => i % 64 === 0);
}

function returner(lines: string[], o: Partial<MemoryReturnOptions>): MemoryReturn {
  // checked by hand (checkEveryMs far away), so each test decides when
  return new MemoryReturn({ busy: () => false, activity: () => 0, log: logger(lines), checkEveryMs: 1e9, settleMs: 100, ...o });
}

describe('returning freed memory (util/memory-return.ts)', () => {
  test('the addon is built (npm install builds native/trim.c) and trims', () => {
    assert.ok(canTrim(), 'build/Release/tscluster_trim.node is missing: run `npm install` (node-gyp and a C compiler are needed)');
    assert.equal(typeof mallocTrim(), 'boolean');
  });

  test('starting gives contexts made later no `gc` (user code in an engine worker sees none)', () => {
    const m = returner([], {});
    assert.equal(m.start(), true);
    m.stop();
    assert.equal(runInNewContext('typeof gc'), 'undefined');
  });

  test('idle: a collection then a trim gives the freed pages back (a collection alone does not)', async () => {
    const lines: string[] = [];
    const m = returner(lines, { growthBytes: 1 });
    assert.equal(m.start(), true);
    try {
      const kept = fragment();
      const before = process.memoryUsage.rss();
      m.check();
      await new Promise((r) => setTimeout(r, 500));
      const after = process.memoryUsage.rss();
      assert.equal(m.trims, 1, lines.join('\n'));
      assert.ok(before - after > 64 * MB, `RSS ${before / MB} -> ${after / MB} MB: ${lines.join('\n')}`);
      assert.match(lines.at(-1) ?? '', /^malloc_trim \(idle, after a collection of [\d.]+ ms; young generation \d+ MB\): RSS \d+ -> \d+ MB/);
      assert.equal(kept.length, 6250);
    } finally {
      m.stop();
    }
  });

  test('tasks arriving between checks count as busy, though none is unfinished: a trim without a collection', () => {
    const lines: string[] = [];
    let arrived = 0;
    const m = returner(lines, { activity: () => arrived, growthBytes: 1 });
    assert.equal(m.start(), true);
    try {
      const kept = fragment();
      arrived++;
      m.check();
      assert.equal(m.trims, 1);
      assert.match(lines.at(-1) ?? '', /^malloc_trim \(busy\)/);
      assert.equal(kept.length, 6250);
    } finally {
      m.stop();
    }
  });

  test('busy: trims at once, then not again within busyEveryMs; a growth under growthBytes never trims', () => {
    const lines: string[] = [];
    const busy = returner(lines, { busy: () => true, growthBytes: 1, busyEveryMs: 60_000 });
    assert.equal(busy.start(), true);
    const small = returner(lines, { growthBytes: 1024 * MB });
    assert.equal(small.start(), true);
    try {
      const kept = fragment();
      busy.check();
      assert.equal(busy.trims, 1);
      assert.match(lines.at(-1) ?? '', /^malloc_trim \(busy\)/);
      fragment();
      busy.check();
      assert.equal(busy.trims, 1, 'a second trim within busyEveryMs');
      small.check();
      assert.equal(small.trims, 0);
      assert.equal(kept.length, 6250);
    } finally {
      busy.stop();
      small.stop();
    }
  });

  test('idle: a young generation grown by a burst is shrunk by a second collection a few seconds later', async () => {
    const lines: string[] = [];
    // growth 0: the first idle check collects whatever RSS did (the burst's garbage may leave it lower than at the start)
    const m = returner(lines, { growthBytes: 0, youngBytes: 4 * MB, shrinkAfterMs: 5000 });
    assert.equal(m.start(), true);
    try {
      // a burst of short-lived objects, as tasks leave behind: V8 grows the young generation to its maximum
      let n = 0;
      for (let r = 0; r < 200; r++) {
        const a: { i: number; s: string }[] = [];
        for (let i = 0; i < 20_000; i++) a.push({ i, s: `x${i}` });
        n += a.length;
      }
      assert.equal(n, 4_000_000);
      const grown = youngBytes();
      assert.ok(grown > 8 * MB, `young generation after the burst: ${grown / MB} MB`);
      const t0 = Date.now();
      m.check(t0);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(m.trims, 1, lines.join('\n'));
      assert.ok(youngBytes() > 8 * MB, 'the first collection, right after the burst, leaves it as it is (V8 sees the burst)');
      // still idle: V8 shrinks it once allocation has been slow for a few seconds
      await new Promise((r) => setTimeout(r, 5200));
      m.check(t0 + 5000);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(m.trims, 2, lines.join('\n'));
      assert.match(lines.at(-1) ?? '', /^malloc_trim \(idle, young generation, after a collection/);
      assert.ok(youngBytes() < grown / 4, `young generation ${grown / MB} -> ${youngBytes() / MB} MB`);
    } finally {
      m.stop();
    }
  });
});
