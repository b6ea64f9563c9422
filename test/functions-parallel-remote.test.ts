/**
 * Parallel and remote functions end to end on one 3-engine cluster:
 * ParallelFunction calls (chunking per view kind, order, chunksize) and
 * `.map`, the error for a parallel function that does not return an array,
 * remote() on both view kinds, and every function syntax through remote().
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { RemoteError, SerializationError } from '../index.js';
import type { AsyncResult, Client } from '../index.js';
import { range, sharedCluster, sortedNumbers as sorted, tempRootForFile } from './support/index.js';
import type { ChunkInfo } from './support/index.js';

tempRootForFile('functions-parallel-remote');

/** A named function declaration, shipped by remote(). */
function tripleDecl(x: number): number {
  return x * 3;
}

/** A named async function declaration. */
async function asyncDecl(x: number): Promise<string> {
  await new Promise((r) => setTimeout(r, 5));
  return `async decl ${x}`;
}

/** Holder of class-method syntaxes (static, async, instance, computed name). */
class Syntaxes {
  static half(x: number): number {
    return x / 2;
  }

  static async later(x: number): Promise<number> {
    await new Promise((r) => setTimeout(r, 5));
    return x + 100;
  }

  negate(x: number): number {
    return -x;
  }

  ['computed' + 'Name'](x: number): string {
    return `computed ${x}`;
  }
}

