/**
 * Rich display in a Jupyter kernel: an HTML progress bar updated in place, a
 * per-engine timing summary of a finished result, and the engines table of a
 * client. Outside a kernel (or without tslab) everything falls back to text.
 *
 * tslab is looked up lazily and only inside a kernel: the instance that runs
 * the kernel is the one already loaded, found in the module cache, so no copy
 * of tslab is ever loaded by tscluster itself.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { EngineInfo } from '../protocol/index.js';
import { formatSeconds, progressLine, showProgress } from './progress.js';
import type { InteractiveOptions, Progressing } from './progress.js';
import type { TaskInfo } from './task-state.js';

/** One output area of a notebook cell, replaced in place by each `show`. */
export interface RichDisplay {
  /** show (first call) or replace (later calls) the content: HTML, with `text` for plain viewers */
  show(html: string, text: string): void;
}

/** A result that can be displayed: its progress and its tasks' metadata. */
export interface Displayable extends Progressing {
  readonly metadata: TaskInfo | TaskInfo[];
}

/** Per-engine queue counts, as `rc.queueStatus()` gives them. */
export type EngineCounts = Record<number, { queued: number; running: number; completed: number }>;

/** One engine's share of a result: how many tasks it ran and how long they took. */
export interface EngineTiming {
  engineId: number;
  tasks: number;
  totalMs: number;
  meanMs: number;
}

type WriteDisplayData = (msg: { data: Record<string, string>; metadata: object; transient: { display_id: string } }, update: boolean) => void;

