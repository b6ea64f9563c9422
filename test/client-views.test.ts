/**
 * The client's views against one real cluster of 2 engines: the engines a
 * client sees, the load-balanced view (apply, map: order, spread, ordered:
 * false, chunksize; async tasks; every function syntax) and the direct view
 * (single and multi-engine results, map, push/pull, execute), and require and
 * import() in remote code.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { RemoteError, SerializationError } from '../index.js';
import type { Client } from '../index.js';
import { TestFiles, range, sharedCluster, tempRootForFile, waitFor } from './support/index.js';

/** Names pushed to (or defined in) the engine namespace, seen by shipped functions. */
declare const a: number;

const files = new TestFiles(tempRootForFile('client-views'));

describe('client views on a 2-engine cluster', () => {
  const c = sharedCluster({ n: 2 });
  let rc: Client;
  before(() => (rc = c.rc()));

  test('the client sees both engines with their pids', () => {
    assert.equal(rc.ids.length, 2);
    assert.deepEqual(
      rc.engines.map((e) => e.id),
      rc.ids,
    );
    assert.deepEqual(new Set(rc.engines.map((e) => e.pid)), new Set(c.cluster().enginePids));
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
      assert.ok(c.cluster().enginePids.includes(pid), `pid ${pid} is not an engine's`);
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
      const g = files.file();
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
      files.open(g);
      const pids = await ar;
      assert.deepEqual(new Set(pids), new Set(c.cluster().enginePids));
    });

    test('map with ordered: false returns results in completion order', async () => {
      const lb = rc.loadBalancedView();
      const g = files.file();
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
      files.open(g);
      assert.deepEqual(await ar, ['second item, finishes first', 'first item, finishes last']);

      // the same completion order with ordered (the default) gives input order
      const g2 = files.file();
      const ar2 = lb.map(fn, [
        { gate: g2, v: 'x' },
        { gate: null, v: 'y' },
      ]);
      await waitFor('the second task done', () => ar2.progress.done === 1);
      files.open(g2);
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
});
