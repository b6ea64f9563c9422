/**
 * AsyncResult and hub records on one 3-engine cluster: async iteration (in
 * order, as completed, over a direct multi-engine apply), progress and
 * timings, waitInteractive on a line stream and on a TTY, getResult from a
 * second client, purgeResults, the bound on finished records, and the error
 * classes (SerializationError, RemoteError, CompositeError).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Client, Cluster, CompositeError, RemoteError, SerializationError, TaskError, TimeoutError } from '../index.js';
import type { AsyncResult } from '../index.js';
import { range, removeTempRoot, sleep, stopCluster, useTempRoot, waitFor } from './helpers.js';

const root = useTempRoot('results');

const allGates: string[] = [];
/** A fresh gate file path; every gate is opened before the cluster stops. */
const newGate = (): string => {
  const g = join(root, `gate-${allGates.length + 1}`);
  allGates.push(g);
  return g;
};
const open = (gate: string): void => writeFileSync(gate, '');

/** Runs remotely: waits until the file `it.gate` exists (at most 60 s), then returns `it.v`. */
const gated = async <V>(it: { gate: string; v: V }): Promise<V> => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  const t0 = Date.now();
  while (!fs.existsSync(it.gate) && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 10));
  return it.v;
};

/** Runs remotely: sleeps `ms`, returns it. */
const sleepFor = async (ms: number): Promise<number> => {
  await new Promise((r) => setTimeout(r, ms));
  return ms;
};

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

