/**
 * The ssh launcher on real hosts: three network namespaces (test/support/hosts.ts),
 * sshd on each; the controller on host A bound to A's address, engines on B
 * and C started over ssh, clients on A (and on B through an ssh tunnel via A).
 * Every command runs inside a host's namespace, as it would on that machine.
 *
 * Checks: map, 100 MB push/pull, remote output, CurveZMQ on by default (a
 * relay sees no plaintext), an unreachable host (named, with ssh's error;
 * --min-engines), an engine SIGKILLed on B, C cut off during a 20,000-task map
 * with retries (every result exactly once, late replies dropped and counted),
 * C back, `tscluster stop` and Ctrl-C leaving no process on any host and no
 * connection file anywhere, engines that exit when their controller dies.
 *
 * Needs root, `ip netns`, sshd (Debian: openssh-server iproute2): skipped
 * with the reason without them, a failure with CI=true.
 */
import assert from 'node:assert/strict';

import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, FIXTURES, createHosts, describeGated, hostsGate, relay, showResult, startSshd, tempRootForFile, waitFor } from './support/index.js';
import type { CliResult, Host, Hosts, Sshd } from './support/index.js';

const dir = tempRootForFile('ssh');
/** TSCLUSTER_DIR of the client side (host A) and the engines' profile root on B and C */
const homeA = join(dir, 'home-a');
const remoteDir = join(dir, 'remote');
const MH_CLIENT = join(FIXTURES, 'mh-client.mjs');

interface State {
  controller: { launcher: string; processes?: { pid: number }[]; hosts?: { host: string; processes: { pid: number }[] }[] };
  engines: { launcher: string; hosts?: { host: string; n: number; processes: { pid: number }[]; files: string[]; log: string; error?: string }[] }[];
}

