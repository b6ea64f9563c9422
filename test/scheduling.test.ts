/**
 * Load balancing end to end: real clusters, one per scheme, checked against
 * what each scheme promises. Each block prints its spread (tasks per engine)
 * as test diagnostics.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { Client } from '../index.js';
import type { AsyncResult, LoadBalancedView, QueueStatus } from '../index.js';
import { TestFiles, assertAllGone, killAll, pidGone, range, statePids, runCli, sharedCluster, tempRootForFile, whileHeld } from './support/index.js';

const root = tempRootForFile('scheduling');
const files = new TestFiles(root);

/** Engine ids of `n` tasks submitted one at a time (each awaited before the next). */
async function serialIds(lb: LoadBalancedView, n: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const ar = lb.apply((x: number) => x + 1, i);
    assert.equal(await ar, i + 1);
    const id = ar.metadata.engineId;
    assert.ok(id !== null, 'a finished task names its engine');
    ids.push(id);
  }
  return ids;
}

/** Engine ids of `n` tasks submitted at once (one map, one task per item). */
async function burstIds(lb: LoadBalancedView, n: number): Promise<number[]> {
  const items = range(n);
  const ar = lb.map((x: number) => x * 2, items);
  assert.deepEqual(
    await ar,
    items.map((x) => x * 2),
  );
  return ar.metadata.map((m) => {
    assert.ok(m.engineId !== null);
    return m.engineId;
  });
}

function countsOf(ids: readonly number[], engines: readonly number[]): Record<number, number> {
  const c: Record<number, number> = {};
  for (const e of engines) c[e] = 0;
  for (const id of ids) c[id] = (c[id] ?? 0) + 1;
  return c;
}

function show(c: Record<number, number>): string {
  return Object.entries(c)
    .map(([e, n]) => `engine ${e}: ${n}`)
    .join(', ');
}

/** How many consecutive pairs ran on the same engine. */
function repeats(ids: readonly number[]): number {
  let r = 0;
  for (let i = 1; i < ids.length; i++) if (ids[i] === ids[i - 1]) r++;
  return r;
}

/** True when the sequence is a strict rotation with period `p` over `p` distinct engines. */
function strictRotation(ids: readonly number[], p: number): boolean {
  if (new Set(ids.slice(0, p)).size !== p) return false;
  return ids.every((id, i) => i < p || id === ids[i - p]);
}

/** Report and return the spread of serial and burst work: the issue note quotes these numbers. */
async function spread(t: TestContext, scheme: string, rc: Client, serialN: number, burstN: number): Promise<{ serial: number[]; burst: number[] }> {
  const lb = rc.loadBalancedView();
  const serial = await serialIds(lb, serialN);
  const burst = await burstIds(lb, burstN);
  const hwm = rc.cluster.hwm;
  t.diagnostic(
    `spread ${scheme} (${rc.ids.length} engines, hwm ${hwm}): ${serialN} serial tasks -> ${show(countsOf(serial, rc.ids))}; repeats of the previous engine: ${repeats(serial)}`,
  );
  t.diagnostic(`spread ${scheme} (${rc.ids.length} engines, hwm ${hwm}): burst of ${burstN} -> ${show(countsOf(burst, rc.ids))}`);
  t.diagnostic(`spread ${scheme}: first 30 serial engines: ${serial.slice(0, 30).join(' ')}`);
  return { serial, burst };
}

/** Every engine took some of the work in each list of engine ids. */
function assertEveryEngineUsed(lists: readonly (readonly number[])[], engines: readonly number[]): void {
  for (const ids of lists) {
    const counts = countsOf(ids, engines);
    for (const n of Object.values(counts)) assert.ok(n > 0, `every engine used: ${show(counts)}`);
  }
}

/** The engine running a task, by the queue status (asserted to be one). */
function busyEngine(q: QueueStatus): number {
  const busyId = Number(Object.entries(q.engines).find(([, s]) => s.running === 1)?.[0]);
  assert.ok(Number.isInteger(busyId), JSON.stringify(q));
  return busyId;
}

/**
 * Hold one engine with a long (gated) task while `body` runs: it gets the
 * task, the queue status once the task runs, and `release` to let it end
 * (at the latest, it ends after `body`).
 */
function whileOneEngineBusy(
  rc: Client,
  body: (held: { long: AsyncResult<number>; q: QueueStatus; release: () => void }) => Promise<void>,
): Promise<void> {
  return whileHeld(rc.loadBalancedView(), files, async (long, release) => body({ long, q: await rc.queueStatus(), release }));
}

