/**
 * A controller that dies is a pause, not a failure: its supervisor starts it
 * again on the same ports, the new one takes up the tasks in the store,
 * engines come back under their ids with what they hold, and the client gets
 * every result once. Real processes; the controller is SIGKILLed at seeded
 * moments of a 20,000-task map, with and without retries, and while a
 * 100 MB push is on its way. Also: records after a restart (dbQuery,
 * getResult), and a store that cannot be opened.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Client, Cluster } from '../index.js';
import type { AsyncResult } from '../index.js';
import { storePath } from '../profiles/index.js';
import { Rng, pidGone, range, seedFromEnv, sharedCluster, sleep, stopCluster, tempRootForFile, waitFor } from './support/index.js';

tempRootForFile('restart');

/** The controller pid in the cluster's client connection file. */
function controllerPid(clusterId = ''): number {
  const dir = join(process.env.TSCLUSTER_DIR!, 'profile_default', 'security');
  const file = join(dir, `${clusterId ? `tscluster-${clusterId}` : 'tscluster'}-client.json`);
  return (JSON.parse(readFileSync(file, 'utf8')) as { controller_pid: number }).controller_pid;
}

/** SIGKILL the controller; resolves with the new controller's pid and how long it took to appear. */
async function killController(clusterId = ''): Promise<{ pid: number; ms: number }> {
  const old = controllerPid(clusterId);
  const t0 = Date.now();
  process.kill(old, 'SIGKILL');
  const pid = await waitFor(
    'a new controller',
    () => {
      const p = controllerPid(clusterId);
      return p !== old && !pidGone(p) ? p : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 20 },
  );
  return { pid, ms: Date.now() - t0 };
}

const seen = (): number[] => ((globalThis as { __seen?: number[] }).__seen ??= []);

/** Console note of the restart times, for the issue's note. */
const restarts: number[] = [];
after(() => {
  if (restarts.length > 0) console.log(`# controller back in ${restarts.join(', ')} ms after SIGKILL`);
});

/**
 * A 20,000-task map through three SIGKILLs at seeded moments: every result
 * once and right, each engine ran exactly the tasks its results say, no item twice.
 */
async function mapThroughKills(rc: Client, retries: number): Promise<void> {
  const dv = rc.directView();
  await dv.apply(() => {
    (globalThis as { __seen?: number[] }).__seen = [];
  });
  const rng = new Rng(seedFromEnv('TSCLUSTER_KILL_SEED', 'kill schedule'));
  const ar = rc
    .loadBalancedView()
    .withOptions({ retries, label: `kill-map-${retries}` })
    .map(
      (x: number) => {
        ((globalThis as { __seen?: number[] }).__seen ??= []).push(x);
        return x * 3 + 1;
      },
      range(20_000),
      { chunksize: 1 },
    );
  for (let k = 0; k < 3; k++) {
    await sleep(200 + rng.int(2500));
    if (ar.ready()) break;
    const { ms } = await killController();
    restarts.push(ms);
    assert.ok(ms < 2000, `controller back in ${ms} ms`);
  }
  const values = await ar.get({ timeoutMs: 300_000 });
  assert.deepEqual(
    values,
    range(20_000).map((x) => x * 3 + 1),
  );
  const ran = await dv.apply(seen).get({ timeoutMs: 30_000 });
  const all = ran.flat();
  assert.equal(all.length, 20_000, `executions: ${all.length}`);
  assert.equal(new Set(all).size, 20_000, 'no item ran twice');
  const perEngine = new Map<number, number>();
  for (const m of ar.metadata as { engineId: number | null }[]) perEngine.set(m.engineId ?? -1, (perEngine.get(m.engineId ?? -1) ?? 0) + 1);
  rc.ids.forEach((id, i) => assert.equal(ran[i]!.length, perEngine.get(id) ?? 0, `engine ${id}: executions vs its tasks`));
}

// one cluster per suite: its supervisor gives up after more than 5 crashes in 60 s, and each suite kills 4 times
describe('a controller SIGKILLed mid-work loses nothing (no retries)', () => {
  const c = sharedCluster({ n: 2 });

  test('a 20,000-task map through three kills at seeded moments: every result once, no task run twice', async () => {
    await mapThroughKills(c.rc(), 0);
  });

  test('after the restarts, dbQuery finds the finished tasks and getResult answers from the store', async () => {
    const rc = c.rc();
    const done = await rc.dbQuery({ label: 'kill-map-0', status: 'done' });
    assert.equal(done.length, 20_000);
    const before = rc.loadBalancedView().apply(() => 'kept');
    await before;
    await killController();
    const rc2 = await Client.connect({ timeoutMs: 20_000 });
    try {
      assert.equal(await rc2.getResult(before.msgIds[0]!).get({ timeoutMs: 20_000 }), 'kept');
      const recs = await rc2.dbQuery({ label: 'kill-map-0', limit: 5 });
      assert.equal(recs.length, 5);
      assert.ok(recs.every((r) => r.status === 'done'));
    } finally {
      await rc2.close();
    }
  });
});

