/**
 * The client API against one real cluster of 2 engines: views, namespaces,
 * remote errors, output capture, metadata, serialization, timeouts.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, Cluster, CompositeError, ConnectionLost, RemoteError, SerializationError, TimeoutError, WorkerExited } from '../index.js';
import type { EngineEvent } from '../index.js';
import { range, removeTempRoot, stopCluster, useTempRoot, waitFor } from './helpers.js';

/** Names pushed to (or defined in) the engine namespace, seen by shipped functions. */
declare const a: number;

const root = useTempRoot('client');

/** Runs remotely: waits until the file `gate` exists, so a test decides when the task ends. */
const waitForGate = async (gate: string): Promise<string> => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  while (!fs.existsSync(gate)) await new Promise((r) => setTimeout(r, 20));
  return 'released';
};

let gates = 0;
function newGate(): string {
  return join(root, `gate-${++gates}`);
}

describe('client API on a 2-engine cluster', () => {
  let cluster: Cluster | undefined;
  let rc: Client;

  before(async () => {
    cluster = await Cluster.start({ n: 2 });
    rc = await cluster.connect();
    await rc.waitForEngines(2, { timeoutMs: 30000 });
  });

  after(async () => {
    try {
      await stopCluster(cluster);
    } finally {
      removeTempRoot(root);
    }
  });

  test('the client sees both engines with their pids', () => {
    assert.equal(rc.ids.length, 2);
    assert.deepEqual(
      rc.engines.map((e) => e.id),
      rc.ids,
    );
    assert.deepEqual(new Set(rc.engines.map((e) => e.pid)), new Set(cluster!.enginePids));
    for (const e of rc.engines) {
      assert.equal(typeof e.uuid, 'string');
      assert.equal(typeof e.hostname, 'string');
    }
  });

  describe('load-balanced view', () => {
    test('apply runs a function with arguments on one engine', async () => {
      const lb = rc.loadBalancedView();
      assert.equal(await lb.apply((x: number, y: number) => x * y, 6, 7), 42);
      const pid = await lb.apply(() => process.pid);
      assert.ok(cluster!.enginePids.includes(pid), `pid ${pid} is not an engine's`);
    });

    test('map returns results in input order', async () => {
      const lb = rc.loadBalancedView();
      const items = range(25);
      const ar = lb.map((x: number) => x * x, items);
      assert.equal(ar.msgIds.length, 25, 'one task per item by default');
      assert.deepEqual(
        await ar,
        items.map((x) => x * x),
      );
      assert.deepEqual(await lb.map((x: number) => x, []), []);
    });

    test('map spreads tasks over both engines', async () => {
      const lb = rc.loadBalancedView();
      // each item waits for a gate that only the test opens, so both engines must take one
      const g = newGate();
      const ar = lb.map(
        async (gate: string) => {
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          const fs = require('node:fs') as typeof import('node:fs');
          while (!fs.existsSync(gate)) await new Promise((r) => setTimeout(r, 20));
          return process.pid;
        },
        [g, g],
      );
      const q = await waitFor('both engines running a task', async () => {
        const s = await rc.queueStatus();
        return Object.values(s.engines).every((e) => e.running === 1) ? s : undefined;
      });
      assert.equal(Object.keys(q.engines).length, 2);
      writeFileSync(g, '');
      const pids = await ar;
      assert.deepEqual(new Set(pids), new Set(cluster!.enginePids));
    });

    test('map with ordered: false returns results in completion order', async () => {
      const lb = rc.loadBalancedView();
      const g = newGate();
      const fn = async (it: { gate: string | null; v: string }): Promise<string> => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const fs = require('node:fs') as typeof import('node:fs');
        if (it.gate !== null) while (!fs.existsSync(it.gate)) await new Promise((r) => setTimeout(r, 20));
        return it.v;
      };
      const items = [
        { gate: g, v: 'first item, finishes last' },
        { gate: null, v: 'second item, finishes first' },
      ];
      const ar = lb.map(fn, items, { ordered: false });
      // the second task is done before the gate of the first opens
      await waitFor('the second task done', () => ar.progress.done === 1 && ar.metadata[1]!.status === 'ok');
      assert.equal(ar.ready(), false);
      writeFileSync(g, '');
      assert.deepEqual(await ar, ['second item, finishes first', 'first item, finishes last']);

      // the same completion order with ordered (the default) gives input order
      const g2 = newGate();
      const ar2 = lb.map(fn, [
        { gate: g2, v: 'x' },
        { gate: null, v: 'y' },
      ]);
      await waitFor('the second task done', () => ar2.progress.done === 1);
      writeFileSync(g2, '');
      assert.deepEqual(await ar2, ['x', 'y']);
    });

    test('map with chunksize sends items in chunks', async () => {
      const lb = rc.loadBalancedView();
      const items = range(10);
      const ar = lb.map((x: number) => x * 3, items, { chunksize: 4 });
      assert.equal(ar.msgIds.length, 3, '10 items in chunks of 4 make 3 tasks');
      assert.deepEqual(
        await ar,
        items.map((x) => x * 3),
      );
      const unordered = await lb.map((x: number) => x + 1, items, { chunksize: 3, ordered: false });
      assert.deepEqual(
        [...unordered].sort((p, q) => p - q),
        items.map((x) => x + 1),
      );
      assert.throws(() => lb.map((x: number) => x, items, { chunksize: 0 }), RangeError);
    });

    test('an async task (or one returning a Promise) resolves to its value', async () => {
      const lb = rc.loadBalancedView();
      assert.equal(
        await lb.apply(async (x: number) => {
          await new Promise((r) => setTimeout(r, 10));
          return x + 1;
        }, 1),
        2,
      );
      assert.equal(await lb.apply(() => new Promise<string>((r) => setTimeout(() => r('later'), 10))), 'later');
      assert.deepEqual(await lb.map(async (x: number) => x * 2, [1, 2, 3]), [2, 4, 6]);
    });

    test('function, method and class-method syntax all travel', async () => {
      const lb = rc.loadBalancedView();
      const methods = {
        triple(x: number): number {
          return x * 3;
        },
        async addOne(x: number): Promise<number> {
          return x + 1;
        },
      };
      class Ops {
        static negate(x: number): number {
          return -x;
        }
      }
      assert.equal(
        await lb.apply(function timesFive(x: number) {
          return x * 5;
        }, 2),
        10,
      );
      assert.equal(await lb.apply(methods.triple, 2), 6);
      assert.equal(await lb.apply(methods.addOne, 2), 3);
      assert.equal(await lb.apply(Ops.negate, 2), -2);
      // a built-in has no source to ship: refused at submit
      await assert.rejects(
        async () => lb.apply(Math.max, 1, 2),
        (e: unknown) => e instanceof SerializationError && e.typeName === 'function',
      );
    });
  });

  describe('direct view', () => {
    test('a single-engine view gives one value, a multi-engine view an array in target order', async () => {
      const [id0, id1] = rc.ids as [number, number];
      const pidOf = new Map(rc.engines.map((e) => [e.id, e.pid]));
      const one = await rc.directView(id0).apply(() => process.pid);
      assert.equal(typeof one, 'number');
      assert.equal(one, pidOf.get(id0));
      const all = await rc.directView().apply(() => process.pid);
      assert.ok(Array.isArray(all));
      assert.deepEqual(all, [pidOf.get(id0), pidOf.get(id1)]);
      const reversed = await rc.directView([id1, id0]).apply(() => process.pid);
      assert.deepEqual(reversed, [pidOf.get(id1), pidOf.get(id0)]);
      assert.deepEqual(await rc.directView([id0]).apply(() => 1), [1], 'an array of one target still gives an array');
    });

    test('map partitions items over the engines and keeps input order', async () => {
      const dv = rc.directView();
      const ar = dv.map((x: number) => [x * 10, process.pid] as const, range(7));
      assert.equal(ar.msgIds.length, 2, 'one task per engine');
      const r = await ar;
      assert.deepEqual(
        r.map(([v]) => v),
        range(7).map((x) => x * 10),
      );
      assert.equal(new Set(r.map(([, pid]) => pid)).size, 2, 'both engines took a block');
    });

    test('push, then functions see the pushed names; pull reads them back', async () => {
      const dv = rc.directView();
      await dv.push({ a: 10, b: 'text', table: new Map([[1, 'one']]) });
      assert.deepEqual(await dv.apply((b: number) => a + b, 5), [15, 15]);
      assert.deepEqual(await dv.pull('a'), [10, 10]);
      assert.deepEqual(await dv.pull(['a', 'b']), [
        [10, 'text'],
        [10, 'text'],
      ]);
      assert.deepEqual(await rc.directView(rc.ids[0]!).pull('table'), new Map([[1, 'one']]));
      assert.equal(await rc.directView(rc.ids[1]!).pull('a'), 10);
    });

    test('execute defines names in the namespace; pull reads them', async () => {
      const dv = rc.directView();
      assert.deepEqual(await dv.execute('var z = 5'), [undefined, undefined]);
      assert.deepEqual(await dv.pull('z'), [5, 5]);
      await dv.execute('let w = z + 1');
      assert.deepEqual(await dv.pull(['z', 'w']), [
        [5, 6],
        [5, 6],
      ]);
      const single = rc.directView(rc.ids[0]!);
      await single.execute('var onlyHere = "yes"');
      assert.equal(await single.pull('onlyHere'), 'yes');
    });

    test('execute of bad code rejects with the remote SyntaxError / exception', async () => {
      const single = rc.directView(rc.ids[0]!);
      await assert.rejects(single.execute('this is not javascript'), (e: unknown) => {
        assert.ok(e instanceof RemoteError, `RemoteError expected, got ${String(e)}`);
        assert.equal(e.ename, 'SyntaxError');
        return true;
      });
      await assert.rejects(single.execute('throw new RangeError("from execute")'), (e: unknown) => {
        assert.ok(e instanceof RemoteError);
        assert.equal(e.ename, 'RangeError');
        assert.equal(e.evalue, 'from execute');
        return true;
      });
    });
  });

  describe('remote errors', () => {
    test('a remote exception rejects with RemoteError carrying ename, evalue, engineId and the remote stack', async () => {
      function failingTask(x: number): number {
        if (x > 0) {
          throw new TypeError(`bad input: ${x}`);
        }
        return x;
      }
      // the line of the throw inside the shipped source (what the engine compiles)
      const src = failingTask.toString().split('\n');
      const throwLine = src.findIndex((l) => l.includes('throw new TypeError')) + 1;
      assert.ok(throwLine > 0);

      const ar = rc.loadBalancedView().apply(failingTask, 42);
      const err = await ar.then(
        () => assert.fail('the task should have failed'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof RemoteError, `RemoteError expected, got ${String(err)}`);
      assert.equal(err.ename, 'TypeError');
      assert.equal(err.evalue, 'bad input: 42');
      assert.ok(err.engineId !== null && rc.ids.includes(err.engineId), `engineId ${err.engineId} is not a registered engine`);
      assert.equal(err.msgId, ar.msgIds[0]);
      assert.ok(err.traceback.length > 0, 'a remote traceback');
      assert.match(err.remoteStack, /TypeError: bad input: 42/);
      assert.match(
        err.remoteStack,
        new RegExp(`at failingTask \\(.*\\[remote\\]:${throwLine}:\\d+\\)`),
        `the throw location (line ${throwLine}) in:\n${err.remoteStack}`,
      );
      assert.equal(ar.ready(), true);
      assert.equal(ar.successful(), false);
      assert.equal(ar.metadata.status, 'error');
    });

    test('throwing a non-Error value rejects with a RemoteError that shows the value', async () => {
      const lb = rc.loadBalancedView();
      await assert.rejects(
        lb.apply(() => {
          throw 'a plain string';
        }),
        (e: unknown) => {
          assert.ok(e instanceof RemoteError, `RemoteError expected, got ${String(e)}`);
          assert.ok(e.ename.length > 0);
          assert.match(e.evalue, /a plain string/);
          assert.ok(e.engineId !== null && rc.ids.includes(e.engineId));
          return true;
        },
      );
      await assert.rejects(
        lb.apply(() => {
          throw 1234;
        }),
        (e: unknown) => e instanceof RemoteError && /1234/.test(e.evalue),
      );
    });

    test('a multi-engine apply that fails everywhere rejects with CompositeError holding each RemoteError', async () => {
      await assert.rejects(
        rc.directView().apply(() => {
          throw new RangeError('every engine fails');
        }),
        (e: unknown) => {
          assert.ok(e instanceof CompositeError, `CompositeError expected, got ${String(e)}`);
          assert.equal(e.errors.length, 2);
          assert.equal(e.total, 2);
          for (const x of e.errors) {
            assert.ok(x instanceof RemoteError);
            assert.equal(x.ename, 'RangeError');
            assert.equal(x.evalue, 'every engine fails');
          }
          assert.deepEqual(new Set(e.errors.map((x) => (x instanceof RemoteError ? x.engineId : null))), new Set(rc.ids));
          return true;
        },
      );
    });

    test('a multi-engine apply that fails on one engine rejects with CompositeError of that one failure', async () => {
      const victim = rc.engines[1]!;
      await assert.rejects(
        rc.directView().apply((pid: number) => {
          if (process.pid === pid) throw new Error('only here');
          return 'fine';
        }, victim.pid),
        (e: unknown) => {
          assert.ok(e instanceof CompositeError, `CompositeError expected, got ${String(e)}`);
          assert.equal(e.errors.length, 1);
          assert.equal(e.total, 2);
          const x = e.errors[0];
          assert.ok(x instanceof RemoteError);
          assert.equal(x.engineId, victim.id);
          assert.equal(x.evalue, 'only here');
          return true;
        },
      );
    });

    test('a failing map item rejects the map', async () => {
      await assert.rejects(
        rc.loadBalancedView().map((x: number) => {
          if (x === 3) throw new Error(`item ${x} failed`);
          return x;
        }, range(5)),
        (e: unknown) => {
          const errors = e instanceof CompositeError ? e.errors : [e];
          assert.equal(errors.length, 1);
          assert.ok(errors[0] instanceof RemoteError);
          assert.equal(errors[0].evalue, 'item 3 failed');
          return true;
        },
      );
    });

    test('process.exit() in a task rejects with WorkerExited; the engine stays registered and serves the next task', async () => {
      const target = rc.engines[0]!;
      const events: EngineEvent[] = [];
      const off = rc.onEngine((e) => events.push(e));
      try {
        const dv = rc.directView(target.id);
        await assert.rejects(
          dv.apply(() => process.exit(3)),
          (e: unknown) => {
            assert.ok(e instanceof WorkerExited, `WorkerExited expected, got ${String(e)}`);
            assert.equal(e.ename, 'WorkerExited');
            assert.equal(e.engineId, target.id);
            return true;
          },
        );
        assert.ok(rc.ids.includes(target.id), 'still registered');
        assert.equal(await dv.apply(() => 'next task'), 'next task');
        assert.equal(await dv.apply(() => process.pid), target.pid, 'the same engine process');
        assert.deepEqual(
          events.filter((e) => e.type === 'unregistered'),
          [],
        );
      } finally {
        off();
      }
    });
  });

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
      assert.deepEqual(
        Object.keys(idle.engines)
          .map(Number)
          .sort((p, q) => p - q),
        rc.ids,
      );
      for (const id of rc.ids) {
        const e = idle.engines[id]!;
        assert.deepEqual(Object.keys(e).sort(), ['completed', 'queued', 'running']);
        assert.equal(e.queued, 0);
        assert.equal(e.running, 0);
        assert.ok(Number.isInteger(e.completed) && e.completed > 0, 'earlier tests completed tasks on every engine');
      }
      assert.equal(idle.unassigned, 0);

      const id = rc.ids[0]!;
      const g = newGate();
      const ar = rc.directView(id).apply(waitForGate, g);
      const busy = await waitFor('the gated task running', async () => {
        const s = await rc.queueStatus();
        return s.engines[id]?.running === 1 ? s : undefined;
      });
      assert.equal(busy.engines[id]!.queued, 0);
      writeFileSync(g, '');
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

  test('require and import() work inside remote code', async () => {
    const r = await rc.loadBalancedView().apply(async () => {
      const os = await import('node:os');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const path = require('node:path') as typeof import('node:path');
      return { cpus: os.cpus().length > 0, joined: path.join('a', 'b'), sep: path.sep };
    });
    assert.deepEqual(r, { cpus: true, joined: 'a/b', sep: '/' });
    const r2 = await rc.directView().execute('var osName = require("node:os").platform()');
    assert.deepEqual(r2, [undefined, undefined]);
    assert.deepEqual(await rc.directView().pull('osName'), [process.platform, process.platform]);
  });

  test('get({ timeoutMs }) rejects with TimeoutError for a slow task, which still completes later', async () => {
    const g = newGate();
    const ar = rc.loadBalancedView().apply(waitForGate, g);
    await assert.rejects(ar.get({ timeoutMs: 200 }), (e: unknown) => e instanceof TimeoutError);
    assert.equal(await ar.wait(100), false);
    assert.equal(ar.ready(), false);
    assert.throws(() => ar.successful(), /not ready/);
    assert.equal(existsSync(g), false);
    writeFileSync(g, '');
    assert.equal(await ar.get({ timeoutMs: 30000 }), 'released');
    assert.equal(ar.ready(), true);
    assert.equal(ar.successful(), true);
    assert.equal(await ar.wait(0), true);
  });

  test('waitForEngines rejects with TimeoutError when too few engines register', async () => {
    await assert.rejects(rc.waitForEngines(5, { timeoutMs: 200 }), (e: unknown) => e instanceof TimeoutError);
    assert.deepEqual(await rc.waitForEngines(2), rc.ids);
  });

  test('closing a client rejects its pending results with ConnectionLost', async () => {
    const other = await Client.connect({ timeoutMs: 10000 });
    const g = newGate();
    const ar = other.loadBalancedView().apply(waitForGate, g);
    await waitFor('the gated task running', async () => {
      const s = await rc.queueStatus();
      return Object.values(s.engines).some((e) => e.running === 1);
    });
    await other.close();
    await assert.rejects(ar.get({ timeoutMs: 5000 }), (e: unknown) => e instanceof ConnectionLost);
    await assert.rejects(
      async () => other.loadBalancedView().apply(() => 1),
      (e: unknown) => e instanceof ConnectionLost,
    );
    writeFileSync(g, '');
    // the engine finishes the orphaned task and serves again
    await waitFor('both engines idle', async () => {
      const s = await rc.queueStatus();
      return Object.values(s.engines).every((e) => e.running === 0 && e.queued === 0);
    });
    assert.deepEqual(await rc.directView().apply(() => 'ok'), ['ok', 'ok']);
  });
});
