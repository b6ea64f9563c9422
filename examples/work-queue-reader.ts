/**
 * The second client of the work-queue example, a process of its own (as on
 * another machine): reads the factored numbers the engines put on the shared
 * queue `results`, checks each (the product of its factors is the number, and
 * each factor is prime) and prints a summary. Start it before, during or
 * after `work-queue`; each get waits up to `--timeout-s` (default 120) for
 * the next result.
 *
 *   node dist/examples/work-queue-reader.js [--count 1000] [--timeout-s 120] [--profile P] [--cluster-id ID]
 */
import { parseArgs } from 'node:util';
import { connect, count, fail } from './connect.js';

interface Factored {
  n: number;
  factors: number[];
}

function isPrime(p: number): boolean {
  if (!Number.isSafeInteger(p) || p < 2) return false;
  for (let d = 2; d * d <= p; d++) if (p % d === 0) return false;
  return true;
}

/** What is wrong with one result, or undefined when it is right. */
function check(r: Factored): string | undefined {
  const product = r.factors.reduce((a, b) => a * b, 1);
  if (product !== r.n) return `${r.n}: the factors ${r.factors.join(' * ')} make ${product}`;
  const bad = r.factors.find((p) => !isPrime(p));
  return bad === undefined ? undefined : `${r.n}: the factor ${bad} is not prime`;
}

function options(): { n: number; timeoutMs: number } {
  const { values } = parseArgs({
    strict: false,
    options: { count: { type: 'string', default: '1000' }, 'timeout-s': { type: 'string', default: '120' } },
  });
  const n = Number(values.count);
  const t = Number(values['timeout-s']);
  if (!Number.isInteger(n) || n < 1) fail(`--count takes a whole number >= 1, got ${String(values.count)}`);
  if (!(t > 0)) fail(`--timeout-s takes a number of seconds > 0, got ${String(values['timeout-s'])}`);
  return { n, timeoutMs: t * 1000 };
}

async function main(): Promise<void> {
  const { n, timeoutMs } = options();
  const rc = await connect();
  const results = rc.queue<Factored>('results');
  const seen = new Set<number>();
  const wrong: string[] = [];
  let factors = 0;
  for (let i = 0; i < n; i++) {
    let r: Factored;
    try {
      r = await results.get({ timeoutMs });
    } catch (e) {
      fail(`after ${i} results: ${(e as Error).message}`);
    }
    const problem = check(r);
    if (problem !== undefined) wrong.push(problem);
    if (seen.has(r.n)) wrong.push(`${r.n} came twice`);
    seen.add(r.n);
    factors += r.factors.length;
  }
  // every result is read: the queue is freed, and a later run starts from an empty one
  await results.delete();
  await rc.close();
  if (wrong.length > 0) fail(`${wrong.length} of ${count(n)} results are wrong: ${wrong.slice(0, 5).join('; ')}`);
  console.log(`${count(n)} results, all correct (${count(seen.size)} distinct numbers, ${count(factors)} prime factors)`);
}

await main();