describe('a controller SIGKILLed mid-work loses nothing (retries 2)', () => {
  const c = sharedCluster({ n: 2 });

  test('a 20,000-task map through three kills at seeded moments: every result once, no task run twice', async () => {
    await mapThroughKills(c.rc(), 2);
  });
  test('a controller killed while a 100 MB push is on its way: the push completes or fails clearly, nothing hangs', async () => {
    const rc = c.rc();
    const big = new Float64Array((100 * 1024 * 1024) / 8).fill(1.5);
    const ar: AsyncResult<unknown, boolean> = rc.directView(rc.ids[0]!).push({ big });
    await sleep(5);
    await killController();
    const outcome = await Promise.race([
      ar.then(
        () => 'done',
        (e: unknown) => e,
      ),
      sleep(120_000).then(() => 'hung'),
    ]);
    assert.notEqual(outcome, 'hung');
    if (outcome === 'done') {
      const n = await rc.directView(rc.ids[0]!).apply(() => (globalThis as { big?: Float64Array }).big?.length);
      assert.equal(n, big.length);
    } else {
      assert.ok(outcome instanceof Error && outcome.message.length > 20, `a clear error: ${String(outcome)}`);
    }
    // the cluster still works
    assert.equal(await rc.loadBalancedView().apply(() => 7), 7);
  });
});

describe('a task whose payload the store does not keep (over --store-request-max-bytes)', () => {
  const c = sharedCluster({ n: 2 }, 'payload');

  test('queued when the controller is SIGKILLed: its client sends it again, and it runs once with its payload intact', async () => {
    // through the controller, as over an ssh tunnel: the 8 MB argument is part of the request the store sees
    const rc = await Client.connect({ clusterId: 'payload', directData: false, timeoutMs: 20_000 });
    try {
      assert.equal(c.rc().ids.length, 2);
      const lb = rc.loadBalancedView();
      await rc.directView().apply(() => {
        (globalThis as { __runs?: number }).__runs = 0;
      });
      // both engines busy, so the large task waits in the controller's queue
      const busy = [0, 1].map(() => lb.apply(() => new Promise<string>((r) => setTimeout(() => r('slept'), 4000))));
      await sleep(300);
      const big = new Float64Array(1024 * 1024).map((_, i) => i % 1000);
      const ar = lb.apply((a: Float64Array) => {
        const g = globalThis as { __runs?: number };
        g.__runs = (g.__runs ?? 0) + 1;
        let s = 0;
        for (const x of a) s += x;
        return [a.length, s];
      }, big);
      // a heartbeat (every second) flushes the store: the queued task's row is written, without its payload
      await sleep(1500);
      assert.equal(ar.ready(), false, 'still queued at the kill');
      await killController('payload');
      assert.deepEqual(await Promise.all(busy.map((b) => b.get({ timeoutMs: 60_000 }))), ['slept', 'slept']);
      assert.deepEqual(await ar.get({ timeoutMs: 60_000 }), [big.length, big.reduce((a, b) => a + b, 0)]);
      const runs = await rc.directView().apply(() => (globalThis as { __runs?: number }).__runs ?? 0);
      assert.equal(
        runs.reduce((a, b) => a + b, 0),
        1,
        `ran once: ${runs.join(', ')}`,
      );
      const log = readdirSync(join(process.env.TSCLUSTER_DIR!, 'profile_default', 'log'))
        .filter((f) => f.includes('payload') && f.includes('controller'))
        .map((f) => readFileSync(join(process.env.TSCLUSTER_DIR!, 'profile_default', 'log', f), 'utf8'))
        .join('\n');
      assert.match(log, /1 more wait for their clients to send their payloads again/);
    } finally {
      await rc.close();
    }
  });
});

describe('a store that cannot be opened', () => {
  test('a corrupt store fails the start naming the file and --store none; --store none starts', async () => {
    const id = 'corrupt';
    const file = storePath('default', id);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, Buffer.alloc(16_384, 0x5a));
    const err = await Cluster.start({ n: 1, clusterId: id, timeoutMs: 30_000 }).then(
      async (cl) => {
        await stopCluster(cl);
        return undefined;
      },
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error, 'the start failed');
    assert.ok(err.message.includes(file), err.message);
    assert.ok(err.message.includes('--store none'), err.message);
    const cl = await Cluster.start({ n: 1, clusterId: id, store: 'none', timeoutMs: 30_000 });
    try {
      const rc = await cl.connect();
      assert.equal(await rc.loadBalancedView().apply(() => 'ok'), 'ok');
      await rc.close();
    } finally {
      await stopCluster(cl);
    }
    assert.ok(existsSync(file), 'the file is left for the user to look at');
  });
});
