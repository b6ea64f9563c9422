/**
 * Priorities and the queue status end to end on a 2-engine cluster (hwm 1):
 * queueStatus while tasks wait (per engine queued/running/completed, and the
 * unassigned ones), and tasks run by priority, FIFO among equals.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { TestFiles, appendLine, engineQueues, occupy, range, sharedCluster, tempRootForFile, waitUnassigned } from './support/index.js';

const files = new TestFiles(tempRootForFile('task-priority-queue'));

describe('priority and queue status (2 engines, hwm 1)', () => {
  const c = sharedCluster({ n: 2 }, 'queue');

  test('queueStatus while tasks are queued: per engine queued/running/completed, and unassigned', async () => {
    const rc = c.rc();
    const busy = await occupy(rc, rc.ids, files);
    const queued = range(3).map((i) => rc.loadBalancedView().apply((x: number) => x, i));
    try {
      await waitUnassigned(rc, 3);
      const q = await rc.queueStatus();
      assert.deepEqual(Object.keys(q).sort(), ['engines', 'unassigned']);
      for (const e of engineQueues(q, rc.ids)) {
        assert.equal(e.running, 1);
        assert.equal(e.queued, 0, 'hwm 1: nothing waits on an engine');
        assert.ok(Number.isInteger(e.completed) && e.completed >= 0);
      }
      assert.equal(q.unassigned, 3);
    } finally {
      await busy.release();
    }
    assert.deepEqual(await Promise.all(queued), [0, 1, 2]);
    const later = await rc.queueStatus();
    assert.equal(later.unassigned, 0);
    for (const id of rc.ids) assert.equal(later.engines[id]!.running, 0);
  });

  test('priority: on one engine, tasks with priorities [1, 5, 3, 5, 0] run as 5, 5 (FIFO), 3, 1, 0', async () => {
    const rc = c.rc();
    const target = rc.ids[0]!;
    const busy = await occupy(rc, [target], files);
    const log = files.file('log');
    const on0 = rc.loadBalancedView().withOptions({ targets: [target] });
    const spec: [string, number][] = [
      ['p1', 1],
      ['p5-first', 5],
      ['p3', 3],
      ['p5-second', 5],
      ['p0', 0],
    ];
    const ars = spec.map(([label, priority]) => on0.withOptions({ priority }).apply(appendLine, log, label));
    try {
      await waitUnassigned(rc, 5);
    } finally {
      await busy.release();
    }
    assert.deepEqual(
      await Promise.all(ars),
      spec.map(([l]) => l),
    );
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['p5-first', 'p5-second', 'p3', 'p1', 'p0']);
    assert.ok(ars.every((ar) => ar.metadata.engineId === target));
  });
});
