/**
 * Channel batching without processes (protocol/channel-batch.ts,
 * protocol/channel.ts, executor/channel-post.ts): a batch splits back into
 * its values, sends in one tick leave as one batch and a lone send before the
 * next macrotask, a batch never holds more than a window, close sends the
 * batch first, and a batch posted between threads keeps its frames.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromPosted, toPosted } from '../../executor/channel-post.js';
import { ChannelEnd, joinBatch, serialize, splitBatch } from '../../protocol/index.js';
import type { ChannelErrorWire, ValueBatch } from '../../protocol/index.js';

interface Sent {
  data: { seq: number; batch: ValueBatch }[];
  closed: (ChannelErrorWire | undefined)[];
}

function endWith(items: number): { end: ChannelEnd; sent: Sent } {
  const sent: Sent = { data: [], closed: [] };
  const end = new ChannelEnd({
    engineId: 0,
    window: { items, bytes: 1 << 30 },
    errorOf: (e) => new Error(e.evalue),
    transport: {
      data: (seq, batch) => sent.data.push({ seq, batch }),
      ack: () => undefined,
      close: (error) => sent.closed.push(error),
    },
  });
  return { end, sent };
}

const macrotask = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('channel batching', () => {
  test('a batch splits back into its values (one frame each, or several); a malformed one does not', () => {
    const a = Buffer.from('a');
    const b = [Buffer.from('b0'), Buffer.alloc(70000, 1)];
    const c = Buffer.from('c');
    assert.deepEqual(splitBatch(joinBatch([[a], [c]])), [[a], [c]]);
    assert.deepEqual(splitBatch(joinBatch([[a], b, [c]])), [[a], b, [c]]);
    assert.deepEqual(splitBatch(joinBatch([b])), [b]);
    assert.equal(splitBatch({ count: 2, buffers: [a] }), undefined);
    assert.equal(splitBatch({ count: 2, frames: [1, 2], buffers: [a, c] }), undefined);
  });

  test('awaited sends in one tick leave as one batch; a lone send leaves before the next macrotask', async () => {
    const { end, sent } = endWith(1000);
    for (let i = 0; i < 100; i++) await end.send(i);
    await macrotask();
    assert.deepEqual(
      sent.data.map((d) => [d.seq, d.batch.count]),
      [[1, 100]],
    );
    const other = endWith(1000);
    other.sent.data.length = 0;
    void other.end.send('alone');
    await macrotask();
    assert.deepEqual(
      other.sent.data.map((d) => [d.seq, d.batch.count]),
      [[1, 1]],
    );
  });

  test('a batch never holds more than a window of values; close sends the batch before the close', async () => {
    const { end, sent } = endWith(5);
    for (let i = 0; i < 12; i++) void end.send(i);
    end.close();
    assert.deepEqual(
      sent.data.map((d) => [d.seq, d.batch.count]),
      [
        [1, 5],
        [6, 5],
        [11, 2],
      ],
    );
    assert.deepEqual(sent.closed, [undefined]);
  });

  test('a receiver takes a batch in order, skipping values it has; one ahead of a gap waits until the gap is filled', async () => {
    const { end } = endWith(1000);
    const batchOf = (...xs: number[]): ValueBatch => joinBatch(xs.map((x) => serialize(x)));
    end.onData(1, batchOf(1, 2, 3));
    end.onData(2, batchOf(2, 3, 4));
    end.onData(6, batchOf(6, 7));
    assert.equal(end.buffered, 4, 'values 6 and 7 wait for 5');
    assert.equal(end.received, 4);
    end.onData(5, batchOf(5));
    assert.equal(end.buffered, 7);
    assert.equal(end.received, 7);
    const got: unknown[] = [];
    for (let i = 0; i < 7; i++) got.push(await end.receive());
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7]);
  });

  test('a batch posted between threads keeps its frames: small ones in one buffer, large ones on their own', () => {
    const small = [Buffer.from('x'), Buffer.from('yz')];
    const big = Buffer.alloc(70000, 7);
    const batch = joinBatch([[small[0]!], [small[1]!, big]]);
    const { batch: posted, transfer } = toPosted(batch);
    // the small frames' joint buffer is cloned with the message (cheaper than moving it); the large copy moves
    assert.equal(transfer.length, 1);
    assert.equal(transfer[0], posted.large[0]!.buffer);
    assert.equal(posted.large.length, 1);
    assert.notEqual(posted.large[0]!.buffer, big.buffer, 'a large frame that is not its own is copied');
    assert.deepEqual(splitBatch(fromPosted(posted)), [[small[0]], [small[1], big]]);
  });
});
