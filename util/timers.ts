/**
 * Timers for any duration. Node's setTimeout takes at most 2^31 - 1 ms and
 * fires at once (1 ms, with a warning) for anything longer; a long timer here
 * is a chain of shorter ones. `Infinity` means never.
 */

/** The longest delay one Node timer takes. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Timer {
  /** Cancel it (idempotent). */
  clear(): void;
  /** Let it (not) keep the process alive. */
  unref(): Timer;
  ref(): Timer;
}

/** Call `fn` once after `ms` milliseconds (any non-negative number; Infinity: never). */
export function setLongTimeout(fn: () => void, ms: number): Timer {
  let handle: NodeJS.Timeout | undefined;
  let refed = true;
  let cleared = false;
  const deadline = Date.now() + ms;
  const arm = (): void => {
    if (cleared || !Number.isFinite(ms)) return;
    const left = deadline - Date.now();
    if (left <= MAX_TIMER_MS) {
      handle = setTimeout(fn, Math.max(0, left));
    } else {
      handle = setTimeout(arm, MAX_TIMER_MS);
    }
    if (!refed) handle.unref();
  };
  arm();
  const t: Timer = {
    clear() {
      cleared = true;
      clearTimeout(handle);
    },
    unref() {
      refed = false;
      handle?.unref();
      return t;
    },
    ref() {
      refed = true;
      handle?.ref();
      return t;
    },
  };
  return t;
}

/**
 * Check a timeout given by a user: a number of milliseconds >= 0, or Infinity
 * (no limit). Returns it, or throws a RangeError naming the argument.
 */
export function checkTimeout(name: string, ms: unknown): number {
  if (typeof ms !== 'number' || Number.isNaN(ms) || ms < 0) {
    throw new RangeError(`${name} must be a number of milliseconds >= 0 (or Infinity for no limit), got ${describe(ms)}`);
  }
  return ms;
}

function describe(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : String(v);
}

/**
 * `p`, or the error `onTimeout()` makes if `p` has not settled within `ms`
 * (undefined or Infinity: no limit; the work behind `p` goes on either way).
 */
export function withTimeout<T>(p: Promise<T>, ms: number | undefined, onTimeout: () => Error): Promise<T> {
  if (ms === undefined || ms === Infinity) return p;
  return new Promise<T>((resolve, reject) => {
    const t = setLongTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        t.clear();
        resolve(v);
      },
      (e: unknown) => {
        t.clear();
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