/** tslab's kernel-side writer of display_data / update_display_data, when this process is a tslab kernel. */
function kernelWriter(): WriteDisplayData | undefined {
  if (process.env.JPY_PARENT_PID === undefined) return undefined;
  const cache = createRequire(import.meta.url).cache;
  for (const [path, mod] of Object.entries(cache)) {
    if (!/[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(path)) continue;
    const write = (mod?.exports as { lastWriteDisplayData?: unknown } | undefined)?.lastWriteDisplayData;
    if (typeof write === 'function') return write as WriteDisplayData;
  }
  return undefined;
}

/** A new display in the running kernel's current cell, or undefined outside a kernel. */
export function kernelDisplay(): RichDisplay | undefined {
  const write = kernelWriter();
  if (!write) return undefined;
  const id = randomBytes(8).toString('hex');
  let shown = false;
  return {
    show(html, text) {
      write({ data: { 'text/html': html, 'text/plain': text }, metadata: {}, transient: { display_id: id } }, shown);
      shown = true;
    },
  };
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const TABLE = 'style="border-collapse:collapse;font-family:monospace;font-size:12px"';
const CELL = 'style="padding:2px 8px;border-bottom:1px solid #ddd;text-align:right"';

function htmlTable(caption: string, head: string[], rows: (string | number)[][]): string {
  const th = head.map((h) => `<th ${CELL}>${esc(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((v) => `<td ${CELL}>${esc(String(v))}</td>`).join('')}</tr>`).join('');
  return `<table class="tscluster-table" ${TABLE}><caption style="text-align:left">${esc(caption)}</caption><thead><tr>${th}</tr></thead><tbody>${trs}</tbody></table>`;
}

function textTable(head: string[], rows: (string | number)[][]): string {
  const all = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((v, i) => v.padStart(widths[i]!)).join('  ')).join('\n');
}

/** The progress bar of a result, as HTML. */
export function progressHtml(r: Progressing): string {
  const { done, total } = r.progress;
  const pct = total === 0 ? 100 : Math.round((done / total) * 100);
  const colour = r.ready() ? '#2e7d32' : '#1565c0';
  const bar =
    `<div style="width:300px;height:14px;border:1px solid #999;display:inline-block;vertical-align:middle">` +
    `<div style="width:${pct}%;height:100%;background:${colour}"></div></div>`;
  return `<div class="tscluster-progress">${bar} <span style="font-family:monospace">${esc(progressLine(r, false))}</span></div>`;
}

/** Tasks and total/mean run time (started to completed on the engine) per engine, by engine id. */
export function engineTimings(infos: readonly TaskInfo[]): EngineTiming[] {
  const by = new Map<number, { tasks: number; totalMs: number }>();
  for (const t of infos) {
    if (t.engineId === null || !t.started || !t.completed) continue;
    const e = by.get(t.engineId) ?? { tasks: 0, totalMs: 0 };
    e.tasks++;
    e.totalMs += t.completed.getTime() - t.started.getTime();
    by.set(t.engineId, e);
  }
  return [...by.entries()].sort(([a], [b]) => a - b).map(([engineId, e]) => ({ engineId, ...e, meanMs: e.totalMs / e.tasks }));
}

const TIMING_HEAD = ['engine', 'tasks', 'total', 'mean'];
const timingRows = (ts: EngineTiming[]): (string | number)[][] =>
  ts.map((t) => [t.engineId, t.tasks, formatSeconds(t.totalMs / 1000), `${t.meanMs.toFixed(1)} ms`]);

/** The per-engine timing summary of a result, as HTML and as text. */
export function timingSummary(infos: readonly TaskInfo[]): { html: string; text: string } {
  const rows = timingRows(engineTimings(infos));
  return { html: htmlTable('time per engine', TIMING_HEAD, rows), text: textTable(TIMING_HEAD, rows) };
}

const ENGINES_HEAD = ['id', 'host', 'pid', 'registered', 'queued', 'running', 'completed'];

/** The engines of a client with their queue counts, as HTML and as text. */
export function enginesTable(engines: readonly EngineInfo[], counts: EngineCounts): { html: string; text: string } {
  const rows = engines.map((e) => {
    const c = counts[e.id] ?? { queued: 0, running: 0, completed: 0 };
    return [e.id, e.hostname, e.pid, e.registered, c.queued, c.running, c.completed];
  });
  const caption = `${engines.length} engine${engines.length === 1 ? '' : 's'}`;
  return { html: htmlTable(caption, ENGINES_HEAD, rows), text: textTable(ENGINES_HEAD, rows) };
}

/** Show a result's progress until it is ready, then (if it ran on engines) its timing summary. */
async function richProgress(r: Displayable, d: RichDisplay, opts: InteractiveOptions): Promise<void> {
  // a few updates a second at most: each is a message to the notebook
  const interval = Math.max(opts.intervalMs ?? 250, 250);
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  let last = -1;
  while (!r.ready() && Date.now() < deadline) {
    if (r.progress.done !== last || last === -1) d.show(progressHtml(r), progressLine(r, false));
    last = r.progress.done;
    await r.wait(Math.min(interval, Math.max(0, deadline - Date.now())));
  }
  if (!r.ready()) {
    d.show(progressHtml(r), progressLine(r, false));
    return;
  }
  const infos = Array.isArray(r.metadata) ? r.metadata : [r.metadata];
  const t = timingSummary(infos);
  d.show(`${progressHtml(r)}${t.html}`, `${progressLine(r, false)}\n${t.text}`);
}

/**
 * Wait, showing progress: an HTML bar updated in place (and the timing summary
 * at the end) in a Jupyter kernel; today's text progress elsewhere, or when a
 * stream is given. `summary` adds the timing summary to the text form.
 */
export async function displayProgress(r: Displayable, opts: InteractiveOptions, summary: boolean): Promise<void> {
  const d = opts.stream === undefined ? kernelDisplay() : undefined;
  if (d) return richProgress(r, d, opts);
  await showProgress(r, opts);
  if (summary && r.ready()) {
    const infos = Array.isArray(r.metadata) ? r.metadata : [r.metadata];
    (opts.stream ?? process.stdout).write(`${timingSummary(infos).text}\n`);
  }
}

/** Show the engines table: HTML in a Jupyter kernel, text on `stream` (default stdout) elsewhere. */
export function displayEngines(engines: readonly EngineInfo[], counts: EngineCounts, stream?: NodeJS.WritableStream): void {
  const t = enginesTable(engines, counts);
  const d = stream === undefined ? kernelDisplay() : undefined;
  if (d) d.show(t.html, t.text);
  else (stream ?? process.stdout).write(`${t.text}\n`);
}
