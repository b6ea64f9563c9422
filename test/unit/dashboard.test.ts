/**
 * What the dashboard keeps of tasks, without a cluster: the bounded ring of
 * task spans, tasks per second, progress by batch or label, and the metrics
 * counted in place as prom-client writes them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HubMetrics } from '../../controller/dashboard/metrics.js';
import { Progress } from '../../controller/dashboard/progress.js';
import { RateSeries, SpanRing } from '../../controller/dashboard/spans.js';
import { taskRecord } from '../support/records.js';

describe('the ring of task spans', () => {
  test('keeps the last spans in order, and a reader gets only those after its last', () => {
    const ring = new SpanRing(4);
    for (let i = 0; i < 6; i++) {
      ring.push(
        taskRecord({
          msgId: `t${i}`,
          status: i === 3 ? 'failed' : 'done',
          ename: i === 3 ? 'RemoteError' : null,
          started: 1000 + i,
          completed: 1500 + i,
        }),
      );
    }
    assert.equal(ring.next, 6);
    assert.deepEqual(
      ring.since(0).map((s) => s.msgId),
      ['t2', 't3', 't4', 't5'],
      'the oldest two are gone',
    );
    assert.deepEqual(
      ring.since(4).map((s) => [s.seq, s.msgId]),
      [
        [4, 't4'],
        [5, 't5'],
      ],
    );
    assert.deepEqual(ring.since(6), []);
    assert.deepEqual(
      ring.since(0, 1).map((s) => s.msgId),
      ['t5'],
      'a limit keeps the newest',
    );
    const failed = ring.since(3)[0]!;
    assert.deepEqual(
      { ok: failed.ok, ename: failed.ename, start: failed.start, end: failed.end, engine: failed.engine },
      {
        ok: false,
        ename: 'RemoteError',
        start: 1003,
        end: 1503,
        engine: 3,
      },
    );
  });

  test('leaves out tasks that never ran on an engine', () => {
    const ring = new SpanRing(4);
    ring.push(taskRecord({ status: 'failed', started: null, engineId: null }));
    assert.equal(ring.next, 0);
  });
});

describe('tasks per second', () => {
  test('counts finished tasks in per-second buckets, and forgets what is older than its window', () => {
    const t0 = Math.floor(Date.now() / 1000) * 1000;
    const r = new RateSeries(120);
    for (let i = 0; i < 5; i++) r.count(true, t0 + 100);
    r.count(false, t0 + 200);
    r.count(true, t0 + 1100);
    const s = r.series(t0 + 2000, 2);
    assert.deepEqual(s, { t: [t0 / 1000, t0 / 1000 + 1], done: [5, 1], failed: [1, 0] });
    assert.equal(r.rate(t0 + 2000, 2), 3.5);
    assert.deepEqual(r.series(t0 + 200_000, 2).done, [0, 0], 'a window later, the buckets are clear');
  });
});

describe('progress by batch or label', () => {
  test('groups the tasks of a batch, counts them done and failed, with a rate and an ETA', () => {
    const p = new Progress();
    const t0 = Date.now() - 10_000;
    const tasks = Array.from({ length: 10 }, (_, i) => taskRecord({ msgId: `b${i}`, batch: 'batch-1', label: 'squares', submitted: t0 }));
    for (const t of tasks) p.submitted(t, t0);
    p.submitted(taskRecord({ msgId: 'other' }), t0);
    for (const t of tasks.slice(0, 4)) p.finished({ ...t, status: 'done' }, t0 + 5000);
    p.finished({ ...tasks[4]!, status: 'failed' }, t0 + 5000);
    const [g, ...rest] = p.groups(t0 + 10_000);
    assert.deepEqual(rest, [], 'a task with neither batch nor label is not grouped');
    assert.deepEqual(
      { key: g!.key, kind: g!.kind, label: g!.label, total: g!.total, done: g!.done, failed: g!.failed },
      {
        key: 'batch-1',
        kind: 'batch',
        label: 'squares',
        total: 10,
        done: 4,
        failed: 1,
      },
    );
    assert.equal(g!.rate, 0.5);
    assert.equal(g!.eta, 10);
  });

  test('a label used again after its tasks finished starts a new run', () => {
    const p = new Progress();
    const now = Date.now();
    const a = taskRecord({ msgId: 'a', label: 'nightly', submitted: now });
    p.submitted(a, now);
    p.finished({ ...a, status: 'done' }, now);
    assert.equal(p.groups(now)[0]!.eta, 0);
    p.submitted(taskRecord({ msgId: 'b', label: 'nightly', submitted: now }), now);
    const [g] = p.groups(now);
    assert.deepEqual([g!.kind, g!.total, g!.done], ['label', 1, 0]);
  });
});

describe('the metrics counted in place', () => {
  test('prom-client writes the counters and histograms as they were counted, and the gauges as read', async () => {
    const m = new HubMetrics({ engines: () => [{ id: 0, load: 2 }], queued: () => 5, dropped: () => ({ 'engine.late': 3 }) });
    m.counts.completed += 7;
    for (const v of [0.0005, 0.02, 0.02, 3, 10_000]) m.duration.add(v);
    const text = await m.text();
    const line = (prefix: string): string | undefined => text.split('\n').find((l) => l.startsWith(prefix));
    assert.equal(line('tscluster_tasks_completed_total '), 'tscluster_tasks_completed_total 7');
    assert.equal(line('# TYPE tscluster_task_duration_seconds '), '# TYPE tscluster_task_duration_seconds histogram');
    assert.equal(line('tscluster_task_duration_seconds_bucket{le="0.001"}'), 'tscluster_task_duration_seconds_bucket{le="0.001"} 1');
    assert.equal(line('tscluster_task_duration_seconds_bucket{le="0.05"}'), 'tscluster_task_duration_seconds_bucket{le="0.05"} 3');
    assert.equal(line('tscluster_task_duration_seconds_bucket{le="600"}'), 'tscluster_task_duration_seconds_bucket{le="600"} 4');
    assert.equal(line('tscluster_task_duration_seconds_bucket{le="+Inf"}'), 'tscluster_task_duration_seconds_bucket{le="+Inf"} 5');
    assert.equal(line('tscluster_task_duration_seconds_count'), 'tscluster_task_duration_seconds_count 5');
    assert.equal(line('tscluster_engine_load{'), 'tscluster_engine_load{engine="0"} 2');
    assert.equal(line('tscluster_tasks_queued '), 'tscluster_tasks_queued 5');
    assert.equal(line('tscluster_messages_dropped_total{'), 'tscluster_messages_dropped_total{peer="engine",reason="late"} 3');
  });
});
