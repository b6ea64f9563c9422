/**
 * The paths a channel's messages take: over the client's stream link to the
 * engine (one hop, past the controller), with batches of 1 MiB or more at the
 * engine's data endpoint (taken by its worker without a copy), or through the
 * controller when the client has no direct links. Also what the stream
 * endpoint refuses, and that a function's last values are never lost to its
 * reply overtaking them.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Dealer } from 'zeromq';
import { Client } from '../index.js';
import type { Channel } from '../index.js';
import { Session, serialize } from '../protocol/index.js';
import { checksum, range, readConnectionFile, sharedCluster, sleep, tempRootForFile, waitFor } from './support/index.js';

const root = tempRootForFile('channel-paths');
const T = { timeoutMs: 30000 };

describe('channel paths (2 engines)', () => {
  const c = sharedCluster({ n: 2 });
  let rc: Client;
  let ids: number[];
  before(async () => {
    rc = c.rc();
    ids = rc.ids;
    // the client checks each engine's endpoints once it hears of it: until then, channels go through the controller
    await waitFor('the direct links to both engines are up', () => rc.directData?.links === 2);
  });

  test('the function returns right after sending 20,000 values and a 32 MB array: every one is read before waitClose resolves', async () => {
    const n = 20000;
    const before = rc.directData!.channels;
    const ch = rc.directView(ids[0]!).channel(async (ch: Channel, n: number) => {
      // not awaited: the values and the task's reply leave together; the reply (through the controller) arrives
      // before the large array (over the stream link) is through
      for (let i = 0; i < n; i++) void ch.send(i);
      void ch.send(new Float64Array(4 * 1024 * 1024).fill(7));
      return 'sent';
    }, n);
    const got: unknown[] = [];
    for await (const x of ch) got.push(x);
    assert.equal(got.length, n + 1, 'every value arrived');
    assert.deepEqual(got.slice(0, n), range(n));
    const last = got[n] as Float64Array;
    assert.ok(last instanceof Float64Array && last.length === 4 * 1024 * 1024 && last[last.length - 1] === 7, 'the array, intact');
    assert.equal(await ch.waitClose(T), 'sent');
    assert.equal(rc.directData!.channels.values - before.values, n + 1, 'the values came over the stream link');
  });

  test('a 100 MB Float64Array goes to the function through the data endpoint and back over the stream link, intact', async () => {
    const a = new Float64Array((100 * 1024 * 1024) / 8);
    for (let i = 0; i < a.length; i += 1024) a[i] = i * 0.5;
    const sum = checksum(a);
    const bytesBefore = rc.directData!.bytes;
    const ch = rc.directView(ids[1]!).channel(async (ch: Channel) => {
      const x = (await ch.receive()) as Float64Array;
      await ch.send(x);
      return x.length;
    });
    await ch.send(a);
    const back = (await ch.receive(T)) as Float64Array;
    assert.ok(back instanceof Float64Array);
    assert.equal(back.length, a.length);
    assert.equal(checksum(back), sum);
    assert.equal(await ch.waitClose(T), a.length);
    assert.ok(rc.directData!.bytes - bytesBefore >= a.byteLength, 'the array went to the data endpoint');
  });

  test("the stream endpoint drops a channel message from a client that did not open the channel (and bad ones); the channel's own values still arrive", async () => {
    const ch = rc.directView(ids[0]!).channel(async (ch: Channel) => {
      const got: unknown[] = [];
      for await (const x of ch) got.push(x);
      return got;
    });
    // the channel is open on the engine once the function answers
    await ch.send('hello');
    const url = rc.engines.find((e) => e.id === ids[0])!.data!.stream_url!;
    const info = readConnectionFile(root, 'client');
    const intruder = new Dealer({ linger: 0, routingId: 'intruder' });
    intruder.connect(url);
    try {
      const session = new Session(info.key);
      const forged = session.build([], 'channel_data', { channel: ch.msgId, seq: 2 }, { buffers: serialize('forged') });
      await intruder.send(forged.frames);
      const wrongKey = new Session('not-the-key').build([], 'channel_data', { channel: ch.msgId, seq: 2 }, { buffers: serialize('unsigned') });
      await intruder.send(wrongKey.frames);
      await intruder.send([Buffer.from('garbage')]);
      await sleep(300);
      await ch.send('world');
      ch.close();
      assert.deepEqual(await ch.waitClose(T), ['hello', 'world'], 'only the values of the client that opened it');
      // the engine is still serving
      assert.equal(await rc.directView(ids[0]!).apply(() => 6 * 7), 42);
    } finally {
      intruder.close();
    }
  });

  test('without direct links every value goes through the controller, in order, exactly once', async () => {
    const cluster = c.cluster();
    const rc2 = await Client.connect({ profile: cluster.profile, clusterId: cluster.clusterId, directData: false });
    try {
      assert.equal(rc2.directData, null);
      const n = 20000;
      const before = (await rc2.stats()).channels ?? { data: 0, values: 0 };
      const ch = rc2.directView(ids[1]!).channel(async (ch: Channel, n: number) => {
        for (let i = 0; i < n; i++) await ch.send(i);
        let next = 0;
        for await (const x of ch) if (x === next) next++;
        return next;
      }, n);
      for (let i = 0; i < n; i++) assert.equal(await ch.receive(T), i);
      for (let i = 0; i < n; i++) await ch.send(i);
      ch.close();
      assert.equal(await ch.waitClose(T), n);
      const after = (await rc2.stats()).channels!;
      assert.equal(after.values - before.values, 2 * n, 'the controller forwarded every value once');
      assert.ok(after.data - before.data < (2 * n) / 20, 'in batches');
    } finally {
      await rc2.close();
    }
  });
});
