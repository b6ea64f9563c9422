/**
 * Moving data and running code in engine namespaces, on one 3-engine cluster:
 * scatter/gather (block partition, order, typed arrays, flatten), a 100 MB
 * Float64Array through push/pull, pull of several names, TypeScript execute,
 * run(file) of .ts and .js files, and clear().
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { CompositeError, RemoteError } from '../index.js';
import type { Client } from '../index.js';
import { checksum, range, sharedCluster, tempRootForFile } from './support/index.js';

/** Names that tests put into engine namespaces. */
declare const part: number[];
declare const typed: ArrayLike<unknown>;
declare const flat: unknown;
declare const big: Float64Array;

const root = tempRootForFile('data');

describe('data movement and code on a 3-engine cluster', () => {
  const c = sharedCluster({ n: 3 });
  let rc: Client;
  before(() => (rc = c.rc()));

  describe('scatter and gather', () => {
    test('README: 10,001 items over 3 engines: blocks of 3334/3334/3333, order kept, gathered back equal', async () => {
      const dv = rc.directView();
      const items = [...Array(10001).keys()];
      const ar = dv.scatter('part', items);
      assert.equal(ar.msgIds.length, 3, 'one push per engine');
      assert.deepEqual(await ar, [undefined, undefined, undefined]);
      assert.deepEqual(await dv.apply(() => part.length), [3334, 3334, 3333]);
      // contiguous blocks in target order
      const ends = await dv.apply(() => [part[0], part[part.length - 1]]);
      assert.deepEqual(ends, [
        [0, 3333],
        [3334, 6667],
        [6668, 10000],
      ]);
      const inOrder = await dv.apply(() => part.every((x, i) => i === 0 || x === part[i - 1]! + 1));
      assert.deepEqual(inOrder, [true, true, true]);
      const back = await dv.gather<number>('part');
      assert.equal(back.length, 10001);
      assert.deepEqual(back, items);
    });

    test('scatter of an iterable and of fewer items than engines', async () => {
      const dv = rc.directView();
      await dv.scatter('part', new Set([10, 20, 30, 40]));
      assert.deepEqual(await dv.pull('part'), [[10, 20], [30], [40]]);
      assert.deepEqual(await dv.gather('part'), [10, 20, 30, 40]);
      await dv.scatter('part', [1]);
      assert.deepEqual(await dv.pull('part'), [[1], [], []]);
      assert.deepEqual(await dv.gather('part'), [1]);
      await dv.scatter('part', []);
      assert.deepEqual(await dv.gather('part'), []);
    });

    test('a typed array is scattered as typed-array blocks and gathered back as the same typed array type', async () => {
      const dv = rc.directView();
      const cases: ArrayLike<unknown>[] = [
        Float64Array.from(range(1000), (x) => x * 0.25),
        Int16Array.from(range(7), (x) => x - 3),
        Uint8Array.from(range(100)),
        BigInt64Array.from(range(5), (x) => BigInt(x) * 10n ** 12n),
        // large enough that each block travels as a frame of its own
        Float32Array.from(range(300000), (x) => x / 3),
      ];
      for (const original of cases) {
        const name = original.constructor.name;
        await dv.scatter('typed', original);
        const remote = await dv.apply(() => ({ type: typed.constructor.name, length: typed.length }));
        const n = original.length;
        const sizes = [Math.ceil(n / 3), Math.ceil((n - 1) / 3), Math.floor(n / 3)];
        assert.deepEqual(
          remote,
          sizes.map((length) => ({ type: name, length })),
          `${name}: blocks on the engines`,
        );
        const back = await dv.gather('typed');
        assert.equal((back as object).constructor, original.constructor, `${name}: gathered type`);
        assert.deepEqual(back, original, `${name}: gathered values`);
      }
    });

    test('flatten: true pushes a one-item block as the item itself', async () => {
      const dv = rc.directView();
      await dv.scatter('flat', ['a', 'b', 'c'], { flatten: true });
      assert.deepEqual(await dv.pull('flat'), ['a', 'b', 'c']);
      assert.deepEqual(await dv.apply(() => typeof flat), ['string', 'string', 'string']);
      assert.deepEqual(await dv.gather('flat'), ['a', 'b', 'c']);

      // blocks of more than one item stay arrays
      await dv.scatter('flat', [1, 2, 3, 4], { flatten: true });
      assert.deepEqual(await dv.pull('flat'), [[1, 2], 3, 4]);
      assert.deepEqual(await dv.gather('flat'), [1, 2, 3, 4]);

      // without flatten a one-item block is an array of one
      await dv.scatter('flat', ['a', 'b', 'c']);
      assert.deepEqual(await dv.pull('flat'), [['a'], ['b'], ['c']]);

      // a typed array with flatten: one element each
      await dv.scatter('flat', new Float64Array([1.5, 2.5, 3.5]), { flatten: true });
      assert.deepEqual(await dv.pull('flat'), [1.5, 2.5, 3.5]);
    });

    test('scatter and gather on a subset of engines', async () => {
      const two = rc.directView([rc.ids[0]!, rc.ids[2]!]);
      await two.scatter('part', range(5));
      assert.deepEqual(await two.apply(() => part), [
        [0, 1, 2],
        [3, 4],
      ]);
      assert.deepEqual(await two.gather('part'), range(5));
    });
  });

  describe('push and pull', () => {
    test('a 100 MB Float64Array pushed to one engine comes back intact', async () => {
      const n = (100 * 1024 * 1024) / 8;
      let arr: Float64Array | undefined = new Float64Array(n);
      for (let i = 0; i < n; i++) arr[i] = (i % 1000003) * 0.5 - i / 7;
      const want = { length: n, sum: checksum(arr), samples: [0, 1, 12345, n >> 1, n - 2, n - 1].map((i) => arr![i]!) };
      const one = rc.directView(rc.ids[1]!);
      await one.push({ big: arr });
      arr = undefined; // only one copy on this side at a time

      // the engine holds the same values
      const remote = await one.apply(() => {
        let s = 0;
        for (let i = 0; i < big.length; i++) s = (s + big[i]! * ((i % 7) + 1)) % 1e12;
        return { type: big.constructor.name, length: big.length, sum: s };
      });
      assert.deepEqual(remote, { type: 'Float64Array', length: n, sum: want.sum });

      let back: unknown = await one.pull('big');
      assert.ok(back instanceof Float64Array, 'pulled back as a Float64Array');
      assert.equal(back.length, want.length);
      assert.equal(checksum(back), want.sum);
      assert.deepEqual(
        [0, 1, 12345, n >> 1, n - 2, n - 1].map((i) => (back as Float64Array)[i]),
        want.samples,
      );
      back = undefined;
      // free the engine's copy
      await one.execute('big = undefined');
      assert.equal(await one.pull('big'), undefined);
    });

    test('README: push a Map and a Float64Array, pull one value from engine 0, pull several per engine', async () => {
      const dv = rc.directView();
      await dv.push({ table: new Map([[1, 'x']]), weights: new Float64Array(1e6) });
      assert.deepEqual(await rc.directView(0).pull('table'), new Map([[1, 'x']]));
      const both = await dv.pull(['table', 'weights']);
      assert.equal(both.length, 3);
      for (const [table, weights] of both as [Map<number, string>, Float64Array][]) {
        assert.deepEqual(table, new Map([[1, 'x']]));
        assert.ok(weights instanceof Float64Array);
        assert.equal(weights.length, 1e6);
      }
    });

    test('pull of several names: per engine an array in the order asked; one value for a single target', async () => {
      const dv = rc.directView();
      await dv.push({ alpha: 1, beta: 'two', gamma: new Map([[3, 'three']]), delta: { nested: [new Date(0)] } });
      await dv.execute('var perEngine = process.pid');
      const all = await dv.pull(['alpha', 'beta', 'gamma', 'delta']);
      assert.equal(all.length, 3);
      for (const r of all) assert.deepEqual(r, [1, 'two', new Map([[3, 'three']]), { nested: [new Date(0)] }]);
      const [b, a] = await rc.directView(rc.ids[0]!).pull<[string, number]>(['beta', 'alpha']);
      assert.equal(b, 'two');
      assert.equal(a, 1);
      const pidsPulled = await dv.pull<number>('perEngine');
      assert.deepEqual(
        pidsPulled,
        rc.engines.map((e) => e.pid),
      );
      assert.deepEqual(await dv.pull(['delta.nested.length', 'alpha']), [
        [1, 1],
        [1, 1],
        [1, 1],
      ]);
      // an unknown name fails
      await assert.rejects(rc.directView(rc.ids[0]!).pull(['alpha', 'noSuchName']), (e: unknown) => {
        assert.ok(e instanceof RemoteError, `RemoteError expected, got ${String(e)}`);
        assert.equal(e.ename, 'ReferenceError');
        assert.match(e.evalue, /noSuchName/);
        return true;
      });
    });
  });

  describe('execute, run, clear', () => {
    test('TypeScript execute: interfaces, annotations, generics and an enum; values are then pulled', async () => {
      const dv = rc.directView();
      const code = `
        interface Point { x: number; y: number }
        type Pair<T> = [T, T];
        enum Color { Red, Green = 5, Blue }
        enum Label { On = 'on', Off = 'off' }
        function swap<T>(p: Pair<T>): Pair<T> { return [p[1], p[0]]; }
        class Box<T> {
          private readonly items: T[] = [];
          add(item: T): this { this.items.push(item); return this; }
          get size(): number { return this.items.length; }
        }
        var origin: Point = { x: 1, y: 2 };
        var swapped: Pair<string> = swap<string>(['a', 'b']);
        var color: Color = Color.Blue;
        var colorName: string = Color[Color.Green];
        var label: Label = Label.Off;
        var boxSize: number = new Box<number>().add(1).add(2).size;
        let asserted = (origin as Point).x satisfies number;
        var typedFn = (n: number): string => n.toFixed(1);
      `;
      assert.deepEqual(await dv.execute(code, { typescript: true }), [undefined, undefined, undefined]);
      const got = await rc.directView(rc.ids[0]!).pull(['origin', 'swapped', 'color', 'colorName', 'label', 'boxSize', 'asserted']);
      assert.deepEqual(got, [{ x: 1, y: 2 }, ['b', 'a'], 6, 'Green', 'off', 2, 1]);
      assert.deepEqual(await dv.apply(() => (globalThis as unknown as { typedFn: (n: number) => string }).typedFn(2)), ['2.0', '2.0', '2.0']);

      // without the flag, code that only parses as TypeScript is stripped too (README example)
      await dv.execute('interface P { x: number } var p: P = { x: 1 }');
      assert.deepEqual(await dv.pull('p'), [{ x: 1 }, { x: 1 }, { x: 1 }]);
      // and plain JavaScript runs as it is
      await dv.execute('var counter = 0; counter += 2');
      assert.deepEqual(await dv.pull('counter'), [2, 2, 2]);
    });

    test('an execute that throws names its filename in the remote stack', async () => {
      const one = rc.directView(rc.ids[0]!);
      await assert.rejects(
        one.execute('const n: number = 1;\nthrow new RangeError("bad setup " + n);', { typescript: true, filename: 'setup-step.ts' }),
        (e: unknown) => {
          assert.ok(e instanceof RemoteError, `RemoteError expected, got ${String(e)}`);
          assert.equal(e.ename, 'RangeError');
          assert.equal(e.evalue, 'bad setup 1');
          assert.match(e.remoteStack, /setup-step\.ts/);
          return true;
        },
      );
      // a syntax error is a remote error too
      await assert.rejects(one.execute('var = ;'), (e: unknown) => e instanceof RemoteError && e.ename === 'SyntaxError');
    });

    test('run(file) runs a .ts file and a .js file in every namespace', async () => {
      const dv = rc.directView();
      const tsFile = join(root, 'setup.ts');
      writeFileSync(
        tsFile,
        [
          'interface Config { name: string; size: number }',
          'enum Mode { Fast = 1, Slow = 2 }',
          "var config: Config = { name: 'from ts', size: 3 };",
          'var mode: Mode = Mode.Slow;',
          'function total<T extends { size: number }>(c: T): number { return c.size * 2; }',
          'var doubled: number = total(config);',
          '',
        ].join('\n'),
      );
      const jsFile = join(root, 'setup.js');
      writeFileSync(jsFile, ["var fromJs = ['js', 1 + 1];", 'function jsHelper(x) { return x * 100; }', ''].join('\n'));

      assert.deepEqual(await dv.run(tsFile), [undefined, undefined, undefined]);
      assert.deepEqual(await dv.run(jsFile), [undefined, undefined, undefined]);
      for (const r of await dv.pull(['config', 'mode', 'doubled', 'fromJs'])) {
        assert.deepEqual(r, [{ name: 'from ts', size: 3 }, 2, 6, ['js', 2]]);
      }
      // a function defined by the file is callable from shipped functions
      assert.deepEqual(await dv.apply(() => (globalThis as unknown as { jsHelper: (x: number) => number }).jsHelper(3)), [300, 300, 300]);

      // an error in a run file names the file
      const badFile = join(root, 'bad-setup.ts');
      writeFileSync(badFile, 'const limit: number = 2;\nthrow new Error(`limit ${limit} exceeded`);\n');
      await assert.rejects(rc.directView(rc.ids[0]!).run(badFile), (e: unknown) => {
        assert.ok(e instanceof RemoteError, `RemoteError expected, got ${String(e)}`);
        assert.equal(e.evalue, 'limit 2 exceeded');
        assert.match(e.remoteStack, /bad-setup\.ts/);
        return true;
      });
      // a missing file fails here, before anything is sent
      assert.throws(() => dv.run(join(root, 'no-such-file.ts')), /ENOENT/);
    });

    test('clear() resets the namespace: pushed and executed names are gone, new ones work', async () => {
      const dv = rc.directView();
      await dv.push({ keep: 'pushed' });
      await dv.execute('var defined = 42; globalThis.viaGlobal = 1');
      assert.deepEqual(await dv.pull(['keep', 'defined', 'viaGlobal']), [
        ['pushed', 42, 1],
        ['pushed', 42, 1],
        ['pushed', 42, 1],
      ]);
      assert.deepEqual(await dv.clear(), [undefined, undefined, undefined]);
      for (const name of ['keep', 'defined', 'viaGlobal']) {
        await assert.rejects(dv.pull(name), (e: unknown) => {
          assert.ok(e instanceof CompositeError, `${name}: CompositeError expected, got ${String(e)}`);
          assert.equal(e.errors.length, 3);
          for (const x of e.errors) assert.ok(x instanceof RemoteError && x.ename === 'ReferenceError', String(x));
          return true;
        });
      }
      assert.deepEqual(await dv.apply(() => typeof (globalThis as Record<string, unknown>).keep), ['undefined', 'undefined', 'undefined']);
      // the engines serve on, with a fresh namespace
      await dv.push({ keep: 'again' });
      assert.deepEqual(await dv.pull('keep'), ['again', 'again', 'again']);
      // clearing one engine leaves the others alone
      const [first, second] = rc.ids;
      await rc.directView(first!).clear();
      await assert.rejects(rc.directView(first!).pull('keep'), (e: unknown) => e instanceof RemoteError && e.ename === 'ReferenceError');
      assert.equal(await rc.directView(second!).pull('keep'), 'again');
    });
  });
});
