/**
 * Security: signing (wrong key, forged, unsigned and replayed messages never
 * run and are counted, in `rc.stats()`, `tscluster list --json` and the
 * controller log), CurveZMQ (tasks run; a client without the controller's
 * public key, or with a wrong one, cannot talk to it; nothing readable on the
 * wire, checked through a TCP relay), the warning for `--ip` off this machine
 * without `--curve`, and connection files (0600 from creation, security
 * directory 0700, clear errors for corrupt or invalid files).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, watch, writeFileSync } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Dealer, curveKeyPair } from 'zeromq';
import { Client, Cluster, ConnectionFileError, ProtocolError, TimeoutError } from '../index.js';
import { Session, Signer, serialize } from '../protocol/index.js';
import {
  DIST,
  OutputWatcher,
  assertAllGone,
  connectionFile,
  killAll,
  listJson,
  pidGone,
  range,
  readState,
  removeTempRoot,
  runCli,
  stopCluster,
  useTempRoot,
  waitExit,
  waitFor,
} from './helpers.js';
import type { CliResult } from './helpers.js';
import { Inbox, delta, parts, signedFrames, framesOf } from './rel-helpers.js';

const root = useTempRoot('security');
const SIGNED = 'signed';
const CURVE = 'curve';

interface ConnFile {
  ip: string;
  port: number;
  key: string;
  curve_serverkey: string | null;
  controller_pid: number;
  [k: string]: unknown;
}

function readConn(profile: string, kind: 'client' | 'engine' = 'client', clusterId = ''): ConnFile {
  return JSON.parse(readFileSync(connectionFile(root, kind, profile, clusterId), 'utf8')) as ConnFile;
}

/** A copy of a profile's connection file with some fields changed; returns its path. */
function variant(profile: string, name: string, change: (f: ConnFile) => unknown, kind: 'client' | 'engine' = 'client'): string {
  const path = join(root, name);
  writeFileSync(path, JSON.stringify(change(readConn(profile, kind)), null, 2), { mode: 0o600 });
  return path;
}

function otherKey(key: string): string {
  const k = key.split('').reverse().join('');
  return k === key ? 'f'.repeat(64) : k;
}

