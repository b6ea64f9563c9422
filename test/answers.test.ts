/**
 * Every request gets an answer: bad arguments throw at the call (TypeError or
 * RangeError naming the argument), what the controller refuses comes back as
 * an error naming the field, long timeouts work, one failed item does not
 * lose the others, and a map zips several sequences.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { Dealer } from 'zeromq';
import { Client, CompositeError, InvalidRequest, RemoteError, TaskAborted } from '../index.js';
import { Session, serialize, unpack } from '../protocol/index.js';
import { connectionFile, removeTempRoot, sharedCluster, sleep, useTempRoot } from './support/index.js';

const root = useTempRoot('answers');
after(() => removeTempRoot(root));

/** The error `f` throws at once (not a rejection), checked to be of `kind` and to mention `re`. */
function throwsNow(f: () => unknown, kind: new (...a: never[]) => Error, re: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof kind, `${kind.name} expected, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

describe('arguments are checked at the call (2 engines)', () => {
  const { rc } = sharedCluster({ n: 2 }, 'args');

  test('directView: -1 is the last engine (as ipyparallel); non-integers and non-numbers throw naming the accepted values', async () => {
    const ids = rc().ids;
    assert.equal(
      await rc()
        .directView(-1)
        .apply(() => 'last'),
      'last',
    );
    assert.deepEqual(rc().directView(-1).targets, [ids.at(-1)]);
    assert.deepEqual(rc().directView([-1, -2]).targets, [ids.at(-1), ids.at(-2)]);
    throwsNow(
      () =>
        rc()
          .directView(-5)
          .apply(() => 1),
      RangeError,
      /engine index -5 is out of range: 2 engine\(s\)/,
    );
    throwsNow(() => rc().directView('x' as unknown as number), TypeError, /directView: targets must be an engine id .* got 'x'/);
    throwsNow(() => rc().directView(1.5), RangeError, /got 1\.5/);
    throwsNow(() => rc().directView(NaN), RangeError, /got NaN/);
    throwsNow(() => rc().directView(null as unknown as number), TypeError, /got null/);
    throwsNow(() => rc().directView([0, 'a'] as unknown as number[]), TypeError, /targets\[1\]/);
  });

  test('withOptions: out-of-range and unknown options throw naming them and the known ones', () => {
    const lb = rc().loadBalancedView();
    throwsNow(() => lb.withOptions({ targets: 1.5 }), RangeError, /targets/);
    throwsNow(
      () => lb.withOptions({ priority: 1e12 }),
      RangeError,
      /priority must be a whole number from -1000000000 to 1000000000, got 1000000000000/,
    );
    throwsNow(() => lb.withOptions({ retries: 1e9 }), RangeError, /retries must be a whole number from 0 to 1000/);
    throwsNow(() => lb.withOptions({ timeoutMs: -1 }), RangeError, /timeoutMs must be a number of milliseconds > 0/);
    throwsNow(() => lb.withOptions({ timeout: 10 } as never), TypeError, /unknown option 'timeout'; the options are retries, timeoutMs/);
    throwsNow(() => lb.withOptions({ after: 5 } as never), TypeError, /after must be AsyncResults, msg ids/);
    throwsNow(() => lb.withOptions({ follow: null } as never), TypeError, /follow must be AsyncResults, msg ids/);
    throwsNow(
      () =>
        rc()
          .directView()
          .withOptions({ targets: [0] } as never),
      TypeError,
      /engines are fixed: make a view on others with rc\.directView\(targets\)/,
    );
    throwsNow(
      () => lb.map((x: number) => x, [1], { chunkSize: 1 } as never),
      TypeError,
      /unknown option 'chunkSize'; the options are chunksize, ordered/,
    );
  });

  test('lb.withOptions({ targets: -1 }) runs on the last engine; timeoutMs beyond 2^31 ms and Infinity are accepted and do not fire', async () => {
    const last = rc().ids.at(-1)!;
    const ar = rc()
      .loadBalancedView()
      .withOptions({ targets: -1 })
      .apply(() => 'ran');
    assert.equal(await ar, 'ran');
    assert.equal(ar.metadata.engineId, last);
    const long = rc().loadBalancedView().withOptions({ timeoutMs: 3e9 });
    assert.equal(await long.apply(() => new Promise((r) => setTimeout(() => r('slept'), 300))), 'slept');
    assert.equal(
      await rc()
        .loadBalancedView()
        .withOptions({ timeoutMs: Infinity })
        .apply(() => 7),
      7,
    );
    assert.equal(
      await rc()
        .directView(0)
        .withOptions({ timeoutMs: 3e9 })
        .apply(() => 8),
      8,
    );
  });

  test('get, waitForEngines and Client.connect take timeouts beyond 2^31 ms (they wait, not fire at once)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const ar = rc()
        .loadBalancedView()
        .apply(() => new Promise((r) => setTimeout(() => r(1), 300)));
      assert.equal(await ar.get({ timeoutMs: 3e9 }), 1);
      assert.deepEqual(await rc().waitForEngines(2, { timeoutMs: 3e9 }), rc().ids);
      const other = await Client.connect({ clusterId: 'args', timeoutMs: 2 ** 31 });
      await other.close();
      await sleep(50);
      assert.deepEqual(
        warnings.filter((w) => w === 'TimeoutOverflowWarning'),
        [],
      );
      throwsNow(() => ar.get({ timeoutMs: -5 }), RangeError, /timeoutMs/);
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('pull, gather, push and scatter refuse what is not a name or not items', () => {
    const dv = rc().directView();
    throwsNow(() => dv.pull(5 as unknown as string), TypeError, /pull takes a name or an array of names, got 5/);
    throwsNow(() => dv.pull({} as unknown as string), TypeError, /got an object/);
    throwsNow(() => dv.pull('not valid id'), TypeError, /pull: the name must be a name or a dotted path/);
    throwsNow(() => dv.gather(5 as unknown as string), TypeError, /gather: the name/);
    throwsNow(() => dv.push({ 'not valid id': 1 }), TypeError, /push: a name must be a JavaScript identifier/);
    throwsNow(() => dv.scatter('a', 5 as unknown as number[]), TypeError, /scatter: the items must be an array/);
    throwsNow(
      () =>
        rc()
          .loadBalancedView()
          .map((x: number) => x, 5 as unknown as number[]),
      TypeError,
      /map's items must be an array/,
    );
    throwsNow(() => rc().getResult(5 as unknown as string), TypeError, /getResult takes a msg id or an array of msg ids, got 5/);
  });

  test('purgeResults refuses anything but msg ids or all', async () => {
    await assert.rejects(rc().purgeResults('bogus' as unknown as 'all'), TypeError);
    assert.equal(typeof (await rc().purgeResults('all')), 'number');
  });

  test('map over several sequences zips them (options only last, as a plain object); unequal lengths throw', async () => {
    const lb = rc().loadBalancedView();
    assert.deepEqual(await lb.map((x: number, y: number) => x + y, [1, 2, 3], [10, 20, 30]), [11, 22, 33]);
    assert.deepEqual(await lb.map((x: number, y: number, z: string) => `${x}${y}${z}`, [1, 2], [3, 4], ['a', 'b'], { chunksize: 2 }), ['13a', '24b']);
    assert.deepEqual(
      await rc()
        .directView()
        .map((x: number, y: number) => x * y, [1, 2, 3, 4], new Set([5, 6, 7, 8])),
      [5, 12, 21, 32],
    );
    throwsNow(() => lb.map((x: number, y: number) => x + y, [1, 2], [1]), RangeError, /equal length, got lengths 2, 1/);
  });
});

describe('one failed item does not lose the others (2 engines)', () => {
  const { rc } = sharedCluster({ n: 2 }, 'partial');
  const failOnThree = (x: number): number => {
    if (x === 3) throw new RangeError('three');
    return x * 10;
  };

  test('get({ returnExceptions: true }) gives every item with the error in place', async () => {
    const all = await rc().loadBalancedView().map(failOnThree, [1, 2, 3, 4]).get({ returnExceptions: true });
    assert.deepEqual(all.slice(0, 2), [10, 20]);
    assert.ok(all[2] instanceof RemoteError && all[2].evalue === 'three', String(all[2]));
    assert.equal(all[3], 40);
  });

  test('the CompositeError carries the partial results and the failed indices (chunks: every item of a failed chunk)', async () => {
    const err = await rc()
      .loadBalancedView()
      .map(failOnThree, [1, 2, 3, 4, 5, 6], { chunksize: 2 })
      .then(
        () => assert.fail('must fail'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof CompositeError, String(err));
    assert.deepEqual(err.failedIndices, [2, 3]);
    assert.deepEqual([err.results[0], err.results[1], err.results[4], err.results[5]], [10, 20, 50, 60]);
    assert.ok(err.results[2] instanceof RemoteError && err.results[3] === err.results[2]);
  });

  test("async iteration with { onError: 'yield' } goes on past a failure", async () => {
    const seen: unknown[] = [];
    for await (const v of rc().loadBalancedView().map(failOnThree, [1, 2, 3, 4]).iterate({ onError: 'yield' })) seen.push(v);
    assert.equal(seen.length, 4);
    assert.deepEqual([seen[0], seen[1], seen[3]], [10, 20, 40]);
    assert.ok(seen[2] instanceof RemoteError);
    // the default still stops at the failure
    const plain: unknown[] = [];
    await assert.rejects(async () => {
      for await (const v of rc().loadBalancedView().map(failOnThree, [1, 2, 3, 4])) plain.push(v);
    }, RemoteError);
    assert.deepEqual(plain, [10, 20]);
  });
});

describe('the controller answers what it refuses (1 engine)', () => {
  const { rc } = sharedCluster({ n: 1 }, 'refused');

  /** A raw, correctly signed client of the cluster, to send what the typed client never would. */
  async function rawClient(): Promise<{
    send: (type: string, content: unknown, metadata: unknown, buffers?: Buffer[]) => Promise<string>;
    reply: (id: string) => Promise<{ type: string; content: Record<string, unknown> }>;
    close: () => void;
  }> {
    const info = JSON.parse(readFileSync(connectionFile(root, 'client', 'default', 'refused'), 'utf8')) as { key: string; port: number };
    const session = new Session(info.key);
    const sock = new Dealer({ linger: 0 });
    sock.connect(`tcp://127.0.0.1:${info.port}`);
    const replies = new Map<string, { type: string; content: Record<string, unknown> }>();
    void (async () => {
      try {
        for await (const frames of sock) {
          // the controller packs what it sends (protocol/packing.ts)
          for (const one of unpack(frames)) {
            const m = session.parse(one);
            const parent = 'msg_id' in m.parent ? m.parent.msg_id : '';
            replies.set(parent, { type: m.type, content: m.content });
          }
        }
      } catch {
        // closed
      }
    })();
    return {
      async send(type, content, metadata, buffers = []) {
        const msgId = randomUUID();
        const header = Buffer.from(JSON.stringify({ ...session.newHeader('connect_request', msgId), msg_type: type }));
        const parts = [header, Buffer.from('{}'), Buffer.from(JSON.stringify(metadata)), Buffer.from(JSON.stringify(content))];
        const signature = session.signer.sign(parts[0]!, parts[1]!, parts[2]!, parts[3]!);
        await sock.send([Buffer.from('<IDS|MSG>'), signature, ...parts, ...buffers]);
        return msgId;
      },
      async reply(id) {
        for (let i = 0; i < 200; i++) {
          const r = replies.get(id);
          if (r) return r;
          await sleep(25);
        }
        throw new Error(`no reply to ${id}`);
      },
      close: () => sock.close(),
    };
  }

  test('an apply_request with invalid metadata gets an error reply naming the field (InvalidRequest), never silence', async () => {
    const raw = await rawClient();
    try {
      const args = serialize([1], 'args', '(x) => x');
      const cases: [unknown, RegExp][] = [
        [{ route: 'lb', priority: 1e12 }, /field 'priority'/],
        [{ route: 'lb', retries: 1e9 }, /field 'retries'/],
        [{ route: 'direct', targets: [-1] }, /field 'targets.0'/],
        [{ route: 'bogus' }, /field 'route'/],
      ];
      for (const [metadata, re] of cases) {
        const id = await raw.send('apply_request', { kind: 'apply' }, metadata, args);
        const r = await raw.reply(id);
        assert.equal(r.type, 'apply_reply');
        assert.equal(r.content.status, 'error');
        assert.equal(r.content.ename, 'InvalidRequest');
        assert.match(String(r.content.evalue), re);
      }
      const bad = await raw.send('abort_request', { msg_ids: 'x' }, {});
      const r = await raw.reply(bad);
      assert.equal(r.type, 'error_reply');
      assert.match(String(r.content.evalue), /msg_ids/);
      const unknown = await raw.send('bogus_request', {}, {});
      assert.equal((await raw.reply(unknown)).type, 'error_reply');
      const stats = await rc().stats();
      assert.equal(stats.tasks.pending, 0);
    } finally {
      raw.close();
    }
  });

  test('a refused request rejects the typed call with InvalidRequest; ar.abort() of a queued task settles it', async () => {
    const dv = rc().directView(0);
    const hold = dv.apply(() => new Promise((r) => setTimeout(r, 1500)));
    const queued = rc()
      .loadBalancedView()
      .apply(() => 'never');
    await sleep(100);
    assert.equal(await queued.abort(), 1);
    await assert.rejects(queued, TaskAborted);
    await hold;
  });

  test('a request the controller refuses rejects the typed call with InvalidRequest naming the field', async () => {
    // dbQuery checks its arguments; a limit the controller refuses still gets an answer
    await assert.rejects(rc().dbQuery({ limit: 0 }), RangeError);
    const err = await rc()
      .abort(['x'.repeat(300)])
      .then(
        () => assert.fail('must be refused'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof InvalidRequest, String(err));
    assert.match(err.evalue, /msg_ids/);
  });
});