describe('results on a 3-engine cluster', () => {
  let cluster: Cluster | undefined;
  let rc: Client;

  before(async () => {
    cluster = await Cluster.start({ n: 3 });
    rc = await cluster.connect();
    await rc.waitForEngines(3, { timeoutMs: 30000 });
  });

  after(async () => {
    try {
      allGates.forEach(open);
      await stopCluster(cluster);
    } finally {
      removeTempRoot(root);
    }
  });

  /** Wait until no task runs or waits anywhere (no stray work between tests). */
  const idle = (): Promise<unknown> =>
    waitFor(
      'the cluster idle',
      async () => {
        const s = await rc.queueStatus();
        return s.unassigned === 0 && Object.values(s.engines).every((e) => e.running === 0 && e.queued === 0);
      },
      { timeoutMs: 30000 },
    );

  describe('async iteration', () => {
    test('a map yields its items in input order while it runs', async () => {
      const lb = rc.loadBalancedView();
      const g = newGate();
      const opened = newGate();
      open(opened);
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
        open(g);
        assert.deepEqual(await next(it), { value: 6, done: false });
        assert.equal((await next(it)).done, true);
        assert.deepEqual(await ar, range(7));
      } finally {
        open(g);
      }
    });

    test('ordered: false yields items as they complete, while the map runs', async (t) => {
      const lb = rc.loadBalancedView();
      const gs = range(3).map(() => newGate());
      const ar = lb.map(
        gated,
        gs.map((gate, v) => ({ gate, v })),
        { ordered: false },
      );
      t.after(() => gs.forEach(open));
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
        open(gs[i]!);
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
      await idle();
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
      const gs = range(3).map(() => newGate());
      const ar = lb.map(
        gated,
        gs.map((gate, v) => ({ gate, v })),
      );
      t.after(() => gs.forEach(open));
      const out = new Capture(false);
      const waiting = ar.waitInteractive({ stream: out, intervalMs: 20 });
      await waitFor('a 0/3 line', () => out.text.includes('0/3 tasks done'));
      open(gs[0]!);
      await waitFor('a 1/3 line', () => out.text.includes('1/3 tasks done'), { timeoutMs: 30000 });
      open(gs[1]!);
      open(gs[2]!);
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
      const g = newGate();
      const ar = lb.map(gated, [
        { gate: g, v: 0 },
        { gate: g, v: 1 },
      ]);
      const out = new Capture(true);
      const waiting = ar.waitInteractive({ stream: out, intervalMs: 20 });
      await waitFor('a few redraws', () => out.text.split('\r').length > 3);
      open(g);
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
      const g = newGate();
      const ar = rc.loadBalancedView().apply(gated, { gate: g, v: 'late' });
      const out = new Capture(false);
      const t0 = Date.now();
      await ar.waitInteractive({ stream: out, intervalMs: 20, timeoutMs: 300 });
      assert.ok(Date.now() - t0 >= 250, 'waited about timeoutMs');
      assert.equal(ar.ready(), false);
      assert.match(out.text, /0\/1 tasks done/);
      open(g);
      assert.equal(await ar, 'late');
    });
  });

  describe('hub records', () => {
    let rc2: Client | undefined;

    before(async () => {
      rc2 = await Client.connect({ timeoutMs: 10000 });
    });

    after(async () => {
      await rc2?.close();
    });

    test("getResult from a second client: value, stdout and the engine of another client's task", async () => {
      const ar = rc.loadBalancedView().apply((x: number) => {
        console.log(`working on ${x}`);
        console.error('a warning');
        return { x, pid: process.pid };
      }, 5);
      const v = await ar;
      const other = rc2!.getResult(ar.msgIds[0]!);
      assert.deepEqual(await other.get({ timeoutMs: 10000 }), v);
      assert.equal(other.stdout, 'working on 5\n');
      assert.equal(other.stderr, 'a warning\n');
      assert.equal(other.metadata.engineId, ar.metadata.engineId);
      assert.equal(other.metadata.status, 'ok');
      assert.equal(other.metadata.msgId, ar.msgIds[0]);
      // the hub's submission time (when the controller received the task), not this client's clock
      const sub = other.metadata.submitted.getTime();
      assert.ok(Math.abs(sub - ar.metadata.submitted.getTime()) < 2000, 'about the original submission time');
      assert.ok(other.metadata.completed instanceof Date);
      assert.ok(sub <= other.metadata.completed.getTime());

      // several at once, in the order asked; also this client's own finished tasks.
      // The record of a map task is its chunk: an array of that chunk's results.
      const more = rc.loadBalancedView().map((x: number) => x * 2, [1, 2, 3]);
      await more;
      assert.deepEqual(await rc2!.getResult([...more.msgIds].reverse()), [[6], [4], [2]]);
      assert.deepEqual(await rc.getResult(more.msgIds[1]!), [4]);
    });

    test("a failed task's record rejects getResult with the same error", async () => {
      const ar = rc.loadBalancedView().apply(() => {
        throw new URIError('recorded failure');
      });
      const err = await ar.then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof RemoteError);
      await assert.rejects(rc2!.getResult(ar.msgIds[0]!), (e: unknown) => {
        assert.ok(e instanceof RemoteError, `RemoteError expected, got ${String(e)}`);
        assert.equal(e.ename, 'URIError');
        assert.equal(e.evalue, 'recorded failure');
        assert.equal(e.engineId, err.engineId);
        assert.equal(e.msgId, ar.msgIds[0]);
        return true;
      });
    });

    test("a still-running task's result arrives when it finishes", async () => {
      const g = newGate();
      const ar = rc.loadBalancedView().apply(async (gate: string) => {
        console.log('started');
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const fs = require('node:fs') as typeof import('node:fs');
        while (!fs.existsSync(gate)) await new Promise((r) => setTimeout(r, 10));
        return 'finished later';
      }, g);
      await waitFor('the task started', () => ar.stdout.includes('started'), { timeoutMs: 30000 });
      const other = rc2!.getResult(ar.msgIds[0]!);
      assert.equal(await other.wait(300), false, 'not ready while the task runs');
      await assert.rejects(other.get({ timeoutMs: 50 }), (e: unknown) => e instanceof TimeoutError);
      open(g);
      assert.equal(await other.get({ timeoutMs: 30000 }), 'finished later');
      assert.equal(other.stdout, 'started\n');
      assert.equal(other.metadata.engineId, (await ar, ar.metadata.engineId));
    });

    test('an unknown msg id rejects', async () => {
      await assert.rejects(
        rc2!.getResult('00000000-0000-4000-8000-000000000000').get({ timeoutMs: 10000 }),
        /no record of task 00000000-0000-4000-8000-000000000000/,
      );
      // one unknown among known ones fails that one only
      const ok = rc.loadBalancedView().apply(() => 'known');
      await ok;
      const both = rc2!.getResult([ok.msgIds[0]!, 'not-a-task']);
      await assert.rejects(both.get({ timeoutMs: 10000 }), (e: unknown) => e instanceof CompositeError && e.errors.length === 1 && e.total === 2);
      assert.deepEqual(
        both.metadata.map((m) => m.status),
        ['ok', 'error'],
      );
    });

    test('after purgeResults("all") a finished result is gone; a pending one still answers', async () => {
      const done = rc.loadBalancedView().apply(() => 'soon purged');
      await done;
      assert.equal(await rc2!.getResult(done.msgIds[0]!), 'soon purged');
      const g = newGate();
      const pending = rc.loadBalancedView().apply(gated, { gate: g, v: 'kept' });
      await waitFor('the gated task running', async () => Object.values((await rc.queueStatus()).engines).some((e) => e.running === 1), {
        timeoutMs: 30000,
      });
      const purged = await rc.purgeResults('all');
      assert.ok(purged >= 1, `purged ${purged}`);
      await assert.rejects(rc2!.getResult(done.msgIds[0]!).get({ timeoutMs: 10000 }), /no record of task/);
      const later = rc2!.getResult(pending.msgIds[0]!);
      open(g);
      assert.equal(await later.get({ timeoutMs: 30000 }), 'kept');
      assert.equal(await pending, 'kept');

      // purge by ids
      const a = rc.loadBalancedView().apply(() => 'a');
      const b = rc.loadBalancedView().apply(() => 'b');
      await Promise.all([a, b]);
      assert.equal(await rc.purgeResults([a.msgIds[0]!]), 1);
      await assert.rejects(rc2!.getResult(a.msgIds[0]!).get({ timeoutMs: 10000 }), /no record/);
      assert.equal(await rc2!.getResult(b.msgIds[0]!).get({ timeoutMs: 10000 }), 'b');
    });

    test('the record store is bounded: of 1,101 finished tasks the latest 1024 are kept, the oldest are gone', async () => {
      await idle();
      await rc.purgeResults('all');
      const lb = rc.loadBalancedView();
      const oldest = lb.apply(() => 'oldest');
      await oldest;
      const map = lb.map((x: number) => x, range(1100));
      assert.equal(map.msgIds.length, 1100);
      assert.deepEqual(await map, range(1100));
      await assert.rejects(rc2!.getResult(oldest.msgIds[0]!).get({ timeoutMs: 10000 }), /no record of task/);
      // the most recent are there
      const recent = map.msgIds.slice(-10);
      assert.deepEqual(
        await rc2!.getResult(recent).get({ timeoutMs: 10000 }),
        range(1100)
          .slice(-10)
          .map((x) => [x]),
      );
      // exactly the README's bound (1024) is kept
      const all = rc2!.getResult([oldest.msgIds[0]!, ...map.msgIds]);
      await all.wait(30000);
      assert.equal(all.ready(), true);
      const kept = all.metadata.filter((m) => m.status === 'ok').length;
      assert.equal(kept, 1024, `records kept: ${kept}`);
      // the ones kept are the latest to finish: everything from the end back is there
      assert.equal(all.metadata.at(-1)!.status, 'ok');
      assert.equal(all.metadata[0]!.status, 'error');
    });
  });

  describe('errors', () => {
    test('returning a function gives SerializationError naming the type and the path', async () => {
      const lb = rc.loadBalancedView();
      await assert.rejects(
        lb.apply(() => ({ list: [1, () => 2] })),
        (e: unknown) => {
          assert.ok(e instanceof SerializationError, `SerializationError expected, got ${String(e)}`);
          assert.equal(e.typeName, 'function');
          assert.equal(e.path, 'result.list[1]');
          assert.match(e.message, /result\.list\[1\]/);
          assert.match(e.message, /function/);
          return true;
        },
      );
      await assert.rejects(
        lb.apply(() => new Map([['k', () => 1]])),
        (e: unknown) => e instanceof SerializationError && e.typeName === 'function' && e.path === 'result.get("k")',
      );
      await assert.rejects(
        lb.apply(() => function named() {}),
        (e: unknown) => e instanceof SerializationError && e.typeName === 'function' && e.path === 'result',
      );
    });

    test('returning a socket gives SerializationError naming Socket and the path', async () => {
      const lb = rc.loadBalancedView();
      await assert.rejects(
        lb.apply(() => {
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          const net = require('node:net') as typeof import('node:net');
          const s = net.createConnection({ port: 1, host: '127.0.0.1' });
          s.on('error', () => undefined);
          return { deep: { conn: s } };
        }),
        (e: unknown) => {
          assert.ok(e instanceof SerializationError, `SerializationError expected, got ${String(e)}`);
          assert.equal(e.typeName, 'Socket');
          assert.equal(e.path, 'result.deep.conn');
          assert.match(e.message, /Socket/);
          return true;
        },
      );
      await assert.rejects(
        lb.apply(() => {
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          const net = require('node:net') as typeof import('node:net');
          return new net.Socket();
        }),
        (e: unknown) => e instanceof SerializationError && e.typeName === 'Socket' && e.path === 'result',
      );
      // on every engine of a direct view: a CompositeError of SerializationErrors
      await assert.rejects(
        rc.directView().apply(() => () => 1),
        (e: unknown) => {
          assert.ok(e instanceof CompositeError, `CompositeError expected, got ${String(e)}`);
          assert.equal(e.errors.length, 3);
          for (const x of e.errors) assert.ok(x instanceof SerializationError && x.typeName === 'function' && x.path === 'result', String(x));
          return true;
        },
      );
      assert.equal(await lb.apply(() => 'still serving'), 'still serving');
    });

    test('RemoteError fields: ename, evalue, traceback, engineId, msgId; a TaskError', async () => {
      const ar = rc.loadBalancedView().apply(function failingTask(n: number) {
        class BudgetError extends Error {
          override name = 'BudgetError';
        }
        throw new BudgetError(`over budget by ${n}`);
      }, 3);
      const e = await ar.then(
        () => assert.fail('expected a failure'),
        (x: unknown) => x,
      );
      assert.ok(e instanceof RemoteError, `RemoteError expected, got ${String(e)}`);
      assert.ok(e instanceof TaskError);
      assert.equal(e.name, 'RemoteError');
      assert.equal(e.ename, 'BudgetError');
      assert.equal(e.evalue, 'over budget by 3');
      assert.equal(e.msgId, ar.msgIds[0]);
      assert.equal(e.engineId, ar.metadata.engineId);
      assert.ok(e.engineId !== null && rc.ids.includes(e.engineId));
      assert.equal(e.message, `BudgetError: over budget by 3 [engine ${e.engineId}]`);
      assert.ok(e.traceback.length >= 2, `traceback ${JSON.stringify(e.traceback)}`);
      assert.match(e.traceback[0] ?? '', /BudgetError: over budget by 3/);
      assert.match(e.remoteStack, /failingTask/);
      assert.equal(e.remoteStack, e.traceback.join('\n'));
      assert.match(e.stack ?? '', /remote stack \(engine \d+\)/);
      assert.equal(ar.metadata.status, 'error');
      assert.equal(ar.successful(), false);
    });

    test('CompositeError from a multi-engine failure holds each RemoteError', async () => {
      const dv = rc.directView();
      const failOn = rc.engines.slice(0, 2).map((e) => e.pid);
      const ar = dv.apply((bad: number[]) => {
        if (bad.includes(process.pid)) throw new Error(`failed on ${process.pid}`);
        return 'fine';
      }, failOn);
      await assert.rejects(ar, (e: unknown) => {
        assert.ok(e instanceof CompositeError, `CompositeError expected, got ${String(e)}`);
        assert.equal(e.name, 'CompositeError');
        assert.equal(e.total, 3);
        assert.equal(e.errors.length, 2);
        assert.match(e.message, /^2 of 3 tasks failed/);
        const ids = e.errors.map((x) => (x instanceof RemoteError ? x.engineId : null));
        assert.deepEqual(ids, rc.ids.slice(0, 2));
        for (const [i, x] of e.errors.entries()) {
          assert.ok(x instanceof RemoteError);
          assert.equal(x.evalue, `failed on ${failOn[i]}`);
          assert.ok(e.message.includes(x.message), 'the message lists each failure');
        }
        return true;
      });
      assert.deepEqual(
        ar.metadata.map((m) => m.status),
        ['error', 'error', 'ok'],
      );
      // a direct map with one failing block
      await assert.rejects(
        dv.map((x: number) => {
          if (x >= 6) throw new RangeError(`item ${x}`);
          return x;
        }, range(9)),
        (e: unknown) => e instanceof CompositeError && e.errors.length === 1 && e.total === 3 && (e.errors[0] as RemoteError).ename === 'RangeError',
      );
    });
  });

  test('no task is left behind', async () => {
    await idle();
    const ar: AsyncResult<number[]> = rc.directView(rc.ids[0]!).apply(() => [1]);
    assert.deepEqual(await ar, [1]);
  });
});
