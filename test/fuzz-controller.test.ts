/**
 * Seeded fuzzing of the controller's two ports from raw DEALERs (the client
 * port and the engine port), then correctly signed apply_requests with
 * invalid payloads. Malformed messages of every kind (test/support/fuzz.ts).
 *
 * Afterwards nothing has died, every drop is counted by reason exactly as
 * predicted, every well-formed request sent in between was answered exactly
 * once and correctly, and the cluster still runs a map.
 *
 * The seed is printed; FUZZ_SEED=<n> reproduces a run (it seeds test/fuzz-engine.test.ts too).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Dealer } from 'zeromq';
import type { Client } from '../index.js';
import { Session, Signer, serialize } from '../protocol/index.js';
import {
  Fuzzer,
  INVALID_JSON,
  Inbox,
  PER_SOCKET,
  Rng,
  addDrops,
  checkAnswers,
  delta,
  parts,
  pidGone,
  range,
  readConnectionFile,
  fuzzReports,
  fuzzSeed,
  sendFuzz,
  sharedCluster,
  showCounts,
  signedFrames,
  sortedCounts,
  tempRootForFile,
  waitFor,
} from './support/index.js';

const root = tempRootForFile('fuzz-controller');
const SEED = fuzzSeed();
const reports = fuzzReports();
const PROFILE = 'fuzz';

describe(`fuzzing the controller (seed ${SEED})`, () => {
  const c = sharedCluster({ n: 2, profile: PROFILE }, '', { extraPids: () => pids });
  let rc: Client;
  let key: string;
  let clientPort: number;
  let enginePort: number;
  let pids: number[] = [];
  /** the controller has one signer (one replay history) for both of its ports */
  const controllerHistory = new Set<string>();

  before(() => {
    rc = c.rc();
    pids = [c.cluster().controllerPid, ...rc.engines.map((e) => e.pid)];
    const client = readConnectionFile(root, 'client', PROFILE);
    key = client.key;
    clientPort = client.port;
    enginePort = readConnectionFile(root, 'engine', PROFILE).port;
  });

  /** No process of the cluster died, the same engines are registered, and a map runs. */
  async function assertClusterHealthy(what: string): Promise<void> {
    const dead = pids.filter(pidGone);
    assert.deepEqual(dead, [], `${what}: processes died`);
    const stats = await rc.stats();
    assert.equal(stats.engines, 2, `${what}: both engines still registered`);
    assert.deepEqual(new Set(rc.engines.map((e) => e.pid)), new Set(pids.slice(1)), `${what}: the same engines`);
    const items = range(200);
    const r = await rc
      .loadBalancedView()
      .map((x: number) => x * 7 - 1, items)
      .get({ timeoutMs: 30000 });
    assert.deepEqual(
      r,
      items.map((x) => x * 7 - 1),
      `${what}: a map runs correctly`,
    );
  }

  /** Fuzz one of the controller's ports from a raw DEALER. */
  async function fuzzControllerPort(side: 'client' | 'engine', rng: Rng): Promise<void> {
    const sock = new Dealer({ linger: 0, routingId: `fuzzer-${side}-${rng.bytes(4).toString('hex')}`, receiveHighWaterMark: 0 });
    const inbox = new Inbox(sock);
    const port = side === 'client' ? clientPort : enginePort;
    const session = new Session(key);
    const fz = new Fuzzer(rng, key, side, controllerHistory);
    sock.connect(`tcp://127.0.0.1:${port}`);
    /**
     * A well-formed request answered on this socket: once its answer is in,
     * the controller has handled everything sent before it on this connection.
     * Client port: stats_request (the answer holds the drop counts). Engine
     * port: a registration whose uuid is not the routing identity (refused, not counted).
     */
    const sync = async (): Promise<Record<string, number>> => {
      if (side === 'client') {
        const { frames, header } = session.build([], 'stats_request', {});
        await sock.send(frames);
        const r = await inbox.waitFor(header.msg_id, 'stats_reply', 60000);
        // a correctly signed request the controller refuses is answered (and counted as refused), not dropped
        const { dropped, refused = {} } = r.content as { dropped: Record<string, number>; refused?: Record<string, number> };
        const both = { ...dropped };
        for (const [k, n] of Object.entries(refused)) both[k] = (both[k] ?? 0) + n;
        return both;
      }
      const { frames, header } = session.build([], 'registration_request', { uuid: 'not-my-routing-id', pid: 1, hostname: 'fuzz', cwd: '/' });
      await sock.send(frames);
      const r = await inbox.waitFor(header.msg_id, 'registration_reply', 60000);
      assert.equal((r.content as { status?: string }).status, 'error');
      return (await rc.stats()).dropped;
    };
    try {
      const before = await sync();
      const expected: Record<string, number> = {};
      const { expects, wellFormed, t0 } = await sendFuzz(
        fz,
        (frames) => sock.send(frames),
        (sent) => {
          addDrops(expected, side, sent.drops);
          return undefined;
        },
      );
      const after = await sync();
      const ms = Date.now() - t0;
      const got = delta(after, before);
      reports.push({ socket: `controller ${side} port`, messages: PER_SOCKET, kinds: fz.counts, drops: got, wellFormed, ms });

      assert.deepEqual(pids.filter(pidGone), [], 'no process died');
      assert.deepEqual(
        sortedCounts(got),
        sortedCounts(expected),
        `drops counted by reason (expected ${showCounts(expected)}, got ${showCounts(got)})`,
      );
      if (side === 'client') {
        // well-formed requests in between (stats, queue, apply) and garbage-payload tasks are each answered exactly once
        await waitFor(
          'answers to every well-formed request',
          () => expects.every((e) => inbox.repliesTo(e.msgId).some((m) => m.msgType !== 'stream')),
          { timeoutMs: 60000 },
        ).catch(() => undefined);
        checkAnswers(inbox, expects, 'apply_reply', `controller ${side} port`);
        assert.ok(
          expects.some((e) => e.value !== undefined),
          'some well-formed tasks ran in between',
        );
      }
      await assertClusterHealthy(`after fuzzing the controller's ${side} port`);
      const stats = await rc.stats();
      assert.equal(stats.tasks.pending, 0, 'no task left pending');
    } finally {
      sock.close();
    }
  }

  test(`${PER_SOCKET} malformed messages to the controller's client port: each dropped or refused with an answer, counted by reason; well-formed ones in between answered; nothing dies`, async () => {
    await fuzzControllerPort('client', new Rng(SEED).fork(1));
  });

  test(`${PER_SOCKET} malformed messages to the controller's engine port: all dropped and counted by reason, nothing dies`, async () => {
    await fuzzControllerPort('engine', new Rng(SEED).fork(2));
  });

  test('fuzzed apply_request payloads: a correctly signed apply_request whose content or parent is invalid is answered with an error or dropped and counted; it never leaves a task pending or an engine stuck', async () => {
    // Runs last: when it fails, the engines may be stuck on the tasks it sent.
    const rng = new Rng(SEED).fork(4);
    const signer = new Signer(key);
    const sock = new Dealer({ linger: 0, receiveHighWaterMark: 0 });
    const inbox = new Inbox(sock);
    sock.connect(`tcp://127.0.0.1:${clientPort}`);
    const session = new Session(key);
    try {
      const statsReq = async (): Promise<{ dropped: Record<string, number>; tasks: { pending: number } }> => {
        const { frames, header } = session.build([], 'stats_request', {});
        await sock.send(frames);
        return (await inbox.waitFor(header.msg_id, 'stats_reply', 30000)).content as { dropped: Record<string, number>; tasks: { pending: number } };
      };
      const before = await statsReq();
      const badContent: unknown[] = [
        { kind: 'bogus' },
        {},
        { kind: 'execute' },
        { kind: 'execute', code: 5 },
        { kind: 'pull', names: 'x' },
        { kind: 'pull' },
        null,
        [],
        5,
        'apply',
      ];
      const badParent: unknown[] = [{ x: 1 }, [], 5, null, { msg_id: 'x' }];
      const ids: string[] = [];
      const N = 200;
      for (let i = 0; i < N; i++) {
        const msgId = rng.uuid('b');
        const route = rng.chance(0.75) ? { route: 'lb' } : { route: 'direct', targets: [rng.pick(rc.ids)] };
        const p = parts('apply_request', { kind: 'apply' }, { msgId, metadata: route, buffers: serialize([i], 'args', '(x) => x') });
        const v = rng.int(3);
        if (v === 0) p.content = Buffer.from(JSON.stringify(rng.pick(badContent)));
        else if (v === 1) p.content = Buffer.from(rng.pick(INVALID_JSON));
        else p.parent = rng.chance(0.5) ? Buffer.from(JSON.stringify(rng.pick(badParent))) : Buffer.from(rng.pick(INVALID_JSON));
        await sock.send(signedFrames(signer, p));
        ids.push(msgId);
      }
      const afterSend = await statsReq();
      const d = delta(afterSend.dropped, before.dropped);
      const droppedN = (d['client.schema'] ?? 0) + (d['client.json'] ?? 0);
      assert.deepEqual(
        Object.keys(d).filter((k) => k !== 'client.schema' && k !== 'client.json'),
        [],
        `only schema/json drops: ${showCounts(d)}`,
      );
      // each is either dropped (and counted) or answered with an error
      await waitFor(
        'an error reply to every invalid apply_request not dropped',
        () => ids.filter((id) => inbox.repliesTo(id, 'apply_reply').length > 0).length + droppedN >= N,
        { timeoutMs: 15000 },
      ).catch(() => undefined);
      const answered = ids.filter((id) => inbox.repliesTo(id, 'apply_reply').length > 0);
      const okAnswers = answered.filter((id) => (inbox.repliesTo(id, 'apply_reply')[0]!.content as { status?: string }).status !== 'error');
      assert.deepEqual(okAnswers, [], 'an invalid apply_request never runs: any answer is an error');
      const stats = await rc.stats();
      assert.equal(
        answered.length + droppedN,
        N,
        `of ${N} invalid apply_requests: ${droppedN} dropped and counted, ${answered.length} answered with an error, ` +
          `${N - droppedN - answered.length} neither (the controller accepted them, the engine dropped them unanswered; tasks pending: ${stats.tasks.pending}, queue ${JSON.stringify(await rc.queueStatus())})`,
      );
      assert.equal(stats.tasks.pending, 0, 'no task left pending');
      await assertClusterHealthy('after invalid apply_requests');
    } finally {
      sock.close();
    }
  });
});
