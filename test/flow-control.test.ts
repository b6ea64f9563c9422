/**
 * Flow control of submissions (`Client.connect({ submitWindow })`): a burst
 * larger than the window waits in the client, in order, and never fills the
 * controller; held tasks can be aborted, keep their dependencies and their
 * timeouts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Client, TaskAborted, TaskTimeout } from '../index.js';
import { failure, range, sharedCluster, sleepFor, tempRootForFile } from './support/index.js';

tempRootForFile('flow-control');

async function withClient<T>(submitWindow: number, f: (rc: Client) => Promise<T>): Promise<T> {
  const rc = await Client.connect({ submitWindow });
  try {
    return await f(rc);
  } finally {
    await rc.close();
  }
}

describe('flow control: the submit window', () => {
  sharedCluster({ n: 2 });

  test('3,000 tasks through a window of 200: the controller never holds more than 200 of them, and every result arrives', async () => {
    await withClient(200, async (rc) => {
      const lb = rc.loadBalancedView();
      const ars = range(3000).map((i) => lb.apply((x: number) => x * 2, i));
      assert.equal(rc.outstanding.size, 3000, 'every task is outstanding at once, held or sent');
      let most = 0;
      let polls = 0;
      const done = Promise.all(ars);
      const state = { finished: false };
      void done.finally(() => (state.finished = true));
      while (!state.finished) {
        const q = await rc.queueStatus();
        const atController = q.unassigned + Object.values(q.engines).reduce((n, e) => n + e.queued + e.running, 0);
        most = Math.max(most, atController);
        polls++;
      }
      assert.deepEqual(
        await done,
        range(3000).map((i) => i * 2),
      );
      assert.ok(polls >= 3, `polled the controller ${polls} times while the tasks ran`);
      assert.ok(most <= 200, `at most 200 of the client's tasks at the controller; saw ${most}`);
      assert.ok(most > 0, 'and some were');
    });
  });

  test('tasks aborted while they wait in the client end with TaskAborted at once and never reach the controller', async () => {
    await withClient(2, async (rc) => {
      const lb = rc.loadBalancedView();
      const long = [lb.apply(sleepFor, 3000), lb.apply(sleepFor, 3000)];
      const held = range(5).map((i) => lb.apply((x: number) => x, i));
      const t0 = Date.now();
      assert.equal(await rc.abort(held.flatMap((ar) => ar.msgIds)), 5, 'five aborted, all of them in the client');
      for (const ar of held) assert.ok((await failure(ar)) instanceof TaskAborted);
      assert.ok(Date.now() - t0 < 2000, 'without waiting for the running tasks');
      const ids = new Set(held.flatMap((ar) => ar.msgIds));
      assert.equal((await rc.dbQuery({ limit: 10000 })).filter((r) => ids.has(r.msgId)).length, 0, 'the controller never heard of them');
      assert.deepEqual(await Promise.all(long), [3000, 3000], 'the running ones finish');
    });
  });

  test('a held task waits for the tasks before it: its dependency is met, not unknown; its timeout counts from submission', async () => {
    await withClient(1, async (rc) => {
      const lb = rc.loadBalancedView();
      const first = lb.apply(sleepFor, 1500);
      const second = lb.withOptions({ after: first }).apply(() => 'after');
      const timed = lb.withOptions({ timeoutMs: 1000 }).apply(() => 'too late');
      assert.equal(await first, 1500);
      assert.equal(await second, 'after');
      const err = await failure(timed);
      assert.ok(err instanceof TaskTimeout, `TaskTimeout: it waited 1.5 s in the client, past its 1 s: ${String(err)}`);
    });
  });

  test('a window that is not a whole number >= 1 is refused at connect', async () => {
    await assert.rejects(Client.connect({ submitWindow: 0 }), /submitWindow must be a whole number >= 1, got 0/);
  });
});
