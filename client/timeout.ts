import { TimeoutError } from '../errors/index.js';

/** `p`, or a TimeoutError with `message` if it has not settled within `ms` (the work behind it goes on). */
export function withTimeout<T>(p: Promise<T>, ms: number | undefined, message: () => string): Promise<T> {
  if (ms === undefined) return p;
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new TimeoutError(message())), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
