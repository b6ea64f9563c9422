/**
 * What rides out a controller restart, without processes: an engine's recent
 * replies (engine/sent.ts: kept until the controller has spoken well after
 * them, bounded) and a client's sent, unsettled requests (client/resend.ts: a
 * broadcast kept per target, so each can be sent again alone).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SentReplies } from '../../engine/sent.js';
import type { KeptReply } from '../../engine/sent.js';
import { SentRequests } from '../../client/resend.js';

const reply = (bytes = 0): KeptReply => ({
  parent: Buffer.from('{}'),
  content: { status: 'ok' as const },
  metadata: { engine_id: 0, engine_uuid: 'u', status: 'ok' as const, started: null, completed: null },
  buffers: bytes > 0 ? [Buffer.alloc(bytes)] : [],
});

describe('SentReplies', () => {
  test('keeps replies sent after the cut-off, oldest first; forgets older ones', () => {
    const s = new SentReplies();
    s.keep('a', reply(), 1000);
    s.keep('b', reply(), 2000);
    s.keep('c', reply(), 3000);
    assert.deepEqual(s.ids(), ['a', 'b', 'c']);
    s.prune(2000);
    assert.deepEqual(s.ids(), ['b', 'c']);
    assert.equal(s.get('a'), undefined);
    assert.deepEqual(s.get('b')?.content, { status: 'ok' });
  });

  test('bounded by bytes: 300 replies of 1 MiB keep at most 256 MiB, the newest', () => {
    const s = new SentReplies();
    for (let i = 0; i < 300; i++) s.keep(`r${i}`, reply(1024 * 1024), i);
    const ids = s.ids();
    assert.ok(ids.length <= 256 && ids.length >= 250, `${ids.length} kept`);
    assert.equal(ids.at(-1), 'r299');
  });
});

describe('SentRequests', () => {
  test('a single request is kept under its id until settled', () => {
    const s = new SentRequests();
    s.note('x', { kind: 'apply' } as never, { route: 'lb' }, []);
    assert.deepEqual(s.ids(), ['x']);
    s.settled('x');
    assert.deepEqual(s.ids(), []);
  });

  test('a broadcast is kept per target: each with targets [t] and no fanout, the payload shared', () => {
    const s = new SentRequests();
    const payload = [Buffer.from('payload')];
    s.note('carrier', { kind: 'apply' } as never, { route: 'direct', targets: [3, 5], fanout: ['i3', 'i5'] }, payload);
    assert.deepEqual(s.ids(), ['i3', 'i5']);
    const got = s.get(['i5']);
    assert.equal(got.length, 1);
    const five = got[0]!;
    assert.deepEqual(five.metadata, { route: 'direct', targets: [5] });
    assert.equal(five.msgId, 'i5');
    assert.equal(five.buffers, payload);
    s.settled('i3');
    assert.deepEqual(s.ids(), ['i5']);
  });
});