function show(r: CliResult): string {
  return `exit ${r.code ?? r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

/** A function source that appends `text` to `file` on the engine that runs it. */
function markerSource(file: string, text: string): string {
  return `() => require('node:fs').appendFileSync(${JSON.stringify(file)}, ${JSON.stringify(text)})`;
}

/**
 * A TCP relay to the controller's client port that records every byte, both
 * ways. A client reaches the controller through it with a copy of the client
 * connection file whose port is the relay's.
 */
class Relay {
  readonly chunks: Buffer[] = [];
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  port = 0;

  async start(targetPort: number): Promise<void> {
    const server = createServer((down) => {
      const up = connect(targetPort, '127.0.0.1');
      for (const s of [down, up]) {
        this.#sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => this.#sockets.delete(s));
      }
      down.on('data', (d: Buffer) => {
        this.chunks.push(Buffer.from(d));
        up.write(d);
      });
      up.on('data', (d: Buffer) => {
        this.chunks.push(Buffer.from(d));
        down.write(d);
      });
      down.on('close', () => up.destroy());
      up.on('close', () => down.destroy());
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    assert.ok(addr !== null && typeof addr === 'object');
    this.port = addr.port;
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

/** Through a relay: connect a client, run a task carrying `mark` (argument, output, result), close. Returns the recorded bytes. */
async function captureTask(profile: string, mark: string): Promise<Buffer> {
  const relay = new Relay();
  await relay.start(readConn(profile).port);
  let rc: Client | undefined;
  try {
    const file = variant(profile, `${profile}-via-relay.json`, (f) => ({ ...f, port: relay.port }));
    rc = await Client.connect({ connectionFile: file, timeoutMs: 10000 });
    const ar = rc.loadBalancedView().apply((s: string) => {
      console.log(`echo ${s}`);
      return `${s}!`;
    }, mark);
    assert.equal(await ar.get({ timeoutMs: 30000 }), `${mark}!`, 'the task ran through the relay');
    assert.match(ar.stdout, new RegExp(`echo ${mark}`));
  } finally {
    await rc?.close();
    await relay.close();
  }
  const bytes = relay.bytes;
  assert.ok(bytes.length > 200, `the relay recorded the traffic (${bytes.length} bytes)`);
  return bytes;
}

describe('security', () => {
  let signed: Cluster | undefined;
  let curve: Cluster | undefined;
  let rc: Client;
  let crc: Client;
  const pids: number[] = [];

  before(async () => {
    signed = await Cluster.start({ n: 1, profile: SIGNED });
    pids.push(signed.controllerPid, ...signed.enginePids);
    curve = await Cluster.start({ n: 1, profile: CURVE, curve: true });
    pids.push(curve.controllerPid, ...curve.enginePids);
    rc = await signed.connect();
    crc = await curve.connect();
  });

  after(async () => {
    try {
      await stopCluster(signed);
      await stopCluster(curve);
      await assertAllGone(pids, 'the clusters of security.test');
    } finally {
      await killAll(pids);
      removeTempRoot(root);
    }
  });

  describe('signing', () => {
    test('a client with a wrong key fails at connect with a clear error naming the key and the file, well within its timeout', async () => {
      const file = variant(SIGNED, 'wrong-key.json', (f) => ({ ...f, key: otherKey(f.key) }));
      const before = (await rc.stats()).dropped;
      const t0 = Date.now();
      const err = await Client.connect({ connectionFile: file, timeoutMs: 10000 }).then(
        async (c) => {
          await c.close();
          return assert.fail('connect with a wrong key must fail');
        },
        (e: unknown) => e,
      );
      const ms = Date.now() - t0;
      assert.ok(err instanceof ProtocolError, `a ProtocolError, not a timeout: ${String(err)}`);
      assert.equal(err.reason, 'signature');
      assert.match(err.message, /key/);
      assert.ok(err.message.includes(file), `names the file: ${err.message}`);
      assert.ok(ms < 10000, `failed after ${ms} ms, before the 10 s timeout`);
      assert.deepEqual(delta((await rc.stats()).dropped, before), { 'client.signature': 1 }, 'its connect_request was dropped and counted');
    });

    test('wrongly signed, unsigned and replayed apply_requests from a raw socket never run code and are counted (client.signature, client.replay)', async () => {
      const info = readConn(SIGNED);
      const signer = new Signer(info.key);
      const session = new Session(info.key);
      const wrong = new Signer(otherKey(info.key));
      const forged = join(root, 'forged-ran');
      const unsignedMarker = join(root, 'unsigned-ran');
      const replayed = join(root, 'replayed-ran');
      const sock = new Dealer({ linger: 0 });
      const inbox = new Inbox(sock);
      sock.connect(`tcp://127.0.0.1:${info.port}`);
      /** a stats request on this socket: its reply comes after everything sent before it was handled */
      const sync = async (): Promise<Record<string, number>> => {
        const { frames, header } = session.build([], 'stats_request', {});
        await sock.send(frames);
        return ((await inbox.waitFor(header.msg_id, 'stats_reply', 30000)).content as { dropped: Record<string, number> }).dropped;
      };
      try {
        const d0 = await sync();
        const apply = (file: string, text: string): ReturnType<typeof parts> =>
          parts('apply_request', { kind: 'apply' }, { metadata: { route: 'lb' }, buffers: serialize([], 'args', markerSource(file, text)) });

        // well-formed, signed with another key
        const f = apply(forged, 'x');
        await sock.send(framesOf(f, wrong.sign(f.header, f.parent, f.metadata, f.content)));
        // the same code as an execute request, wrongly signed too
        const ex = parts(
          'apply_request',
          { kind: 'execute', code: `require('node:fs').writeFileSync(${JSON.stringify(forged)}, 'x')` },
          { metadata: { route: 'lb' } },
        );
        await sock.send(framesOf(ex, wrong.sign(ex.header, ex.parent, ex.metadata, ex.content)));
        const d1 = await sync();
        assert.deepEqual(delta(d1, d0), { 'client.signature': 2 }, 'the wrongly signed requests are dropped as client.signature');

        // no signature at all
        const u = apply(unsignedMarker, 'x');
        await sock.send(framesOf(u, Buffer.alloc(0)));
        const d2 = await sync();
        assert.deepEqual(delta(d2, d1), { 'client.signature': 1 }, 'the unsigned request is dropped as client.signature');

        // a correctly signed request runs once; its replay is refused
        const ok = apply(replayed, 'r');
        const okFrames = signedFrames(signer, ok);
        await sock.send(okFrames);
        const first = await inbox.waitFor(ok.msgId, 'apply_reply', 30000);
        assert.equal((first.content as { status: string }).status, 'ok');
        await sock.send(okFrames);
        await sock.send(okFrames);
        const d3 = await sync();
        assert.deepEqual(delta(d3, d2), { 'client.replay': 2 }, 'the replays are dropped as client.replay');
        // the replays are never forwarded: give a stray run time to show, then check
        const late = apply(replayed, 'z');
        await sock.send(signedFrames(signer, late));
        await inbox.waitFor(late.msgId, 'apply_reply', 30000);
        assert.equal(readFileSync(replayed, 'utf8'), 'rz', 'the replayed request ran only once');
        assert.equal(inbox.repliesTo(ok.msgId, 'apply_reply').length, 1, 'one reply to the original, none to the replays');
        assert.equal(
          inbox.repliesTo(f.msgId).length + inbox.repliesTo(u.msgId).length + inbox.repliesTo(ex.msgId).length,
          0,
          'no answer to forged requests',
        );
      } finally {
        sock.close();
      }
      assert.equal(existsSync(forged), false, 'the wrongly signed code never ran');
      assert.equal(existsSync(unsignedMarker), false, 'the unsigned code never ran');
      assert.deepEqual(
        await rc.loadBalancedView().map((x: number) => x + 1, range(10)),
        range(10).map((x) => x + 1),
        'the cluster serves on',
      );
    });

    test('a captured apply_request replayed later, after much traffic (66,000 messages, 1,100 tasks), is still refused and never runs or sticks', async () => {
      // Its own cluster: when the replay gets through, the task it makes never ends and holds the engine.
      let cluster: Cluster | undefined;
      const sock = new Dealer({ linger: 0, receiveHighWaterMark: 0 });
      try {
        cluster = await Cluster.start({ n: 1, profile: 'replay-later' });
        const c = await cluster.connect();
        const info = readConn('replay-later');
        const session = new Session(info.key);
        const inbox = new Inbox(sock);
        sock.connect(`tcp://127.0.0.1:${info.port}`);
        const sync = async (): Promise<{ dropped: Record<string, number>; tasks: { submitted: number; pending: number } }> => {
          const { frames, header } = session.build([], 'stats_request', {});
          await sock.send(frames);
          return (await inbox.waitFor(header.msg_id, 'stats_reply', 60000)).content as {
            dropped: Record<string, number>;
            tasks: { submitted: number; pending: number };
          };
        };
        const marker = join(root, 'replayed-later');
        // what an eavesdropper records on a network without --curve: a whole, correctly signed request
        const captured = signedFrames(
          new Signer(info.key),
          parts('apply_request', { kind: 'apply' }, { metadata: { route: 'lb' }, buffers: serialize([], 'args', markerSource(marker, 'x')) }),
        );
        await sock.send(captured);
        await sync();
        await waitFor('the original request to run', () => existsSync(marker));

        // later traffic: tasks (their records push the original's out of the controller's 1,024), and
        // correctly signed messages (each verified message takes a place in the receiver's replay history)
        assert.equal((await c.loadBalancedView().map((x: number) => x, range(1100))).length, 1100);
        for (let i = 0; i < 66000; i++) await sock.send(session.build([], 'heartbeat', {}).frames);
        const before = await sync();

        await sock.send(captured);
        const afterReplay = await sync();
        const d = delta(afterReplay.dropped, before.dropped);
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(readFileSync(marker, 'utf8'), 'x', 'the replayed request did not run again');
        assert.equal(
          afterReplay.tasks.submitted,
          before.tasks.submitted,
          `the replay must be refused, not taken as a new task (drops counted for it: ${JSON.stringify(d)}; tasks pending now: ${afterReplay.tasks.pending})`,
        );
        assert.equal(
          Object.values(d).reduce((a, b) => a + b, 0),
          1,
          `the replay is dropped and counted: ${JSON.stringify(d)}`,
        );
        assert.equal(afterReplay.tasks.pending, 0, 'no task left pending');
        assert.deepEqual(
          await c
            .loadBalancedView()
            .map((x: number) => x * 2, [1, 2, 3])
            .get({ timeoutMs: 10000 }),
          [2, 4, 6],
          'the engine still takes work',
        );
      } finally {
        sock.close();
        await stopCluster(cluster);
      }
    });

    test('the drop counts show in `tscluster list --json` (dropped) and in the controller log', async () => {
      const stats = await rc.stats();
      assert.ok((stats.dropped['client.signature'] ?? 0) >= 3, JSON.stringify(stats.dropped));
      assert.ok((stats.dropped['client.replay'] ?? 0) >= 2, JSON.stringify(stats.dropped));
      const row = (await listJson()).find((r) => r.profile === SIGNED && r.clusterId === '');
      assert.ok(row, 'the cluster is listed');
      assert.equal(row.state, 'running');
      assert.deepEqual(row.dropped, stats.dropped, 'list --json shows the same counts as rc.stats()');

      const log = join(root, `profile_${SIGNED}`, 'log', 'tscluster-controller.log');
      const text = await waitFor('the drops in the controller log', () => {
        const t = existsSync(log) ? readFileSync(log, 'utf8') : '';
        return t.includes('client.replay') ? t : undefined;
      });
      assert.match(text, /dropped a message from a client \(client\.signature #1\)/);
      assert.match(text, /dropped a message from a client \(client\.replay #1\)/);
      assert.match(text, /signature does not match/);
    });
  });

  describe('CurveZMQ', () => {
    test('Cluster.start({ curve: true }) runs tasks; both connection files carry the 40-character curve_serverkey', async () => {
      assert.deepEqual(
        await crc.loadBalancedView().map((x: number) => x * x, range(20)),
        range(20).map((x) => x * x),
      );
      assert.deepEqual(await crc.directView().apply(() => 'up'), ['up']);
      const c = readConn(CURVE, 'client');
      const e = readConn(CURVE, 'engine');
      assert.equal(typeof c.curve_serverkey, 'string');
      assert.equal(c.curve_serverkey!.length, 40);
      assert.equal(e.curve_serverkey, c.curve_serverkey);
      assert.equal(readConn(SIGNED).curve_serverkey, null, 'a cluster without curve has none');
    });

    for (const [what, change] of [
      ['no curve_serverkey (null)', (): null => null],
      ['a wrong curve_serverkey', (): string => curveKeyPair().publicKey],
    ] as const) {
      test(`a client whose file has ${what} cannot talk to the controller: TimeoutError naming the handshake/curve within ~3 s`, async () => {
        const file = variant(CURVE, `curve-${what.replace(/\W+/g, '-')}.json`, (f) => ({ ...f, curve_serverkey: change() }));
        const t0 = Date.now();
        const err = await Client.connect({ connectionFile: file, timeoutMs: 3000 }).then(
          async (c) => {
            await c.close();
            return assert.fail('the client must not get through');
          },
          (e: unknown) => e,
        );
        const ms = Date.now() - t0;
        assert.ok(err instanceof TimeoutError, `TimeoutError expected, got ${String(err)}`);
        assert.match(err.message, /handshake|curve/i);
        assert.ok(err.message.includes(file), `names the file: ${err.message}`);
        assert.ok(ms < 6000, `rejected after ${ms} ms (timeout 3000)`);
        assert.equal((await crc.stats()).clients, 1, 'only the real client is known to the controller');
      });
    }

    test('an engine without the curve_serverkey cannot register', async () => {
      const file = variant(CURVE, 'curve-engine-nokey.json', (f) => ({ ...f, curve_serverkey: null }), 'engine');
      const child = spawn(process.execPath, [join(DIST, 'engine', 'main.js'), '--file', file, '--timeout', '3'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: process.env,
      });
      const err = new OutputWatcher(child.stderr);
      try {
        const code = await waitExit(child, 20000);
        assert.notEqual(code, 0, 'it exits with an error');
        assert.match(err.text, /no registration reply/);
        assert.deepEqual(crc.ids, [0], 'no engine joined');
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await assertAllGone([child.pid!], 'the engine without the key');
      }
    });

    test('through a TCP relay, curve traffic shows no plaintext (no msg_type, no <IDS|MSG>, not the data); the same relay on a plain cluster does', async () => {
      const mark = `zebra-${Date.now().toString(36)}-quartz`;
      const enc = await captureTask(CURVE, mark);
      assert.equal(enc.includes('msg_type'), false, "curve traffic contains 'msg_type'");
      assert.equal(enc.includes('<IDS|MSG>'), false, "curve traffic contains '<IDS|MSG>'");
      assert.equal(enc.includes(mark), false, 'curve traffic contains the task data');
      assert.ok(enc.includes('CURVE'), 'the relay saw a CurveZMQ handshake');
      // control: the same relay on a cluster without curve shows everything
      const plain = await captureTask(SIGNED, mark);
      assert.ok(plain.includes('msg_type'), "plain traffic shows 'msg_type'");
      assert.ok(plain.includes('<IDS|MSG>'), "plain traffic shows '<IDS|MSG>'");
      assert.ok(plain.includes(mark), 'plain traffic shows the task data');
    });

    test('`tscluster start --curve --daemon` runs tasks (no warning on loopback); `tscluster stop` ends it', async () => {
      const profile = 'curvecli';
      const known: number[] = [];
      try {
        const r = await runCli(['start', '-n', '1', '--curve', '--daemon', '--profile', profile], { timeoutMs: 90000 });
        const st = readState(root, profile);
        if (st) known.push(st.controller_pid, ...st.engine_pids);
        assert.equal(r.code, 0, show(r));
        assert.doesNotMatch(r.stderr, /warning/i);
        assert.equal(readConn(profile).curve_serverkey?.length, 40);
        const c = await Client.connect({ profile, timeoutMs: 10000 });
        try {
          assert.deepEqual(
            await c.loadBalancedView().map((x: number) => x + 100, range(10)),
            range(10).map((x) => x + 100),
          );
        } finally {
          await c.close();
        }
        const stopped = await runCli(['stop', '--profile', profile], { timeoutMs: 60000 });
        assert.equal(stopped.code, 0, show(stopped));
        await assertAllGone(known, 'after tscluster stop of the curve cluster');
        assert.equal(existsSync(connectionFile(root, 'client', profile)), false);
      } finally {
        const st = readState(root, profile);
        if (st) known.push(st.controller_pid, ...st.engine_pids);
        await killAll(known);
      }
    });
  });

  test('`tscluster start --ip 0.0.0.0` without --curve warns on stderr', async () => {
    const profile = 'wide';
    const known: number[] = [];
    try {
      const r = await runCli(['start', '--ip', '0.0.0.0', '-n', '1', '--daemon', '--profile', profile], { timeoutMs: 90000 });
      const st = readState(root, profile);
      if (st) known.push(st.controller_pid, ...st.engine_pids);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stderr, /warning/i);
      assert.match(r.stderr, /0\.0\.0\.0/);
      assert.match(r.stderr, /--curve/);
      const stopped = await runCli(['stop', '--profile', profile], { timeoutMs: 60000 });
      assert.equal(stopped.code, 0, show(stopped));
      await assertAllGone(known, 'after stopping the 0.0.0.0 cluster');
    } finally {
      const st = readState(root, profile);
      if (st) known.push(st.controller_pid, ...st.engine_pids);
      await killAll(known);
    }
  });

  describe('connection files', () => {
    test('0600 from creation, never visible with another mode; the security directory becomes 0700 (even when it existed looser)', async (t) => {
      const profile = 'watched';
      const security = join(root, `profile_${profile}`, 'security');
      mkdirSync(security, { recursive: true });
      chmodSync(security, 0o755);
      const seen = new Map<string, Set<number>>();
      const look = (name: string): void => {
        try {
          const m = lstatSync(join(security, name)).mode & 0o777;
          let s = seen.get(name);
          if (!s) seen.set(name, (s = new Set()));
          s.add(m);
        } catch {
          // gone already (a temporary file renamed into place)
        }
      };
      const watcher: FSWatcher = watch(security, (_event, name) => {
        if (name) look(name);
      });
      const poll = setInterval(() => {
        for (const n of readdirSync(security)) look(n);
      }, 1);
      let cluster: Cluster | undefined;
      try {
        cluster = await Cluster.start({ n: 1, profile });
        const c = await cluster.connect();
        assert.deepEqual(await c.loadBalancedView().map((x: number) => x, [1, 2]), [1, 2]);
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        clearInterval(poll);
        watcher.close();
        await stopCluster(cluster);
      }
      t.diagnostic(`seen in the security directory: ${[...seen].map(([n, m]) => `${n} (${[...m].map((x) => x.toString(8)).join('/')})`).join(', ')}`);
      for (const kind of ['client', 'engine'])
        assert.ok(seen.has(`tscluster-${kind}.json`), `saw the ${kind} file appear: ${[...seen.keys()].join(', ')}`);
      const loose = [...seen]
        .filter(([, modes]) => [...modes].some((m) => m !== 0o600))
        .map(([n, modes]) => `${n}: ${[...modes].map((m) => m.toString(8)).join(', ')}`);
      assert.deepEqual(loose, [], 'every file in the security directory was 0600 whenever seen');
      assert.equal(statSync(security).mode & 0o777, 0o700, 'the security directory is 0700');
      assert.deepEqual(readdirSync(security), [], 'cluster.stop() removed the connection files');
    });

    test('the files of running clusters are 0600 in a 0700 directory', () => {
      for (const profile of [SIGNED, CURVE]) {
        for (const kind of ['client', 'engine'] as const) {
          const mode = statSync(connectionFile(root, kind, profile)).mode & 0o777;
          assert.equal(mode, 0o600, `${profile} ${kind} file mode ${mode.toString(8)}`);
        }
        const dir = statSync(join(root, `profile_${profile}`, 'security')).mode & 0o777;
        assert.equal(dir, 0o700, `${profile} security directory mode ${dir.toString(8)}`);
      }
    });

    test('a truncated, half-written or empty file gives ConnectionFileError naming the file', async () => {
      const text = readFileSync(connectionFile(root, 'client', SIGNED), 'utf8');
      const cases: [string, string][] = [
        ['truncated.json', text.slice(0, Math.floor(text.length / 2))],
        ['one-byte.json', '{'],
        ['empty.json', ''],
        ['whitespace.json', '\n  \n'],
        ['not-json.json', 'ip=127.0.0.1\nport=1\n'],
      ];
      for (const [name, body] of cases) {
        const path = join(root, name);
        writeFileSync(path, body, { mode: 0o600 });
        await assert.rejects(Client.connect({ connectionFile: path, timeoutMs: 3000 }), (e: unknown) => {
          assert.ok(e instanceof ConnectionFileError, `${name}: ConnectionFileError expected, got ${String(e)}`);
          assert.equal(e.path, path);
          assert.ok(e.message.includes(path), `${name}: ${e.message}`);
          assert.match(e.message, /corrupt|half-written|empty/, `${name}: ${e.message}`);
          return true;
        });
      }
      // an engine given a corrupt file says which file, and exits
      const path = join(root, 'truncated-engine.json');
      writeFileSync(path, readFileSync(connectionFile(root, 'engine', SIGNED), 'utf8').slice(0, 40), { mode: 0o600 });
      const child = spawn(process.execPath, [join(DIST, 'engine', 'main.js'), '--file', path, '--timeout', '2'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: process.env,
      });
      const err = new OutputWatcher(child.stderr);
      try {
        assert.equal(await waitExit(child, 20000), 1);
        assert.ok(err.text.includes(path), `the engine names the file: ${err.text}`);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await assertAllGone([child.pid!], 'the engine given a corrupt file');
      }
    });

    test('a bad field gives ConnectionFileError naming the file and the field', async () => {
      const cases: [string, (f: ConnFile) => unknown][] = [
        ['port', (f) => ({ ...f, port: 'x' })],
        ['port', (f) => ({ ...f, port: 70000 })],
        ['key', (f) => ({ ...f, key: f.key.toUpperCase().replace(/^[0-9]/, 'A') })],
        ['key', (f) => ({ ...f, key: f.key.slice(0, 10) })],
        ['curve_serverkey', (f) => ({ ...f, curve_serverkey: 'short' })],
        ['ip', (f) => ({ ...f, ip: '' })],
        ['tscluster', (f) => ({ ...f, tscluster: 2 })],
        ['signature_scheme', (f) => ({ ...f, signature_scheme: 'hmac-md5' })],
        [
          'controller_pid',
          (f) => {
            const { controller_pid: _pid, ...rest } = f;
            return rest;
          },
        ],
      ];
      for (const [i, [field, change]] of cases.entries()) {
        const path = variant(SIGNED, `bad-field-${i}.json`, change);
        await assert.rejects(Client.connect({ connectionFile: path, timeoutMs: 3000 }), (e: unknown) => {
          assert.ok(e instanceof ConnectionFileError, `${field}: ConnectionFileError expected, got ${String(e)}`);
          assert.equal(e.path, path);
          assert.equal(e.field, field);
          assert.ok(e.message.includes(path) && e.message.includes(field), `${field}: ${e.message}`);
          return true;
        });
      }
      assert.equal(pidGone(readConn(SIGNED).controller_pid), false);
    });
  });
});
