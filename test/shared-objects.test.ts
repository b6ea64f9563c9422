/**
 * Shared objects the controller hosts, on a real cluster: queues across two
 * clients (waits, maxsize, timeouts, close and drain, delete), dicts whose
 * increments from many engine tasks at once add up exactly, a setIfAbsent
 * race, events that release engines, locks that exclude across engines and
 * are released when their holding client disconnects, byte limits, malformed
 * requests, and remote code as producer and consumer through `tscluster`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Dealer } from 'zeromq';
import { Client, ConnectionLost, QueueClosed, QueueEmpty, SharedLimitExceeded, SharedObjectError, SharedTimeout, TimeoutError } from '../index.js';
import { Session, serialize } from '../protocol/index.js';
import { Inbox, readConnectionFile, sharedCluster, tempRootForFile } from './support/index.js';

const root = tempRootForFile('shared-objects');
const PROFILE = 'shared';
const OBJECT_MAX = 1024 * 1024;
// the controller reads its byte limits from the profile, like any setting
mkdirSync(join(root, `profile_${PROFILE}`), { recursive: true });
writeFileSync(join(root, `profile_${PROFILE}`, 'tscluster.json'), JSON.stringify({ sharedObjectMaxBytes: OBJECT_MAX }));

declare const tscluster: import('../client/shared.js').SharedObjects;

/** The error a promise rejects with (failing when it resolves). */
async function rejection(p: PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(p).then(
    (v) => assert.fail(`must fail, resolved with ${String(v)}`),
    (e: unknown) => e,
  );
}

/** Whether a promise has settled, after everything already queued for this process ran. */
async function settled(p: Promise<unknown>, c: Client): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  // a round trip to the controller: anything it answered before is in by now
  await c.stats();
  return done;
}

/** A DEALER of the client socket that speaks the protocol by hand: a test sends what the library would not. */
function rawClient(): { sock: Dealer; inbox: Inbox; session: Session } {
  const info = readConnectionFile(root, 'client', PROFILE);
  const sock = new Dealer({ linger: 0, receiveHighWaterMark: 0 });
  const inbox = new Inbox(sock);
  sock.connect(`tcp://127.0.0.1:${info.port}`);
  return { sock, inbox, session: new Session(info.key) };
}

