/**
 * protocol/endpoint.ts on real ZeroMQ sockets in this process (a ROUTER bound
 * on a random loopback port, DEALERs connected to it): request() and the
 * reply that settles it, forward() keeping a message's signature, what is
 * dropped (and counted by `<peer>.<reason>`, never reaching onMessage), parse(),
 * and the rejection of pending requests.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { Dealer, Router } from 'zeromq';
import { InvalidRequest, ProtocolError, TimeoutError } from '../../errors/index.js';
import { DELIMITER, Endpoint, PACK_MAGIC, Signer, pack } from '../../protocol/index.js';
import type { Incoming, Message } from '../../protocol/index.js';
import { Rng, framesOf, otherKey, parts, rawHeader, signedFrames, waitFor } from '../support/index.js';

const KEY = new Rng(7).bytes(32).toString('hex');

/** An endpoint and everything it handed on. */
interface Side {
  ep: Endpoint;
  got: Incoming[];
  drops: unknown[];
}

const opened: Endpoint[] = [];
const rawSockets: Dealer[] = [];

afterEach(() => {
  for (const ep of opened.splice(0)) ep.close();
  for (const s of rawSockets.splice(0)) s.close();
});

function side(socket: Router | Dealer, peer: string, router: boolean, key = KEY): Side {
  const got: Incoming[] = [];
  const drops: unknown[] = [];
  const ep = new Endpoint({ peer, socket, router, key, onMessage: (m) => got.push(m), onDrop: (err) => drops.push(err) });
  ep.start();
  opened.push(ep);
  return { ep, got, drops };
}

/** A ROUTER endpoint (its peers are clients) bound on a random loopback port, and its address. */
async function hub(): Promise<Side & { address: string }> {
  const router = new Router({ linger: 0 });
  await router.bind('tcp://127.0.0.1:0');
  assert.ok(router.lastEndpoint, 'the router is bound');
  return { ...side(router, 'client', true), address: router.lastEndpoint };
}

/** A DEALER endpoint (its peer is the controller) connected to `address`. */
function peer(address: string, routingId?: string): Side {
  const dealer = new Dealer({ linger: 0, ...(routingId === undefined ? {} : { routingId }) });
  dealer.connect(address);
  return side(dealer, 'controller', false);
}

/** A DEALER without an endpoint, to send frames as they are. */
function rawDealer(address: string): Dealer {
  const d = new Dealer({ linger: 0 });
  d.connect(address);
  rawSockets.push(d);
  return d;
}

/** Wait for the `n`th message handed to a side's onMessage. */
function nth(s: Side, n: number, what = `message ${n}`): Promise<Incoming> {
  return waitFor(what, () => s.got[n - 1], { timeoutMs: 5000, intervalMs: 5 });
}

const parentId = (m: Message): string | undefined => ('msg_id' in m.parent ? m.parent.msg_id : undefined);

