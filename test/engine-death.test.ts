/**
 * Engines that die, and engines that are merely busy, on a 3-engine cluster
 * with the default heartbeat settings (an engine silent 5 s is declared dead).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { EngineError } from '../index.js';
import type { Client, Cluster, EngineEvent } from '../index.js';
import { pidGone, range, sharedCluster, tempRootForFile, waitFor } from './support/index.js';

tempRootForFile('engine-death');

describe('engine death and busy engines (3 engines)', () => {
  const c = sharedCluster({ n: 3 });
  let cluster: Cluster | undefined;
  let rc: Client;
  const events: EngineEvent[] = [];
  before(() => {
    cluster = c.cluster();
    rc = c.rc();
    rc.onEngine((e) => events.push(e));
  });

  test('an engine busy in synchronous code longer than the dead-after time (5 s) is not declared dead', async () => {
    const target = rc.engines[0]!;
    const seen = events.length;
    const ar = rc.directView(target.id).apply(() => {
      const t = Date.now();
      while (Date.now() - t < 8000) {
        // busy: the execution worker never yields
      }
      return 1;
    });
    assert.equal(await ar.get({ timeoutMs: 60000 }), 1);
    assert.equal(ar.metadata.engineId, target.id);
    assert.ok(rc.ids.includes(target.id), 'still registered');
    assert.deepEqual(events.slice(seen), [], 'no engine event while it was busy');
    assert.equal(await rc.directView(target.id).apply(() => process.pid), target.pid, 'and it serves the next task');
    assert.equal((await rc.stats()).engines, 3);
  });

  test('SIGKILL of an engine running a long task: EngineError naming it within 10 s, unregistered, the others keep serving', async () => {
    assert.ok(cluster);
    const victim = rc.engines[1]!;
    const survivors = rc.engines.filter((e) => e.id !== victim.id);
    const seen = events.length;

    const ar = rc.directView(victim.id).apply(() => {
      console.log('long task started');
      return new Promise((r) => setTimeout(r, 60000));
    });
    await waitFor('the long task to start on the victim', () => ar.stdout.includes('long task started'), { timeoutMs: 30000 });

    process.kill(victim.pid, 'SIGKILL');
    const err = await ar.get({ timeoutMs: 10000 }).then(
      () => assert.fail('the task of a killed engine must fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof EngineError, `EngineError expected within 10 s, got ${String(err)}`);
    assert.equal(err.engineId, victim.id);
    assert.match(err.message, new RegExp(`engine ${victim.id}\\b`));
    assert.equal(ar.metadata.status, 'error');

    const gone = await waitFor(`an 'unregistered' event for engine ${victim.id}`, () =>
      events.slice(seen).find((e) => e.type === 'unregistered' && e.engine.id === victim.id),
    );
    assert.equal(gone.engine.pid, victim.pid);
    assert.ok(!rc.ids.includes(victim.id), 'rc.ids drops the dead engine');
    assert.deepEqual(
      rc.ids,
      survivors.map((e) => e.id),
    );
    await waitFor(`pid ${victim.pid} reaped`, () => pidGone(victim.pid));

    // the others keep serving, and only they take work
    const items = range(200);
    assert.deepEqual(
      await rc.loadBalancedView().map((x: number) => x * 2 + 1, items),
      items.map((x) => x * 2 + 1),
    );
    const pids = await rc.loadBalancedView().map(() => process.pid, range(30));
    const survivorPids = new Set(survivors.map((e) => e.pid));
    assert.ok(
      pids.every((p) => survivorPids.has(p)),
      `work went only to the surviving engines: ${[...new Set(pids)].join(', ')}`,
    );
    assert.deepEqual(await rc.directView().apply(() => 'alive'), ['alive', 'alive']);
    const q = await rc.queueStatus();
    assert.deepEqual(
      Object.keys(q.engines)
        .map(Number)
        .sort((a, b) => a - b),
      survivors.map((e) => e.id),
    );
    assert.equal((await rc.stats()).engines, 2);
    // a direct task for the dead engine fails at once, naming it
    await assert.rejects(
      rc.directView(victim.id).apply(() => 1),
      (e: unknown) => e instanceof EngineError && new RegExp(`engine ${victim.id}\\b`).test(e.message),
    );
  });
});
