/**
 * Seeded fuzzing of one engine reached directly, through a fake controller (a
 * ROUTER of our own that registers a real engine process, keeps it alive with
 * heartbeats and collects its replies): malformed messages of every kind
 * (test/support/fuzz.ts), with well-formed tasks in between.
 *
 * Afterwards the engine is alive, answered every well-formed request exactly
 * once and correctly, never ran a request that was not well-formed, still
 * heartbeats and still runs tasks.
 *
 * The seed is printed; FUZZ_SEED=<n> reproduces a run (it seeds test/fuzz-controller.test.ts too).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Router } from 'zeromq';
import { Session, deserialize, receiveLoop, serialize } from '../protocol/index.js';
import type { Message } from '../protocol/index.js';
import { DIST, Fuzzer, PER_SOCKET, Rng, assertAllGone, pidGone, fuzzReports, fuzzSeed, sendFuzz, tempRootForFile, waitFor } from './support/index.js';
import type { Expect } from './support/index.js';

const root = tempRootForFile('fuzz-engine');
const SEED = fuzzSeed();
const reports = fuzzReports();

describe(`fuzzing an engine (seed ${SEED})`, () => {
  test(`${PER_SOCKET} malformed messages to one engine through a fake controller: it stays up, answers the well-formed requests in between exactly once, and still works`, async () => {
    const rng = new Rng(SEED).fork(3);
    const fakeKey = rng.bytes(32).toString('hex');
    const session = new Session(fakeKey);
    const router = new Router({ linger: 0, mandatory: true, receiveHighWaterMark: 0, sendHighWaterMark: 0 });
    await router.bind('tcp://127.0.0.1:0');
    const port = Number(/:(\d+)$/.exec(router.lastEndpoint ?? '')?.[1]);
    assert.ok(port > 0, `bound port of ${router.lastEndpoint}`);
    const file = join(root, 'fake-controller-engine.json');
    writeFileSync(
      file,
      JSON.stringify({
        tscluster: 1,
        kind: 'engine',
        profile: 'fake',
        cluster_id: '',
        transport: 'tcp',
        ip: '127.0.0.1',
        port,
        key: fakeKey,
        signature_scheme: 'hmac-sha256',
        curve_serverkey: null,
        controller_pid: process.pid,
        created: new Date().toISOString(),
      }),
      { mode: 0o600 },
    );

    // the fake controller: registers the engine, keeps it alive with heartbeats, collects its replies
    let identity: Buffer | undefined;
    let registeredId: string | undefined;
    let heartbeats = 0;
    let lastHeartbeat = 0;
    const replies = new Map<string, Message[]>();
    let chain: Promise<void> = Promise.resolve();
    const send = (frames: Buffer[]): Promise<void> => (chain = chain.then(() => router.send(frames)));
    receiveLoop(
      router,
      (frames) => {
        const m = session.parse(frames);
        switch (m.header.msg_type) {
          case 'registration_request': {
            identity = m.identities[0];
            registeredId = (m.content as { uuid: string }).uuid;
            void send(
              session.build([identity!], 'registration_reply', { status: 'ok', id: 0, heartbeat_ms: 1000, dead_after_ms: 5000 }, { parent: m.header })
                .frames,
            );
            return;
          }
          case 'heartbeat':
            heartbeats++;
            lastHeartbeat = Date.now();
            return;
          case 'apply_reply': {
            const parentId = 'msg_id' in m.parent ? m.parent.msg_id : '?';
            const list = replies.get(parentId);
            if (list) list.push(m);
            else replies.set(parentId, [m]);
            return;
          }
          default:
            return;
        }
      },
      () => undefined,
      { router: true },
    );
    const logPath = join(root, 'fuzzed-engine.log');
    const fd = openSync(logPath, 'a', 0o600);
    const engine = spawn(process.execPath, [join(DIST, 'engine', 'main.js'), '--file', file, '--timeout', '30'], {
      stdio: ['ignore', fd, fd],
      env: process.env,
    });
    closeSync(fd);
    const enginePid = engine.pid!;
    const beat = setInterval(() => {
      if (identity) void send(session.build([identity], 'heartbeat', {}).frames).catch(() => undefined);
    }, 1000);
    /** a well-formed apply_request for the engine (without its identity: `toEngine` adds it) */
    const apply = (x: number): { frames: Buffer[]; expect: Expect } => {
      const { frames, header } = session.build(
        [],
        'apply_request',
        { kind: 'apply' },
        { metadata: { route: 'lb' }, buffers: serialize([x], 'args', '(x) => x * 3 + 1') },
      );
      return { frames, expect: { msgId: header.msg_id, value: x * 3 + 1 } };
    };
    const toEngine = (frames: Buffer[]): Promise<void> => send([identity!, ...frames]);
    const answered = (e: Expect): boolean => (replies.get(e.msgId)?.length ?? 0) > 0;
    try {
      await waitFor('the engine to register with the fake controller', () => identity !== undefined, { timeoutMs: 30000 });
      assert.equal(identity!.toString('utf8'), registeredId, 'its routing identity is its uuid');
      const first = apply(20);
      await toEngine(first.frames);
      await waitFor('the first task', () => answered(first.expect), { timeoutMs: 30000 });

      const fz = new Fuzzer(rng, fakeKey, 'engine-direct');
      // every 100 cases, a well-formed task in between
      const sent = await sendFuzz(fz, toEngine, (_c, i) => (i % 100 === 50 ? [apply(rng.int(100000))] : undefined));
      const { wellFormed, t0 } = sent;
      const expects: Expect[] = [first.expect, ...sent.expects];
      // a last well-formed task: answered once everything before it has been read
      const last = apply(7);
      await toEngine(last.frames);
      expects.push(last.expect);
      await waitFor('the last task sent after the fuzz', () => answered(last.expect), { timeoutMs: 60000 });
      await waitFor('answers to every well-formed request', () => expects.every(answered), { timeoutMs: 30000 }).catch(() => undefined);
      reports.push({
        socket: 'engine (through a fake controller)',
        messages: PER_SOCKET,
        kinds: fz.counts,
        drops: {},
        wellFormed,
        ms: Date.now() - t0,
      });

      assert.equal(pidGone(enginePid), false, 'the engine process is alive');
      assert.equal(engine.exitCode, null, 'the engine has not exited');
      // replies to well-formed requests (including replayed ones: answered once, never run twice)
      const problems: string[] = [];
      for (const e of expects) {
        const rs = replies.get(e.msgId) ?? [];
        if (rs.length !== 1) {
          problems.push(`${e.msgId}: ${rs.length} replies`);
          continue;
        }
        const c = rs[0]!.content as { status: string; evalue?: string };
        if (e.error) {
          if (c.status !== 'error') problems.push(`${e.msgId}: garbage payload answered with ${c.status}`);
        } else if (c.status !== 'ok') {
          problems.push(`${e.msgId}: ${c.status} ${c.evalue ?? ''}`);
        } else if (deserialize(rs[0]!.buffers) !== e.value) {
          problems.push(`${e.msgId}: result ${String(deserialize(rs[0]!.buffers))}, expected ${e.value}`);
        }
      }
      assert.deepEqual(
        problems.slice(0, 20),
        [],
        `${problems.length} of ${expects.length} well-formed requests not answered exactly once and correctly`,
      );
      // a signed request the engine cannot read is answered with an error (so its task does not wait forever); it never runs
      const unknown = [...replies.keys()].filter((id) => !expects.some((e) => e.msgId === id) && id !== first.expect.msgId);
      const ran = unknown.filter((id) => replies.get(id)!.some((r) => (r.content as { status?: string }).status !== 'error'));
      assert.deepEqual(ran, [], 'a request that was not well-formed never runs: any answer to it is an error');

      // it still heartbeats and works
      const beatsBefore = heartbeats;
      await waitFor('a heartbeat from the engine after the fuzz', () => heartbeats > beatsBefore && Date.now() - lastHeartbeat < 3000, {
        timeoutMs: 10000,
      });
      const check = apply(1000);
      await toEngine(check.frames);
      await waitFor('a task after the fuzz', () => answered(check.expect), { timeoutMs: 30000 });
      assert.equal(deserialize(replies.get(check.expect.msgId)![0]!.buffers), 3001);
    } finally {
      clearInterval(beat);
      const wasAlive = !pidGone(enginePid);
      try {
        process.kill(enginePid, 'SIGTERM');
      } catch {
        // gone
      }
      router.close();
      await assertAllGone([enginePid], `the fuzzed engine (alive before SIGTERM: ${wasAlive})`);
    }
  });
});
