/**
 * Signing: a client with the wrong key fails at connect, clearly; wrongly
 * signed, unsigned and replayed messages (even a replay after much traffic)
 * never run and are counted, in `rc.stats()`, `tscluster list --json` and
 * the controller log.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { Dealer } from 'zeromq';
import { Client, Cluster, ProtocolError } from '../index.js';
import { Session, Signer } from '../protocol/index.js';
import {
  Inbox,
  applyParts,
  delta,
  framesOf,
  listJson,
  markerSource,
  otherKey,
  parts,
  range,
  readConnectionFile,
  sharedCluster,
  signedFrames,
  stopCluster,
  tempRootForFile,
  waitFor,
  writeConnectionFileCopy,
  connectError,
} from './support/index.js';

const root = tempRootForFile('security-signing');
const SIGNED = 'signed';

describe('security: signing', () => {
  const c = sharedCluster({ n: 1, profile: SIGNED });
  let rc: Client;
  before(() => (rc = c.rc()));

  test('a client with a wrong key fails at connect with a clear error naming the key and the file, well within its timeout', async () => {
    const file = writeConnectionFileCopy(root, 'wrong-key.json', (f) => ({ ...f, key: otherKey(f.key) }), { profile: SIGNED });
    const before = (await rc.stats()).dropped;
    const t0 = Date.now();
    const err = await connectError({ connectionFile: file, timeoutMs: 10000 }, 'connect with a wrong key must fail');
    const ms = Date.now() - t0;
    assert.ok(err instanceof ProtocolError, `a ProtocolError, not a timeout: ${String(err)}`);
    assert.equal(err.reason, 'signature');
    assert.match(err.message, /key/);
    assert.ok(err.message.includes(file), `names the file: ${err.message}`);
    assert.ok(ms < 10000, `failed after ${ms} ms, before the 10 s timeout`);
    assert.deepEqual(delta((await rc.stats()).dropped, before), { 'client.signature': 1 }, 'its connect_request was dropped and counted');
  });

  test('wrongly signed, unsigned and replayed apply_requests from a raw socket never run code and are counted (client.signature, client.replay)', async () => {
    const info = readConnectionFile(root, 'client', SIGNED);
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
      const apply = (file: string, text: string): ReturnType<typeof parts> => applyParts(markerSource(file, text));

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
      const info = readConnectionFile(root, 'client', 'replay-later');
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
      const captured = signedFrames(new Signer(info.key), applyParts(markerSource(marker, 'x')));
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
