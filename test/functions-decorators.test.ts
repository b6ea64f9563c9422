/**
 * Remote and parallel functions as decorators, end to end on one 3-engine
 * cluster: the README's decorated class, @remote/@parallel on both view kinds
 * (static, async and instance methods, chunksize), and the README's examples
 * of views, remote() and parallel().
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Client } from '../index.js';
import type { ParallelFunction, RemoteFunction } from '../client/functions.js';
import { range, sharedCluster, sortedNumbers as sorted, tempRootForFile } from './support/index.js';
import type { ChunkInfo } from './support/index.js';

tempRootForFile('functions-decorators');

/** A name pushed to the engines by a test. */
declare const a: number;

describe('decorated remote and parallel functions on a 3-engine cluster', () => {
  const c = sharedCluster({ n: 3 });
  let rc: Client;
  let pids: number[] = [];
  before(() => {
    rc = c.rc();
    pids = sorted(c.cluster().enginePids);
    assert.equal(pids.length, 3);
  });

  describe('decorators', () => {
    test('README: @lb.parallel() and @lb.remote() on static methods run on engines', async () => {
      const lb = rc.loadBalancedView();
      class Jobs {
        @lb.parallel() static square(xs: number[]) {
          return xs.map((x) => x * x);
        }
        @lb.remote() static host() {
          return process.pid;
        }
        @lb.parallel() static where(xs: number[]) {
          return xs.map(() => process.pid);
        }
      }
      assert.deepEqual(await Jobs.square([1, 2, 3, 4]), [1, 4, 9, 16]);
      const host = await Jobs.host();
      assert.ok(pids.includes(host), `host() gave pid ${host}, not an engine's (${pids.join(', ')})`);
      assert.notEqual(host, process.pid);
      const where = await Jobs.where(range(9));
      assert.equal(where.length, 9);
      for (const p of where) assert.ok(pids.includes(p), `item computed on pid ${p}, not an engine`);

      // the decorated members are the view's remote/parallel functions
      const square = Jobs.square as unknown as ParallelFunction<number, number>;
      assert.equal(square.view, lb);
      const ar = square([5, 6]);
      assert.equal(typeof ar.msgIds[0], 'string', 'a call returns an AsyncResult');
      assert.deepEqual(await ar, [25, 36]);
      assert.equal((Jobs.host as unknown as RemoteFunction<[], number>).view, lb);
    });

    test('decorators on a DirectView: remote runs on every engine, parallel makes one chunk per engine', async () => {
      const dv = rc.directView();
      class Everywhere {
        @dv.remote() static pid() {
          return process.pid;
        }
        @dv.remote() static add(a: number, b: number) {
          return a + b;
        }
        @dv.parallel() static chunks(xs: number[]) {
          return [{ pid: process.pid, size: xs.length, first: xs[0] ?? -1 }];
        }
      }
      const got = (await Everywhere.pid()) as unknown as number[];
      assert.deepEqual(sorted(got), pids, 'one result per engine');
      assert.deepEqual(await Everywhere.add(2, 3), [5, 5, 5]);
      const chunks = (await Everywhere.chunks(range(10))) as unknown as ChunkInfo[];
      assert.equal(chunks.length, 3, 'one chunk per engine');
      assert.deepEqual(sorted(chunks.map((c) => c.pid)), pids, 'every engine got one chunk');
      assert.deepEqual(
        chunks.map((c) => c.size),
        [4, 3, 3],
      );
      assert.deepEqual(
        chunks.map((c) => c.first),
        [0, 4, 7],
      );

      // a single-target direct view gives single values
      const one = rc.directView(rc.ids[1]!);
      class Single {
        @one.remote() static pid() {
          return process.pid;
        }
      }
      assert.equal(await Single.pid(), rc.engines[1]!.pid);
    });

    test('async static methods, decorated', async () => {
      const lb = rc.loadBalancedView();
      class Slow {
        @lb.remote() static async later(x: number) {
          await new Promise((r) => setTimeout(r, 10));
          return { x: x + 1, pid: process.pid };
        }

        @lb.parallel() static async doubled(xs: number[]) {
          await new Promise((r) => setTimeout(r, 10));
          return xs.map((x) => x * 2);
        }
      }
      const r = await Slow.later(41);
      assert.equal(r.x, 42);
      assert.ok(pids.includes(r.pid));
      assert.deepEqual(
        await Slow.doubled(range(7)),
        range(7).map((x) => x * 2),
      );
    });

    test('instance (non-static) methods, decorated, sync and async', async () => {
      const lb = rc.loadBalancedView();
      const dv = rc.directView();
      class Model {
        @lb.remote() add(a: number, b: number) {
          return a + b;
        }
        @lb.remote() async where() {
          return process.pid;
        }
        @lb.parallel() scale(xs: number[]) {
          return xs.map((x) => x * 10);
        }
        @dv.remote() everywhere() {
          return process.pid;
        }
      }
      const m = new Model();
      assert.equal(await m.add(2, 40), 42);
      const w = await m.where();
      assert.ok(pids.includes(w), `pid ${w} is not an engine's`);
      assert.deepEqual(await m.scale([1, 2, 3, 4, 5]), [10, 20, 30, 40, 50]);
      assert.deepEqual(sorted((await m.everywhere()) as unknown as number[]), pids);
      // every instance shares the prototype's remote function
      assert.equal(await new Model().add(1, 1), 2);
    });

    test('decorator options: @lb.parallel({ chunksize }) splits by it', async () => {
      const lb = rc.loadBalancedView();
      class Sized {
        @lb.parallel({ chunksize: 2 }) static sizes(xs: number[]) {
          return xs.map(() => xs.length);
        }
      }
      const ar = (Sized.sizes as unknown as ParallelFunction<number, number>)(range(5));
      assert.equal(ar.msgIds.length, 3, 'chunks of 2, 2 and 1');
      assert.deepEqual(await ar, [2, 2, 2, 2, 1]);
    });
  });

  describe('README examples (The client API)', () => {
    test('Views: apply with a wrapped built-in, map with chunksize and ordered: false, a direct map over a block partition', async () => {
      const lb = rc.loadBalancedView();
      const dv = rc.directView();
      await dv.push({ a: 10 });
      assert.deepEqual(await dv.apply((b: number) => a + b, 5), [15, 15, 15]);
      assert.equal(await lb.apply((x: number, y: number) => Math.max(x, y), 1, 2), 2);
      const items = range(1000);
      const unordered = await lb.map((x: number) => x * x, items, { chunksize: 100, ordered: false });
      assert.deepEqual(
        sorted(unordered),
        items.map((x) => x * x),
      );
      const ar = dv.map((x: number) => x + 1, [1, 2, 3, 4]);
      assert.equal(ar.msgIds.length, 3, 'one task per engine');
      assert.deepEqual(await ar, [2, 3, 4, 5]);
    });

    test('Remote and parallel functions: remote(), parallel() with chunksize 250', async () => {
      const lb = rc.loadBalancedView();
      const host = lb.remote(() => process.pid);
      assert.ok(pids.includes(await host()));
      const squares = lb.parallel((xs: number[]) => xs.map((x) => x * x), { chunksize: 250 });
      assert.deepEqual(await squares([1, 2, 3, 4]), [1, 4, 9, 16]);
    });

    test('Remote and parallel functions: squares.map([[1, 2], [3]]) (the README example)', async () => {
      // README: `await squares.map([[1, 2], [3]]);  // once per item, each item a whole input: [[1, 4], [9]]`
      const lb = rc.loadBalancedView();
      const squares = lb.parallel((xs: number[]) => xs.map((x) => x * x), { chunksize: 250 });
      assert.deepEqual(await squares.map([[1, 2], [3]]), [[1, 4], [9]]);
    });
  });
});