describeGated(hostsGate(), 'ssh launcher: controller on A, engines on B and C', () => {
  let hosts: Hosts | undefined;
  let a: Host;
  let b: Host;
  let c: Host;
  const sshd: Record<string, Sshd> = {};

  const env = { TSCLUSTER_DIR: homeA };
  const cli = (h: Host, args: string[], timeoutMs = 120_000): Promise<CliResult> => h.exec([process.execPath, CLI, ...args], { env, timeoutMs });
  const sshFlags = (): string[] => [
    ...['--ssh-port', '2222', '--ssh-identity', sshd.b!.userKey],
    ...['--ssh-option', 'StrictHostKeyChecking=no', '--ssh-option', 'UserKnownHostsFile=/dev/null', '--ssh-option', 'LogLevel=ERROR'],
    ...['--ssh-option', 'ConnectTimeout=3', '--remote-cmd', `${process.execPath} ${CLI}`, '--remote-dir', remoteDir],
  ];
  /** Run client code on a host; its value. */
  async function onHost<T>(h: Host, body: string, opts: Record<string, unknown> = {}, timeoutMs = 180_000): Promise<T> {
    const r = await h.exec([process.execPath, MH_CLIENT, JSON.stringify({ timeoutMs: 20_000, ...opts }), body], { env, timeoutMs });
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    assert.ok(r.code === 0 && line, showResult(r));
    return JSON.parse(line.slice('RESULT '.length)) as T;
  }
  const state = (profile = 'default'): State | undefined => {
    const p = join(homeA, `profile_${profile}`, 'pid', 'tscluster.json');
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as State) : undefined;
  };
  const enginePidsOn = (st: State, ip: string): number[] =>
    st.engines.flatMap((e) => (e.hosts ?? []).filter((h) => h.host.endsWith(`@${ip}`)).flatMap((h) => h.processes.map((p) => p.pid)));
  /** Processes of tscluster (controller, engines) still running in a host's namespace. */
  const ours = (h: Host): string[] =>
    h
      .processes()
      .filter((p) => /cli\/main\.js|engine\/main\.js|bundle\/engine\.js|controller\/main\.js/.test(p.cmd))
      .map((p) => `${p.pid} ${p.cmd}`);
  const securityFiles = (root: string): string[] =>
    existsSync(root) ? readdirSync(root).flatMap((p) => (existsSync(join(root, p, 'security')) ? readdirSync(join(root, p, 'security')) : [])) : [];
  /** Stop a cluster whatever state a failed test left it in (a no-op when it is stopped). */
  async function stopQuietly(profile: string): Promise<void> {
    await cli(a, ['stop', '--profile', profile], 60_000).catch(() => undefined);
  }
  function profileConfig(profile: string, values: Record<string, unknown>): void {
    mkdirSync(join(homeA, `profile_${profile}`), { recursive: true });
    writeFileSync(join(homeA, `profile_${profile}`, 'tscluster.json'), JSON.stringify(values));
  }

  before(async () => {
    hosts = await createHosts({ names: ['a', 'b', 'c'], dir });
    [a, b, c] = [hosts.get('a'), hosts.get('b'), hosts.get('c')];
    const [sa, sb, sc] = await Promise.all([startSshd(a), startSshd(b), startSshd(c)]);
    Object.assign(sshd, { a: sa, b: sb, c: sc });
    // fast death detection for the fault tests
    profileConfig('default', { heartbeatMs: 500, deadAfterMs: 3000 });
  });
  after(async () => {
    // whatever a failed test left: stop it the way a user would, then the hosts' own cleanup
    if (hosts) for (const p of ['default', 'tun', 'ctrlc', 'orphan', 'part', 'unreach', 'sixteen', 'remotectl']) await stopQuietly(p);
    await hosts?.cleanup();
  });

  test('start: 2 engines on B and 2 on C over ssh; remote files 0600; map, remote output, 100 MB push/pull', async () => {
    const t0 = Date.now();
    const r = await cli(a, ['start', '--daemon', '--ip', a.ip, '--engines', 'ssh', '--hosts', `root@${b.ip}:2,root@${c.ip}:2`, ...sshFlags()]);
    const ms = Date.now() - t0;
    assert.equal(r.code, 0, showResult(r));
    console.log(`# ssh launcher: start to 4 engines registered: ${ms} ms`);
    const st = state();
    assert.ok(st);
    assert.equal(enginePidsOn(st, b.ip).length, 2);
    assert.equal(enginePidsOn(st, c.ip).length, 2);
    // the engine connection file on each host: 0600, named by host, in that host's profile dir
    const remoteFiles = readdirSync(join(remoteDir, 'profile_default', 'security'));
    assert.deepEqual(remoteFiles.sort(), [`tscluster-engine-root_${b.ip}.json`, `tscluster-engine-root_${c.ip}.json`].sort());
    for (const f of remoteFiles) {
      const { statSync } = await import('node:fs');
      assert.equal(statSync(join(remoteDir, 'profile_default', 'security', f)).mode & 0o777, 0o600);
    }
    // each engine runs in B's or C's network namespace, with the pid recorded for it
    const where = await onHost<{ pid: number; ns: string }[]>(
      a,
      `return await rc.directView().apply(async () => ({ pid: process.pid, ns: (await import('node:fs')).readlinkSync('/proc/self/ns/net') }));`,
    );
    const nsOf = async (h: Host): Promise<string> => (await h.exec(['readlink', '/proc/self/ns/net'])).stdout.trim();
    const [nsB, nsC] = [await nsOf(b), await nsOf(c)];
    assert.deepEqual(
      where
        .filter((w) => w.ns === nsB)
        .map((w) => w.pid)
        .sort(),
      enginePidsOn(st, b.ip).sort(),
    );
    assert.deepEqual(
      where
        .filter((w) => w.ns === nsC)
        .map((w) => w.pid)
        .sort(),
      enginePidsOn(st, c.ip).sort(),
    );
    const out = await onHost<{ squares: number[]; stdout: string[] }>(
      a,
      `const lb = rc.loadBalancedView();
       const squares = await lb.map((x) => x * x, Array.from({ length: 200 }, (_, i) => i));
       const ar = rc.directView().apply(() => { console.log('hello from', process.pid); return 1; });
       await ar;
       return { squares, stdout: ar.stdout };`,
    );
    assert.deepEqual(
      out.squares,
      Array.from({ length: 200 }, (_, i) => i * i),
    );
    assert.equal(out.stdout.length, 4);
    for (const pid of where.map((w) => w.pid))
      assert.ok(
        out.stdout.some((s) => s.includes(`hello from ${pid}`)),
        JSON.stringify(out.stdout),
      );
    // 100 MB to an engine on C and back, byte for byte
    const moved = await onHost<{ sent: string; remote: string; back: string; pushMs: number; pullMs: number }>(
      a,
      `const { createHash, randomFillSync } = await import('node:crypto');
       const buf = randomFillSync(Buffer.alloc(100 * 1024 * 1024));
       const sent = createHash('sha256').update(buf).digest('hex');
       const target = rc.engines.find((e) => ${JSON.stringify(where.filter((w) => w.ns === nsC).map((w) => w.pid))}.includes(e.pid)).id;
       const dv = rc.directView(target);
       let t = Date.now();
       await dv.push({ big: buf });
       const pushMs = Date.now() - t;
       const remote = await dv.apply(async () => (await import('node:crypto')).createHash('sha256').update(globalThis.big).digest('hex'));
       t = Date.now();
       const got = await dv.pull('big');
       const pullMs = Date.now() - t;
       return { sent, remote, back: createHash('sha256').update(got).digest('hex'), pushMs, pullMs };`,
    );
    assert.equal(moved.remote, moved.sent);
    assert.equal(moved.back, moved.sent);
    console.log(`# 100 MB A->C push ${moved.pushMs} ms, pull ${moved.pullMs} ms`);
  });

  test('CurveZMQ is on by default off loopback: a relay between A and the controller sees none of the plaintext', async () => {
    const file = JSON.parse(readFileSync(join(homeA, 'profile_default', 'security', 'tscluster-client.json'), 'utf8')) as {
      ip: string;
      port: number;
      curve_serverkey: string | null;
    };
    assert.equal(file.ip, a.ip);
    assert.equal(file.curve_serverkey?.length, 40);
    // a relay on B in front of the controller on A; a client on B connects through it
    const rl = await relay(b, 0, a.ip, file.port);
    try {
      const copy = join(dir, 'relayed-client.json');
      writeFileSync(copy, JSON.stringify({ ...file, ip: b.ip, port: rl.port }), { mode: 0o600 });
      const mark = 'PLAINTEXT-MARK-0123456789';
      const got = await onHost<string>(b, `return await rc.loadBalancedView().apply((m) => m + '!', ${JSON.stringify(mark)});`, {
        connectionFile: copy,
      });
      assert.equal(got, `${mark}!`);
      const seen = Buffer.concat([rl.toTarget(), rl.fromTarget()]);
      assert.ok(seen.length > 500, `the relay carried the traffic (${seen.length} bytes)`);
      for (const plain of [mark, 'apply_request', '<IDS|MSG>', 'msg_type']) assert.equal(seen.includes(plain), false, `the relay saw '${plain}'`);
    } finally {
      await rl.stop();
    }
  });

  test("a client on B reaches a controller that listens on A's loopback only, through an ssh tunnel via A (sshServer, tscluster repl --ssh)", async () => {
    const r = await cli(a, ['start', '-n', '1', '--daemon', '--profile', 'tun']);
    assert.equal(r.code, 0, showResult(r));
    const file = join(homeA, 'profile_tun', 'security', 'tscluster-client.json');
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { ip: string }).ip, '127.0.0.1');
    const sshOptions = {
      port: 2222,
      identity: sshd.a!.userKey,
      options: ['StrictHostKeyChecking=no', 'UserKnownHostsFile=/dev/null', 'LogLevel=ERROR'],
    };
    // directly, B cannot: 127.0.0.1 there is B itself
    const direct = await b.exec([process.execPath, MH_CLIENT, JSON.stringify({ connectionFile: file, timeoutMs: 1500 }), 'return 1;'], {
      env,
      timeoutMs: 30_000,
    });
    assert.notEqual(direct.code, 0);
    assert.match(direct.stderr, /no reply from the controller/);
    const got = await onHost<{ v: number; ids: number }>(b, 'return { v: await rc.loadBalancedView().apply(() => 6 * 7), ids: rc.ids.length };', {
      connectionFile: file,
      sshServer: `root@${a.ip}`,
      sshOptions,
    });
    assert.deepEqual(got, { v: 42, ids: 1 });
    // the REPL, the same way
    const repl = b.spawn(
      [
        process.execPath,
        CLI,
        'repl',
        '--file',
        file,
        '--ssh',
        `root@${a.ip}`,
        '--ssh-port',
        '2222',
        '--ssh-identity',
        sshd.a!.userKey,
        ...sshOptions.options.flatMap((o) => ['--ssh-option', o]),
      ],
      { env, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let text = '';
    repl.stdout?.setEncoding('utf8').on('data', (d: string) => (text += d));
    repl.stderr?.setEncoding('utf8').on('data', (d: string) => (text += d));
    await waitFor('the repl to connect', () => text.includes('connected'), { timeoutMs: 30_000 });
    repl.stdin?.write('console.log("answer", await lb.apply(() => 40 + 2))\n');
    await waitFor('the repl to answer', () => text.includes('answer 42'), { timeoutMs: 30_000 });
    repl.stdin?.end('.exit\n');
    const code = await new Promise<number | null>((resolve) => repl.on('exit', resolve));
    assert.equal(code, 0, text);
    // no tunnel left behind
    await waitFor('the tunnels to close', () => b.processes().every((p) => !p.cmd.startsWith('ssh ')), { timeoutMs: 10_000 });
    const stopped = await cli(a, ['stop', '--profile', 'tun']);
    assert.equal(stopped.code, 0, showResult(stopped));
  });

  test('an engine SIGKILLed on B: declared dead, its task retried on another engine; the others keep working', async () => {
    const st = state();
    assert.ok(st);
    const victim = enginePidsOn(st, b.ip)[0]!;
    const res = await onHost<{ results: number[]; before: number; after: number; retried: number }>(
      a,
      `const before = rc.ids.length;
       // one 3 s task per engine (hwm 1), retried once if its engine dies
       const ar = rc.loadBalancedView().withOptions({ retries: 1 }).map(async (x) => { await new Promise((r) => setTimeout(r, 3000)); return x; }, [0, 1, 2, 3], { chunksize: 1 });
       await new Promise((r) => setTimeout(r, 500));
       process.kill(${victim}, 'SIGKILL');
       const results = await ar;
       const records = await rc.dbQuery({ client: rc.id });
       return { results, before, after: rc.ids.length, retried: records.filter((x) => x.attempts.length > 0).length };`,
    );
    assert.deepEqual(res.results, [0, 1, 2, 3]);
    assert.equal(res.after, res.before - 1);
    assert.equal(res.retried, 1);
  });

  test("an unreachable host is named with ssh's error: without --min-engines the start fails and leaves nothing; with it the others start", async () => {
    const nowhere = hosts!.subnet.replace(/0\/24$/, '99');
    const named = new RegExp(`root@${nowhere.replace(/\./g, '\\.')}`);
    try {
      const failed = await cli(a, [
        'start',
        '--daemon',
        '--profile',
        'unreach',
        '--ip',
        a.ip,
        '--engines',
        'ssh',
        '--hosts',
        `root@${nowhere}:1,root@${b.ip}:1`,
        ...sshFlags(),
      ]);
      assert.notEqual(failed.code, 0, showResult(failed));
      assert.match(failed.stderr, named);
      assert.match(failed.stderr, /No route to host|timed out|Connection refused/i);
      assert.match(failed.stderr, /--min-engines/);
      for (const h of [a, b, c])
        assert.deepEqual(
          ours(h).filter((p) => p.includes('unreach')),
          [],
          `processes left on ${h.name} after the failed start`,
        );
      assert.equal(existsSync(join(homeA, 'profile_unreach', 'pid', 'tscluster.json')), false);
    } finally {
      await stopQuietly('unreach');
    }
    // adding engines to the running cluster: the same rule
    const before = await onHost<number>(a, 'return rc.ids.length;');
    const refused = await cli(a, ['engines', '-n', '2', '--engines', 'ssh', '--hosts', `root@${nowhere}:1,root@${b.ip}:1`, ...sshFlags()]);
    assert.notEqual(refused.code, 0, showResult(refused));
    assert.match(refused.stderr, named);
    assert.equal(await onHost<number>(a, 'return rc.ids.length;'), before, 'a failed add leaves the engine count as it was');
    const ok = await cli(a, [
      'engines',
      '-n',
      '2',
      '--engines',
      'ssh',
      '--hosts',
      `root@${nowhere}:1,root@${b.ip}:1`,
      '--min-engines',
      '1',
      ...sshFlags(),
    ]);
    assert.equal(ok.code, 0, showResult(ok));
    assert.match(ok.stderr, new RegExp(`warning: .*root@${nowhere.replace(/\./g, '\\.')}`));
    assert.equal(await onHost<number>(a, 'return rc.ids.length;'), before + 1);
  });

  test('16 engines (8 on B, 8 on C): start to all registered, then stop leaves nothing', async () => {
    try {
      const t0 = Date.now();
      const r = await cli(a, [
        'start',
        '--daemon',
        '--profile',
        'sixteen',
        '--ip',
        a.ip,
        '--engines',
        'ssh',
        '--hosts',
        `root@${b.ip}:8,root@${c.ip}:8`,
        ...sshFlags(),
      ]);
      const ms = Date.now() - t0;
      assert.equal(r.code, 0, showResult(r));
      console.log(`# ssh launcher: start to 16 engines registered: ${ms} ms`);
      assert.equal(await onHost<number>(a, 'return rc.ids.length;', { profile: 'sixteen' }), 16);
      const stopped = await cli(a, ['stop', '--profile', 'sixteen']);
      assert.equal(stopped.code, 0, showResult(stopped));
      for (const h of [b, c])
        assert.deepEqual(
          ours(h).filter((p) => p.includes('sixteen')),
          [],
          `processes left on ${h.name}`,
        );
    } finally {
      await stopQuietly('sixteen');
    }
  });

  test('the controller on B over ssh (--controller ssh), engines on C: its files come back to A; a client on A; stop ends both', async () => {
    try {
      const r = await cli(a, [
        ...['start', '--daemon', '--profile', 'remotectl', '--controller', 'ssh', '--controller-host', `root@${b.ip}`, '--ip', b.ip],
        ...['--engines', 'ssh', '--hosts', `root@${c.ip}:2`, ...sshFlags()],
      ]);
      assert.equal(r.code, 0, showResult(r));
      const st = state('remotectl');
      const ctl = st?.controller.hosts?.[0]?.processes[0]?.pid;
      assert.ok(ctl !== undefined, JSON.stringify(st));
      assert.ok(
        b.processes().some((p) => p.pid === ctl && p.cmd.includes('controller')),
        'the controller runs on B',
      );
      const file = JSON.parse(readFileSync(join(homeA, 'profile_remotectl', 'security', 'tscluster-client.json'), 'utf8')) as {
        ip: string;
        controller_pid: number;
      };
      assert.deepEqual([file.ip, file.controller_pid], [b.ip, ctl]);
      assert.deepEqual(
        await onHost<number[]>(a, 'return await rc.loadBalancedView().map((x) => x + 1, [1, 2, 3]);', { profile: 'remotectl' }),
        [2, 3, 4],
      );
      const list = await cli(a, ['list', '--json']);
      assert.match(list.stdout, /"profile": "remotectl"[\s\S]*?"state": "running"/);
      const stopped = await cli(a, ['stop', '--profile', 'remotectl']);
      assert.equal(stopped.code, 0, showResult(stopped));
      for (const h of [b, c])
        assert.deepEqual(
          ours(h).filter((p) => p.includes('remotectl')),
          [],
          `processes left on ${h.name}`,
        );
      assert.equal(
        // the controller process (`main.js controller`), not an engine of another cluster (its flags include --controller-grace)
        ours(b).some((p) => /controller\/main\.js|main\.js controller /.test(p)),
        false,
      );
      assert.deepEqual(
        existsSync(join(remoteDir, 'profile_remotectl', 'security')) ? readdirSync(join(remoteDir, 'profile_remotectl', 'security')) : [],
        [],
      );
      assert.deepEqual(readdirSync(join(homeA, 'profile_remotectl', 'security')), []);
    } finally {
      await stopQuietly('remotectl');
    }
  });

  test('`tscluster stop` ends every engine on B and C and removes the connection files on every host', async () => {
    const st = state();
    assert.ok(st);
    const r = await cli(a, ['stop']);
    assert.equal(r.code, 0, showResult(r));
    for (const h of [a, b, c]) assert.deepEqual(ours(h), [], `processes left on ${h.name}`);
    assert.deepEqual(securityFiles(remoteDir), []);
    assert.deepEqual(securityFiles(homeA), []);
  });

  test("C cut off during a 20,000-task map with retries: every result exactly once; C's late replies dropped and counted; C rejoins or exits", async () => {
    try {
      // every record kept, to count them
      profileConfig('part', { heartbeatMs: 500, deadAfterMs: 3000, maxRecords: 50_000 });
      const r = await cli(a, [
        'start',
        '--daemon',
        '--profile',
        'part',
        '--ip',
        a.ip,
        '--engines',
        'ssh',
        '--hosts',
        `root@${b.ip}:2,root@${c.ip}:2`,
        ...sshFlags(),
      ]);
      assert.equal(r.code, 0, showResult(r));
      const st = state('part');
      assert.ok(st);
      const cPids = enginePidsOn(st, c.ip);
      const N = 20_000;
      const client = a.spawn(
        [
          process.execPath,
          MH_CLIENT,
          JSON.stringify({ profile: 'part', timeoutMs: 20_000 }),
          `const lb = rc.loadBalancedView().withOptions({ retries: 3 });
           const first = rc.engines.map((e) => ({ id: e.id, pid: e.pid }));
           const ar = lb.map((x) => x * 3, Array.from({ length: ${N} }, (_, i) => i), { chunksize: 1 });
           const t = setInterval(async () => { const d = (await rc.queueStatus()); console.log('PROGRESS ' + JSON.stringify(Object.values(d.engines).reduce((a, e) => a + e.completed, 0))); }, 200);
           const results = await ar;
           clearInterval(t);
           const records = await rc.dbQuery({ client: rc.id, limit: ${N} + 10 });
           const stats = await rc.stats();
           return { results, records: records.length, retried: records.filter((x) => x.attempts.length > 0).length, done: records.filter((x) => x.status === 'done').length, dropped: stats.dropped, first, last: rc.engines.map((e) => ({ id: e.id, pid: e.pid })) };`,
        ],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      client.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
      client.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
      const progress = (): number => Number(/PROGRESS (\d+)\n(?![\s\S]*PROGRESS)/.exec(out)?.[1] ?? 0);
      await waitFor('a quarter of the map to run', () => progress() > N / 4, { timeoutMs: 120_000 });
      await c.linkDown();
      const cutAt = progress();
      // C's engines are declared dead (deadAfterMs 3 s); then the link comes back before they give up on the controller
      await waitFor('C to be declared dead', async () => (await cli(a, ['list', '--json'])).stdout.includes('"engines": 2'), {
        timeoutMs: 30_000,
        intervalMs: 500,
      });
      await c.linkUp();
      const code = await new Promise<number | null>((resolve) => client.on('exit', resolve));
      assert.equal(code, 0, out.slice(-3000));
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      assert.ok(line, out.slice(-3000));
      const res = JSON.parse(line.slice(7)) as {
        results: number[];
        records: number;
        retried: number;
        done: number;
        dropped: Record<string, number>;
        first: { id: number; pid: number }[];
        last: { id: number; pid: number }[];
      };
      assert.equal(res.results.length, N);
      assert.ok(
        res.results.every((v, i) => v === i * 3),
        'every result once, in order',
      );
      console.log(
        `# partition: ${N} tasks, cut at ${cutAt} done, retried ${res.retried}, records ${res.records}, done ${res.done}, lost ${N - res.done}, dropped ${JSON.stringify(res.dropped)}`,
      );
      assert.equal(res.done, N);
      // C's engines came back with new ids, or exited: none of them runs under its old registration
      // C's engines come back under new ids (the controller declared the old ones dead), or exit; never under an old id
      const idsOf = (list: { id: number; pid: number }[], pids: number[]): number[] => list.filter((e) => pids.includes(e.pid)).map((e) => e.id);
      const cBefore = idsOf(res.first, cPids);
      assert.equal(cBefore.length, 2);
      const settled = await onHost<{ id: number; pid: number }[]>(
        a,
        `const pids = ${JSON.stringify(cPids)};
         const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
         const back = () => pids.every((pid) => !alive(pid) || rc.engines.some((e) => e.pid === pid));
         for (let i = 0; i < 300 && !back(); i++) await new Promise((r) => setTimeout(r, 100));
         return rc.engines.map((e) => ({ id: e.id, pid: e.pid }));`,
        { profile: 'part' },
      );
      const cAfter = idsOf(settled, cPids);
      assert.deepEqual(
        cAfter.filter((id) => cBefore.includes(id)),
        [],
        `C's old ids ${cBefore.join(',')} are not back: ${cAfter.join(',')}`,
      );
      console.log(`# partition: C's engines ${cBefore.join(',')} -> ${cAfter.length ? `rejoined as ${cAfter.join(',')}` : 'exited'}`);
      const bPids = enginePidsOn(st, b.ip);
      assert.deepEqual(idsOf(settled, bPids), idsOf(res.first, bPids));
      const stopped = await cli(a, ['stop', '--profile', 'part']);
      assert.equal(stopped.code, 0, showResult(stopped));
      for (const h of [a, b, c]) assert.deepEqual(ours(h), [], `processes left on ${h.name}`);
    } finally {
      await stopQuietly('part');
    }
  });

  test('Ctrl-C of a foreground `tscluster start` ends the engines it started on B and C', async () => {
    try {
      const child = a.spawn(
        [
          process.execPath,
          CLI,
          'start',
          '--profile',
          'ctrlc',
          '--ip',
          a.ip,
          '--engines',
          'ssh',
          '--hosts',
          `root@${b.ip}:1,root@${c.ip}:1`,
          ...sshFlags(),
        ],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let text = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (text += d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (text += d));
      await waitFor('the cluster to be ready', () => text.includes('press Ctrl-C'), { timeoutMs: 60_000 });
      const st = state('ctrlc');
      assert.ok(st);
      const pids = [...enginePidsOn(st, b.ip), ...enginePidsOn(st, c.ip)];
      assert.equal(pids.length, 2);
      child.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, text);
      for (const h of [a, b, c]) assert.deepEqual(ours(h), [], `processes left on ${h.name}`);
      assert.deepEqual(securityFiles(remoteDir), []);
    } finally {
      await stopQuietly('ctrlc');
    }
  });

  test('engines whose controller dies (SIGKILL) exit by themselves: nothing is left on B or C', async () => {
    try {
      profileConfig('orphan', { heartbeatMs: 500, deadAfterMs: 2000 });
      const r = await cli(a, [
        'start',
        '--daemon',
        '--profile',
        'orphan',
        // the bare controller, SIGKILLed below (a supervised one would be restarted)
        '--no-supervise',
        '--ip',
        a.ip,
        '--engines',
        'ssh',
        '--hosts',
        `root@${b.ip}:1,root@${c.ip}:1`,
        ...sshFlags(),
      ]);
      assert.equal(r.code, 0, showResult(r));
      const st = state('orphan');
      assert.ok(st?.controller.processes?.[0]);
      process.kill(st.controller.processes[0].pid, 'SIGKILL');
      await waitFor('the engines on B and C to exit', () => ours(b).length === 0 && ours(c).length === 0, { timeoutMs: 30_000, intervalMs: 250 });
      const stopped = await cli(a, ['stop', '--profile', 'orphan']);
      assert.equal(stopped.code, 0, showResult(stopped));
      assert.deepEqual(securityFiles(remoteDir), []);
    } finally {
      await stopQuietly('orphan');
    }
  });
});
