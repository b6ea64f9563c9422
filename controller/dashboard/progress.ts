/**
 * Progress of the work in flight, as the dashboard shows it: tasks grouped by
 * the batch id their client sent (the tasks of one map or parallel call), else
 * by label; tasks with neither are not grouped. One entry per group, none per
 * task; finished groups are forgotten after a while.
 */
import type { TaskRecord } from '../store/record.js';

/** One group as the progress page shows it. */
export interface ProgressGroup {
  /** the batch id, or the label of a group by label */
  key: string;
  kind: 'batch' | 'label';
  /** the label of its first task, if any */
  label: string | null;
  total: number;
  done: number;
  failed: number;
  /** epoch ms of its first submission and of its last finished task (null before one finished) */
  first: number;
  last: number | null;
  /** finished tasks per second since its first submission */
  rate: number;
  /** seconds until all are finished at that rate (null before one finished, 0 when all are) */
  eta: number | null;
}

/** A group as kept: its counts; rate and ETA are worked out when shown. */
type Group = Omit<ProgressGroup, 'rate' | 'eta'>;

/** How long a finished group stays on the page, and how many groups are kept at most. */
const KEEP_FINISHED_MS = 5 * 60_000;
const MAX_GROUPS = 500;

export class Progress {
  readonly #byBatch = new Map<string, Group>();
  readonly #byLabel = new Map<string, Group>();

  submitted(r: TaskRecord, now: number): void {
    const g = this.#groupOf(r, true);
    if (!g) return;
    // a label used again after its tasks all finished: a new run of it
    if (g.done + g.failed === g.total && g.total > 0) Object.assign(g, { total: 0, done: 0, failed: 0, first: now, last: null });
    g.total++;
  }

  finished(r: TaskRecord, now: number): void {
    const g = this.#groupOf(r, false);
    if (!g || g.done + g.failed >= g.total) return;
    if (r.status === 'done') g.done++;
    else g.failed++;
    g.last = now;
  }

  #groupOf(r: TaskRecord, create: boolean): Group | undefined {
    const batch = r.batch ?? null;
    const map = batch !== null ? this.#byBatch : r.label !== null ? this.#byLabel : undefined;
    const key = batch ?? r.label;
    if (!map || key === null) return undefined;
    let g = map.get(key);
    if (!g && create) {
      g = { key, kind: batch !== null ? 'batch' : 'label', label: r.label, total: 0, done: 0, failed: 0, first: r.submitted, last: null };
      map.set(key, g);
    }
    return g;
  }

  /** Groups with work left, then those finished lately, newest first; long-finished ones are dropped. */
  groups(now: number): ProgressGroup[] {
    const out: ProgressGroup[] = [];
    for (const map of [this.#byBatch, this.#byLabel]) {
      for (const [key, g] of map) {
        const left = g.total - g.done - g.failed;
        if (left === 0 && (g.last ?? g.first) < now - KEEP_FINISHED_MS) {
          map.delete(key);
          continue;
        }
        out.push(view(g, now));
      }
    }
    out.sort((a, b) => Number(a.done + a.failed === a.total) - Number(b.done + b.failed === b.total) || b.first - a.first);
    for (const g of out.slice(MAX_GROUPS)) (g.kind === 'batch' ? this.#byBatch : this.#byLabel).delete(g.key);
    return out.slice(0, MAX_GROUPS);
  }
}

function view(g: Group, now: number): ProgressGroup {
  const finished = g.done + g.failed;
  const left = g.total - finished;
  const end = left === 0 && g.last !== null ? g.last : now;
  const secs = Math.max((end - g.first) / 1000, 0.001);
  const rate = finished / secs;
  const eta = left === 0 ? 0 : rate > 0 ? left / rate : null;
  return { key: g.key, kind: g.kind, label: g.label, total: g.total, done: g.done, failed: g.failed, first: g.first, last: g.last, rate, eta };
}
