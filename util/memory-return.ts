/**
 * Returning freed memory after a burst, in the controller and in each engine.
 * Their native memory (ZeroMQ frames received by the I/O thread, Buffers of
 * headers and replies) is many small allocations; glibc keeps what a burst
 * freed resident in its arenas and gives back only the top of each heap, so
 * after 200,000 tasks about half of the controller's RSS was free memory held
 * by malloc (an engine after 100,000: 207 MB, from 74 at start).
 * `malloc_trim(0)` (util/malloc-trim.ts) releases it: each second, once RSS
 * has grown by `growthBytes` since the last trim, the process trims at
 * most every `busyEveryMs` while tasks run or arrive. When none is unfinished
 * and none arrived since the last check (a second of quiet: a full collection
 * in the middle of a stream of short tasks would stall them), it first
 * collects the garbage (a received frame's memory is freed only when V8
 * collects its Buffer, and an idle process allocates nothing that would make
 * V8 collect), waits `settleMs` for the freeing, then trims.
 *
 * V8's young generation grows to 32 MB in a burst and stays that size:
 * a collection shrinks it only when allocation has been slow over the last
 * few seconds, which the first idle collection, a second after the burst, is
 * too early to see. So when that collection leaves it larger than
 * `youngBytes`, one more follows `shrinkAfterMs` later if the process is still
 * idle (controller after 200,000 tasks: RSS 175 -> about 145 MB).
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from './log.js';
import { canTrim, mallocTrim } from './malloc-trim.js';

/**
 * V8's full collection, as `--expose-gc` gives it (Node's documented way to
 * get it at run time). The flag is turned off again at once, so contexts made
 * later (an engine's execution worker, where user code runs) get no `gc`.
 */
function exposedGc(): () => void {
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as () => void;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

export interface MemoryReturnOptions {
  /** are tasks unfinished (the controller's) or waiting or running (an engine's)? */
  busy(): boolean;
  /** a count of tasks received that grows with each: unchanged between two checks means none came */
  activity(): number;
  log: Logger;
  /** growth of RSS since the last trim that makes a trim worth its time (default 32 MiB) */
  growthBytes?: number;
  /** while tasks run, trim at most this often (default 10 s) */
  busyEveryMs?: number;
  /** how often to look (default 1 s) */
  checkEveryMs?: number;
  /** from the collection to the trim, when idle (default 200 ms) */
  settleMs?: number;
  /** a young generation larger than this after an idle collection gets one more (default 8 MiB) */
  youngBytes?: number;
  /** that one more collection comes this long after the first, if still idle (default 6 s) */
  shrinkAfterMs?: number;
}

export class MemoryReturn {
  readonly #o: MemoryReturnOptions;
  #timer: NodeJS.Timeout | undefined;
  /** RSS after the last trim when idle (or at start): growth past it makes the next idle trim */
  #idleBase = process.memoryUsage.rss();
  /** RSS after the last trim of any kind: growth past it makes the next trim while busy */
  #busyBase = this.#idleBase;
  #last = 0;
  #gc: (() => void) | undefined;
  #activity = -1;
  #settling = false;
  /** when to collect once more to shrink the young generation (epoch ms), if still idle then */
  #shrinkAt: number | undefined;
  /** trims done */
  trims = 0;

  constructor(o: MemoryReturnOptions) {
    this.#o = o;
  }

  /** Start looking; false (and a note in the log) without the addon. */
  start(): boolean {
    if (!canTrim()) {
      this.#o.log.debug('native/trim.c is not built: memory freed after bursts stays with the process until malloc reuses it');
      return false;
    }
    this.#gc = exposedGc();
    this.#activity = this.#o.activity();
    this.#timer = setInterval(() => this.check(), this.#o.checkEveryMs ?? 1000);
    this.#timer.unref();
    return true;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Trim if RSS grew enough and the time is right: now while busy, after a collection when idle. */
  check(now = Date.now()): void {
    if (this.#settling) return;
    const rss = process.memoryUsage.rss();
    const growth = this.#o.growthBytes ?? 32 * 1024 * 1024;
    this.#idleBase = Math.min(this.#idleBase, rss);
    this.#busyBase = Math.min(this.#busyBase, rss);
    const activity = this.#o.activity();
    const quiet = activity === this.#activity;
    this.#activity = activity;
    if (this.#o.busy() || !quiet) {
      this.#shrinkAt = undefined;
      if (rss - this.#busyBase >= growth && now - this.#last >= (this.#o.busyEveryMs ?? 10_000)) this.#trim(rss, 'busy');
      return;
    }
    if (this.#shrinkAt !== undefined && now >= this.#shrinkAt) {
      this.#shrinkAt = undefined;
      this.#collectAndTrim(rss, 'idle, young generation', now, false);
      return;
    }
    // trims while busy do not count here: only a collection frees what the burst's garbage still holds
    if (rss - this.#idleBase < growth) return;
    this.#collectAndTrim(rss, 'idle', now, true);
  }

  #collectAndTrim(rss: number, why: string, now: number, thenShrink: boolean): void {
    const t = performance.now();
    this.#gc?.();
    const gcMs = performance.now() - t;
    const young = youngBytes();
    if (thenShrink && young > (this.#o.youngBytes ?? 8 * 1024 * 1024)) this.#shrinkAt = now + (this.#o.shrinkAfterMs ?? 6000);
    this.#settling = true;
    setTimeout(() => {
      this.#settling = false;
      if (this.#timer === undefined) return;
      this.#idleBase = this.#trim(rss, `${why}, after a collection of ${gcMs.toFixed(1)} ms; young generation ${mb(young)} MB`);
    }, this.#o.settleMs ?? 200).unref();
  }

  /** Trim; RSS after. */
  #trim(rss: number, why: string): number {
    this.#last = Date.now();
    const t = performance.now();
    mallocTrim();
    const after = process.memoryUsage.rss();
    this.trims++;
    this.#busyBase = after;
    this.#o.log.debug(`malloc_trim (${why}): RSS ${mb(rss)} -> ${mb(after)} MB in ${(performance.now() - t).toFixed(1)} ms`);
    return after;
  }
}

/** V8's young generation as allocated now (both semi-spaces). */
export function youngBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

function mb(n: number): string {
  return (n / 1024 / 1024).toFixed(0);
}
