/**
 * A streaming pipeline over two engines: client -> engine A -> engine B ->
 * client. The client streams numbers over a channel to engine A, which
 * squares each and puts it on the shared queue `pipeline`; engine B runs a
 * channel function that takes from that queue, adds one and sends each result
 * back over its own channel. The client reads while it sends, then checks
 * that every result arrived once and in order.
 *
 *   node dist/examples/pipeline.js [--count 2000] [--profile P] [--cluster-id ID]
 */
import { parseArgs } from 'node:util';
import type { Channel, SharedObjects } from '../index.js';
import { connect, count, fail } from './connect.js';

/** the global of remote code: the cluster's shared objects */
declare const tscluster: SharedObjects;

/** Stage 1, on engine A: square every number that arrives, onto the queue; close the queue when the client closes the channel. */
async function square(ch: Channel, queue: string): Promise<number> {
  const q = tscluster.queue<number>(queue, { maxsize: 500 });
  let done = 0;
  for await (const x of ch) {
    await q.put((x as number) ** 2); // waits while 500 are queued: stage 2 sets the pace
    done++;
  }
  await q.close(); // stage 2 drains what is left, then its get rejects with QueueClosed
  return done;
}

/** Stage 2, on engine B: take from the queue until it is closed and drained, add one, send to the client. */
async function increment(ch: Channel, queue: string): Promise<number> {
  const q = tscluster.queue<number>(queue, { maxsize: 500 });
  let done = 0;
  for (;;) {
    let y: number;
    try {
      y = await q.get();
    } catch (e) {
      if ((e as Error).name === 'QueueClosed') return done; // returning closes the channel: the client's for await ends
      throw e;
    }
    await ch.send(y + 1);
    done++;
  }
}

function itemCount(): number {
  const { values } = parseArgs({ strict: false, options: { count: { type: 'string', default: '2000' } } });
  const n = Number(values.count);
  if (!Number.isInteger(n) || n < 1) fail(`--count takes a whole number >= 1, got ${String(values.count)}`);
  return n;
}

async function main(): Promise<void> {
  const n = itemCount();
  const rc = await connect();
  // an engine runs one task at a time, and each stage runs until the stream ends: two engines
  if (rc.ids.length < 2) fail(`the pipeline needs 2 engines, ${rc.ids.length} registered`);
  const [a, b] = rc.ids as [number, number];
  await rc.queue('pipeline').delete(); // a closed queue from an earlier run takes no more puts
  const t0 = performance.now();
  const out = rc.directView(b).channel(increment, 'pipeline');
  const into = rc.directView(a).channel(square, 'pipeline');
  const sending = (async () => {
    for (let i = 0; i < n; i++) await into.send(i);
    into.close(); // stage 1's for await ends once it has read everything sent
  })();
  const got: unknown[] = [];
  for await (const y of out) got.push(y);
  await sending;
  const [squared, incremented] = await Promise.all([into.waitClose(), out.waitClose()]);
  const s = ((performance.now() - t0) / 1000).toFixed(2);
  await rc.queue('pipeline').delete();
  await rc.close();
  const bad = got.findIndex((y, i) => y !== i * i + 1);
  if (got.length !== n) fail(`${count(n)} numbers sent, ${count(got.length)} results came back`);
  if (bad >= 0) fail(`result ${bad} is ${String(got[bad])}, not ${bad * bad + 1}`);
  console.log(`engine ${a} squared ${count(squared)} numbers, engine ${b} added one to ${count(incremented)}, in ${s} s`);
  console.log(`${count(n)} results came back in order, each i*i+1, none missing or twice`);
}

await main();
