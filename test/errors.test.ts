/**
 * Failure paths: wrong keys, missing or broken connection files, a second
 * cluster on a taken profile, and a hostile peer on the controller's client port.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { Dealer } from 'zeromq';
import { Client, Cluster, ClusterAlreadyRunning, ConnectionFileError, TimeoutError } from '../index.js';
import { DELIMITER, Signer, serialize } from '../protocol/index.js';
import {
  Inbox,
  connectionFile,
  delta,
  otherKey,
  parts,
  range,
  readConnectionFile,
  readState,
  sharedCluster,
  signedFrames,
  tempRootForFile,
  connectError,
} from './support/index.js';
import type { ConnectionFileJson } from './support/index.js';

const root = tempRootForFile('errors');
const PROFILE = 'errs';
const CLUSTER_ID = 'c1';

function readClientFile(): ConnectionFileJson {
  return readConnectionFile(root, 'client', PROFILE, CLUSTER_ID);
}

/** A copy of the client connection file with some fields changed. */
function writeVariant(name: string, change: (f: ConnectionFileJson) => unknown): string {
  const path = join(root, name);
  writeFileSync(path, JSON.stringify(change(readClientFile()), null, 2), { mode: 0o600 });
  return path;
}

/** The frames a DEALER sends for one message, signed with `key` as the wire protocol says. */
function message(
  key: string,
  msgType: string,
  content: unknown,
  metadata: unknown = {},
  buffers: Buffer[] = [],
): { msgId: string; frames: Buffer[] } {
  const p = parts(msgType, content, { metadata, buffers });
  return { msgId: p.msgId, frames: signedFrames(new Signer(key), p) };
}

/** An apply_request whose function appends `text` to the file `marker` on the engine that runs it. */
function writeMarkerRequest(key: string, marker: string, text: string): { msgId: string; frames: Buffer[] } {
  const fnSource = `() => require('node:fs').appendFileSync(${JSON.stringify(marker)}, ${JSON.stringify(text)})`;
  return message(key, 'apply_request', { kind: 'apply' }, { route: 'lb' }, serialize([], 'args', fnSource));
}

