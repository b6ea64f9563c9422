/**
 * A work queue: this client fills the shared queue `jobs` with numbers to
 * factor, a consumer on every engine takes jobs until the queue is closed and
 * puts `{ n, factors }` on the shared queue `results`, and another client
 * process, `work-queue-reader` (started on its own, as on another machine),
 * reads and checks the results.
 *
 *   node dist/examples/work-queue-reader.js &      # any time before or after
 *   node dist/examples/work-queue.js [--profile P] [--cluster-id ID]
 */
import type { SharedObjects } from '../index.js';
import { connect, count, fail } from './connect.js';

/** the global of remote code: the cluster's shared objects */
declare const tscluster: SharedObjects;

/** how many numbers to factor */
const JOBS = 1000;

/** The numbers to factor: 1,000 of them from 10^10 up, odd and even, prime and not. */
function numbers(): number[] {
  return Array.from({ length: JOBS }, (_, i) => 10_000_000_000 + i * 7919);
}

/**
 * Runs on each engine (one task per engine): take jobs until the queue is
 * closed and drained, factor each by trial division, put the factors on
 * `results`. Returns how many jobs this engine did. Functions travel as
 * source text, so everything it uses is inside it.
 */
async function consume(): Promise<number> {
  const jobs = tscluster.queue<number>('jobs');
  const results = tscluster.queue<{ n: number; factors: number[] }>('results');
  let done = 0;
  for (;;) {
    let n: number;
    try {
      n = await jobs.get();
    } catch (e) {
      if ((e as Error).name === 'QueueClosed') return done;
      throw e;
    }
    const factors: number[] = [];
    let m = n;
    for (let p = 2; p * p <= m; p += p === 2 ? 1 : 2) {
      while (m % p === 0) {
        factors.push(p);
        m /= p;
      }
    }
    if (m > 1) factors.push(m);
    await results.put({ n, factors });
    done++;
  }
}

async function main(): Promise<void> {
  const rc = await connect();
  const dv = rc.directView();
  if (rc.ids.length === 0) fail('no engine is registered: start some with `tscluster start -n 4`');
  // a closed `jobs` queue from an earlier run takes no more puts: start from a fresh one
  await rc.queue('jobs').delete();
  const jobs = rc.queue<number>('jobs', { maxsize: 100 });
  await jobs.size(); // made here with its maxsize, before a consumer's first get could make it unbounded
  const consumers = dv.apply(consume);
  const t0 = performance.now();
  for (const n of numbers()) await jobs.put(n); // waits while 100 jobs are queued: the engines set the pace
  await jobs.close(); // the consumers drain what is left, then their get rejects with QueueClosed
  const perEngine = await consumers;
  const s = ((performance.now() - t0) / 1000).toFixed(2);
  const total = perEngine.reduce((a, b) => a + b, 0);
  await rc.queue('jobs').delete();
  if (total !== JOBS) fail(`the engines did ${total} jobs, not ${JOBS}`);
  const split = dv.targets.map((id, i) => `engine ${id}: ${perEngine[i]}`).join(', ');
  console.log(`put ${count(JOBS)} jobs on 'jobs'; ${rc.ids.length} engines factored them in ${s} s (${split})`);
  console.log(`the results are on 'results': read them with node dist/examples/work-queue-reader.js`);
  await rc.close();
}

await main();
