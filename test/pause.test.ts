/**
 * A paused machine, or a paused engine (SIGSTOP, as a suspended VM or a
 * stopped laptop would do it): the cluster comes back without losing its
 * engines, and a task is never delivered twice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '../index.js';
import type { EngineEvent } from '../index.js';
import { sharedCluster, sleep, tempRootForFile, waitFor } from './support/index.js';

tempRootForFile('pause');

function signal(pids: readonly number[], sig: NodeJS.Signals): void {
  for (const pid of pids) process.kill(pid, sig);
}

describe('pauses (2 engines, an engine silent 5 s is declared dead)', () => {
  const { cluster } = sharedCluster({ n: 2 }, '');
  // this process is not paused: its client waits longer for a controller that is
  let client: Client | undefined;
  before(async () => {
    client = await Client.connect({ lostAfterMs: 60000 });
  });
  after(async () => {
    await client?.close();
  });
  const rc = (): Client => client!;

  test('the whole cluster paused for 12 s (controller and engines): every engine is still registered, with the same id, and serves', async () => {
    const before = rc().engines.map((e) => [e.id, e.pid]);
    const pids = [cluster().controllerPid, ...cluster().enginePids];
    const events: EngineEvent[] = [];
    const off = rc().onEngine((e) => events.push(e));
    try {
      signal(pids, 'SIGSTOP');
      await sleep(12000);
      signal(pids, 'SIGCONT');
      // the controller's next ticks, and the engines' next heartbeats
      await sleep(3000);
      assert.deepEqual(
        rc().engines.map((e) => [e.id, e.pid]),
        before,
      );
      assert.deepEqual(events, [], 'no engine was declared dead for a pause of its controller');
      assert.deepEqual(
        await rc()
          .loadBalancedView()
          .map((x: number) => x * 2, [1, 2, 3, 4]),
        [2, 4, 6, 8],
      );
    } finally {
      signal(pids, 'SIGCONT');
      off();
    }
  });

  test('one engine paused past the dead-after time: declared dead, its task runs elsewhere once; on resume it registers again and serves', async () => {
    const victim = rc().engines[0]!;
    const events: EngineEvent[] = [];
    const off = rc().onEngine((e) => events.push(e));
    try {
      const ar = rc()
        .loadBalancedView()
        .withOptions({ retries: 1, targets: rc().ids })
        .apply(() => new Promise<number>((r) => setTimeout(() => r(process.pid), 3000)));
      await waitFor('the task to start', async () => Object.values((await rc().queueStatus()).engines).some((e) => e.running === 1));
      const ranOn = (await rc().queueStatus()).engines[victim.id]?.running === 1 ? victim : rc().engines[1]!;
      signal([ranOn.pid], 'SIGSTOP');
      await waitFor(`engine ${ranOn.id} declared dead`, () => events.some((e) => e.type === 'unregistered' && e.engine.id === ranOn.id), {
        timeoutMs: 15000,
      });
      signal([ranOn.pid], 'SIGCONT');
      const result = await ar.get({ timeoutMs: 30000 });
      assert.notEqual(result, ranOn.pid, 'the result came from the engine that took over');
      assert.equal(ar.metadata.attempts.length, 1);
      assert.equal(ar.metadata.attempts[0]!.ename, 'EngineError');
      const back = await waitFor('the paused engine to register again', () => rc().engines.find((e) => e.pid === ranOn.pid && e.id !== ranOn.id), {
        timeoutMs: 20000,
      });
      assert.equal(
        await rc()
          .directView(back.id)
          .apply(() => process.pid),
        ranOn.pid,
      );
      // its late reply (for the task run elsewhere) was dropped and counted, never delivered twice
      await waitFor('its late reply to be dropped', async () => ((await rc().stats()).dropped['engine.late'] ?? 0) >= 1, { timeoutMs: 10000 });
      assert.equal(ar.metadata.status, 'ok');
    } finally {
      signal(
        rc().engines.map((e) => e.pid),
        'SIGCONT',
      );
      off();
    }
  });
  test('a retried task that goes back to the same engine process, registered again under a new id, runs there (not dropped as a replay)', async () => {
    const [victim, other] = rc().engines;
    assert.ok(victim && other);
    const events: EngineEvent[] = [];
    const off = rc().onEngine((e) => events.push(e));
    // the other engine is kept busy, so the retry can only go to the victim once it is back
    const busy = rc()
      .directView(other.id)
      .apply(() => new Promise<number>((r) => setTimeout(() => r(process.pid), 30000)));
    try {
      await waitFor('the busy task to start', async () => (await rc().queueStatus()).engines[other.id]?.running === 1);
      const ar = rc()
        .loadBalancedView()
        .withOptions({ retries: 1 })
        .apply(() => new Promise<number>((r) => setTimeout(() => r(process.pid), 1500)));
      await waitFor('the task to start on the victim', async () => (await rc().queueStatus()).engines[victim.id]?.running === 1);
      signal([victim.pid], 'SIGSTOP');
      await waitFor(`engine ${victim.id} declared dead`, () => events.some((e) => e.type === 'unregistered' && e.engine.id === victim.id), {
        timeoutMs: 15000,
      });
      signal([victim.pid], 'SIGCONT');
      // the same request, retried, reaches the process that received it before: it must run, not vanish
      assert.equal(await ar.get({ timeoutMs: 15000 }), victim.pid);
      assert.equal(ar.metadata.attempts.length, 1);
    } finally {
      signal([victim.pid], 'SIGCONT');
      off();
      await busy.abort().catch(() => undefined);
      await busy.catch(() => undefined);
    }
  });
});
