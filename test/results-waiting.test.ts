/**
 * Waiting on an AsyncResult, on one 3-engine cluster: async iteration (in
 * order, as completed, over a direct multi-engine apply, stopping at the first
 * failure), progress and timings (elapsedMs, wallTimeMs, serialTimeMs), and
 * waitInteractive on a line stream and on a TTY.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { before, describe, test } from 'node:test';
import { RemoteError } from '../index.js';
import type { Client } from '../index.js';
import { TestFiles, gated, range, sharedCluster, sleep, sleepFor, tempRootForFile, waitFor, waitIdle } from './support/index.js';

const files = new TestFiles(tempRootForFile('results-waiting'));

/** A writable that keeps what it is given, with a settable isTTY. */
class Capture extends Writable {
  text = '';
  constructor(readonly isTTY: boolean) {
    super();
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** Pull the next value from an async iterator, failing after `timeoutMs`. */
async function next<T>(it: AsyncIterator<T>, timeoutMs = 30000): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      it.next(),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no value within ${timeoutMs} ms`)), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('waiting on results on a 3-engine cluster', () => {
  const c = sharedCluster({ n: 3 }, '', { beforeStop: () => files.openAll() });
  let rc: Client;
  before(() => (rc = c.rc()));

  describe('async iteration', () => {
    test('a map yields its items in input order while it runs', async () => {
      const lb = rc.loadBalancedView();
      const g = files.file();
      const opened = files.file();
      files.open(opened);
      // chunks [0, 1], [2, 3], [4, 5], [6]: the last one is held back by a gate
      const items = range(7).map((v) => ({ gate: v === 6 ? g : opened, v }));
      const ar = lb.map(gated, items, { chunksize: 2 });
      try {
        assert.equal(ar.msgIds.length, 4);
        const it = ar[Symbol.asyncIterator]();
        const seen: unknown[] = [];
        for (let i = 0; i < 6; i++) seen.push((await next(it)).value);
        assert.deepEqual(seen, range(6), 'the first six in input order');
        assert.equal(ar.ready(), false, 'yielded while the map still runs');
        files.open(g);
        assert.deepEqual(await next(it), { value: 6, done: false });
        assert.equal((await next(it)).done, true);
        assert.deepEqual(await ar, range(7));
      } finally {
        files.open(g);
      }
    });

    test('ordered: false yields items as they complete, while the map runs', async (t) => {
      const lb = rc.loadBalancedView();
      const gs = range(3).map(() => files.file());
      const ar = lb.map(
        gated,
        gs.map((gate, v) => ({ gate, v })),
        { ordered: false },
      );
      t.after(() => gs.forEach((g) => files.open(g)));
      await waitFor(
        'all three tasks running',
        async () => {
          const s = await rc.queueStatus();
          return Object.values(s.engines).every((e) => e.running === 1);
        },
        { timeoutMs: 30000 },
      );
      const it = ar[Symbol.asyncIterator]();
      const got: unknown[] = [];
      // open the gates last to first: each item comes out as soon as its task is done
      for (const i of [2, 1, 0]) {
        files.open(gs[i]!);
        got.push((await next(it)).value);
        assert.equal(ar.ready(), i === 0, `after item ${i}`);
      }
      assert.deepEqual(got, [2, 1, 0]);
      assert.equal((await next(it)).done, true);
      assert.deepEqual(await ar, [2, 1, 0], 'the unordered result is in completion order too');
    });

    test('ordered: false with decreasing sleep times yields the shortest first', async () => {
      const lb = rc.loadBalancedView();
      const got: number[] = [];
      // three engines run the three at once; 1.5 s between completions
      for await (const v of lb.map(sleepFor, [3000, 1500, 0], { ordered: false })) got.push(v as number);
      assert.deepEqual(got, [0, 1500, 3000]);
    });

    test('a direct multi-engine apply yields one value per engine, in target order (arrays not flattened)', async () => {
      const dv = rc.directView();
      const pids: unknown[] = [];
      for await (const v of dv.apply(() => process.pid)) pids.push(v);
      assert.deepEqual(
        pids,
        dv.targets.map((id) => rc.engines.find((e) => e.id === id)!.pid),
      );
      const arrays: unknown[] = [];
      for await (const v of dv.apply(() => [1, 2])) arrays.push(v);
      assert.deepEqual(arrays, [
        [1, 2],
        [1, 2],
        [1, 2],
      ]);
      // a single result yields its one value
      const single: unknown[] = [];
      for await (const v of rc.loadBalancedView().apply(() => 'one')) single.push(v);
      assert.deepEqual(single, ['one']);
    });

    test('iteration throws the first failure it reaches, after the values before it', async () => {
      const got: unknown[] = [];
      await assert.rejects(
        (async () => {
          for await (const v of rc.loadBalancedView().map((x: number) => {
            if (x === 2) throw new Error('item 2 broke');
            return x;
          }, range(4)))
            got.push(v);
        })(),
        (e: unknown) => e instanceof RemoteError && e.evalue === 'item 2 broke',
      );
      assert.deepEqual(got, [0, 1]);
    });
  });

  describe('progress and timings', () => {
    test('progress, elapsedMs, wallTimeMs and serialTimeMs agree', async () => {
      await waitIdle(rc);
      const lb = rc.loadBalancedView();
      const durations = [300, 600, 900];
      const ar = lb.map(sleepFor, durations);
      assert.deepEqual(ar.progress, { done: 0, total: 3 });
      assert.throws(() => ar.wallTimeMs, /not ready/);
      await waitFor('the first task done', () => ar.progress.done >= 1, { timeoutMs: 30000 });
      const e1 = ar.elapsedMs;
      assert.ok(e1 >= 250, `elapsedMs ${e1} while running`);
      await sleep(20);
      if (!ar.ready()) assert.ok(ar.elapsedMs > e1, 'elapsedMs grows while the work runs');
      assert.deepEqual(await ar, durations);
      assert.deepEqual(ar.progress, { done: 3, total: 3 });

      const md = ar.metadata;
      const runs = md.map((m) => m.completed!.getTime() - m.started!.getTime());
      const sum = runs.reduce((p, q) => p + q, 0);
      assert.equal(ar.serialTimeMs, sum, 'serialTimeMs is the sum of the run times');
      for (const [i, d] of durations.entries())
        assert.ok(runs[i]! >= d - 5 && runs[i]! < d + 5000, `task ${i} ran ${runs[i]} ms for a ${d} ms sleep`);
      assert.ok(ar.serialTimeMs >= 1800 - 15 && ar.serialTimeMs < 1800 + 10000, `serialTimeMs ${ar.serialTimeMs} ~ 1800`);
      const wall = ar.wallTimeMs;
      assert.ok(wall >= Math.max(...runs), `wallTimeMs ${wall} >= the longest task ${Math.max(...runs)}`);
      assert.ok(wall >= 900 - 5, `wallTimeMs ${wall} >= 900`);
      const first = Math.min(...md.map((m) => m.submitted.getTime()));
      const last = Math.max(...md.map((m) => m.received!.getTime()));
      assert.equal(wall, last - first, 'first submission to last result');
      assert.equal(ar.elapsedMs, wall, 'elapsedMs stops once done');
      await sleep(30);
      assert.equal(ar.elapsedMs, wall);
      // the three ran side by side on three engines
      assert.equal(new Set(md.map((m) => m.engineId)).size, 3);
      assert.ok(wall < ar.serialTimeMs, `wall ${wall} < serial ${ar.serialTimeMs} when the tasks ran in parallel`);
    });
  });

  describe('waitInteractive', () => {
    test('on a stream that is not a TTY: lines with done/total as the work progresses', async (t) => {
      const lb = rc.loadBalancedView();
      const gs = range(3).map(() => files.file());
      const ar = lb.map(
        gated,
        gs.map((gate, v) => ({ gate, v })),
      );
      t.after(() => gs.forEach((g) => files.open(g)));
      const out = new Capture(false);
      const waiting = ar.waitInteractive({ stream: out, intervalMs: 20 });
      await waitFor('a 0/3 line', () => out.text.includes('0/3 tasks done'));
      files.open(gs[0]!);
      await waitFor('a 1/3 line', () => out.text.includes('1/3 tasks done'), { timeoutMs: 30000 });
      files.open(gs[1]!);
      files.open(gs[2]!);
      await waiting;
      assert.equal(ar.ready(), true);
      assert.ok(!out.text.includes('\r'), 'no carriage returns off a TTY');
      const lines = out.text.split('\n');
      assert.equal(lines.pop(), '', 'every write is a whole line');
      for (const l of lines) assert.match(l, /^\d\/3 tasks done, [\d.]+\/s, [\d.]+ s elapsed/);
      assert.match(lines.at(-1)!, /^3\/3 tasks done/);
      // a line only when the count changed (plus the final one)
      const counts = lines.map((l) => Number(l[0]));
      assert.deepEqual(counts.slice(0, 2), [0, 1]);
      assert.ok(counts.length <= 5, `at most one line per change: ${JSON.stringify(lines)}`);
    });

    test('on a TTY: a bar redrawn with \\r, ending in a full bar and a newline', async () => {
      const lb = rc.loadBalancedView();
      const g = files.file();
      const ar = lb.map(gated, [
        { gate: g, v: 0 },
        { gate: g, v: 1 },
      ]);
      const out = new Capture(true);
      const waiting = ar.waitInteractive({ stream: out, intervalMs: 20 });
      await waitFor('a few redraws', () => out.text.split('\r').length > 3);
      files.open(g);
      await waiting;
      const frames = out.text.split('\r').slice(1);
      assert.equal(out.text[0], '\r', 'the first draw starts with \\r');
      for (const f of frames) assert.match(f, /^\[[#.]{30}\] \d\/2 tasks done/);
      assert.match(frames[0]!, /^\[\.{30}\] 0\/2 tasks done/);
      const final = frames.at(-1)!;
      assert.match(final, /^\[#{30}\] 2\/2 tasks done.*\n$/);
      assert.ok(final.endsWith('\x1b[K\n'), 'clears the rest of the line');
      assert.equal(out.text.split('\n').length, 2, 'one newline, at the end');
    });

    test('timeoutMs stops waiting while the work goes on', async () => {
      const g = files.file();
      const ar = rc.loadBalancedView().apply(gated, { gate: g, v: 'late' });
      const out = new Capture(false);
      const t0 = Date.now();
      await ar.waitInteractive({ stream: out, intervalMs: 20, timeoutMs: 300 });
      assert.ok(Date.now() - t0 >= 250, 'waited about timeoutMs');
      assert.equal(ar.ready(), false);
      assert.match(out.text, /0\/1 tasks done/);
      files.open(g);
      assert.equal(await ar, 'late');
    });
  });
});
