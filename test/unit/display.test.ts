/**
 * The rendering of client/display.ts without processes: the time per engine
 * of a result's metadata, the engines table, the HTML progress bar, and the
 * text fallback outside a Jupyter kernel.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { displayEngines, displayProgress, engineTimings, enginesTable, kernelDisplay, progressHtml, timingSummary } from '../../client/display.js';
import type { Displayable } from '../../client/display.js';
import type { TaskInfo } from '../../client/task-state.js';

const at = (ms: number): Date => new Date(1_700_000_000_000 + ms);

function task(engineId: number | null, startMs: number, runMs: number | null): TaskInfo {
  return {
    msgId: `m${startMs}`,
    engineId,
    submitted: at(0),
    started: runMs === null ? null : at(startMs),
    completed: runMs === null ? null : at(startMs + runMs),
    received: runMs === null ? null : at(startMs + runMs + 1),
    status: runMs === null ? 'pending' : 'ok',
    stdout: '',
    stderr: '',
    attempts: [],
  };
}

/** A finished three-task result. */
const finished: Displayable = {
  progress: { done: 3, total: 3 },
  elapsedMs: 120,
  ready: () => true,
  wait: () => Promise.resolve(true),
  metadata: [task(1, 0, 30), task(0, 0, 10), task(1, 40, 50)],
};

const engine = (id: number, pid: number) => ({
  id,
  uuid: `u${id}`,
  pid,
  hostname: 'node-a',
  registered: '2024-01-01T00:00:00.000Z',
  mpi: null,
  data: null,
});

describe('display rendering', () => {
  test('engineTimings: tasks and total/mean run time per engine, by engine id; unfinished tasks left out', () => {
    const infos = [...(finished.metadata as TaskInfo[]), task(null, 0, null)];
    assert.deepEqual(engineTimings(infos), [
      { engineId: 0, tasks: 1, totalMs: 10, meanMs: 10 },
      { engineId: 1, tasks: 2, totalMs: 80, meanMs: 40 },
    ]);
    const s = timingSummary(infos);
    assert.match(s.html, /<caption[^>]*>time per engine<\/caption>/);
    assert.match(s.text, /^engine +tasks +total +mean$/m);
    assert.match(s.text, /^ +1 +2 +0\.1 s +40\.0 ms$/m);
  });

  test('enginesTable: id, host, pid, registered and the queue counts of each engine (0 when the status lacks it)', () => {
    const t = enginesTable([engine(0, 100), engine(1, 101)], { 0: { queued: 2, running: 1, completed: 7 } });
    assert.match(t.html, /<caption[^>]*>2 engines<\/caption>/);
    for (const h of ['id', 'host', 'pid', 'registered', 'queued', 'running', 'completed']) assert.match(t.html, new RegExp(`<th[^>]*>${h}</th>`));
    assert.match(t.text, /^ *0 +node-a +100 +2024-01-01T00:00:00\.000Z +2 +1 +7$/m);
    assert.match(t.text, /^ *1 +node-a +101 +2024-01-01T00:00:00\.000Z +0 +0 +0$/m);
  });

  test('progressHtml: a bar filled to the share done, with the progress line', () => {
    const half: Displayable = { ...finished, progress: { done: 1, total: 2 }, ready: () => false };
    const html = progressHtml(half);
    assert.match(html, /class="tscluster-progress"/);
    assert.match(html, /width:50%/);
    assert.match(html, /1\/2 tasks done/);
  });

  test('outside a Jupyter kernel: no rich display; progress and tables are text', async () => {
    const saved = process.env.JPY_PARENT_PID;
    delete process.env.JPY_PARENT_PID;
    try {
      assert.equal(kernelDisplay(), undefined);
      const out = new PassThrough();
      let text = '';
      out.on('data', (b: Buffer) => (text += b.toString()));
      await displayProgress(finished, { stream: out }, true);
      displayEngines([engine(0, 100)], {}, out);
      assert.match(text, /^3\/3 tasks done/m);
      assert.match(text, /^engine +tasks +total +mean$/m);
      assert.match(text, /^id +host +pid +registered +queued +running +completed$/m);
      assert.doesNotMatch(text, /</, 'no HTML in the text form');
    } finally {
      if (saved !== undefined) process.env.JPY_PARENT_PID = saved;
    }
  });

  test('in a process with JPY_PARENT_PID but no tslab kernel loaded: no rich display', () => {
    const saved = process.env.JPY_PARENT_PID;
    process.env.JPY_PARENT_PID = '1';
    try {
      assert.equal(kernelDisplay(), undefined);
    } finally {
      if (saved === undefined) delete process.env.JPY_PARENT_PID;
      else process.env.JPY_PARENT_PID = saved;
    }
  });
});
