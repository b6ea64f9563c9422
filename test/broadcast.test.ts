/**
 * Broadcast: a direct view's call on several engines is one request, which
 * the controller fans out as one task per engine (each its own msg_id and
 * record). Spoken by hand on a raw socket (what the controller takes and
 * refuses) and through the client (values, records, large payloads).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Dealer } from 'zeromq';
import { Client } from '../index.js';
import { Session, Signer, deserialize } from '../protocol/index.js';
import type { Received } from './support/index.js';
import { Inbox, applyParts, checksum, delta, readConnectionFile, sharedCluster, signedFrames, tempRootForFile } from './support/index.js';

const root = tempRootForFile('broadcast');
const N = 3;

describe('broadcast: one request, a task per engine', () => {
  const c = sharedCluster({ n: N });
  let rc: Client;
  let sock: Dealer;
  let inbox: Inbox;
  let signer: Signer;
  let session: Session;
  before(() => {
    rc = c.rc();
    const info = readConnectionFile(root, 'client');
    signer = new Signer(info.key);
    session = new Session(info.key);
    sock = new Dealer({ linger: 0 });
    inbox = new Inbox(sock);
    sock.connect(`tcp://127.0.0.1:${info.port}`);
  });
  after(() => sock.close());

  /** dropped counts, after everything sent before on the raw socket was handled */
  const dropped = async (): Promise<Record<string, number>> => {
    const { frames, header } = session.build([], 'stats_request', {});
    await sock.send(frames);
    return ((await inbox.waitFor(header.msg_id, 'stats_reply', 30000)).content as { dropped: Record<string, number> }).dropped;
  };
  const broadcast = (targets: number[], fanout: string[], source = '() => process.pid'): ReturnType<typeof applyParts> =>
    applyParts(source, [], { metadata: { route: 'direct', targets, fanout } });
  const replies = (ids: string[]): Promise<Received[]> => Promise.all(ids.map((id) => inbox.waitFor(id, 'apply_reply', 30000)));

  test('the controller runs a broadcast once on each target, under the msg_ids it names, and refuses its replay', async () => {
    const ids = rc.ids;
    const fanout = ids.map(() => randomUUID());
    const req = broadcast(ids, fanout);
    const frames = signedFrames(signer, req);
    const d0 = await dropped();
    await sock.send(frames);
    const got = await replies(fanout);
    assert.deepEqual(
      got.map((r) => (r.content as { status: string }).status),
      ids.map(() => 'ok'),
    );
    const pids = got.map((r) => deserialize(r.buffers) as number);
    assert.equal(new Set(pids).size, N, `each engine ran it once: ${pids.join(', ')}`);
    assert.equal(inbox.repliesTo(req.msgId).length, 0, 'nothing answers the broadcast own msg_id');
    // each task has its own record, found by its msg_id from another client
    assert.deepEqual(await rc.getResult(fanout).get({ timeoutMs: 30000 }), pids);
    const records = await rc.dbQuery({ limit: 1000 });
    for (const [i, id] of fanout.entries()) {
      assert.equal(records.find((r) => r.msgId === id)?.engineId, ids[i], `task ${i} ran on engine ${ids[i]}`);
    }
    await sock.send(frames);
    assert.deepEqual(delta(await dropped(), d0), { 'client.replay': 1 }, 'the replay is dropped as client.replay');
    assert.equal(inbox.repliesTo(fanout[0]!).length, 1, 'and never answered');
  });

  test('a broadcast whose msg_ids do not match its targets is refused: each task it names gets InvalidRequest', async () => {
    const ids = rc.ids;
    const cases: [string, number[], string[]][] = [
      ['fewer msg_ids than targets', ids, [randomUUID(), randomUUID()]],
      ['a msg_id twice', ids.slice(0, 2), (() => [randomUUID(), randomUUID()].map((_, __, a) => a[0]!))()],
    ];
    for (const [what, targets, fanout] of cases) {
      await sock.send(signedFrames(signer, broadcast(targets, fanout)));
      for (const r of await replies([...new Set(fanout)])) {
        const content = r.content as { status: string; ename: string; evalue: string };
        assert.equal(content.status, 'error', what);
        assert.equal(content.ename, 'InvalidRequest', what);
        assert.match(content.evalue, /broadcast/, `${what}: ${content.evalue}`);
      }
    }
    // a broadcast on the load-balanced route
    const fanout = [randomUUID(), randomUUID()];
    await sock.send(signedFrames(signer, applyParts('() => 1', [], { metadata: { route: 'lb', targets: ids.slice(0, 2), fanout } })));
    for (const r of await replies(fanout)) assert.match((r.content as { evalue: string }).evalue, /route 'direct'/);
  });

  test('a target that is not registered fails its own task with EngineError; the others run', async () => {
    const ids = rc.ids;
    const fanout = [randomUUID(), randomUUID()];
    await sock.send(signedFrames(signer, broadcast([ids[0]!, 999], fanout, '() => 42')));
    const [ok, gone] = await replies(fanout);
    assert.equal((ok!.content as { status: string }).status, 'ok');
    assert.equal(deserialize(ok!.buffers), 42);
    const err = gone!.content as { ename: string; evalue: string };
    assert.equal(err.ename, 'EngineError');
    assert.match(err.evalue, /engine 999 is not registered/);
  });

  test('through the client: apply, execute, push, pull and clear on a view of every engine, one task each', async () => {
    const dv = rc.directView();
    const ar = dv.apply((x: number) => `${process.pid}:${x}`, 7);
    assert.equal(new Set(ar.msgIds).size, N, 'a msg_id per engine');
    const values = await ar;
    assert.equal(values.length, N);
    assert.equal(new Set(values).size, N, `one value from each engine: ${values.join(', ')}`);
    await dv.execute('var counter = 5');
    await dv.push({ step: 2 });
    assert.deepEqual(await dv.apply(() => counter + step), [7, 7, 7]);
    assert.deepEqual(await dv.pull(['counter', 'step']), [
      [5, 2],
      [5, 2],
      [5, 2],
    ]);
    await dv.clear();
    assert.deepEqual(await dv.apply(() => typeof counter), ['undefined', 'undefined', 'undefined']);
  });

  test('a large push to every engine goes over each data link; without data links, once through the controller', async () => {
    const big = Float64Array.from({ length: 256 * 1024 }, (_, i) => i * 0.5); // 2 MB
    await rc.directView().execute(`var checksumOf = ${checksum.toString()}`);
    const before = rc.directData!.tasks;
    await rc.directView().push({ big });
    assert.equal(rc.directData!.tasks - before, N, 'one direct payload per engine');
    assert.deepEqual(await rc.directView().apply(() => checksumOf(big)), Array(N).fill(checksum(big)));

    const plain = await Client.connect({ directData: false });
    try {
      const other = big.map((x) => x + 1);
      await plain.directView().push({ other });
      assert.deepEqual(await plain.directView().apply(() => checksumOf(other)), Array(N).fill(checksum(other)));
    } finally {
      await plain.close();
    }
  });
});

declare const counter: number;
declare const step: number;
/** test/support/tasks.ts checksum, as remote code (engines have no test support) */
declare function checksumOf(a: Float64Array): number;