describe('Endpoint.request', () => {
  test('resolves with the reply its request type expects; the reply never reaches onMessage', async () => {
    const h = await hub();
    const c = peer(h.address);
    const pending = c.ep.request('purge_request', { all: true }, 5000);
    assert.equal(c.ep.pendingRequests, 1);
    const req = await nth(h, 1, 'the request at the hub');
    const parsed = h.ep.parse(req);
    assert.ok(parsed?.type === 'purge_request', `a purge_request: ${parsed?.type}`);
    assert.deepEqual(parsed.content, { all: true });
    h.ep.send(req.identity, 'purge_reply', { purged: 3 }, { parent: req.header });

    // typed by the request: a purge_request resolves with a purge_reply
    const reply: Message<'purge_reply'> = await pending;
    assert.equal(reply.type, 'purge_reply');
    assert.equal(reply.content.purged, 3);
    assert.equal(parentId(reply), req.header.msg_id);
    assert.equal(c.ep.pendingRequests, 0);
    assert.deepEqual(c.got, [], 'the reply settled the request and was not handed on');
    assert.deepEqual(c.ep.dropped, {});
  });

  test('an error_reply rejects it with InvalidRequest carrying ename, evalue and the request msg_id', async () => {
    const h = await hub();
    const c = peer(h.address);
    const pending = c.ep.request('abort_request', { msg_ids: ['x'] }, 5000);
    const req = await nth(h, 1);
    h.ep.send(req.identity, 'error_reply', { ename: 'InvalidRequest', evalue: 'msg_ids: unknown task x' }, { parent: req.header });
    await assert.rejects(pending, (e: unknown) => {
      assert.ok(e instanceof InvalidRequest, `InvalidRequest expected, got ${String(e)}`);
      assert.equal(e.ename, 'InvalidRequest');
      assert.equal(e.evalue, 'msg_ids: unknown task x');
      assert.equal(e.msgId, req.header.msg_id);
      assert.equal(e.engineId, null);
      return true;
    });
    assert.equal(c.ep.pendingRequests, 0);
    assert.deepEqual(c.got, []);
  });

  test('a reply of another type rejects it with ProtocolError (schema) naming both types', async () => {
    const h = await hub();
    const c = peer(h.address);
    const pending = c.ep.request('purge_request', {}, 5000);
    const req = await nth(h, 1);
    h.ep.send(req.identity, 'abort_reply', { aborted: 1 }, { parent: req.header });
    await assert.rejects(pending, (e: unknown) => {
      assert.ok(e instanceof ProtocolError, `ProtocolError expected, got ${String(e)}`);
      assert.equal(e.reason, 'schema');
      assert.match(e.message, /a abort_reply answered a request that expects a purge_reply/);
      return true;
    });
    assert.equal(c.ep.pendingRequests, 0);
  });

  test('no reply within timeoutMs rejects it with TimeoutError; a reply arriving later is an ordinary message', async () => {
    const h = await hub();
    const c = peer(h.address);
    const t0 = Date.now();
    await assert.rejects(c.ep.request('stats_request', {}, 150), (e: unknown) => {
      assert.ok(e instanceof TimeoutError, `TimeoutError expected, got ${String(e)}`);
      assert.equal(e.message, 'no stats_reply from the controller within 150 ms');
      return true;
    });
    assert.ok(Date.now() - t0 >= 140, `rejected after ${Date.now() - t0} ms`);
    assert.equal(c.ep.pendingRequests, 0);
    const req = await nth(h, 1);
    const late = h.ep.send(
      req.identity,
      'stats_reply',
      { dropped: {}, tasks: { submitted: 0, completed: 0, pending: 0 }, engines: 0, clients: 1 },
      { parent: req.header },
    );
    const m = await nth(c, 1, 'the late reply');
    assert.equal(m.header.msg_id, late.msg_id);
    assert.equal(m.header.msg_type, 'stats_reply');
  });

  test('a reply that fails its schema is dropped and counted; the request stays pending until its timeout', async () => {
    const h = await hub();
    const c = peer(h.address);
    const pending = c.ep.request('purge_request', {}, 600);
    const req = await nth(h, 1);
    // a negative count: send() does not check content, the receiver does
    h.ep.send(req.identity, 'purge_reply', { purged: -1 }, { parent: req.header });
    await waitFor('the bad reply dropped', () => c.ep.dropped['controller.schema'] === 1, { timeoutMs: 5000, intervalMs: 5 });
    assert.equal(c.ep.pendingRequests, 1, 'still waiting for a valid reply');
    await assert.rejects(pending, TimeoutError);
    assert.deepEqual(c.got, []);
    assert.equal(c.drops.length, 1);
    assert.ok(c.drops[0] instanceof ProtocolError && c.drops[0].reason === 'schema', String(c.drops[0]));
  });

  test('failRequests rejects every pending request with the error given; rejectRequest of an unknown msg_id is false', async () => {
    const h = await hub();
    const c = peer(h.address);
    const a = c.ep.request('stats_request', {}, 60000);
    const b = c.ep.request('queue_request', {}, Infinity);
    await nth(h, 2, 'both requests at the hub');
    assert.equal(c.ep.pendingRequests, 2);
    const gone = new Error('connection lost');
    c.ep.failRequests(gone);
    assert.equal(c.ep.pendingRequests, 0);
    await assert.rejects(a, (e: unknown) => e === gone);
    await assert.rejects(b, (e: unknown) => e === gone);
    assert.equal(c.ep.rejectRequest('no-such-request', gone), false);
  });

  test('rejectRequest settles one pending request only', async () => {
    const h = await hub();
    const c = peer(h.address);
    const a = c.ep.request('stats_request', {}, 60000);
    const b = c.ep.request('stats_request', {}, 60000);
    const [ra, rb] = [await nth(h, 1), await nth(h, 2)];
    assert.equal(c.ep.rejectRequest(ra.header.msg_id, new Error('auth_error')), true);
    await assert.rejects(a, /auth_error/);
    assert.equal(c.ep.pendingRequests, 1);
    h.ep.send(
      rb.identity,
      'stats_reply',
      { dropped: {}, tasks: { submitted: 0, completed: 0, pending: 0 }, engines: 0, clients: 1 },
      { parent: rb.header },
    );
    assert.equal((await b).content.clients, 1);
  });
});

