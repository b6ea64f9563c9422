/**
 * Engines SIGKILLed during work, on a 3-engine cluster: under a 20,000-task
 * map with retries nothing is lost and nothing runs twice (each killed engine
 * replaced by `tscluster engines -n 1`); without retries exactly the killed
 * engine's tasks fail, with EngineError naming it.
 *
 * The kill schedule is seeded (printed); FAULTS_SEED=<n> reproduces it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CompositeError, EngineError } from '../index.js';
import type { AsyncResult, Client, Cluster, EngineEvent, EngineInfo } from '../index.js';
import { Rng, range, runCli, seedFromEnv, sharedCluster, showResult, statePids, tempRootForFile, waitFor } from './support/index.js';

const root = tempRootForFile('faults-engines');
const SEED = seedFromEnv('FAULTS_SEED', 'faults');

const counts = { tasks: 0, kills: 0, retried: 0, lost: 0 };

after(() => {
  console.log(
    `# faults: ${counts.tasks}-task map, ${counts.kills} engines SIGKILLed mid-map and replaced, ${counts.retried} tasks retried, ${counts.lost} tasks lost`,
  );
});

describe('engines killed during work (3 engines)', () => {
  const PROFILE = 'faults';
  /** every process this cluster ever had, for the final check */
  const pids = new Set<number>();
  const c = sharedCluster({ n: 3, profile: PROFILE }, '', { extraPids: () => [...pids, ...statePids(root, PROFILE)] });
  let cluster: Cluster | undefined;
  let rc: Client;
  const events: EngineEvent[] = [];

  before(() => {
    cluster = c.cluster();
    pids.add(cluster.controllerPid);
    for (const p of cluster.enginePids) pids.add(p);
    rc = c.rc();
    rc.onEngine((e) => {
      events.push(e);
      pids.add(e.engine.pid);
    });
  });

  async function waitUnregistered(e: EngineInfo): Promise<void> {
    await waitFor(`engine ${e.id} (pid ${e.pid}) unregistered`, () => events.some((ev) => ev.type === 'unregistered' && ev.engine.id === e.id), {
      timeoutMs: 15000,
    });
  }

  test('a 20,000-task map (chunksize 1, retries 2) survives three engine SIGKILLs, each replaced by `tscluster engines -n 1`: every result exactly once and correct', async (t) => {
    const rng = new Rng(SEED).fork(1);
    const N = 20000;
    counts.tasks = N;
    const items = range(N);
    const before = (await rc.stats()).tasks;
    const ar = rc
      .loadBalancedView()
      .withOptions({ retries: 2 })
      .map(
        (x: number) => {
          const end = process.hrtime.bigint() + 50_000n;
          while (process.hrtime.bigint() < end) {
            // a tiny busy wait
          }
          return x * 2;
        },
        items,
        { chunksize: 1 },
      );
    // three moments, seeded: when this many results are in (plus a random delay)
    const thresholds = [
      [0.08, 0.2],
      [0.32, 0.44],
      [0.56, 0.68],
    ].map(([lo, hi]) => Math.floor((lo! + rng.next() * (hi! - lo!)) * N));
    const killed: { id: number; pid: number; at: number }[] = [];
    for (const threshold of thresholds) {
      await waitFor(`${threshold} results`, () => ar.progress.done >= threshold || ar.ready(), { timeoutMs: 120000, intervalMs: 10 });
      await new Promise((r) => setTimeout(r, rng.int(200)));
      assert.equal(
        ar.ready(),
        false,
        `the map ended before kill ${killed.length + 1} (at ${threshold} results): the kills must land during the work`,
      );
      const victim = rng.pick(rc.engines);
      killed.push({ id: victim.id, pid: victim.pid, at: ar.progress.done });
      process.kill(victim.pid, 'SIGKILL');
      await waitUnregistered(victim);
      const added = await runCli(['engines', '-n', '1', '--profile', PROFILE], { timeoutMs: 90000 });
      for (const p of statePids(root, PROFILE)) pids.add(p);
      assert.equal(added.code, 0, showResult(added));
      await waitFor('3 engines again', () => rc.ids.length === 3, { timeoutMs: 30000 });
    }
    counts.kills = killed.length;
    t.diagnostic(`seed ${SEED}: killed ${killed.map((k) => `engine ${k.id} (pid ${k.pid}) at ${k.at} results`).join(', ')}`);

    let values: number[] | undefined;
    let failure: unknown;
    try {
      values = await ar.get({ timeoutMs: 300000 });
    } catch (e) {
      failure = e;
    }
    const meta = ar.metadata;
    const failed = meta.filter((m) => m.status !== 'ok').length;
    const wrong = values === undefined ? 0 : values.filter((v, i) => v !== items[i]! * 2).length;
    counts.lost = failed + wrong + (values === undefined ? 0 : Math.max(0, N - values.length));
    const retried = meta.filter((m) => m.attempts.length > 0);
    counts.retried = retried.length;
    assert.equal(failure, undefined, `the map failed: ${failure instanceof CompositeError ? failure.message.slice(0, 2000) : String(failure)}`);
    assert.ok(values);
    assert.equal(values.length, N, 'one result per item');
    assert.deepEqual(
      values,
      items.map((x) => x * 2),
      'every result correct, in order',
    );
    assert.equal(counts.lost, 0, 'no task lost');

    // retried only because of the kills, on the killed engines
    const killedIds = new Set(killed.map((k) => k.id));
    const bad = retried.filter((m) => m.attempts.some((a) => a.engineId === null || !killedIds.has(a.engineId) || a.ename !== 'EngineError'));
    assert.deepEqual(
      bad.map((m) => m.attempts),
      [],
      'every earlier attempt was an EngineError on a killed engine',
    );
    assert.ok(
      retried.length >= 1 && retried.length <= killed.length,
      `${retried.length} tasks retried: at most one in flight per killed engine (hwm 1)`,
    );

    const after = (await rc.stats()).tasks;
    assert.equal(after.submitted - before.submitted, N, 'the controller took each task once');
    assert.equal(after.completed - before.completed, N, 'and completed each once');
    assert.equal(after.pending, 0, 'nothing pending');
    assert.equal(after.completed, after.submitted);
  });

  test('without retries, SIGKILL of an engine fails exactly the tasks on it (EngineError naming it); every other task succeeds', async () => {
    assert.ok(cluster);
    const rng = new Rng(SEED).fork(2);
    const engines = rc.engines;
    assert.equal(engines.length, 3);
    const victim = rng.pick(engines);
    const PER = 25;
    const tasks: { engine: EngineInfo; i: number; ar: AsyncResult<number> }[] = [];
    for (const e of engines) {
      for (let i = 0; i < PER; i++) {
        const ar = rc.directView(e.id).apply((k: number) => {
          const end = Date.now() + 40;
          while (Date.now() < end) {
            // busy
          }
          return k * 3;
        }, i);
        tasks.push({ engine: e, i, ar });
      }
    }
    const onVictim = tasks.filter((t) => t.engine.id === victim.id);
    const killAfter = rng.between(3, 8);
    await waitFor(`${killAfter} tasks done on engine ${victim.id}`, () => onVictim.filter((t) => t.ar.ready()).length >= killAfter, {
      timeoutMs: 60000,
      intervalMs: 5,
    });
    const doneBefore = new Set(onVictim.filter((t) => t.ar.ready()).map((t) => t.i));
    process.kill(victim.pid, 'SIGKILL');
    await Promise.all(tasks.map((t) => t.ar.wait(60000)));

    const problems: string[] = [];
    const victimOk: number[] = [];
    const victimFailed: number[] = [];
    for (const t of tasks) {
      const got = await t.ar.then(
        (v) => ({ ok: true as const, v }),
        (e: unknown) => ({ ok: false as const, e }),
      );
      if (t.engine.id !== victim.id) {
        if (!got.ok || got.v !== t.i * 3) problems.push(`engine ${t.engine.id} task ${t.i}: ${got.ok ? got.v : String(got.e)}`);
        continue;
      }
      if (got.ok) {
        if (got.v !== t.i * 3) problems.push(`victim task ${t.i}: wrong result ${got.v}`);
        victimOk.push(t.i);
      } else {
        const e = got.e;
        if (!(e instanceof EngineError) || e.engineId !== victim.id || !new RegExp(`engine ${victim.id}\\b`).test(e.message)) {
          problems.push(`victim task ${t.i}: ${String(e)} is not an EngineError naming engine ${victim.id}`);
        }
        victimFailed.push(t.i);
      }
    }
    assert.deepEqual(problems, [], 'the tasks on the other engines all succeed; those on the killed one fail with EngineError');
    assert.ok(
      [...doneBefore].every((i) => victimOk.includes(i)),
      'tasks finished before the kill keep their results',
    );
    assert.ok(victimFailed.length > 0, 'the killed engine had tasks left, and they failed');
    assert.ok(
      Math.max(...victimOk) < Math.min(...victimFailed),
      `the killed engine's successes are those it finished first (ok ${victimOk.join(',')}; failed ${victimFailed.join(',')})`,
    );
    assert.equal(victimOk.length + victimFailed.length, PER);

    // replace it for whatever runs next
    await waitUnregistered(victim);
    for (const p of await cluster.addEngines(1)) pids.add(p);
    assert.equal(rc.ids.length, 3);
    assert.deepEqual(
      await rc.loadBalancedView().map((x: number) => x + 1, range(30)),
      range(30).map((x) => x + 1),
    );
  });
});
