/**
 * Ctrl-C in `tscluster repl`, at a real terminal (a pseudo-terminal), while
 * an await of a remote call is pending: it interrupts the wait, as plain
 * `node -i` does, and aborts the remote task the input submitted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CLI, ROOT, sharedCluster, tempRootForFile } from './support/index.js';

tempRootForFile('repl-interrupt');

describe('Ctrl-C in tscluster repl (1 engine)', () => {
  const { rc } = sharedCluster({ n: 1 }, '');

  test('interrupts an await of a remote call and aborts its remote task; the engine is free again', async () => {
    const r = spawnSync('python3', [join(ROOT, 'test', 'fixtures', 'pty-repl.py'), process.execPath, CLI], {
      encoding: 'utf8',
      env: process.env,
      timeout: 90000,
    });
    assert.equal(r.status, 0, r.stderr);
    const text = r.stdout.replace(/\x1b\[[0-9;]*[A-Za-z]/g, ''); // eslint-disable-line no-control-regex
    assert.match(text, /ERR_SCRIPT_EXECUTION_INTERRUPTED/, text);
    assert.match(text, /aborted 1 remote task/, text);
    const status = await rc().queueStatus();
    assert.deepEqual(
      Object.values(status.engines).map((e) => e.running),
      [0],
      JSON.stringify(status),
    );
    const records = await rc().dbQuery({ status: 'failed' });
    assert.ok(
      records.some((x) => x.ename === 'TaskAborted'),
      JSON.stringify(records),
    );
  });
});