describe('Endpoint.forward', () => {
  test('passes a message on with its signature unchanged; the receiver verifies it (and refuses it tampered or replayed)', async () => {
    const h = await hub();
    const a = peer(h.address, 'client-a');
    const b = peer(h.address, 'engine-b');
    // b speaks first, so the hub knows its routing identity
    b.ep.send(undefined, 'heartbeat', {});
    const hello = await nth(h, 1, "b's heartbeat");
    assert.equal(hello.identity?.toString(), 'engine-b');
    const sent = a.ep.send(undefined, 'stats_request', {});
    const m = await nth(h, 2, "a's request at the hub");
    assert.equal(m.identity?.toString(), 'client-a');
    h.ep.forward(hello.identity, m.raw);

    const at = await nth(b, 1, 'the forwarded message at b');
    assert.equal(at.header.msg_id, sent.msg_id);
    assert.ok(at.raw.signature.equals(m.raw.signature), 'the same signature');
    for (const f of ['header', 'parent', 'metadata', 'content'] as const) assert.ok(at.raw[f].equals(m.raw[f]), `the same ${f} frame`);
    assert.equal(b.ep.parse(at)?.type, 'stats_request');
    assert.deepEqual(b.ep.dropped, {});

    // the receiver checks what it is given: changed content, or the same message again, is dropped
    h.ep.forward(hello.identity, { ...m.raw, content: Buffer.from('{"changed":true}') });
    h.ep.forward(hello.identity, m.raw);
    const last = h.ep.send(hello.identity, 'heartbeat', {});
    const after = await nth(b, 2, 'the heartbeat sent after them');
    assert.equal(after.header.msg_id, last.msg_id);
    assert.deepEqual(b.ep.dropped, { 'controller.signature': 1, 'controller.replay': 1 });
    assert.equal(b.got.length, 2);
  });
});