describe('parallel and remote functions on a 3-engine cluster', () => {
  const c = sharedCluster({ n: 3 });
  let rc: Client;
  let pids: number[] = [];
  before(() => {
    rc = c.rc();
    pids = sorted(c.cluster().enginePids);
    assert.equal(pids.length, 3);
  });

  describe('ParallelFunction', () => {
    const chunkInfo = (xs: number[]): ChunkInfo[] => xs.map(() => ({ pid: process.pid, size: xs.length, first: xs[0]! }));

    test('on a DirectView: one chunk per engine, each engine gets one, results concatenated in order', async () => {
      const dv = rc.directView();
      const pf = dv.parallel(chunkInfo);
      assert.equal(pf.view, dv);
      const ar = pf(range(11));
      assert.equal(ar.msgIds.length, 3, 'one task per engine');
      const info = await ar;
      assert.equal(info.length, 11);
      // contiguous blocks 4, 4, 3 in input order
      assert.deepEqual(
        info.map((c) => c.size),
        [4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3],
      );
      assert.deepEqual(
        info.map((c) => c.first),
        [0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8],
      );
      const chunkPids = [info[0]!.pid, info[4]!.pid, info[8]!.pid];
      assert.deepEqual(sorted(chunkPids), pids, 'every engine got exactly one chunk');
      // in target order: the first chunk went to the first engine of the view
      assert.deepEqual(
        chunkPids,
        dv.targets.map((id) => rc.engines.find((e) => e.id === id)!.pid),
      );

      const sq = dv.parallel((xs: number[]) => xs.map((x) => x * x));
      assert.deepEqual(
        await sq(range(20)),
        range(20).map((x) => x * x),
      );
      // fewer items than engines: empty chunks give nothing
      assert.deepEqual(await sq([3]), [9]);
      assert.deepEqual(await sq([]), []);
    });

    test('on a LoadBalancedView: default chunksize is one chunk per engine; concatenation in input order', async () => {
      const lb = rc.loadBalancedView();
      const pf = lb.parallel(chunkInfo);
      assert.equal(pf.view, lb);
      const ar = pf(range(10));
      assert.equal(ar.msgIds.length, 3, 'ceil(10 / 3) = 4 per chunk: 4, 4, 2');
      const info = await ar;
      assert.deepEqual(
        info.map((c) => c.size),
        [4, 4, 4, 4, 4, 4, 4, 4, 2, 2],
      );
      assert.deepEqual(
        info.map((c) => c.first),
        [0, 0, 0, 0, 4, 4, 4, 4, 8, 8],
      );
      for (const c of info) assert.ok(pids.includes(c.pid));

      // tasks that finish in reverse order still concatenate in input order
      const reversed = lb.parallel(
        async (xs: number[]) => {
          await new Promise((r) => setTimeout(r, 300 - xs[0]! * 20));
          return xs.map((x) => `v${x}`);
        },
        { chunksize: 1 },
      );
      assert.deepEqual(
        await reversed(range(6)),
        range(6).map((x) => `v${x}`),
      );
    });

    test('on a LoadBalancedView: an explicit chunksize sets the chunks', async () => {
      const lb = rc.loadBalancedView();
      const pf = lb.parallel(chunkInfo, { chunksize: 3 });
      const ar = pf(range(10));
      assert.equal(ar.msgIds.length, 4, 'chunks of 3, 3, 3, 1');
      const info = await ar;
      assert.deepEqual(
        info.map((c) => c.size),
        [3, 3, 3, 3, 3, 3, 3, 3, 3, 1],
      );
      assert.deepEqual(
        info.map((c) => c.first),
        [0, 0, 0, 3, 3, 3, 6, 6, 6, 9],
      );
      const big = lb.parallel((xs: number[]) => xs.map((x) => x + 1), { chunksize: 250 });
      const bar = big(range(1000));
      assert.equal(bar.msgIds.length, 4);
      assert.deepEqual(
        await bar,
        range(1000).map((x) => x + 1),
      );
      assert.throws(() => lb.parallel(chunkInfo, { chunksize: 0 })(range(3)), RangeError);
    });

    test('.map(items) makes one call per element, results in input order, on both view kinds', async () => {
      for (const view of [rc.loadBalancedView(), rc.directView()]) {
        const pf = view.parallel((xs: number[]) => {
          console.log('call');
          return ([] as number[]).concat(xs).map((x) => x * 10);
        });
        const ar = pf.map([[1], [2], [3], [4]]);
        const got = (await ar) as unknown[];
        assert.equal(got.length, 4, 'one result per element');
        assert.deepEqual(got.flat(), [10, 20, 30, 40]);
        const calls = ar.stdout.join('').match(/call\n/g)?.length ?? 0;
        assert.equal(calls, 4, 'the function ran once per element');
      }
      // one task per element on a load-balanced view (map's default chunksize is 1)
      const lb = rc.loadBalancedView();
      const pidOf = lb.parallel((xs: number[]) => [process.pid, ...([] as number[]).concat(xs)]);
      const ar = pidOf.map([[7], [8], [9]]);
      assert.equal(ar.msgIds.length, 3);
      const got = await ar;
      assert.deepEqual(
        got.map((p) => p.slice(1)),
        [[7], [8], [9]],
      );
      for (const [p] of got) assert.ok(pids.includes(p!));
    });

    test('a parallel function whose chunk result is not an array fails with a clear TypeError', async () => {
      for (const view of [rc.loadBalancedView(), rc.directView()]) {
        const bad = view.parallel((xs: number[]) => xs.length as unknown as number[]);
        await assert.rejects(bad([1, 2, 3]), (e: unknown) => {
          assert.ok(e instanceof TypeError, `TypeError expected, got ${String(e)}`);
          assert.match(e.message, /parallel function must return an array/);
          assert.match(e.message, /got number/);
          return true;
        });
        const nul = view.parallel((): number[] => null as unknown as number[]);
        await assert.rejects(nul([1, 2, 3]), /must return an array for its chunk, got null/);
        const obj = view.parallel((xs: number[]) => ({ n: xs.length }) as unknown as number[]);
        await assert.rejects(obj([1, 2, 3]), /must return an array for its chunk, got object/);
      }
    });
  });

  describe('remote()', () => {
    test('on a LoadBalancedView: one value from one engine; on a DirectView: one value per engine', async () => {
      const lb = rc.loadBalancedView();
      const host = lb.remote(() => process.pid);
      assert.equal(host.view, lb);
      const p = await host();
      assert.ok(pids.includes(p));
      const mul = lb.remote((a: number, b: number) => a * b);
      assert.equal(await mul(6, 7), 42);
      const ar: AsyncResult<number, boolean> = mul(2, 2);
      assert.equal(ar.msgIds.length, 1);
      assert.equal(await ar, 4);

      const dv = rc.directView();
      const dhost = dv.remote(() => process.pid);
      assert.equal(dhost.view, dv);
      const all = (await dhost()) as unknown as number[];
      assert.deepEqual(sorted(all), pids);
      const dmul = dv.remote((a: number, b: number) => a * b);
      assert.deepEqual(await dmul(3, 5), [15, 15, 15]);

      const single = rc.directView(rc.ids[2]!).remote(() => process.pid);
      assert.equal(await single(), rc.engines[2]!.pid);
    });

    test('a remote function that throws rejects with RemoteError', async () => {
      const boom = rc.loadBalancedView().remote((msg: string) => {
        throw new SyntaxError(msg);
      });
      await assert.rejects(boom('remote boom'), (e: unknown) => e instanceof RemoteError && e.ename === 'SyntaxError' && e.evalue === 'remote boom');
    });

    test('every function syntax travels: arrow, function, async, class methods', async () => {
      const lb = rc.loadBalancedView();
      const cases: [string, () => PromiseLike<unknown>, unknown][] = [
        ['arrow, expression body', () => lb.remote((x: number) => x + 1)(1), 2],
        [
          'arrow, block body',
          () =>
            lb.remote((x: number) => {
              const y = x * 2;
              return y;
            })(4),
          8,
        ],
        ['arrow, no parameters', () => lb.remote(() => 'no params')(), 'no params'],
        ['arrow, default and rest parameters', () => lb.remote((a: number, b: number = 10, ...rest: number[]) => a + b + rest.length)(1), 11],
        ['arrow, destructured parameter', () => lb.remote(({ a, b }: { a: number; b: number }) => a - b)({ a: 9, b: 4 }), 5],
        [
          'async arrow',
          () =>
            lb.remote(async (x: number) => {
              await new Promise((r) => setTimeout(r, 5));
              return x * 5;
            })(3),
          15,
        ],
        [
          'anonymous function expression',
          () =>
            lb.remote(function (x: number) {
              return x * 7;
            })(2),
          14,
        ],
        [
          'named function expression',
          () =>
            lb.remote(function seven(x: number) {
              return x + 7;
            })(2),
          9,
        ],
        ['function declaration', () => lb.remote(tripleDecl)(5), 15],
        [
          'async function expression',
          () =>
            lb.remote(async function (x: number) {
              return `async ${x}`;
            })(1),
          'async 1',
        ],
        ['async function declaration', () => lb.remote(asyncDecl)(2), 'async decl 2'],
        ['static class method', () => lb.remote(Syntaxes.half)(9), 4.5],
        ['async static class method', () => lb.remote(Syntaxes.later)(1), 101],
        ['instance class method', () => lb.remote(new Syntaxes().negate)(3), -3],
        [
          'computed-name class method',
          () => lb.remote((new Syntaxes() as unknown as Record<string, (x: number) => string>).computedName!)(8),
          'computed 8',
        ],
        [
          'object-literal method',
          () =>
            lb.remote(
              {
                twice(x: number) {
                  return x * 2;
                },
              }.twice,
            )(21),
          42,
        ],
        [
          'async object-literal method',
          () =>
            lb.remote(
              {
                async once(x: number) {
                  return [x];
                },
              }.once,
            )(1),
          [1],
        ],
      ];
      for (const [what, call, want] of cases) {
        assert.deepEqual(await call(), want, what);
      }
      // the name is kept on the remote function
      assert.equal(lb.remote(tripleDecl).name, 'tripleDecl');
      assert.equal(lb.remote(Syntaxes.half).name, 'half');
    });

    test('a built-in function cannot travel: SerializationError at the call', () => {
      const lb = rc.loadBalancedView();
      const max = lb.remote(Math.max);
      assert.throws(
        () => max(1, 2),
        (e: unknown) => e instanceof SerializationError && e.typeName === 'function' && /built-in or bound function/.test(e.message),
      );
    });
  });
});
