/**
 * The direct data path: large payloads of requests to one engine go straight
 * from the client to the engine's data endpoint (its execution worker's own
 * socket), and large results straight back, while requests and replies still
 * go through the controller. Checked: 100 MB to all of 8 engines intact, the
 * pull back, `directData: false`, clear then push pipelined, frames that are
 * unsigned, signed with another key, replayed or garbage dropped and logged,
 * and an engine killed during a pull.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { Dealer } from 'zeromq';
import { Client, Cluster, EngineError } from '../index.js';
import { Session } from '../protocol/index.js';
import { checksum, sharedCluster, sleep, stopCluster, tempRootForFile, waitFor } from './support/index.js';

/** Names that tests put into engine namespaces. */
declare const big: Float64Array;
declare const small: Float64Array;

const root = tempRootForFile('data-path');

function filled(n: number, seed: number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = ((i * 2654435761 + seed) % 1000003) / 7;
  return a;
}

/** The engines' log of the profile (every run of it). */
function engineLog(): string {
  const dir = join(root, 'profile_default', 'log');
  return readdirSync(dir)
    .filter((f) => f.includes('engine'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
}

describe('the direct data path (8 engines)', () => {
  const c = sharedCluster({ n: 8 });
  let rc: Client;
  before(() => (rc = c.rc()));

  test('every engine has a data endpoint, and the client reaches it, once waitForEngines has resolved', () => {
    // an engine announces its endpoint once its execution worker has opened it (it may register first);
    // waitForEngines waits for that and for the client's check of each link (a TCP connect)
    assert.equal(rc.directData?.links, 8);
    for (const e of rc.engines) assert.match(e.data?.url ?? '', /^tcp:\/\/127\.0\.0\.1:\d+$/, `engine ${e.id}`);
  });

  test('a 100 MB array pushed to all 8 engines arrives intact on each, each copy over its data link', async () => {
    const a = filled(100e6 / 8, 1);
    const before = rc.directData!;
    await rc.directView().push({ big: a });
    const after = rc.directData!;
    assert.equal(after.tasks - before.tasks, 8, 'one direct payload per engine');
    assert.ok(after.bytes - before.bytes >= 8 * 100e6, `${after.bytes - before.bytes} bytes direct`);
    const sums = await rc.directView().apply(() => {
      let s = 0;
      for (let i = 0; i < big.length; i++) s = (s + big[i]! * ((i % 7) + 1)) % 1e12;
      return [big.length, s];
    });
    const want = checksum(a);
    assert.deepEqual(
      sums,
      rc.ids.map(() => [a.length, want]),
    );
  });

  test('pulled back over the data link, equal to what was sent; the controller says it does not keep that result', async () => {
    const before = rc.directData!;
    const ar = rc.directView(3).pull<Float64Array>('big');
    const back = await ar;
    assert.equal(back.length, 100e6 / 8);
    assert.equal(checksum(back), checksum(filled(100e6 / 8, 1)));
    assert.equal(rc.directData!.results - before.results, 1, 'the result came over the data link');
    const other = await Client.connect({ directData: false });
    try {
      await assert.rejects(other.getResult(ar.msgIds).get({ timeoutMs: 10000 }), /went straight to the client that submitted it/);
    } finally {
      await other.close();
    }
  });

  test('directData: false sends everything through the controller, and it works the same', async () => {
    const other = await Client.connect({ directData: false });
    try {
      assert.equal(other.directData, null);
      const a = filled(1 << 18, 2);
      await other.directView(1).push({ small: a });
      const back = await other.directView(1).pull<Float64Array>('small');
      assert.equal(checksum(back), checksum(a));
      assert.equal(await other.directView(1).apply(() => small.length), a.length);
    } finally {
      await other.close();
    }
  });

  test('clear then a large push, not awaited in between: the push is not lost with the replaced worker', async () => {
    const dv = rc.directView(2);
    const a = filled(1 << 18, 3);
    const cleared = dv.clear();
    const pushed = dv.push({ small: a });
    await cleared;
    await pushed;
    assert.equal(await dv.apply(() => small.length), a.length);
  });

  test('frames on a data endpoint that are garbage, unsigned, signed with another key or replayed are dropped and logged; the engine serves on', async () => {
    const e = rc.engines[0]!;
    const key = (JSON.parse(readFileSync(rc.cluster.connectionFile, 'utf8')) as { key: string }).key;
    const payload = [Buffer.alloc(100, 1)];
    const good = new Session(key).build([], 'data_put', { msg_id: 'forged-1' }, { buffers: payload }).frames;
    const wrongKey = new Session('not-the-cluster-key').build([], 'data_put', { msg_id: 'forged-2' }, { buffers: payload }).frames;
    const unsigned = [...good];
    unsigned[1] = Buffer.alloc(0);
    const raw = new Dealer({ linger: 0 });
    raw.connect(e.data!.url);
    try {
      await raw.send([Buffer.from('garbage')]);
      await raw.send(wrongKey);
      await raw.send(unsigned);
      await raw.send(good);
      await raw.send(good);
      await sleep(200);
      // the engine reads its data endpoint while a task waits for its payload: one does now
      const a = filled(1 << 18, 4);
      await rc.directView(0).push({ small: a });
      assert.equal(await rc.directView(0).apply(() => small.length), a.length);
      const log = await waitFor('the drops in the engine log', () => {
        const l = engineLog();
        return /data endpoint \(signature: message signature does not match the key\)/.test(l) &&
          /data endpoint \(signature: message is not signed\)/.test(l) &&
          /data endpoint \(replay: /.test(l) &&
          /data endpoint \(framing: /.test(l)
          ? l
          : undefined;
      });
      assert.ok(log);
    } finally {
      raw.close();
    }
  });

  test('an engine killed while a large pull is on its way: the pull fails with EngineError, nothing hangs', async () => {
    const [pid] = await c.cluster().addEngines(1);
    assert.ok(pid);
    const e = await waitFor('the new engine', () => rc.engines.find((x) => x.pid === pid));
    const dv = rc.directView(e.id);
    await dv.execute('globalThis.huge = new Float64Array(400e6 / 8).fill(1.25)');
    const ar = dv.pull('huge');
    setImmediate(() => process.kill(pid, 'SIGKILL'));
    await assert.rejects(ar.get({ timeoutMs: 30000 }), (err: unknown) => err instanceof EngineError);
  });
});

describe('a cluster just started', () => {
  test('its first large push goes straight to the engine: Cluster.start resolves once the data links are up', async () => {
    let cluster: Cluster | undefined;
    try {
      cluster = await Cluster.start({ n: 2, clusterId: 'fresh' });
      const rc = await cluster.connect();
      const links = rc.directData;
      assert.ok(links, 'direct data is on');
      assert.equal(links.links, 2, 'a link to each engine when Cluster.start resolves');
      const a = filled(8e6 / 8, 2);
      await rc.directView(0).push({ big: a });
      assert.equal(rc.directData.tasks, 1, 'the first push went over the data link, not through the controller');
      assert.equal(await rc.directView(0).apply(() => big.length), a.length);
    } finally {
      await stopCluster(cluster);
    }
  });
});