describe('dropped messages', () => {
  test('wrongly signed, unsigned, replayed, unparseable, oversized and unframed messages are dropped, counted by <peer>.<reason>, and never reach onMessage', async () => {
    const h = await hub();
    const sock = rawDealer(h.address);
    const signer = new Signer(KEY);
    const wrong = new Signer(otherKey(KEY));

    const good = parts('stats_request', {});
    const goodFrames = signedFrames(signer, good);
    const badHeader = { ...parts('stats_request', {}), header: Buffer.from('{"msg_id": "x", ') };
    const emptyId = { ...parts('stats_request', {}), header: Buffer.from(JSON.stringify({ ...rawHeader('stats_request'), msg_id: '' })) };
    const bigHeader = {
      ...parts('stats_request', {}),
      header: Buffer.from(JSON.stringify({ ...rawHeader('stats_request'), username: 'x'.repeat(70000) })),
    };
    const unsigned = parts('stats_request', {});
    const wronglySigned = parts('stats_request', {});
    const cases: [string, Buffer[]][] = [
      ['the good message', goodFrames],
      ['signature: another key', signedFrames(wrong, wronglySigned)],
      ['signature: none', framesOf(unsigned, Buffer.alloc(0))],
      ['replay', goodFrames],
      ['json: a header that is not JSON', signedFrames(signer, badHeader)],
      ['schema: an empty msg_id', signedFrames(signer, emptyId)],
      ['size: a header over 64 KiB', signedFrames(signer, bigHeader)],
      ['framing: no delimiter', [Buffer.from('garbage'), Buffer.from('more')]],
      ['framing: too few frames', [DELIMITER, Buffer.from('sig')]],
      ['framing: a broken packed message', [Buffer.concat([PACK_MAGIC, Buffer.from([1]), Buffer.from([255, 255, 255, 255])])]],
    ];
    for (const [, frames] of cases) await sock.send(frames);
    const sync = parts('stats_request', {});
    await sock.send(signedFrames(signer, sync));
    await nth(h, 2, 'the last message');

    assert.deepEqual(
      h.got.map((m) => m.header.msg_id),
      [good.msgId, sync.msgId],
      'only the well-formed messages reach onMessage',
    );
    assert.deepEqual(h.ep.dropped, {
      'client.signature': 2,
      'client.replay': 1,
      'client.json': 1,
      'client.schema': 1,
      'client.size': 1,
      'client.framing': 3,
    });
    assert.equal(h.drops.length, 9, 'onDrop told of each');
    assert.ok(h.drops.every((e) => e instanceof ProtocolError));
  });

  test('messages packed together are verified one by one: the bad ones in a batch are dropped, the good ones arrive', async () => {
    const h = await hub();
    const sock = rawDealer(h.address);
    const signer = new Signer(KEY);
    const first = parts('stats_request', {});
    const second = parts('queue_request', {});
    await sock.send(pack([signedFrames(signer, first), framesOf(parts('stats_request', {}), Buffer.from('forged')), signedFrames(signer, second)]));
    await nth(h, 2);
    assert.deepEqual(
      h.got.map((m) => m.header.msg_type),
      ['stats_request', 'queue_request'],
    );
    assert.deepEqual(h.ep.dropped, { 'client.signature': 1 });
  });

  test('endpoints sharing a session share one replay history: a message accepted by one is a replay at the other', async () => {
    const first = await hub();
    const router = new Router({ linger: 0 });
    await router.bind('tcp://127.0.0.1:0');
    const got: Incoming[] = [];
    const shared = new Endpoint({ peer: 'engine', socket: router, router: true, key: KEY, session: first.ep.session, onMessage: (m) => got.push(m) });
    shared.start();
    opened.push(shared);
    const separate = await hub();

    const frames = signedFrames(new Signer(KEY), parts('heartbeat', {}));
    await rawDealer(first.address).send(frames);
    await nth(first, 1);
    await rawDealer(router.lastEndpoint!).send(frames);
    await rawDealer(separate.address).send(frames);
    await nth(separate, 1, 'the message at the endpoint with a session of its own');
    await waitFor('the replay dropped', () => shared.dropped['engine.replay'] === 1, { timeoutMs: 5000, intervalMs: 5 });
    assert.deepEqual(got, []);
    assert.deepEqual(first.ep.dropped, {});
    assert.deepEqual(separate.ep.dropped, {});
  });
});

describe('Endpoint.parse', () => {
  test('validates the content against its msg_type: a valid message is typed, an invalid one is dropped, counted and told to onInvalid', async () => {
    const h = await hub();
    const sock = rawDealer(h.address);
    const signer = new Signer(KEY);
    await sock.send(signedFrames(signer, parts('purge_request', { msg_ids: ['a', 'b'] })));
    await sock.send(signedFrames(signer, parts('purge_request', { msg_ids: 5 })));
    await sock.send(signedFrames(signer, parts('no_such_type', {})));
    await sock.send(signedFrames(signer, parts('purge_request', {}, { metadata: [1, 2] })));
    await nth(h, 4);
    assert.deepEqual(h.ep.dropped, {}, 'each passed verification: only parse reads the rest');

    const ok = h.ep.parse(h.got[0]!);
    assert.ok(ok?.type === 'purge_request');
    assert.deepEqual(ok.content.msg_ids, ['a', 'b']);
    assert.equal(ok.identities.length, 1, 'a ROUTER message keeps its identity');

    // tryParse returns what is wrong (not counted); parse drops and counts it
    const invalid = h.got
      .slice(1)
      .map((m) => h.ep.tryParse(m))
      .filter((r): r is ProtocolError => r instanceof ProtocolError);
    assert.deepEqual(h.ep.dropped, {}, 'tryParse counts nothing');
    for (const m of h.got.slice(1)) assert.equal(h.ep.parse(m), undefined, m.header.msg_type);
    assert.equal(invalid.length, 3);
    assert.ok(invalid.every((e) => e instanceof ProtocolError && e.reason === 'schema'));
    assert.match(invalid[0]!.message, /invalid purge_request content: msg_ids/);
    assert.match(invalid[1]!.message, /unknown msg_type 'no_such_type'/);
    assert.match(invalid[2]!.message, /metadata is not a JSON object/);
    assert.deepEqual(h.ep.dropped, { 'client.schema': 3 });
  });
});
