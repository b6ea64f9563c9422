/**
 * A cleanup that must run however the test process ends: at exit, and on
 * SIGINT, SIGTERM or SIGHUP (then the signal goes on to its default action,
 * unless other listeners, such as node --test's, take it).
 */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface ExitHook {
  /** Run the cleanup at exit or on a signal (again: no effect). */
  arm(): void;
  /** Not any more. */
  disarm(): void;
}

/** @param cleanup synchronous: it may run from an 'exit' listener */
export function exitHook(cleanup: () => void): ExitHook {
  const onExit = (): void => cleanup();
  const onSignal = (signal: NodeJS.Signals): void => {
    cleanup();
    disarm();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  function disarm(): void {
    process.off('exit', onExit);
    for (const s of SIGNALS) process.off(s, onSignal);
  }
  return {
    arm(): void {
      if (process.listeners('exit').includes(onExit)) return;
      process.on('exit', onExit);
      for (const s of SIGNALS) process.on(s, onSignal);
    },
    disarm,
  };
}
