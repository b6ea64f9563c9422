/** Progress of a running result, drawn as a bar on a TTY and as lines elsewhere. */

export interface InteractiveOptions {
  /** where to write (default process.stdout) */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** how often to report: redraws on a TTY (default 100 ms), lines elsewhere (default 1000 ms) */
  intervalMs?: number;
  /** stop waiting after this long; the work goes on */
  timeoutMs?: number;
}

/** What progress reads of a result. */
export interface Progressing {
  readonly progress: { done: number; total: number };
  readonly elapsedMs: number;
  ready(): boolean;
  wait(timeoutMs?: number): Promise<boolean>;
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** One line: done/total, rate, elapsed, ETA (with a bar on a TTY). */
export function progressLine(r: Progressing, bar: boolean): string {
  const { done, total } = r.progress;
  const secs = r.elapsedMs / 1000;
  const rate = secs > 0 ? done / secs : 0;
  const eta = rate > 0 && done < total ? ` ETA ${formatSeconds((total - done) / rate)}` : '';
  const drawn = bar ? `[${'#'.repeat(Math.round((done / Math.max(total, 1)) * 30)).padEnd(30, '.')}] ` : '';
  return `${drawn}${done}/${total} tasks done, ${rate.toFixed(rate < 10 ? 1 : 0)}/s, ${formatSeconds(secs)} elapsed${eta}`;
}

/** Report progress until the result is ready (or `timeoutMs` passes). */
export async function showProgress(r: Progressing, opts: InteractiveOptions): Promise<void> {
  const out = opts.stream ?? process.stdout;
  const tty = out.isTTY === true;
  const interval = opts.intervalMs ?? (tty ? 100 : 1000);
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  let lastDone = -1;
  while (!r.ready() && Date.now() < deadline) {
    if (tty) out.write(`\r${progressLine(r, true)}\x1b[K`);
    else if (r.progress.done !== lastDone) out.write(`${progressLine(r, false)}\n`);
    lastDone = r.progress.done;
    await r.wait(Math.min(interval, Math.max(0, deadline - Date.now())));
  }
  out.write(tty ? `\r${progressLine(r, true)}\x1b[K\n` : `${progressLine(r, false)}\n`);
}
