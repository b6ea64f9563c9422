/**
 * `tscluster repl` driven through stdin against a running 2-engine cluster:
 * the README example (`await lb.map(x => x * 3, [1, 2, 3])` prints
 * `[ 3, 6, 9 ]`), rc/dv/lb defined, `.exit` and end of input leave with 0,
 * and no cluster gives a clear error.
 */
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { before, describe, test } from 'node:test';
import { CLI, assertAllGone, killIfRunning, runCli, sharedCluster, spawnWatched, tempRootForFile, waitExit, waitFor } from './support/index.js';
import type { WatchedChild } from './support/index.js';

/** A REPL child process and its output. */
type Repl = WatchedChild;

tempRootForFile('repl');

const started: ChildProcessWithoutNullStreams[] = [];

function startRepl(args: string[] = []): Repl {
  const r = spawnWatched([CLI, 'repl', ...args], { stdin: true });
  started.push(r.child);
  return r;
}

/** Wait until stdout contains `text` (failing early if the REPL exits). */
async function waitForOutput(r: Repl, text: string, timeoutMs = 30000): Promise<void> {
  await waitFor(
    `REPL output ${JSON.stringify(text)}`,
    () => {
      if (r.out.text.includes(text)) return true;
      if (r.child.exitCode !== null || r.child.signalCode !== null) {
        throw new Error(
          `the REPL exited (${r.child.exitCode ?? r.child.signalCode}) before printing ${JSON.stringify(text)}\nstdout:\n${r.out.text}\nstderr:\n${r.err.text}`,
        );
      }
      return false;
    },
    { timeoutMs },
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\nstdout:\n${r.out.text}\nstderr:\n${r.err.text}`);
  });
}

describe('tscluster repl', () => {
  const c = sharedCluster({ n: 2 }, '', {
    // no REPL may outlive the test
    beforeStop: async () => {
      started.forEach(killIfRunning);
      await assertAllGone(
        started.flatMap((child) => (child.pid ? [child.pid] : [])),
        'REPL processes',
      );
    },
  });
  let enginePids: number[] = [];
  before(() => {
    enginePids = c.cluster().enginePids;
  });

  test('README: `await lb.map(x => x * 3, [1, 2, 3])` prints [ 3, 6, 9 ]; .exit leaves with code 0', async () => {
    const r = startRepl();
    await waitForOutput(r, 'tscluster> ');
    assert.match(r.out.text, /connected: 2 engines/);
    r.child.stdin.write('await lb.map(x => x * 3, [1, 2, 3])\n');
    await waitForOutput(r, '[ 3, 6, 9 ]');
    r.child.stdin.write('.exit\n');
    assert.equal(await waitExit(r.child, 30000), 0, `stderr:\n${r.err.text}`);
    assert.equal(r.err.text, '');
    await assertAllGone([r.child.pid!], 'the REPL after .exit');
  });

  test('rc, dv and lb are defined and connected', async () => {
    const r = startRepl();
    await waitForOutput(r, 'tscluster> ');
    r.child.stdin.write('rc.ids.length\n');
    await waitForOutput(r, 'tscluster> 2\n');
    r.child.stdin.write('[typeof rc.queueStatus, dv.constructor.name, lb.constructor.name, dv.targets.length]\n');
    await waitForOutput(r, "[ 'function', 'DirectView', 'LoadBalancedView', 2 ]");
    // engine ids follow registration order, which need not be the start order of the pids
    r.child.stdin.write('JSON.stringify((await dv.apply(() => process.pid)).sort((p, q) => p - q))\n');
    await waitForOutput(r, `'${JSON.stringify([...enginePids].sort((p, q) => p - q))}'`);
    r.child.stdin.write('await lb.apply((a, b) => a * b, 6, 7)\n');
    await waitForOutput(r, 'tscluster> 42\n');
    // a remote failure is printed, the REPL goes on
    r.child.stdin.write("await lb.apply(() => { throw new Error('boom in repl'); })\n");
    await waitFor('the error printed', () => /boom in repl/.test(r.out.text + r.err.text), { timeoutMs: 30000 });
    r.child.stdin.write('1 + 1\n');
    await waitForOutput(r, 'tscluster> 2\n');
    // end of input leaves too
    r.child.stdin.end();
    assert.equal(await waitExit(r.child, 30000), 0, `stderr:\n${r.err.text}`);
    await assertAllGone([r.child.pid!], 'the REPL after end of input');
  });

  test('with no cluster for the profile, the REPL fails with a clear error', async () => {
    const r = await runCli(['repl', '--profile', 'nothing-here'], { timeoutMs: 30000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no client connection file/);
    assert.match(r.stderr, /nothing-here/);
  });
});