describe('shared objects', () => {
  const c = sharedCluster({ n: 2, profile: PROFILE });
  let rc: Client;
  let rc2: Client;

  before(async () => {
    rc = c.rc();
    // a second connection of its own (cluster.connect() answers the same client every time)
    rc2 = await Client.connect({ profile: PROFILE });
  });
  after(() => rc2.close());

  test('a queue carries values between two clients in order, typed arrays included; a get waits for the next put', async () => {
    const q1 = rc.queue('q-two-clients');
    const q2 = rc2.queue('q-two-clients');
    const waiting = q2.get();
    assert.equal(await settled(waiting, rc2), false, 'a get on an empty queue waits');
    await q1.put('first');
    assert.equal(await waiting, 'first');
    await q1.put(new Float64Array([1.5, 2.5]));
    await q1.put({ n: 3n, m: new Map([[1, 'x']]) });
    assert.deepEqual(await q2.get(), new Float64Array([1.5, 2.5]));
    assert.deepEqual(await q2.get(), { n: 3n, m: new Map([[1, 'x']]) });
    assert.equal(await q2.size(), 0);
    await assert.rejects(q2.getNowait(), (e: unknown) => e instanceof QueueEmpty && e.object === 'q-two-clients');
  });

  test('a put on a full queue waits for a get from another client; gets and puts time out with SharedTimeout', async () => {
    const full = rc.queue<number>('q-bounded', { maxsize: 1 });
    await full.put(1);
    const second = full.put(2);
    assert.equal(await settled(second, rc), false, 'a put on a full queue waits');
    assert.equal(await full.size(), 1);
    assert.equal(await rc2.queue<number>('q-bounded').get(), 1);
    await second;
    const t0 = Date.now();
    const putErr = await rejection(full.put(3, { timeoutMs: 150 }));
    assert.ok(putErr instanceof SharedTimeout && putErr instanceof TimeoutError, String(putErr));
    assert.ok(Date.now() - t0 >= 140, 'it waited its timeout');
    assert.equal(await full.get(), 2, 'the timed-out put added nothing');
    const getErr = await rejection(full.get({ timeoutMs: 100 }));
    assert.ok(getErr instanceof SharedTimeout, String(getErr));
    assert.match(getErr.message, /queue 'q-bounded'.*stayed empty/);
    const other = await rejection(Promise.resolve().then(() => rc.queue('q-bounded', { maxsize: 5 }).size()));
    assert.ok(other instanceof SharedObjectError && /maxsize 1/.test(other.message), String(other));
  });

  test('close: puts are refused, gets drain what is left and then fail with QueueClosed, waiting gets too; delete frees the queue', async () => {
    const q = rc.queue<number>('q-close');
    const waitingElsewhere = assert.rejects(rc2.queue('q-close-empty').get(), QueueClosed);
    await q.put(1);
    await q.put(2);
    await q.close();
    await assert.rejects(q.put(3), QueueClosed);
    assert.equal(await rc2.queue<number>('q-close').get(), 1);
    assert.equal(await q.get(), 2);
    await assert.rejects(q.get(), QueueClosed);
    await rc.queue('q-close-empty').close();
    await waitingElsewhere;
    const before = (await rc.stats()).shared!;
    assert.equal(await q.delete(), true);
    assert.equal(await q.delete(), false);
    const after = (await rc.stats()).shared!;
    assert.equal(after.objects, before.objects - 1);
    assert.ok(after.bytes < before.bytes);
    await q.put(9);
    assert.equal(await q.get(), 9, 'a deleted name starts again as a new, open queue');
  });

  test('dict: increments from many engine tasks and a client at once add up exactly, each answering a distinct number', async () => {
    const d = rc.dict<number>('d-count');
    const lb = rc.loadBalancedView();
    const tasks = lb.map(
      async (_i: number) => Promise.all(Array.from({ length: 25 }, () => tscluster.dict('d-count').increment('n'))),
      Array.from({ length: 8 }, (_, i) => i),
    );
    const mine = Promise.all(Array.from({ length: 50 }, () => d.increment('n')));
    const seen = [...(await tasks).flat(), ...(await mine)];
    assert.equal(await d.get('n'), 250);
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      Array.from({ length: 250 }, (_, i) => i + 1),
      'every increment saw its own new value',
    );
    await d.set('text', 'abc' as unknown as number);
    const err = await rejection(d.increment('text'));
    assert.ok(err instanceof SharedObjectError && /not a number/.test(err.message), String(err));
    await d.update({ a: 1, b: 2 });
    assert.deepEqual((await d.entries()).sort(), [
      ['a', 1],
      ['b', 2],
      ['n', 250],
      ['text', 'abc'],
    ]);
    assert.equal(await d.delete('a'), true);
    assert.equal(await d.has('a'), false);
    assert.deepEqual((await d.keys()).sort(), ['b', 'n', 'text']);
  });

  test('setIfAbsent: of racing engines and a client, exactly one value is set, and every one of them gets that value back', async () => {
    const dv = rc.directView();
    const fromEngines = dv.apply(async () => tscluster.dict<string>('d-race').setIfAbsent('winner', `engine-${process.pid}`));
    const fromClient = rc2.dict<string>('d-race').setIfAbsent('winner', 'client');
    const answers = [...(await fromEngines), await fromClient];
    const held = await rc.dict<string>('d-race').get('winner');
    assert.ok(held !== undefined);
    assert.deepEqual(
      answers,
      answers.map(() => held),
    );
  });

  test('an event releases engines waiting on it when a client sets it; a wait times out with false', async () => {
    const dv = rc.directView();
    const ar = dv.apply(async () => {
      await tscluster.queue('ev-started').put(process.pid);
      return tscluster.event('ev-go').wait({ timeoutMs: 60000 });
    });
    const started = rc.queue<number>('ev-started');
    await started.get({ timeoutMs: 30000 });
    await started.get({ timeoutMs: 30000 });
    const go = rc2.event('ev-go');
    assert.equal(await go.isSet(), false);
    assert.equal(await go.wait({ timeoutMs: 50 }), false);
    await go.set();
    assert.deepEqual(await ar, [true, true]);
    await go.clear();
    assert.equal(await go.isSet(), false);
  });

  test('a lock excludes across engine tasks: a read-modify-write under it loses no update', async () => {
    const lb = rc.loadBalancedView();
    await rc.dict<number>('lock-data').set('v', 0);
    await lb.map(
      async (_i: number) => {
        const lock = tscluster.lock('l-engines');
        const d = tscluster.dict<number>('lock-data');
        for (let k = 0; k < 5; k++) {
          if (!(await lock.acquire({ timeoutMs: 60000 }))) throw new Error('no lock');
          try {
            if ((await d.increment('inside')) !== 1) await d.increment('overlaps');
            const v = (await d.get('v')) ?? 0;
            await new Promise((r) => setTimeout(r, 2));
            await d.set('v', v + 1);
            await d.increment('inside', -1);
          } finally {
            await lock.release();
          }
        }
      },
      [0, 1, 2, 3],
    );
    const d = rc.dict<number>('lock-data');
    assert.equal(await d.get('v'), 20);
    assert.equal(await d.get('overlaps'), undefined, 'never two holders at once');
    const err = await rejection(rc.lock('l-engines').release());
    assert.ok(err instanceof SharedObjectError && /not held/.test(err.message), String(err));
  });

  test('a lock held by a client is released when that client disconnects; a waiter then gets it', async () => {
    const holder = await Client.connect({ profile: PROFILE });
    assert.equal(await holder.lock('l-client').acquire(), true);
    assert.equal(await rc.lock('l-client').acquire({ timeoutMs: 0 }), false);
    const waiting = rc.lock('l-client').acquire({ timeoutMs: 30000 });
    assert.equal(await settled(waiting, rc), false);
    await holder.close();
    assert.equal(await waiting, true, 'released when its holder left, and handed to the waiter');
    await rc.lock('l-client').release();
  });

  test('a value over the per-object limit is refused naming the setting; the controller goes on serving', async () => {
    const q = rc.queue('q-big');
    const err = await rejection(q.put(new Float64Array(OBJECT_MAX / 8 + 16)));
    assert.ok(err instanceof SharedLimitExceeded, String(err));
    assert.equal(err.setting, 'sharedObjectMaxBytes');
    assert.match(err.message, new RegExp(`limit of ${OBJECT_MAX} bytes per shared object.*sharedObjectMaxBytes`));
    assert.equal(await q.size(), 0);
    await q.put(new Float64Array(1000));
    assert.equal(((await q.get()) as Float64Array).length, 1000);
    assert.equal(await rc.loadBalancedView().apply(() => 6 * 7), 42);
  });

  test('names: a bad name fails at the call; a name of one kind used as another is refused', async () => {
    assert.throws(() => rc.queue(''), RangeError);
    assert.throws(() => rc.dict('x'.repeat(201)), RangeError);
    assert.throws(() => rc.queue('q', { maxsize: -1 }), RangeError);
    await rc.queue('kind-q').size();
    const err = await rejection(rc.dict('kind-q').get('k'));
    assert.ok(err instanceof SharedObjectError && /'kind-q' is a shared queue, not a dict/.test(err.message), String(err));
  });

  test('a malformed shared_request is answered with an InvalidRequest error_reply; the controller does not crash', async () => {
    const { sock, inbox, session } = rawClient();
    try {
      const bad: [unknown, Buffer[]][] = [
        [{ op: 'queue_put', name: '', timeout_ms: null, value: 1 }, []],
        [{ op: 'no_such_op', name: 'x' }, []],
        [{ op: 'dict_set', name: 'd', key: 'k', value: { frames: 2 } }, [Buffer.from('only one')]],
        [{ op: 'dict_update', name: 'd', keys: ['a', 'b'], values: [1] }, []],
        [{ op: 'queue_get', name: 'x', timeout_ms: -5 }, []],
      ];
      for (const [content, buffers] of bad) {
        const { frames, header } = session.build([], 'shared_request', content as never, { buffers });
        await sock.send(frames);
        const r = await inbox.waitFor(header.msg_id, 'error_reply', 30000);
        assert.equal((r.content as { ename: string }).ename, 'InvalidRequest', JSON.stringify(content));
      }
    } finally {
      sock.close();
    }
    assert.equal(c.cluster().controllerPid > 0, true);
    await rc.dict('after-bad').set('k', 1);
    assert.equal(await rc.dict('after-bad').get('k'), 1);
  });

  test('calls made together travel together: 5,000 puts and gets not awaited one by one are answered in FIFO order, in few messages', async () => {
    const q = rc.queue('q-batch');
    const n = 5000;
    // numbers travel in the content, strings and typed arrays as frames of their own: each call's frames are split right
    const value = (i: number): unknown => (i % 3 === 0 ? i : i % 3 === 1 ? `v${i}` : new Float64Array([i, -i]));
    const sentBefore = rc.sharedTraffic;
    const heardBefore = (await rc.stats()).shared!;
    const puts: Promise<void>[] = [];
    const gets: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      puts.push(q.put(value(i)));
      gets.push(q.get());
    }
    await Promise.all(puts);
    const got = await Promise.all(gets);
    assert.deepEqual(
      got,
      Array.from({ length: n }, (_, i) => value(i)),
    );
    const sent = rc.sharedTraffic;
    const heard = (await rc.stats()).shared!;
    assert.equal(sent.calls - sentBefore.calls, 2 * n);
    const messages = sent.messages - sentBefore.messages;
    assert.ok(messages >= 3 && messages <= 10, `${2 * n} calls went in ${messages} messages (at most 4,096 calls a batch)`);
    assert.equal(heard.calls! - heardBefore.calls!, 2 * n, 'the controller counted every call');
    assert.equal(heard.messages! - heardBefore.messages!, messages, 'and the messages they came in');
    assert.equal(await q.size(), 0);
  });

  test('a batch whose gets wait is answered as its puts (and later calls) satisfy them; a lock wait in a batch too', async () => {
    const q = rc.queue<string>('q-batch-wait');
    // one batch: two gets that wait, a third that times out, then the puts that satisfy the first two
    const g1 = q.get({ timeoutMs: 30000 });
    const g2 = q.get({ timeoutMs: 30000 });
    const g3 = q.get({ timeoutMs: 150 });
    const p1 = q.put('a');
    const p2 = q.put('b');
    await Promise.all([p1, p2]);
    assert.deepEqual(await Promise.all([g1, g2]), ['a', 'b']);
    assert.ok((await rejection(g3)) instanceof SharedTimeout);
    // a get that waits past its batch: answered when another client puts
    const late = q.get({ timeoutMs: 30000 });
    const size = q.size();
    assert.equal(await size, 0, 'the call answered at once does not wait for the one that waits');
    assert.equal(await settled(late, rc), false);
    await rc2.queue('q-batch-wait').put('c');
    assert.equal(await late, 'c');
    const l = rc.lock('l-batch');
    assert.deepEqual(await Promise.all([l.acquire(), l.acquire({ timeoutMs: 100 })]), [true, false]);
    // in order: the acquire waits for the lock this client holds, the release after it in the batch hands it over
    assert.deepEqual(await Promise.all([l.acquire({ timeoutMs: 30000 }), l.release()]), [true, undefined]);
    await l.release();
  });

  test('calls of a batch fail alone: QueueEmpty, SharedLimitExceeded and a wrong kind reject only their own call', async () => {
    const q = rc.queue('q-batch-errors');
    const calls = [
      q.getNowait(),
      q.put(1),
      q.put(new Float64Array(OBJECT_MAX / 8 + 16)),
      q.put(2),
      rc.dict('q-batch-errors').get('k'),
      q.getNowait(),
      q.size(),
    ];
    const r = await Promise.allSettled(calls);
    const failure = (i: number): unknown => (r[i]!.status === 'rejected' ? (r[i] as PromiseRejectedResult).reason : undefined);
    const value = (i: number): unknown => (r[i]!.status === 'fulfilled' ? (r[i] as PromiseFulfilledResult<unknown>).value : failure(i));
    assert.ok(failure(0) instanceof QueueEmpty, String(value(0)));
    assert.ok(failure(2) instanceof SharedLimitExceeded && (failure(2) as SharedLimitExceeded).setting === 'sharedObjectMaxBytes', String(value(2)));
    assert.ok(failure(4) instanceof SharedObjectError && /is a shared queue, not a dict/.test(String(failure(4))), String(value(4)));
    assert.deepEqual([value(1), value(3), value(5), value(6)], [undefined, undefined, 1, 1]);
    assert.equal(await q.get(), 2);
  });

  test('a client closed while batched calls wait fails them with ConnectionLost', async () => {
    const other = await Client.connect({ profile: PROFILE });
    const q = other.queue('q-batch-close');
    const waits = [q.get(), q.get({ timeoutMs: 60000 })];
    assert.equal(await settled(Promise.race(waits), other), false);
    await other.close();
    for (const w of waits) assert.ok((await rejection(w)) instanceof ConnectionLost);
  });

  test('a malformed shared_batch is refused with an InvalidRequest error_reply naming the problem; a bad call fails alone', async () => {
    const { sock, inbox, session } = rawClient();
    const size = { op: 'queue_size', name: 'q-raw-batch' };
    const v = serialize('v', 'v');
    const set = { op: 'dict_set', name: 'd-raw-batch', key: 'k', value: { frames: v.length } };
    const send = async (content: unknown, buffers: Buffer[] = []): Promise<string> => {
      const { frames, header } = session.build([], 'shared_batch', content as never, { buffers });
      await sock.send(frames);
      return header.msg_id;
    };
    try {
      const bad: [unknown, Buffer[], RegExp][] = [
        [{ calls: [] }, [], /calls/],
        [{ calls: 'none' }, [], /calls/],
        [{ calls: [{ id: -1, req: size, frames: 0 }] }, [], /id/],
        [{ calls: [{ id: 1, req: set, frames: v.length }] }, [], new RegExp(`add up to ${v.length}, but it has 0 buffers`)],
        [{ calls: [{ id: 1, req: size, frames: 0 }] }, [Buffer.from('stray')], /add up to 0, but it has 1 buffers/],
        [
          {
            calls: [
              { id: 1, req: size, frames: 0 },
              { id: 1, req: size, frames: 0 },
            ],
          },
          [],
          /call id 1 appears twice/,
        ],
        [{ calls: Array.from({ length: 4097 }, (_, id) => ({ id, req: size, frames: 0 })) }, [], /calls/],
      ];
      for (const [content, buffers, why] of bad) {
        const id = await send(content, buffers);
        const r = await inbox.waitFor(id, 'error_reply', 30000);
        const { ename, evalue } = r.content as { ename: string; evalue: string };
        assert.equal(ename, 'InvalidRequest', JSON.stringify(content).slice(0, 200));
        assert.match(evalue, /refused this shared_batch/);
        assert.match(evalue, why);
      }
      // bad calls among good ones: each bad one fails alone, the others are carried out in order
      const id = await send(
        {
          calls: [
            { id: 7, req: set, frames: v.length },
            { id: 8, req: { op: 'no_such_op', name: 'x' }, frames: 0 },
            { id: 9, req: { op: 'dict_set', name: 'd-raw-batch', key: 'j', value: { frames: 2 } }, frames: 1 },
            { id: 10, req: { op: 'dict_get', name: 'd-raw-batch', key: 'k' }, frames: 0 },
          ],
        },
        [...v, Buffer.from('one frame of two')],
      );
      const r = await inbox.waitFor(id, 'shared_batch_reply', 30000);
      const replies = (r.content as { replies: { id: number; reply: { status: string; evalue?: string }; frames: number }[] }).replies;
      assert.deepEqual(
        replies.map((x) => [x.id, x.reply.status, x.frames]),
        [
          [7, 'ok', 0],
          [8, 'error', 0],
          [9, 'error', 0],
          [10, 'ok', v.length],
        ],
      );
      assert.match(replies[1]!.reply.evalue!, /call 8 of this shared_batch.*op/);
      assert.match(replies[2]!.reply.evalue!, /call 9 of this shared_batch.*do not match its 1 buffers/);
    } finally {
      sock.close();
    }
    assert.equal(await rc.dict('d-raw-batch').get('k'), 'v', 'the controller goes on serving');
    assert.equal(await rc.dict('d-raw-batch').has('j'), false);
  });

  test('remote code: an engine produces into a bounded queue and closes it, another consumes until QueueClosed', async () => {
    const [a, b] = rc.ids;
    const producer = rc.directView(a!).apply(async () => {
      const q = tscluster.queue<number>('pc', { maxsize: 5 });
      for (let i = 0; i < 50; i++) await q.put(i, { timeoutMs: 60000 });
      await q.close();
      return 'done';
    });
    const consumer = rc.directView(b!).apply(async () => {
      const q = tscluster.queue<number>('pc', { maxsize: 5 });
      let sum = 0;
      let n = 0;
      for (;;) {
        try {
          sum += await q.get({ timeoutMs: 60000 });
          n++;
        } catch (e) {
          return { sum, n, ended: (e as Error).name };
        }
      }
    });
    assert.equal(await producer, 'done');
    assert.deepEqual(await consumer, { sum: 1225, n: 50, ended: 'QueueClosed' });
  });
});
