/**
 * Channels and shared queues on a tscluster cluster (issue 14 item 4).
 * ipyparallel has neither, so these rows are tscluster's alone (its column
 * '-'); each row's note names the target.
 *
 * - `channel_roundtrip_ms`: a value sent to an echoing channel function and
 *   its echo received, one at a time (median);
 * - `channel_stream_items_per_s`: small values (integers) streamed engine ->
 *   client, each send awaited by the function (flow control: window 1,000);
 * - `channel_stream_to_engine_items_per_s`: the same client -> engine, until
 *   the function returns the count after the client closed the channel;
 * - `queue_put_get_pairs_per_s`: one client puts a value on a shared queue and
 *   gets it back, each call awaited before the next (two round trips a pair);
 * - `queue_put_get_pipelined_pairs_per_s`: the same with 1,000 pairs in
 *   flight at once (all puts and gets of a batch sent, then awaited);
 * - `channel_100MB_MBps`: a Float64Array sent through a channel to the
 *   function, timed until its reply (the array's length) comes back.
 */
import type { Channel, Client } from '../index.js';
import type { Workload } from './report.js';
import { log, median, rate, sample } from './util.js';

export const STREAM_WORKLOADS: Record<string, Workload> = {
  channel_roundtrip_ms: { unit: 'ms', better: 'lower' },
  channel_stream_items_per_s: { unit: 'items/s', better: 'higher' },
  channel_stream_to_engine_items_per_s: { unit: 'items/s', better: 'higher' },
  queue_put_get_pairs_per_s: { unit: 'pairs/s', better: 'higher' },
  queue_put_get_pipelined_pairs_per_s: { unit: 'pairs/s', better: 'higher' },
  channel_100MB_MBps: { unit: 'MB/s', better: 'higher' },
};

const ONLY = 'tscluster only (ipyparallel has no channels or shared queues)';

/** The note of each row: what it measures where the name does not say, and the target. */
export const STREAM_NOTES: Record<string, string> = {
  channel_roundtrip_ms: `${ONLY}; target <= 0.3 ms`,
  channel_stream_items_per_s: `${ONLY}; engine -> client; target >= 100,000 items/s`,
  channel_stream_to_engine_items_per_s: `${ONLY}; client -> engine; target >= 100,000 items/s`,
  queue_put_get_pairs_per_s: `${ONLY}; each put and get awaited in turn; target >= 20,000 pairs/s`,
  queue_put_get_pipelined_pairs_per_s: `${ONLY}; 1,000 pairs in flight; target >= 20,000 pairs/s`,
  channel_100MB_MBps: `${ONLY}; client -> engine, until its reply; target >= 800 MB/s`,
};

export interface StreamSizes {
  reps: number;
  /** round trips of channel_roundtrip_ms */
  channelSamples: number;
  /** values of each channel stream */
  streamItems: number;
  /** put+get pairs of each queue workload */
  queuePairs: number;
  /** megabytes of channel_100MB_MBps */
  channelMB: number;
}

/** In flight at once in queue_put_get_pipelined_pairs_per_s. */
const QUEUE_BATCH = 1000;

const echo = async (ch: Channel): Promise<void> => {
  for await (const x of ch) await ch.send(x);
};

async function channelRoundTrip(rc: Client, z: StreamSizes, out: Record<string, number>): Promise<void> {
  log('tscluster: channel round trips');
  const ch = rc.directView(rc.ids[0]!).channel(echo);
  for (let i = 0; i < 200; i++) {
    await ch.send(i);
    await ch.receive();
  }
  out.channel_roundtrip_ms = median(
    await sample(z.channelSamples, async (i) => {
      await ch.send(i);
      if ((await ch.receive()) !== i) throw new Error('the channel echoed another value');
    }),
  );
  ch.close();
  await ch.waitClose();
}

async function channelStreams(rc: Client, z: StreamSizes, out: Record<string, number>): Promise<void> {
  const d0 = rc.directView(rc.ids[0]!);
  const n = z.streamItems;
  log(`tscluster: channel stream of ${n} values, engine -> client`);
  out.channel_stream_items_per_s = await rate(z.reps, n, async () => {
    const ch = d0.channel(async (ch: Channel, n: number) => {
      for (let i = 0; i < n; i++) await ch.send(i);
    }, n);
    let k = 0;
    for await (const x of ch) if (x === k) k++;
    if (k !== n) throw new Error(`the stream brought ${k} values in order, not ${n}`);
    await ch.waitClose();
  });
  log(`tscluster: channel stream of ${n} values, client -> engine`);
  out.channel_stream_to_engine_items_per_s = await rate(z.reps, n, async () => {
    const ch = d0.channel(async (ch: Channel) => {
      let k = 0;
      for await (const x of ch) if (x === k) k++;
      return k;
    });
    for (let i = 0; i < n; i++) await ch.send(i);
    ch.close(); // the function's loop ends after the values sent
    const k = await ch.waitClose();
    if (k !== n) throw new Error(`the function read ${k} values in order, not ${n}`);
  });
}

async function queuePairs(rc: Client, z: StreamSizes, out: Record<string, number>): Promise<void> {
  const q = rc.queue<number>('bench-queue');
  const n = z.queuePairs;
  log(`tscluster: ${n} queue put+get pairs, one at a time`);
  out.queue_put_get_pairs_per_s = await rate(z.reps, n, async () => {
    for (let i = 0; i < n; i++) {
      await q.put(i);
      if ((await q.get()) !== i) throw new Error('the queue gave another value');
    }
  });
  log(`tscluster: ${n} queue put+get pairs, ${QUEUE_BATCH} in flight`);
  out.queue_put_get_pipelined_pairs_per_s = await rate(z.reps, n, async () => {
    for (let done = 0; done < n; done += QUEUE_BATCH) {
      const k = Math.min(QUEUE_BATCH, n - done);
      const puts: Promise<void>[] = [];
      const gets: Promise<number>[] = [];
      for (let i = 0; i < k; i++) {
        puts.push(q.put(done + i));
        gets.push(q.get());
      }
      await Promise.all(puts);
      const got = await Promise.all(gets);
      if (got.some((v, i) => v !== done + i)) throw new Error('the queue gave values out of order');
    }
  });
  await q.delete();
}

async function channelBulk(rc: Client, z: StreamSizes, out: Record<string, number>): Promise<void> {
  log(`tscluster: a ${z.channelMB} MB Float64Array through a channel`);
  const big = new Float64Array((z.channelMB * 1024 * 1024) / 8);
  for (let i = 0; i < big.length; i += 4096) big[i] = i;
  const ch = rc.directView(rc.ids[0]!).channel(async (ch: Channel) => {
    for await (const x of ch) await ch.send((x as Float64Array).length);
  });
  out.channel_100MB_MBps = await rate(z.reps, z.channelMB, async () => {
    await ch.send(big);
    if ((await ch.receive()) !== big.length) throw new Error('the function got an array of another length');
  });
  ch.close();
  await ch.waitClose();
}

/** Run every stream workload on a running cluster (its first engine); values keyed like STREAM_WORKLOADS. */
export async function benchStreams(rc: Client, z: StreamSizes, out: Record<string, number>): Promise<void> {
  // a client checks each engine's endpoints as it hears of it; until then channels go through the controller
  for (let i = 0; i < 100 && rc.directData !== null && rc.directData.links < rc.ids.length; i++) await new Promise((r) => setTimeout(r, 50));
  await channelRoundTrip(rc, z, out);
  await channelStreams(rc, z, out);
  await queuePairs(rc, z, out);
  await channelBulk(rc, z, out);
}
