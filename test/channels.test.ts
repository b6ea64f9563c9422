/**
 * Channels: a long-lived function on an engine exchanging a stream of values
 * with its client, on a 3-engine cluster. The last test kills an engine.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ChannelClosed, Client, EngineError, RemoteError, TimeoutError, TsclusterError } from '../index.js';
import type { Channel, Cluster } from '../index.js';
import { FIXTURES, checksum, killIfRunning, range, sharedCluster, sleep, spawnWatched, tempRootForFile, waitExit, waitFor } from './support/index.js';

const root = tempRootForFile('channels');

/** The error a promise that must fail rejects with. */
function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => assert.fail(`expected a rejection, got ${JSON.stringify(v)}`),
    (e: unknown) => e,
  );
}

const T = { timeoutMs: 30000 };

describe('channels (3 engines)', () => {
  const c = sharedCluster({ n: 3 });
  let rc: Client;
  let cluster: Cluster;
  let ids: number[];
  before(() => {
    rc = c.rc();
    cluster = c.cluster();
    ids = rc.ids;
  });

  test('echo round trip: a structured value goes to the function and comes back; waitClose resolves with its return value', async () => {
    const ch = rc.directView(ids[0]!).channel(async (ch: Channel, tag: string) => {
      const x = await ch.receive();
      await ch.send({ tag, got: x });
      return `finished ${tag}`;
    }, 'echo');
    assert.equal(ch.engineId, ids[0]);
    await assert.rejects(ch.receive({ timeoutMs: 50 }), TimeoutError, 'nothing was sent yet');
    await ch.send({ n: 1, m: new Map([[1, 'a']]), d: new Date(5) });
    assert.deepEqual(await ch.receive(T), { tag: 'echo', got: { n: 1, m: new Map([[1, 'a']]), d: new Date(5) } });
    assert.equal(await ch.waitClose(T), 'finished echo');
    assert.equal(ch.closed, true);
    await assert.rejects(ch.receive(), ChannelClosed, 'the function returned: nothing more comes');
  });

  test('10,000 values each way arrive in order, exactly once', async () => {
    const n = 10000;
    const ch = rc.directView(ids[1]!).channel(async (ch: Channel) => {
      let count = 0;
      let inOrder = true;
      for await (const x of ch) {
        if (x === null) break;
        if (x !== count) inOrder = false;
        count++;
        await ch.send(x);
      }
      return { count, inOrder };
    });
    const got: unknown[] = [];
    const reader = (async () => {
      for (let i = 0; i < n; i++) got.push(await ch.receive(T));
    })();
    for (let i = 0; i < n; i++) await ch.send(i);
    await ch.send(null);
    await reader;
    assert.deepEqual(got, range(n), 'the echoes, in order, each once');
    assert.deepEqual(await ch.waitClose(T), { count: n, inOrder: true }, 'the function saw every value once, in order');
    await assert.rejects(ch.receive(), ChannelClosed, 'no value arrives twice');
  });

  test('for await ends when the function closes the channel; onReceive sees every value', async () => {
    const ch = rc.directView(ids[2]!).channel(async (ch: Channel) => {
      for (let i = 0; i < 5; i++) await ch.send(i);
      ch.close();
      return 'closed, then returned';
    });
    const seen: unknown[] = [];
    for await (const x of ch) seen.push(x);
    assert.deepEqual(seen, [0, 1, 2, 3, 4]);
    assert.equal(ch.closed, true);
    assert.throws(() => ch.send(1), ChannelClosed, 'the other side closed it');
    assert.equal(await ch.waitClose(T), 'closed, then returned');

    const ch2 = rc.directView(ids[2]!).channel(async (ch: Channel) => {
      for (let i = 0; i < 3; i++) await ch.send(`v${i}`);
      return 3;
    });
    const values: unknown[] = [];
    ch2.onReceive((v) => {
      values.push(v);
    });
    assert.equal(await ch2.waitClose(T), 3);
    assert.deepEqual(values, ['v0', 'v1', 'v2']);
  });

  test('a MultiChannel over every engine: send to all, receiveQueue yields each value with its channel', async () => {
    const mc = rc.directView().channel(async (ch: Channel, n: number) => {
      const k = (await ch.receive()) as number;
      for (let i = 0; i < n; i++) await ch.send({ pid: process.pid, v: i * k });
      return process.pid;
    }, 200);
    assert.deepEqual(
      mc.channels.map((ch) => ch.engineId),
      ids,
    );
    await mc.send(3);
    const per = new Map<number, unknown[]>();
    for await (const { channel, value } of mc.receiveQueue()) {
      per.set(channel.engineId, [...(per.get(channel.engineId) ?? []), value]);
    }
    const pids = await mc.waitClose(T);
    assert.deepEqual(
      pids,
      ids.map((id) => rc.engines.find((e) => e.id === id)!.pid),
    );
    for (const [i, id] of ids.entries()) {
      assert.deepEqual(
        per.get(id),
        range(200).map((j) => ({ pid: pids[i], v: j * 3 })),
        `engine ${id}: every value, in order`,
      );
    }
    assert.equal(mc.closed, true);
  });

  test('flow control: a producer runs at most a window ahead of a client that does not read', async () => {
    const progress = join(root, 'flow-progress');
    const window = 50;
    const n = 2000;
    const ch = rc.directView(ids[0]!).channel(
      { window: { items: window } },
      async (ch: Channel, n: number, file: string) => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const fs = require('node:fs') as typeof import('node:fs');
        let most = 0;
        for (let i = 0; i < n; i++) {
          await ch.send(i);
          most = Math.max(most, ch.unacknowledged);
          fs.writeFileSync(file, String(i + 1));
        }
        return most;
      },
      n,
      progress,
    );
    const completed = (): number => (existsSync(progress) ? Number(readFileSync(progress, 'utf8')) : 0);
    try {
      // the window-th value is sent, and its send waits: one window in flight
      await waitFor('the producer to fill its window', () => completed() >= window - 1, { timeoutMs: 30000 });
      // proving the producer stays stopped takes a wait: no event marks "nothing happened"
      await sleep(1000);
      assert.equal(completed(), window - 1, 'sends completed while the client read nothing');
      const held = (): number => ch.buffered;
      assert.equal(held(), window, 'the client holds one window, no more');
      const got: unknown[] = [];
      for await (const x of ch) {
        got.push(x);
        assert.ok(held() <= window, `the client holds at most a window (${held()})`);
      }
      assert.deepEqual(got, range(n));
      const most = await ch.waitClose(T);
      assert.ok(most < window, `after each send, fewer than a window of values were unconsumed on the engine (${most})`);
      assert.equal(completed(), n);
    } finally {
      ch.close();
    }
  });

  test('an exception in the function: pending and later receives and waitClose reject with RemoteError carrying the remote stack', async () => {
    const ch = rc.directView(ids[1]!).channel(async (ch: Channel) => {
      await ch.send('before');
      await ch.receive();
      function explodeInChannel(): never {
        throw new TypeError('boom in the channel');
      }
      explodeInChannel();
    });
    const first = ch.receive(T);
    const pending = rejectionOf(ch.receive(T));
    assert.equal(await first, 'before');
    await ch.send('go');
    const err = await pending;
    assert.ok(err instanceof RemoteError, `RemoteError expected, got ${String(err)}`);
    assert.equal(err.ename, 'TypeError');
    assert.equal(err.evalue, 'boom in the channel');
    assert.equal(err.engineId, ids[1]);
    assert.match(err.remoteStack, /explodeInChannel/);
    await assert.rejects(ch.receive(), RemoteError);
    await assert.rejects(ch.waitClose(T), RemoteError);
    assert.throws(() => ch.send(1), ChannelClosed);
  });

  test('send after close throws ChannelClosed; the function sees a clean close', async () => {
    const ch = rc.directView(ids[2]!).channel(async (ch: Channel) => {
      const seen: unknown[] = [];
      for await (const x of ch) seen.push(x);
      try {
        await ch.receive();
        return 'received';
      } catch (e) {
        return { seen, after: (e as Error).name };
      }
    });
    await ch.send('one');
    ch.close();
    assert.equal(ch.closed, true);
    const err = (() => {
      try {
        void ch.send('two');
      } catch (e) {
        return e;
      }
      return assert.fail('a send on a closed channel must throw');
    })();
    assert.ok(err instanceof ChannelClosed && err instanceof TsclusterError);
    assert.equal(err.code, 'ChannelClosed');
    await assert.rejects(ch.receive(), ChannelClosed, 'this side closed it');
    assert.deepEqual(await ch.waitClose(T), { seen: ['one'], after: 'ChannelClosed' });
  });

  test('a 16 MB Float64Array goes through a channel and back intact', async () => {
    const a = new Float64Array(2 * 1024 * 1024).map((_, i) => i * 0.5 + 1);
    const sum = checksum(a);
    const ch = rc.directView(ids[0]!).channel(async (ch: Channel) => {
      const x = (await ch.receive()) as Float64Array;
      await ch.send(x);
      return { length: x.length, kind: x.constructor.name, last: x[x.length - 1] };
    });
    await ch.send(a);
    const back = await ch.receive(T);
    assert.ok(back instanceof Float64Array);
    assert.equal(back.length, a.length);
    assert.equal(checksum(back), sum);
    assert.deepEqual(await ch.waitClose(T), { length: a.length, kind: 'Float64Array', last: a[a.length - 1] });
  });

  test('batching: 50,000 small values each way arrive in order, exactly once, in far fewer channel_data messages', async () => {
    const n = 50000;
    const before = (await rc.stats()).channels ?? { data: 0, values: 0 };
    const directBefore = rc.directData!.channels;
    const ch = rc.directView(ids[1]!).channel(async (ch: Channel, n: number) => {
      for (let i = 0; i < n; i++) await ch.send(i);
      let next = 0;
      for await (const x of ch) if (x === next) next++;
      return next;
    }, n);
    let expected = 0;
    for (let i = 0; i < n; i++) assert.equal(await ch.receive(T), expected++);
    for (let i = 0; i < n; i++) await ch.send(i);
    ch.close();
    assert.equal(await ch.waitClose(T), n, 'the function got every value in order');
    const after = (await rc.stats()).channels!;
    const direct = rc.directData!.channels;
    // the engine's stream endpoint is reachable here: every value went over the client's stream link, none through the controller
    assert.equal(direct.values - directBefore.values, 2 * n, 'every value went past the controller once');
    assert.equal(after.values - before.values, 0, 'the controller forwarded no value');
    const messages = direct.data - directBefore.data;
    assert.ok(messages < (2 * n) / 20, `${messages} channel_data messages carried ${2 * n} values`);
  });

  test('batching: small values and large typed arrays sent in one tick arrive intact, in order', async () => {
    const ch = rc.directView(ids[2]!).channel(async (ch: Channel) => {
      const sends: Promise<void>[] = [];
      for (let i = 0; i < 20; i++) sends.push(ch.send(i % 2 === 0 ? i : new Float64Array(20000).fill(i)));
      await Promise.all(sends);
    });
    for (let i = 0; i < 20; i++) {
      const x = await ch.receive(T);
      if (i % 2 === 0) assert.equal(x, i);
      else assert.ok(x instanceof Float64Array && x.length === 20000 && x[0] === i && x[19999] === i, `value ${i}`);
    }
    await ch.waitClose(T);
  });

  test("a client that disconnects closes its channels: the function's receive rejects, and the engine runs other tasks", async () => {
    const rc2 = await Client.connect({ profile: cluster.profile, clusterId: cluster.clusterId });
    const target = ids[1]!;
    const ch = rc2.directView(target).channel(async (ch: Channel) => {
      const g = globalThis as { channelEnd?: string };
      await ch.send('ready');
      try {
        await ch.receive();
        g.channelEnd = 'received a value';
      } catch (e) {
        g.channelEnd = `${(e as Error).name}: ${(e as Error).message}`;
      }
      return 'ended';
    });
    assert.equal(await ch.receive(T), 'ready');
    await rc2.close();
    const end = await rc
      .directView(target)
      .apply(() => (globalThis as { channelEnd?: string }).channelEnd)
      .get(T);
    assert.match(String(end), /^ChannelClosed: the client closed its connection/);
  });

  test("a client process killed with an open channel: the controller closes it, the function's receive rejects, the engine runs other tasks", async () => {
    const target = ids[2]!;
    const { child, out, err } = spawnWatched([join(FIXTURES, 'channel-client.mjs'), String(target)]);
    try {
      await out.waitForLine(/^ready$/, child, 30000, err);
      child.kill('SIGKILL');
      await waitExit(child, 10000);
    } finally {
      killIfRunning(child);
    }
    // runs once the channel's function has ended: the controller noticed the client gone and closed its channel
    const end = await rc
      .directView(target)
      .apply(() => (globalThis as { channelEnd?: string }).channelEnd)
      .get(T);
    assert.match(String(end), /^ChannelClosed: the client of this channel disconnected/);
  });

  test('an engine killed under a channel: its pending receive rejects with EngineError', async () => {
    const victim = rc.engines.at(-1)!;
    const ch = rc.directView(victim.id).channel(async (ch: Channel) => {
      await ch.send('ready');
      await new Promise(() => undefined);
    });
    assert.equal(await ch.receive(T), 'ready');
    const pending = rejectionOf(ch.receive());
    process.kill(victim.pid, 'SIGKILL');
    const err = await pending;
    assert.ok(err instanceof EngineError, `EngineError expected, got ${String(err)}`);
    assert.equal(err.engineId, victim.id);
    await assert.rejects(ch.waitClose(T), EngineError);
    assert.throws(() => ch.send(1), ChannelClosed);
  });
});
