/**
 * The README quickstart, end to end: `tscluster start -n 4` in the foreground,
 * a plain .mjs script that imports 'tscluster', then Ctrl-C (SIGINT).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CLI,
  FIXTURES,
  OutputWatcher,
  ROOT,
  assertAllGone,
  connectionFile,
  ensureGone,
  readState,
  removeTempRoot,
  useTempRoot,
  waitExit,
} from './support/index.js';
import type { StateFile } from './support/index.js';

const root = useTempRoot('quickstart');
const SCRIPT = join(FIXTURES, 'quickstart.mjs');

describe('README quickstart with a foreground `tscluster start -n 4`', () => {
  let start: ChildProcess | undefined;
  let out: OutputWatcher;
  let err: OutputWatcher;
  let state: StateFile | undefined;

  before(async () => {
    start = spawn(process.execPath, [CLI, 'start', '-n', '4'], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    out = new OutputWatcher(start.stdout!);
    err = new OutputWatcher(start.stderr!);
    await out.waitForLine(/cluster ready/, start, 60000, err);
    state = readState(root);
  });

  after(async () => {
    // whatever happened above: no process of this test may outlive it
    const pids = [...(start?.pid ? [start.pid] : []), ...(state ? [state.controller_pid, ...state.engine_pids] : [])];
    if (start && start.exitCode === null && start.signalCode === null) start.kill('SIGINT');
    await ensureGone(pids, 15000);
    removeTempRoot(root);
  });

  test('the start process wrote the connection files and the state file with 4 engine pids', () => {
    assert.ok(existsSync(connectionFile(root, 'client')), 'client connection file');
    assert.ok(existsSync(connectionFile(root, 'engine')), 'engine connection file');
    assert.ok(state, 'state file');
    assert.equal(state.engine_pids.length, 4);
    assert.match(out.text, new RegExp(`controller pid ${state.controller_pid}`));
  });

  test("the quickstart script (import { Client } from 'tscluster') prints the documented results", () => {
    assert.ok(state);
    const r = spawnSync(process.execPath, [SCRIPT], { cwd: ROOT, env: process.env, encoding: 'utf8', timeout: 60000 });
    assert.equal(r.error, undefined, `the script could not run: ${String(r.error)}`);
    assert.equal(r.status, 0, `the script failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}`);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 3, `three lines expected, got:\n${r.stdout}`);
    assert.deepEqual(JSON.parse(lines[0]!), [1, 4, 9]);
    assert.deepEqual(JSON.parse(lines[1]!), [15, 15, 15, 15]);
    const pid = Number(lines[2]);
    assert.ok(Number.isInteger(pid), `a pid expected, got '${lines[2]}'`);
    assert.ok(state.engine_pids.includes(pid), `pid ${pid} is not one of the engine pids ${state.engine_pids.join(', ')}`);
  });

  test('SIGINT stops the cluster: exit code 0, no controller or engine left, connection files removed', async () => {
    assert.ok(start && state);
    start.kill('SIGINT');
    const code = await waitExit(start, 30000);
    assert.equal(code, 0, `start exited with ${code}\nstdout:\n${out.text}\nstderr:\n${err.text}`);
    await assertAllGone([state.controller_pid, ...state.engine_pids], 'after SIGINT to `tscluster start`');
    assert.equal(existsSync(connectionFile(root, 'client')), false, 'client connection file removed');
    assert.equal(existsSync(connectionFile(root, 'engine')), false, 'engine connection file removed');
  });
});

test("the package entry loads with require('tscluster') (createRequire) in a CommonJS process", () => {
  const code = [
    "const { createRequire } = require('node:module');",
    `const req = createRequire(${JSON.stringify(join(ROOT, 'package.json'))});`,
    "const m = req('tscluster');",
    'console.log(JSON.stringify({ client: typeof m.Client, connect: typeof m.Client.connect, cluster: typeof m.Cluster, start: typeof m.Cluster.start, remoteError: typeof m.RemoteError }));',
  ].join('\n');
  const r = spawnSync(process.execPath, ['-e', code], { cwd: ROOT, env: process.env, encoding: 'utf8', timeout: 30000 });
  assert.equal(r.status, 0, `require('tscluster') failed:\n${r.stderr}`);
  assert.deepEqual(JSON.parse(r.stdout.trim()), {
    client: 'function',
    connect: 'function',
    cluster: 'function',
    start: 'function',
    remoteError: 'function',
  });
});
