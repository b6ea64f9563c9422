/**
 * CurveZMQ: a curve cluster runs tasks; a client without the controller's
 * public key, or with a wrong one, cannot talk to it, nor an engine without
 * it register; nothing readable crosses the wire (checked through a TCP
 * relay, against the same relay on a cluster without curve); `tscluster
 * start --curve`; and the warning for `--ip` off this machine without
 * `--curve`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { curveKeyPair } from 'zeromq';
import { Client, TimeoutError } from '../index.js';
import type { Channel } from '../index.js';
import {
  DIST,
  OutputWatcher,
  assertAllGone,
  connectionFile,
  killAll,
  range,
  readConnectionFile,
  readState,
  runCli,
  sharedCluster,
  showResult,
  tempRootForFile,
  waitExit,
  waitFor,
  writeConnectionFileCopy,
  connectError,
} from './support/index.js';

const root = tempRootForFile('security-curve');
const SIGNED = 'signed';
const CURVE = 'curve';

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
  await relay.start(readConnectionFile(root, 'client', profile).port);
  let rc: Client | undefined;
  try {
    const file = writeConnectionFileCopy(root, `${profile}-via-relay.json`, (f) => ({ ...f, port: relay.port }), { profile });
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

describe('security: CurveZMQ', () => {
  sharedCluster({ n: 1, profile: SIGNED });
  const cc = sharedCluster({ n: 1, profile: CURVE, curve: true });
  let crc: Client;
  before(() => {
    crc = cc.rc();
  });

  test('Cluster.start({ curve: true }) runs tasks; both connection files carry the 40-character curve_serverkey', async () => {
    assert.deepEqual(
      await crc.loadBalancedView().map((x: number) => x * x, range(20)),
      range(20).map((x) => x * x),
    );
    assert.deepEqual(await crc.directView().apply(() => 'up'), ['up']);
    const c = readConnectionFile(root, 'client', CURVE);
    const e = readConnectionFile(root, 'engine', CURVE);
    assert.equal(typeof c.curve_serverkey, 'string');
    assert.equal(c.curve_serverkey!.length, 40);
    assert.equal(e.curve_serverkey, c.curve_serverkey);
    assert.equal(readConnectionFile(root, 'client', SIGNED).curve_serverkey, null, 'a cluster without curve has none');
  });

  test("a channel on a curve cluster goes over the engine's stream endpoint (encrypted with the engine's key), and its large values through the data endpoint", async () => {
    await waitFor('the direct links are up', () => crc.directData?.links === 1);
    const before = crc.directData!;
    const ch = crc.directView(crc.ids[0]!).channel(async (ch: Channel) => {
      for await (const x of ch) await ch.send(x instanceof Float64Array ? x.length : x);
    });
    await ch.send('hi');
    assert.equal(await ch.receive({ timeoutMs: 30000 }), 'hi');
    await ch.send(new Float64Array(1 << 18));
    assert.equal(await ch.receive({ timeoutMs: 30000 }), 1 << 18);
    ch.close();
    await ch.waitClose({ timeoutMs: 30000 });
    const after = crc.directData!;
    assert.equal(after.channels.values - before.channels.values, 4, 'both values each way went over the stream link');
    assert.ok(after.bytes - before.bytes >= 8 << 18, 'the array went to the data endpoint');
  });

  for (const [what, change] of [
    ['no curve_serverkey (null)', (): null => null],
    ['a wrong curve_serverkey', (): string => curveKeyPair().publicKey],
  ] as const) {
    test(`a client whose file has ${what} cannot talk to the controller: TimeoutError naming the handshake/curve within ~3 s`, async () => {
      const file = writeConnectionFileCopy(root, `curve-${what.replace(/\W+/g, '-')}.json`, (f) => ({ ...f, curve_serverkey: change() }), {
        profile: CURVE,
      });
      const t0 = Date.now();
      const err = await connectError({ connectionFile: file, timeoutMs: 3000 }, 'the client must not get through');
      const ms = Date.now() - t0;
      assert.ok(err instanceof TimeoutError, `TimeoutError expected, got ${String(err)}`);
      assert.match(err.message, /handshake|curve/i);
      assert.ok(err.message.includes(file), `names the file: ${err.message}`);
      assert.ok(ms < 6000, `rejected after ${ms} ms (timeout 3000)`);
      assert.equal((await crc.stats()).clients, 1, 'only the real client is known to the controller');
    });
  }

  test('an engine without the curve_serverkey cannot register', async () => {
    const file = writeConnectionFileCopy(root, 'curve-engine-nokey.json', (f) => ({ ...f, curve_serverkey: null }), {
      profile: CURVE,
      kind: 'engine',
    });
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
      assert.equal(r.code, 0, showResult(r));
      assert.doesNotMatch(r.stderr, /warning/i);
      assert.equal(readConnectionFile(root, 'client', profile).curve_serverkey?.length, 40);
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
      assert.equal(stopped.code, 0, showResult(stopped));
      await assertAllGone(known, 'after tscluster stop of the curve cluster');
      assert.equal(existsSync(connectionFile(root, 'client', profile)), false);
    } finally {
      const st = readState(root, profile);
      if (st) known.push(st.controller_pid, ...st.engine_pids);
      await killAll(known);
    }
  });

  test('`tscluster start --ip 0.0.0.0`: CurveZMQ on by default, the file names an address others reach; --no-curve warns', async () => {
    for (const [profile, extra] of [
      ['wide', []],
      ['wideplain', ['--no-curve']],
    ] as const) {
      const known: number[] = [];
      try {
        const r = await runCli(['start', '--ip', '0.0.0.0', '-n', '1', '--daemon', '--profile', profile, ...extra], { timeoutMs: 90000 });
        const st = readState(root, profile);
        if (st) known.push(st.controller_pid, ...st.engine_pids);
        assert.equal(r.code, 0, showResult(r));
        const file = readConnectionFile(root, 'client', profile);
        // every interface is bound; the file gives an address of this host, not the wildcard
        assert.notEqual(file.ip, '0.0.0.0');
        if (extra.length === 0) {
          assert.doesNotMatch(r.stderr, /warning/i);
          assert.equal(file.curve_serverkey?.length, 40, 'curve is on off loopback');
        } else {
          assert.match(r.stderr, /warning/i);
          assert.match(r.stderr, /0\.0\.0\.0/);
          assert.match(r.stderr, /--no-curve/);
          assert.equal(file.curve_serverkey, null);
        }
        const c = await Client.connect({ profile, timeoutMs: 10000 });
        try {
          assert.deepEqual(
            await c.loadBalancedView().map((x: number) => x + 1, range(5)),
            range(5).map((x) => x + 1),
          );
        } finally {
          await c.close();
        }
        const stopped = await runCli(['stop', '--profile', profile], { timeoutMs: 60000 });
        assert.equal(stopped.code, 0, showResult(stopped));
        await assertAllGone(known, `after stopping the 0.0.0.0 cluster ${extra.join(' ')}`);
      } finally {
        const st = readState(root, profile);
        if (st) known.push(st.controller_pid, ...st.engine_pids);
        await killAll(known);
      }
    }
  });
});