describe('lru (3 engines, hwm 0)', () => {
  const c = sharedCluster({ n: 3, scheme: 'lru', hwm: 0 }, 'lru');

  test('the client sees the scheme and hwm', () => {
    assert.equal(c.rc().cluster.scheme, 'lru');
    assert.equal(c.rc().cluster.hwm, 0);
  });

  test('serial tasks land on the engines in strict rotation, starting with the newest engine', async (t) => {
    const rc = c.rc();
    const ids = await serialIds(rc.loadBalancedView(), 30);
    t.diagnostic(`lru serial engines: ${ids.join(' ')}`);
    assert.ok(strictRotation(ids, 3), `strict rotation over 3 engines expected, got ${ids.join(' ')}`);
    // new engines enter at the front of the LRU order: the last to register (highest id) goes first
    assert.deepEqual(ids.slice(0, 3), [...rc.ids].reverse());
  });

  test('a burst rotates too, and the spread is exact', async (t) => {
    const rc = c.rc();
    const { serial, burst } = await spread(t, 'lru', rc, 60, 300);
    assert.ok(strictRotation(serial, 3), serial.join(' '));
    assert.ok(strictRotation(burst, 3), burst.slice(0, 30).join(' '));
    for (const n of Object.values(countsOf(serial, rc.ids))) assert.equal(n, 20);
    for (const n of Object.values(countsOf(burst, rc.ids))) assert.equal(n, 100);
  });
});

describe('leastload (3 engines, hwm 0)', () => {
  const c = sharedCluster({ n: 3, scheme: 'leastload', hwm: 0 }, 'leastload');

  test('the client sees the scheme', () => {
    assert.equal(c.rc().cluster.scheme, 'leastload');
  });

  test('short tasks avoid the engine busy with a long task', async (t) => {
    const rc = c.rc();
    const lb = rc.loadBalancedView();
    await whileOneEngineBusy(rc, async ({ long, q, release }) => {
      const busy = Object.entries(q.engines)
        .filter(([, s]) => s.running === 1)
        .map(([id]) => Number(id));
      assert.equal(busy.length, 1, JSON.stringify(q));
      const busyId = busy[0]!;
      const ids = await serialIds(lb, 20);
      t.diagnostic(`leastload with engine ${busyId} busy: ${show(countsOf(ids, rc.ids))}`);
      assert.ok(!ids.includes(busyId), `no short task on busy engine ${busyId}: ${ids.join(' ')}`);
      assert.equal(new Set(ids).size, 2, 'both idle engines took short tasks');
      // ties between the idle engines go to the least recently used: they alternate
      assert.ok(strictRotation(ids, 2), ids.join(' '));
      assert.equal(long.ready(), false, 'the long task was still running throughout');
      release();
      await long;
      assert.equal(long.metadata.engineId, busyId);
    });
  });

  test('spread', async (t) => {
    const rc = c.rc();
    const { serial, burst } = await spread(t, 'leastload', rc, 60, 300);
    // all idle: ties go to the least recently used, so serial work rotates
    assert.ok(strictRotation(serial, 3), serial.join(' '));
    // a burst follows the loads as replies come back: even, give or take the engines' speeds
    for (const n of Object.values(countsOf(burst, rc.ids))) assert.ok(n >= 50, show(countsOf(burst, rc.ids)));
  });
});

describe('plainrandom (3 engines, hwm 0)', () => {
  const c = sharedCluster({ n: 3, scheme: 'plainrandom', hwm: 0 }, 'plainrandom');

  test('uses every engine within statistical bounds, and serial tasks are not in lockstep', async (t) => {
    const rc = c.rc();
    assert.equal(rc.cluster.scheme, 'plainrandom');
    const { serial, burst } = await spread(t, 'plainrandom', rc, 150, 450);
    // each engine's count is binomial (n, 1/3): 150 -> mean 50, sd 5.8; 450 -> mean 150, sd 10
    for (const n of Object.values(countsOf(serial, rc.ids))) assert.ok(n >= 25 && n <= 75, show(countsOf(serial, rc.ids)));
    for (const n of Object.values(countsOf(burst, rc.ids))) assert.ok(n >= 100 && n <= 200, show(countsOf(burst, rc.ids)));
    // random picks repeat the previous engine about a third of the time (expected 49.7 of 149)
    const r = repeats(serial);
    assert.ok(r >= 20 && r <= 85, `repeats ${r}: ${serial.join(' ')}`);
    assert.ok(!strictRotation(serial, 3) && !strictRotation(serial, 2), 'not a rotation');
  });
});

describe('twobin (3 engines, hwm 0)', () => {
  const c = sharedCluster({ n: 3, scheme: 'twobin', hwm: 0 }, 'twobin');

  test('runs tasks correctly and uses every engine', async (t) => {
    const rc = c.rc();
    assert.equal(rc.cluster.scheme, 'twobin');
    const { serial, burst } = await spread(t, 'twobin', rc, 90, 450);
    assertEveryEngineUsed([serial, burst], rc.ids);
    // the less recently used of two random picks wins: an engine is rarely picked twice in a row
    // (only when both draws hit the most recently used one: 1/9 per task)
    assert.ok(repeats(serial) < 40, `repeats ${repeats(serial)} of 89`);
  });
});

