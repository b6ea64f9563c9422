/**
 * What comes back with a result, against one real cluster of 2 engines: a
 * task's stdout and stderr, its metadata and the queue status, and
 * serialization both ways (what cannot travel fails naming its type and path;
 * large typed arrays, Map, Set, Date, BigInt, cycles and ArrayBuffers travel
 * intact).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { SerializationError } from '../index.js';
import type { Client } from '../index.js';
import { TestFiles, engineQueues, gated, sharedCluster, tempRootForFile, waitFor } from './support/index.js';

const files = new TestFiles(tempRootForFile('client-output'));

describe('client output, metadata and serialization on a 2-engine cluster', () => {
  const c = sharedCluster({ n: 2 });
  let rc: Client;
  before(() => (rc = c.rc()));

  describe('output and metadata', () => {
    test("a task's console.log / process.stdout.write reach ar.stdout, console.error / process.stderr.write ar.stderr", async () => {
      const ar = rc.loadBalancedView().apply(() => {
        console.log('hello from console.log');
        process.stdout.write('raw stdout\n');
        console.error('hello from console.error');
        process.stderr.write('raw stderr\n');
        return 'done';
      });
      assert.equal(await ar, 'done');
      assert.equal(ar.stdout, 'hello from console.log\nraw stdout\n');
      assert.equal(ar.stderr, 'hello from console.error\nraw stderr\n');

      const dar = rc.directView().apply(() => {
        console.log(`pid ${process.pid}`);
      });
      await dar;
      const pids = rc.engines.map((e) => e.pid);
      assert.deepEqual(
        dar.stdout,
        pids.map((p) => `pid ${p}\n`),
      );
      assert.deepEqual(dar.stderr, ['', '']);
    });

    test('metadata: engineId a registered id, submitted <= completed, status ok', async () => {
      const ar = rc.loadBalancedView().apply(() => 1);
      await ar;
      const md = ar.metadata;
      assert.equal(md.msgId, ar.msgIds[0]);
      assert.ok(md.engineId !== null && rc.ids.includes(md.engineId), `engineId ${md.engineId}`);
      assert.equal(md.status, 'ok');
      assert.ok(md.submitted instanceof Date);
      assert.ok(md.started instanceof Date);
      assert.ok(md.completed instanceof Date);
      assert.ok(md.received instanceof Date);
      assert.ok(
        md.submitted.getTime() <= md.completed.getTime(),
        `submitted ${md.submitted.toISOString()} <= completed ${md.completed.toISOString()}`,
      );
      assert.ok(md.started.getTime() <= md.completed.getTime());
      assert.equal(md.stdout, '');
      assert.equal(md.stderr, '');
      assert.deepEqual(ar.progress, { done: 1, total: 1 });

      const dar = rc.directView().apply(() => 2);
      await dar;
      assert.deepEqual(
        dar.metadata.map((m) => m.engineId),
        rc.ids,
      );
      assert.ok(dar.metadata.every((m) => m.status === 'ok'));
    });

    test('queueStatus: per-engine queued/running/completed and unassigned', async () => {
      const idle = await rc.queueStatus();
      for (const e of engineQueues(idle, rc.ids)) {
        assert.equal(e.queued, 0);
        assert.equal(e.running, 0);
        assert.ok(Number.isInteger(e.completed) && e.completed > 0, 'earlier tests completed tasks on every engine');
      }
      assert.equal(idle.unassigned, 0);

      const id = rc.ids[0]!;
      const g = files.file();
      const ar = rc.directView(id).apply(gated, { gate: g, v: 'released' });
      const busy = await waitFor('the gated task running', async () => {
        const s = await rc.queueStatus();
        return s.engines[id]?.running === 1 ? s : undefined;
      });
      assert.equal(busy.engines[id]!.queued, 0);
      files.open(g);
      assert.equal(await ar, 'released');
      const afterwards = await waitFor('the engine idle again', async () => {
        const s = await rc.queueStatus();
        return s.engines[id]?.running === 0 ? s : undefined;
      });
      assert.equal(afterwards.engines[id]!.completed, idle.engines[id]!.completed + 1);
    });
  });

  describe('serialization', () => {
    test('returning a function rejects with SerializationError naming the type and the path', async () => {
      const lb = rc.loadBalancedView();
      await assert.rejects(
        lb.apply(() => () => 1),
        (e: unknown) => {
          assert.ok(e instanceof SerializationError, `SerializationError expected, got ${String(e)}`);
          assert.equal(e.typeName, 'function');
          assert.equal(e.path, 'result');
          return true;
        },
      );
      await assert.rejects(
        lb.apply(() => ({ ok: 1, cb: () => 1 })),
        (e: unknown) => e instanceof SerializationError && e.typeName === 'function' && e.path === 'result.cb',
      );
      await assert.rejects(
        lb.apply(() => {
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          const net = require('node:net') as typeof import('node:net');
          return { conn: new net.Socket() };
        }),
        (e: unknown) => e instanceof SerializationError && e.typeName === 'Socket' && e.path === 'result.conn',
      );
      assert.equal(await lb.apply(() => 'still serving'), 'still serving');
    });

    test('a function as an argument fails at submit with SerializationError; nothing is sent', async () => {
      const before = (await rc.stats()).tasks.submitted;
      const lb = rc.loadBalancedView();
      await assert.rejects(
        async () =>
          lb.apply(
            (f: () => number) => f(),
            () => 1,
          ),
        (e: unknown) => {
          assert.ok(e instanceof SerializationError, `SerializationError expected, got ${String(e)}`);
          assert.equal(e.typeName, 'function');
          assert.equal(e.path, 'args[0]');
          return true;
        },
      );
      await assert.rejects(
        async () => rc.directView().apply((o: { cb: () => void }) => o, { cb: () => undefined }),
        (e: unknown) => {
          return e instanceof SerializationError && e.typeName === 'function' && e.path === 'args[0].cb';
        },
      );
      assert.equal((await rc.stats()).tasks.submitted, before, 'no task reached the controller');
    });

    test('a large Float64Array (8 MB) travels both ways intact', async () => {
      const n = 1024 * 1024;
      const arr = new Float64Array(n);
      for (let i = 0; i < n; i++) arr[i] = i * 1.5 - 7;
      let sum = 0;
      for (let i = 0; i < n; i++) sum += arr[i]!;
      const r = await rc.loadBalancedView().apply((x: Float64Array) => {
        let s = 0;
        for (let i = 0; i < x.length; i++) s += x[i]!;
        return { sum: s, type: x.constructor.name, length: x.length, back: x };
      }, arr);
      assert.equal(r.type, 'Float64Array');
      assert.equal(r.length, n);
      assert.equal(r.sum, sum);
      assert.ok(r.back instanceof Float64Array);
      assert.equal(r.back.length, n);
      assert.equal(
        Buffer.compare(Buffer.from(r.back.buffer, r.back.byteOffset, r.back.byteLength), Buffer.from(arr.buffer)),
        0,
        'the bytes came back unchanged',
      );
    });

    test('Map, Set, Date and BigInt travel both ways', async () => {
      interface Rich {
        m: Map<string, unknown>;
        s: Set<string>;
        d: Date;
        big: bigint;
        neg: bigint;
        nested: { list: [Date, bigint] };
      }
      const value: Rich = {
        m: new Map<string, unknown>([
          ['k', 1],
          ['set', new Set([1n, 2n])],
        ]),
        s: new Set(['a', 'b']),
        d: new Date('2024-01-02T03:04:05.678Z'),
        big: 2n ** 100n,
        neg: -5n,
        nested: { list: [new Date(0), 7n] },
      };
      const r = await rc.loadBalancedView().apply(
        (v: Rich) => ({
          back: v,
          checks: [v.m instanceof Map, v.s instanceof Set, v.d instanceof Date, typeof v.big, v.d.getTime(), (v.big * 2n).toString()],
          made: { m: new Map([[1, 'x']]), s: new Set([3]), d: new Date(86400000), b: 3n ** 50n },
        }),
        value,
      );
      assert.deepEqual(r.back, value);
      assert.deepEqual(r.checks, [true, true, true, 'bigint', value.d.getTime(), (2n ** 101n).toString()]);
      assert.deepEqual(r.made, { m: new Map([[1, 'x']]), s: new Set([3]), d: new Date(86400000), b: 3n ** 50n });
    });

    test('cycles and a large bare ArrayBuffer travel both ways', async () => {
      interface Node {
        name: string;
        self?: Node;
      }
      const o: Node = { name: 'o' };
      o.self = o;
      const lb = rc.loadBalancedView();
      const r = await lb.apply((x: Node) => ({ same: x.self === x, back: x }), o);
      assert.equal(r.same, true);
      assert.equal(r.back.self, r.back);
      const ab = new ArrayBuffer(100000);
      new Uint8Array(ab).forEach((_, i, arr) => (arr[i] = i % 251));
      const back = await lb.apply((x: ArrayBuffer) => x, ab);
      assert.ok(back instanceof ArrayBuffer);
      assert.deepEqual(new Uint8Array(back), new Uint8Array(ab));
    });
  });
});
