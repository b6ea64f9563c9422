/** What the benchmarks share: statistics, timing, and the no-op tasks they send. */
import type { Client } from '../index.js';

export type View = ReturnType<Client['loadBalancedView']>;

export const noop = (x?: unknown): unknown => x;

export function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

/** Milliseconds of each of `n` awaited calls, one at a time. */
export async function sample(n: number, call: (i: number) => PromiseLike<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await call(i);
    out.push(performance.now() - t);
  }
  return out;
}

/** Run `reps` times; the median rate of `count` items done per second. */
export async function rate(reps: number, count: number, run: () => Promise<void>): Promise<number> {
  const rates: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await run();
    rates.push(count / ((performance.now() - t) / 1000));
  }
  return median(rates);
}

/** `count` load-balanced no-op tasks submitted at once; resolves when all are done. */
export async function burst(lb: View, count: number): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, i) => lb.apply(noop, i)));
}
