/**
 * Clusters that stop with the process that started them: at exit, and at a
 * signal whose default action would end the process without 'exit' hooks.
 */

/** Clusters to end when this process ends. */
const hooks = new Set<() => void>();
let installed = false;

/** Run `hook` when this process exits or is ended by SIGINT/SIGTERM/SIGHUP. Returns a function that removes it. */
export function atExit(hook: () => void): () => void {
  hooks.add(hook);
  process.once('exit', hook);
  install();
  return () => {
    hooks.delete(hook);
    process.removeListener('exit', hook);
  };
}

/**
 * A signal whose default action ends the process skips 'exit' hooks. When
 * nothing else listens for it, end the clusters this process started, then
 * let the signal do what it would have done.
 */
function install(): void {
  if (installed) return;
  installed = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const hook = (): void => {
      if (process.listenerCount(sig) > 1) return;
      for (const h of [...hooks]) h();
      process.removeListener(sig, hook);
      process.kill(process.pid, sig);
    };
    process.on(sig, hook);
  }
}