describe('error paths', () => {
  const c = sharedCluster({ n: 2, profile: PROFILE }, CLUSTER_ID);
  let cluster: Cluster | undefined;
  let rc: Client;
  before(() => {
    cluster = c.cluster();
    rc = c.rc();
  });

  test('a client with a wrong key fails to connect with a clear error naming the key/signature and the file, not a timeout', async () => {
    const file = writeVariant('wrong-key-client.json', (f) => ({ ...f, key: otherKey(f.key) }));
    const timeoutMs = 10000;
    const t0 = Date.now();
    const err = await connectError({ connectionFile: file, timeoutMs }, 'connect with a wrong key should fail');
    const elapsed = Date.now() - t0;
    assert.ok(err instanceof Error, String(err));
    assert.ok(!(err instanceof TimeoutError), `a clear error expected, not a timeout: ${err.message}`);
    assert.match(err.message, /key|signature/i);
    assert.ok(err.message.includes(file), `the message names the file ${file}: ${err.message}`);
    assert.ok(elapsed < timeoutMs, `failed after ${elapsed} ms, not within the ${timeoutMs} ms timeout`);
    // the right key still works
    const ok = await Client.connect({ profile: PROFILE, clusterId: CLUSTER_ID, timeoutMs });
    try {
      assert.equal(ok.ids.length, 2);
    } finally {
      await ok.close();
    }
  });

  test('a missing connection file rejects with ConnectionFileError naming the path and suggesting `tscluster start`', async () => {
    const expected = connectionFile(root, 'client', 'nope');
    await assert.rejects(Client.connect({ profile: 'nope' }), (e: unknown) => {
      assert.ok(e instanceof ConnectionFileError, `ConnectionFileError expected, got ${String(e)}`);
      assert.equal(e.path, expected);
      assert.ok(e.message.includes(expected), e.message);
      assert.match(e.message, /tscluster start/);
      return true;
    });
    const explicit = join(root, 'does-not-exist.json');
    await assert.rejects(
      Client.connect({ connectionFile: explicit }),
      (e: unknown) => e instanceof ConnectionFileError && e.path === explicit && e.message.includes(explicit),
    );
  });

  test('the profile root is read from TSCLUSTER_DIR at call time', async () => {
    const elsewhere = join(root, 'elsewhere');
    const saved = process.env.TSCLUSTER_DIR;
    process.env.TSCLUSTER_DIR = elsewhere;
    try {
      const expected = join(elsewhere, `profile_${PROFILE}`, 'security', `tscluster-${CLUSTER_ID}-client.json`);
      await assert.rejects(
        Client.connect({ profile: PROFILE, clusterId: CLUSTER_ID }),
        (e: unknown) => e instanceof ConnectionFileError && e.path === expected,
      );
    } finally {
      process.env.TSCLUSTER_DIR = saved;
    }
    const back = await Client.connect({ profile: PROFILE, clusterId: CLUSTER_ID });
    await back.close();
  });

  test('a corrupt (truncated or empty) connection file rejects with ConnectionFileError naming the file', async () => {
    const text = readFileSync(connectionFile(root, 'client', PROFILE, CLUSTER_ID), 'utf8');
    const truncated = join(root, 'truncated-client.json');
    writeFileSync(truncated, text.slice(0, Math.floor(text.length / 2)), { mode: 0o600 });
    await assert.rejects(Client.connect({ connectionFile: truncated }), (e: unknown) => {
      assert.ok(e instanceof ConnectionFileError, `ConnectionFileError expected, got ${String(e)}`);
      assert.equal(e.path, truncated);
      assert.ok(e.message.includes(truncated), e.message);
      return true;
    });
    const empty = join(root, 'empty-client.json');
    writeFileSync(empty, '', { mode: 0o600 });
    await assert.rejects(
      Client.connect({ connectionFile: empty }),
      (e: unknown) => e instanceof ConnectionFileError && e.path === empty && e.message.includes(empty),
    );
  });

  test('a connection file with a bad field rejects with ConnectionFileError naming the file and the field', async () => {
    const badPort = writeVariant('bad-port-client.json', (f) => ({ ...f, port: 'x' }));
    await assert.rejects(Client.connect({ connectionFile: badPort }), (e: unknown) => {
      assert.ok(e instanceof ConnectionFileError, `ConnectionFileError expected, got ${String(e)}`);
      assert.equal(e.path, badPort);
      assert.equal(e.field, 'port');
      assert.ok(e.message.includes(badPort), e.message);
      assert.match(e.message, /port/);
      return true;
    });
    const badKey = writeVariant('bad-key-client.json', (f) => ({ ...f, key: 'not hex at all' }));
    await assert.rejects(
      Client.connect({ connectionFile: badKey }),
      (e: unknown) => e instanceof ConnectionFileError && e.field === 'key' && e.message.includes(badKey),
    );
    const noIp = writeVariant('no-ip-client.json', (f) => {
      const { ip: _ip, ...rest } = f;
      return rest;
    });
    await assert.rejects(
      Client.connect({ connectionFile: noIp }),
      (e: unknown) => e instanceof ConnectionFileError && e.field === 'ip' && e.message.includes(noIp),
    );
  });

  test('starting a second cluster with the same profile and cluster id rejects with ClusterAlreadyRunning naming the controller pid', async () => {
    assert.ok(cluster);
    const stateBefore = readState(root, PROFILE, CLUSTER_ID);
    assert.ok(stateBefore);
    await assert.rejects(Cluster.start({ n: 1, profile: PROFILE, clusterId: CLUSTER_ID }), (e: unknown) => {
      assert.ok(e instanceof ClusterAlreadyRunning, `ClusterAlreadyRunning expected, got ${String(e)}`);
      assert.ok(e.message.includes(String(cluster!.controllerPid)), `the message names controller pid ${cluster!.controllerPid}: ${e.message}`);
      return true;
    });
    // the running cluster is untouched: same files, same pids, still serving
    assert.equal(readClientFile().controller_pid, cluster.controllerPid);
    assert.deepEqual(readState(root, PROFILE, CLUSTER_ID), stateBefore);
    assert.deepEqual(await rc.loadBalancedView().map((x: number) => x + 1, [1, 2]), [2, 3]);
  });

  test('garbage and wrongly signed messages on the client port never run code, are counted as dropped, and the cluster keeps serving', async () => {
    const info = readClientFile();
    const wrongKey = otherKey(info.key);
    const forgedMarker = join(root, 'forged-ran');
    const tamperedMarker = join(root, 'tampered-ran');
    const controlMarker = join(root, 'control-ran');
    const before = (await rc.stats()).dropped;

    const sock = new Dealer({ linger: 0 });
    const inbox = new Inbox(sock);
    /** the content of the reply to `msgId` on the raw socket */
    const receiveReplyTo = async (msgId: string): Promise<Record<string, unknown>> =>
      (await inbox.waitFor(msgId, undefined, 30000)).content as Record<string, unknown>;
    try {
      sock.connect(`tcp://${info.ip}:${info.port}`);
      const forged = writeMarkerRequest(wrongKey, forgedMarker, 'forged');
      // correctly signed, then its function swapped for another: the signature no longer matches
      const tampered = message(info.key, 'apply_request', { kind: 'apply' }, { route: 'lb' }, []);
      const tamperedBody = Buffer.from(
        JSON.stringify({ kind: 'execute', code: `require('node:fs').writeFileSync(${JSON.stringify(tamperedMarker)}, 'x')` }),
      );
      tampered.frames[5] = tamperedBody;
      const unsigned = message(
        info.key,
        'apply_request',
        { kind: 'execute', code: `require('node:fs').writeFileSync(${JSON.stringify(forgedMarker)}, 'x')` },
        { route: 'lb' },
      );
      unsigned.frames[1] = Buffer.alloc(0);

      const framing = [[Buffer.from('garbage')], [randomBytes(32), randomBytes(1000), randomBytes(3)], [DELIMITER, Buffer.from('too few frames')]];
      const badSignature = [
        [DELIMITER, Buffer.from('not-a-signature'), Buffer.from('{'), Buffer.from('}'), Buffer.from('[]'), Buffer.from('null')],
        unsigned.frames,
        tampered.frames,
        forged.frames,
      ];
      for (const f of framing) await sock.send(f);
      for (const f of badSignature) await sock.send(f);

      // a correctly signed request sent last on the same connection: once it has
      // run, the controller has handled (and dropped) everything sent before it
      const control = writeMarkerRequest(info.key, controlMarker, 'x');
      await sock.send(control.frames);
      const reply = await receiveReplyTo(control.msgId);
      assert.equal(reply.status, 'ok', `the well-formed control request ran: ${JSON.stringify(reply)}`);
      assert.equal(readFileSync(controlMarker, 'utf8'), 'x');

      const afterBad = (await rc.stats()).dropped;
      assert.deepEqual(delta(afterBad, before), { 'client.framing': framing.length, 'client.signature': badSignature.length });

      // a replay of the accepted request is refused too
      await sock.send(control.frames);
      const second = writeMarkerRequest(info.key, controlMarker, 'y');
      await sock.send(second.frames);
      assert.equal((await receiveReplyTo(second.msgId)).status, 'ok');
      assert.equal(readFileSync(controlMarker, 'utf8'), 'xy', 'the replayed request did not run again');
      assert.deepEqual(delta((await rc.stats()).dropped, afterBad), { 'client.replay': 1 });
    } finally {
      sock.close();
    }

    // the cluster still serves, and the forged code never ran anywhere
    assert.deepEqual(
      await rc.loadBalancedView().map((x: number) => x * 2, range(20)),
      range(20).map((x) => x * 2),
    );
    const stats = await rc.stats();
    assert.equal(stats.engines, 2);
    assert.equal(existsSync(forgedMarker), false, 'the wrongly signed request must never run');
    assert.equal(existsSync(tamperedMarker), false, 'the tampered request must never run');
  });
});
