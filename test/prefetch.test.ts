/**
 * Prefetch and work stealing: an engine holds a task ready behind the one it
 * runs (no controller round trip between tasks), and a ready task that has
 * not started is taken back for an engine that goes idle, so a short task
 * never waits behind a long one while another engine is idle.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Client } from '../index.js';
import { range, sharedCluster, sleepFor, tempRootForFile } from './support/index.js';

tempRootForFile('prefetch');

describe('prefetch and work stealing (2 engines, hwm 1, prefetch 1)', () => {
  const c = sharedCluster({ n: 2, hwm: 1, prefetch: 1 });

  test('each engine holds two tasks at most: one running, one ready', async () => {
    const rc = c.rc();
    const lb = rc.loadBalancedView();
    const ars = range(6).map(() => lb.apply(sleepFor, 500));
    await new Promise((r) => setTimeout(r, 250));
    const q = await rc.queueStatus();
    const held = Object.values(q.engines).map((e) => e.queued + e.running);
    assert.deepEqual(held, [2, 2], `two per engine: ${JSON.stringify(q)}`);
    assert.equal(q.unassigned, 2, 'the rest wait at the controller');
    await Promise.all(ars);
  });

  test('a short task placed behind a long one is taken back by the engine that goes idle', async () => {
    const rc = await Client.connect();
    try {
      const lb = rc.loadBalancedView();
      const t0 = Date.now();
      const long = lb.apply(sleepFor, 4000);
      await new Promise((r) => setTimeout(r, 100)); // the long one runs on one engine
      const medium = lb.apply(sleepFor, 300);
      // both engines now run one task: one short one goes behind each
      const shorts = [lb.apply(sleepFor, 10), lb.apply(sleepFor, 10)];
      const ends = await Promise.all(shorts.map(async (ar) => (await ar, Date.now() - t0)));
      await medium;
      assert.equal(await long, 4000);
      const longEngine = long.metadata.engineId;
      for (const [i, ar] of shorts.entries()) {
        assert.ok(ends[i]! < 2500, `short task ${i} finished after ${ends[i]} ms, not behind the 4 s one`);
        assert.notEqual(ar.metadata.engineId, longEngine, `short task ${i} ran on the other engine`);
      }
    } finally {
      await rc.close();
    }
  });
});
