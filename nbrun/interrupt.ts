/** Ctrl-C and deadlines while nbrun waits on the server or a kernel. */

/** Thrown where nbrun was waiting when Ctrl-C (or SIGTERM, SIGHUP) came: the run ends with exit 130. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

/** `p`, unless `ms` pass first (an error saying `what` did not happen) or `signal` aborts (Interrupted). */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string, signal: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`${what} did not happen within ${ms / 1000} s`)), ms);
        onAbort = () => rej(new Interrupted());
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
