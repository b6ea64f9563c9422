/**
 * Scripts and the processes around them: a script whose work is done exits
 * by itself; a client that goes away takes its queued work with it (unless
 * it asked to keep it); pids recorded in a profile are never trusted or
 * signalled once they belong to another process; bad settings are refused
 * at once; start-up failures quote this run's log only.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Client, Cluster, CompositeError, ConnectionLost, TaskAborted } from '../index.js';
import {
  OutputWatcher,
  ROOT,
  assertAllGone,
  connectionFile,
  pidGone,
  readState,
  removeTempRoot,
  runCli,
  sharedCluster,
  stateFilePath,
  stopCluster,
  useTempRoot,
  waitExit,
  waitFor,
} from './support/index.js';

const root = useTempRoot('scripts');
after(() => removeTempRoot(root));

function fixture(name: string, ...args: string[]): ReturnType<typeof spawn> {
  return spawn(process.execPath, [join(ROOT, 'test', 'fixtures', name), ...args], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('a script exits when its work is done', () => {
  const { rc } = sharedCluster({ n: 1, profile: 'exits' }, '');

  test('a script that connects and runs a task, and never closes its client, exits by itself', async () => {
    assert.ok(rc().ids.length > 0);
    const child = fixture('script-exits.mjs', 'client', 'exits');
    const out = new OutputWatcher(child.stdout!);
    const code = await waitExit(child, 20000).catch((e: unknown) => {
      child.kill('SIGKILL');
      throw e;
    });
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(out.text.trim()), { result: 42 });
  });

  test('a script that only starts a cluster exits by itself, and its cluster stops with it', async () => {
    const child = fixture('script-exits.mjs', 'cluster', 'exits-cluster');
    const out = new OutputWatcher(child.stdout!);
    const code = await waitExit(child, 60000).catch((e: unknown) => {
      child.kill('SIGKILL');
      throw e;
    });
    assert.equal(code, 0);
    const started = JSON.parse(out.text.trim()) as { controllerPid: number; enginePids: number[] };
    assert.equal(started.enginePids.length, 2);
    await assertAllGone([started.controllerPid, ...started.enginePids], 'after the script that started the cluster exited');
  });
});

describe('a client that goes away (2 engines, hwm 1)', () => {
  const { rc } = sharedCluster({ n: 2, profile: 'gone' }, '');

  async function submitAndKill(retain: boolean): Promise<{ client: string; msgIds: string[] }> {
    const child = fixture('submit-and-wait.mjs', 'gone', '300', retain ? 'retain' : 'drop');
    const out = new OutputWatcher(child.stdout!);
    try {
      const line = await out.waitForLine(/msgIds/, child, 30000);
      const sent = JSON.parse(line) as { client: string; msgIds: string[] };
      // every submission has reached the controller (a busy machine may still be sending when the line is printed)
      await waitFor('its submissions to arrive', async () => (await rc().dbQuery({ client: sent.client })).length === sent.msgIds.length, {
        timeoutMs: 30000,
      });
      await waitFor('some of its tasks to run', async () => (await rc().dbQuery({ status: 'done' })).length > 4, { timeoutMs: 30000 });
      return sent;
    } finally {
      child.kill('SIGKILL');
      await waitExit(child, 10000);
    }
  }

  test('its queued tasks are cancelled (TaskAborted); those that ran keep their results', async () => {
    const { client, msgIds } = await submitAndKill(false);
    // the controller hears of the death at its next heartbeat to the client (1 s)
    await waitFor('the queue to empty', async () => (await rc().queueStatus()).unassigned === 0, { timeoutMs: 10000 });
    const records = await rc().dbQuery({ client });
    const done = records.filter((r) => r.status === 'done');
    const aborted = records.filter((r) => r.status === 'failed' && r.ename === 'TaskAborted');
    assert.ok(done.length > 0 && done.length < 300, `${done.length} ran`);
    assert.ok(aborted.length > 200, `${aborted.length} of 300 cancelled`);
    const next = rc()
      .loadBalancedView()
      .apply(() => 'served at once');
    assert.equal(await next.get({ timeoutMs: 5000 }), 'served at once');
    // a result that ran stays available to another client
    const ran = done[0]!;
    // a map task's record holds its chunk (here one item)
    const kept = await rc().getResult(ran.msgId);
    assert.ok(Array.isArray(kept) && typeof kept[0] === 'number', String(kept));
    assert.ok(msgIds.includes(ran.msgId));
  });

  test('with retainOnDisconnect its tasks stay queued and run; their results are there for getResult', async () => {
    const { msgIds } = await submitAndKill(true);
    const results = await rc().getResult(msgIds.slice(-3)).get({ timeoutMs: 60000 });
    // a map task's record holds its chunk (here one item)
    assert.deepEqual(results, [[297 * 2], [298 * 2], [299 * 2]]);
  });

  test("`tscluster tasks --abort --client ID` and rc.abort({ all: true }) clear others' work on purpose", async () => {
    const child = fixture('submit-and-wait.mjs', 'gone', '300', 'retain');
    const out = new OutputWatcher(child.stdout!);
    try {
      const { client } = JSON.parse(await out.waitForLine(/msgIds/, child, 30000)) as { client: string };
      const listed = await runCli(['tasks', '--profile', 'gone', '--client', client, '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.ok((JSON.parse(listed.stdout) as unknown[]).length > 0);
      const r = await runCli(['tasks', '--abort', '--client', client, '--profile', 'gone']);
      assert.equal(r.code, 0, r.stderr);
      const n = Number(/aborted (\d+) task/.exec(r.stdout)?.[1]);
      assert.ok(n > 0, r.stdout);
      await waitFor('the queue to empty', async () => (await rc().queueStatus()).unassigned === 0, { timeoutMs: 10000 });
      // every task of that client either ran or was aborted by the command, which counted them right (how many ran first depends on the machine's load)
      await waitFor(
        'its running tasks to finish',
        async () => (await rc().dbQuery({ client })).every((x) => x.status === 'done' || x.status === 'failed'),
        {
          timeoutMs: 10000,
        },
      );
      const records = await rc().dbQuery({ client });
      const abortedRecords = records.filter((x) => x.status === 'failed' && x.ename === 'TaskAborted').length;
      // the count includes the tasks running at that moment (one per engine), which may finish before the abort reaches them
      assert.ok(abortedRecords <= n && abortedRecords >= n - 2, `${abortedRecords} aborted records, ${n} counted`);
      assert.equal(records.filter((x) => x.status === 'done').length + abortedRecords, 300);
      const mine = rc()
        .loadBalancedView()
        .apply(() => new Promise((res) => setTimeout(res, 2000)));
      const queued = rc()
        .loadBalancedView()
        .map((x: number) => x, [1, 2, 3, 4]);
      assert.ok((await rc().abort({ all: true })) >= 1);
      await assert.rejects(queued, (e: unknown) => e instanceof CompositeError && e.errors.every((x) => x instanceof TaskAborted));
      await mine.catch(() => undefined);
    } finally {
      child.kill('SIGKILL');
      await waitExit(child, 10000);
    }
  });
});

describe('pids that belong to another process now', () => {
  test('stop, start and list never signal or trust a recorded pid whose process is not the recorded one', async () => {
    const profile = 'stale';
    const sleeper = spawn('sleep', ['300'], { stdio: 'ignore' });
    const pid = sleeper.pid!;
    try {
      const record = { host: 'here', pid, start: '1', cmd: 'node engine/main.js' };
      mkdirSync(join(root, `profile_${profile}`, 'pid'), { recursive: true });
      mkdirSync(join(root, `profile_${profile}`, 'security'), { recursive: true, mode: 0o700 });
      const state = {
        version: 2,
        profile,
        cluster_id: '',
        started: new Date().toISOString(),
        controller: { launcher: 'local', processes: [record] },
        engines: [{ launcher: 'local', processes: [record] }],
      };
      writeFileSync(stateFilePath(root, profile), JSON.stringify(state));
      const conn = {
        tscluster: 1,
        kind: 'client',
        profile,
        cluster_id: '',
        transport: 'tcp',
        ip: '127.0.0.1',
        port: 1,
        key: 'a'.repeat(64),
        signature_scheme: 'hmac-sha256',
        curve_serverkey: null,
        controller_pid: pid,
        controller_start: '1',
        created: new Date().toISOString(),
      };
      writeFileSync(connectionFile(root, 'client', profile), JSON.stringify(conn), { mode: 0o600 });
      const listed = JSON.parse((await runCli(['list', '--json'])).stdout) as { profile: string; state: string }[];
      assert.equal(listed.find((r) => r.profile === profile)?.state, 'dead', 'a pid of another process is not a running controller');
      const stopped = await runCli(['stop', '--profile', profile]);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.equal(pidGone(pid), false, '`tscluster stop` must not signal a process that is not the recorded one');
      writeFileSync(stateFilePath(root, profile), JSON.stringify(state));
      const c = await Cluster.start({ n: 1, profile });
      await stopCluster(c);
      assert.equal(pidGone(pid), false, '`Cluster.start` must not end a process that is not a recorded stale engine');
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  test('a corrupt state file: list says so, stop --all cleans it up', async () => {
    const profile = 'corrupt';
    mkdirSync(join(root, `profile_${profile}`, 'pid'), { recursive: true });
    writeFileSync(stateFilePath(root, profile), '{ not json');
    const listed = await runCli(['list']);
    assert.match(listed.stdout, /profile 'corrupt': its state file is corrupt/);
    const stopped = await runCli(['stop', '--all']);
    assert.match(stopped.stdout, /stopped the cluster of profile 'corrupt'/);
    assert.equal(readState(root, profile), undefined);
  });
});

describe('bad settings are refused at once, naming the setting and the accepted values', () => {
  test('the command line', async () => {
    const cases: [string[], RegExp][] = [
      [['controller', '--heartbeat-ms', '0'], /--heartbeat-ms must be a whole number from 10 to 3600000, got 0/],
      [['controller', '--client-port', '99999'], /--client-port must be a whole number from 0 to 65535, got 99999/],
      [['controller', '--ip', '999.1.1.1'], /--ip must be an IP address or a host name, got '999\.1\.1\.1'/],
      [['start', '--hwm=-1'], /--hwm must be a whole number from 0 to 1000000/],
      [['engines', '-n', '0'], /--n must be a whole number >= 1, got '0'/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args, { timeoutMs: 30000 });
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, re);
    }
    const locate = await runCli(['profile', 'locate', 'nope']);
    assert.equal(locate.code, 1);
    assert.match(locate.stderr, /no profile 'nope'/);
  });

  test('Cluster.start and addEngines', async () => {
    await assert.rejects(
      Cluster.start({ hwm: -1, profile: 'bad' }),
      (e: unknown) => e instanceof RangeError && /hwm must be a whole number from 0/.test(e.message),
    );
    await assert.rejects(Cluster.start({ timeout: 5 } as never), /unknown option 'timeout'/);
    const c = await Cluster.start({ n: 0, profile: 'bad' });
    try {
      await assert.rejects(c.addEngines(1.5), RangeError);
      await assert.rejects(c.addEngines(-1), RangeError);
    } finally {
      await stopCluster(c);
    }
  });
});

describe('failures of the cluster itself', () => {
  test("a part that fails at start-up is reported with this run's log lines only", async () => {
    const profile = 'badport';
    // the controller cannot bind a port that is taken: it exits, and the start quotes its log
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      mkdirSync(join(root, `profile_${profile}`), { recursive: true });
      writeFileSync(join(root, `profile_${profile}`, 'tscluster.json'), JSON.stringify({ clientPort: port }));
      const failure = (): Promise<Error> =>
        Cluster.start({ n: 1, profile }).then(
          () => assert.fail('must fail'),
          (e: unknown) => e as Error,
        );
      const first = await failure();
      assert.match(first.message, /the controller \(pid \d+\) exited during start-up/);
      assert.match(first.message, /Address already in use/);
      const second = await failure();
      assert.equal(
        (second.message.match(/Address already in use/g) ?? []).length,
        1,
        `the second failure quotes the first run's lines too:\n${second.message}`,
      );
    } finally {
      taken.close();
    }
  });

  test('a controller that dies: multi-task calls reject with one ConnectionLost; later calls say the connection was lost', async () => {
    const c = await Cluster.start({ n: 2, profile: 'dies', shutdownAtExit: false, supervise: false });
    const pids = [c.controllerPid, ...c.enginePids];
    try {
      const rc = await Client.connect({ profile: 'dies' });
      const slow = (): Promise<number> => new Promise((r) => setTimeout(() => r(1), 60000));
      const multi = rc.directView().apply(slow);
      const mapped = rc.loadBalancedView().map((x: number) => new Promise((r) => setTimeout(() => r(x), 60000)), [1, 2, 3]);
      await waitFor('the tasks to run', async () => (await rc.queueStatus()).engines[0]?.running === 1);
      process.kill(c.controllerPid, 'SIGKILL');
      for (const ar of [multi, mapped]) {
        const err = await ar.get({ timeoutMs: 20000 }).then(
          () => assert.fail('must fail'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof ConnectionLost, `one ConnectionLost expected, got ${String(err)}`);
      }
      assert.throws(
        () => rc.loadBalancedView().apply(slow),
        (e: unknown) => e instanceof ConnectionLost && /connection to the controller was lost/.test(e.message),
      );
      await rc.close();
    } finally {
      await stopCluster(c, pids);
      spawnSync(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), 'stop', '--profile', 'dies'], { env: process.env });
    }
  });
});
