/**
 * An engine's --lifetime: when it ends, the engine takes no new tasks; the
 * task it runs finishes there (not killed mid-run); the tasks it held but had
 * not started go back to the controller's queue and run elsewhere, each once
 * (those not yet handed to its execution worker at once, those the worker
 * holds when it would start them); a direct task for it fails at once with
 * EngineError; then it unregisters and exits 0.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Cluster, EngineError } from '../index.js';
import type { Client } from '../index.js';
import { TestFiles, appendLine, failure, gated, pidGone, stopCluster, tempRootForFile, waitFor } from './support/index.js';

const root = tempRootForFile('lifetime');
const files = new TestFiles(root);

describe('--lifetime (one engine of 5 s, hwm 0)', () => {
  let cluster: Cluster | undefined;
  after(async () => {
    files.openAll();
    await stopCluster(cluster);
  });

  test('the running task finishes, the held ones run once on another engine, direct tasks fail at once, the engine exits 0', async () => {
    cluster = await Cluster.start({ n: 1, hwm: 0, profile: 'life', engines: { launcher: 'local', lifetimeS: 5 } });
    const rc: Client = await cluster.connect();
    const events: string[] = [];
    rc.onEngine((e) => events.push(`${e.type} ${e.engine.id} ${e.reason ?? ''}`));
    const [first] = rc.engines;
    assert.ok(first);
    const lb = rc.loadBalancedView();
    const gate = files.file('gate');
    const runs = files.file('runs');
    const long = lb.apply(gated, { gate, v: 'long' });
    const labels = Array.from({ length: 40 }, (_, i) => `q${i}`);
    const held = labels.map((l) => lb.apply(appendLine, runs, l));
    await waitFor('the engine to hold them all', async () => {
      const q = (await rc.queueStatus()).engines[first.id];
      return q?.running === 1 && q.queued === 40;
    });

    // the lifetime ends: tasks not yet with its worker are back in the controller's queue at once (no other engine yet)
    await waitFor('held tasks to be handed back', async () => (await rc.queueStatus()).unassigned > 0, { timeoutMs: 20_000 });
    assert.equal(existsSync(runs), false, 'none of them ran');
    assert.ok(rc.ids.includes(first.id), 'the engine stays registered while its task runs');
    const direct = await failure(rc.directView(first.id).apply(() => 'too late'));
    assert.ok(direct instanceof EngineError && /retires/.test(direct.message), String(direct));

    files.open(gate);
    assert.equal(await long.get({ timeoutMs: 30_000 }), 'long', 'the running task finished on the retiring engine');
    assert.equal(long.metadata.engineId, first.id);
    // the rest, cancelled in its worker before they began, come back then
    await waitFor('every held task to be handed back', async () => (await rc.queueStatus()).unassigned === 40, { timeoutMs: 15_000 });
    await waitFor('the engine to unregister', () => events.some((e) => e.startsWith(`unregistered ${first.id} retired`)), { timeoutMs: 15_000 });
    await waitFor(`pid ${first.pid} to exit`, () => pidGone(first.pid), { timeoutMs: 10_000 });
    const log = readFileSync(join(root, 'profile_life', 'log', 'tscluster-engines.log'), 'utf8');
    assert.match(log, /retiring \(its lifetime of 5 s ended\)/);
    assert.match(log, new RegExp(`\\[engine pid ${first.pid}\\] stopped \\(exit code 0\\)`));

    const [pid] = await cluster.addEngines(1, { engines: { launcher: 'local' } });
    const second = rc.engines.find((e) => e.pid === pid);
    assert.ok(second);
    assert.deepEqual(await Promise.all(held.map((t) => t.get({ timeoutMs: 30_000 }))), labels);
    for (const t of held) {
      assert.equal(t.metadata.engineId, second.id, 'it ran on the new engine');
      assert.deepEqual(t.metadata.attempts, [], 'handing back is no failed attempt');
    }
    assert.deepEqual(readFileSync(runs, 'utf8').trim().split('\n').sort(), [...labels].sort(), 'each ran once');
  });
});