describe('weighted (3 engines, hwm 0)', () => {
  const c = sharedCluster({ n: 3, scheme: 'weighted', hwm: 0 }, 'weighted');

  test('runs tasks correctly and uses every engine', async (t) => {
    const rc = c.rc();
    assert.equal(rc.cluster.scheme, 'weighted');
    const { serial, burst } = await spread(t, 'weighted', rc, 90, 450);
    assertEveryEngineUsed([serial, burst], rc.ids);
  });

  test('prefers engines without load: short tasks avoid the engine busy with a long task', async (t) => {
    const rc = c.rc();
    const lb = rc.loadBalancedView();
    await whileOneEngineBusy(rc, async ({ long, q }) => {
      const busyId = busyEngine(q);
      const ids = await serialIds(lb, 30);
      t.diagnostic(`weighted with engine ${busyId} busy: ${show(countsOf(ids, rc.ids))}`);
      // a loaded engine has weight 1 against 1e6 for an idle one: both draws would have to hit it
      assert.ok(!ids.includes(busyId), `no short task on busy engine ${busyId}: ${ids.join(' ')}`);
      assert.equal(long.ready(), false);
    });
  });
});

describe('hwm 1 (2 engines, the default leastload)', () => {
  const c = sharedCluster({ n: 2 }, 'hwm1');

  test('defaults: leastload, hwm 1', () => {
    assert.equal(c.rc().cluster.scheme, 'leastload');
    assert.equal(c.rc().cluster.hwm, 1);
  });

  test('short tasks do not queue behind a long one: all finish before it, on the other engine', async (t) => {
    const rc = c.rc();
    const lb = rc.loadBalancedView();
    await whileOneEngineBusy(rc, async ({ long, q, release }) => {
      const busyId = busyEngine(q);
      const other = rc.ids.find((id) => id !== busyId)!;
      // submitted all at once: with hwm 1 they wait in the controller for a free engine
      const submitted = Date.now();
      const shorts = range(20).map((i) => lb.apply((x: number) => x * 3, i));
      const values = await Promise.all(shorts.map((ar) => ar.get({ timeoutMs: 30000 })));
      assert.deepEqual(
        values,
        range(20).map((i) => i * 3),
      );
      assert.equal(long.ready(), false, 'every short task finished while the long one still ran');
      const where = shorts.map((ar) => ar.metadata.engineId);
      t.diagnostic(`hwm 1, engine ${busyId} busy: 20 short tasks -> ${show(countsOf(where as number[], rc.ids))}`);
      assert.ok(
        where.every((id) => id === other),
        `all on engine ${other}: ${where.join(' ')}`,
      );
      release();
      await long;
      assert.equal(long.metadata.engineId, busyId);
      const lastShort = Math.max(...shorts.map((ar) => ar.metadata.completed!.getTime()));
      assert.ok(lastShort <= long.metadata.completed!.getTime());
      t.diagnostic(
        `hwm 1: the 20 short tasks were all done ${lastShort - submitted} ms after submission, while the long one was held ${long.metadata.completed!.getTime() - long.metadata.submitted.getTime()} ms`,
      );
    });
  });
});

describe('the scheme chosen on the command line', () => {
  test('tscluster start --scheme lru --hwm 0 --daemon: rc.cluster.scheme is lru, and work rotates', async () => {
    const profile = 'cli';
    const known = new Set<number>();
    const remember = (): void => statePids(root, profile).forEach((p) => known.add(p));
    try {
      const started = await runCli(['start', '-n', '2', '--scheme', 'lru', '--hwm', '0', '--daemon', '--profile', profile], { timeoutMs: 90000 });
      remember();
      assert.equal(started.code, 0, `stdout:\n${started.stdout}\nstderr:\n${started.stderr}`);
      assert.match(started.stdout, /scheme lru, hwm 0/);
      const rc = await Client.connect({ profile, timeoutMs: 10000 });
      try {
        await rc.waitForEngines(2, { timeoutMs: 30000 });
        for (const e of rc.engines) known.add(e.pid);
        known.add(rc.cluster.controllerPid);
        assert.equal(rc.cluster.scheme, 'lru');
        assert.equal(rc.cluster.hwm, 0);
        const ids = await serialIds(rc.loadBalancedView(), 10);
        assert.ok(strictRotation(ids, 2), ids.join(' '));
      } finally {
        await rc.close();
      }
      const stopped = await runCli(['stop', '--profile', profile], { timeoutMs: 30000 });
      assert.equal(stopped.code, 0, stopped.stderr);
      await assertAllGone([...known], 'after tscluster stop');
    } finally {
      remember();
      if ([...known].some((p) => !pidGone(p))) {
        // a failure part-way: stop what was started, then end leftovers by pid
        await runCli(['stop', '--profile', profile], { timeoutMs: 30000 }).catch(() => undefined);
        await killAll([...known]);
      }
    }
  });
});
