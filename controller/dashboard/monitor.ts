/**
 * The hub as the dashboard and /metrics see it. The monitor observes every
 * task (controller/tasks.ts calls it at submission and at each status change)
 * and counts in place: the Prometheus counters and histograms, live counts by
 * status, the ring of recent task spans, tasks per second, progress groups.
 * What the hub already holds (engines, the scheduler's queue, task records)
 * it reads when a page asks.
 */
import { parseFrame } from '../../protocol/index.js';
import type { EngineState } from '../registry.js';
import type { TaskRecord, TaskStatus } from '../store/record.js';
import type { TaskStore } from '../store/store.js';
import type { TaskObserver } from '../tasks.js';
import { HubMetrics } from './metrics.js';
import { Progress } from './progress.js';
import type { ProgressGroup } from './progress.js';
import { RateSeries, SpanRing } from './spans.js';
import type { Span } from './spans.js';

/** What the monitor reads of the hub. */
export interface HubView {
  engines(): Iterable<EngineState>;
  /** load-balanced tasks waiting in the scheduler */
  queued(): number;
  /** dropped messages by `<peer>.<reason>` */
  dropped(): Readonly<Record<string, number>>;
  clients(): number;
  store: TaskStore;
  cluster: { profile: string; clusterId: string; scheme: string; hwm: number };
  heartbeatMs: number;
}

/** What the hub tells its observer: every task (TaskObserver), and engines coming and going. */
export interface HubObserver extends TaskObserver {
  engineJoined(): void;
  engineLeft(): void;
}

/** One engine on the status page. */
export interface EngineRow {
  id: number;
  host: string;
  pid: number;
  /** busy: runs a task; silent: no heartbeat for two periods; retiring: takes no new tasks */
  state: 'idle' | 'busy' | 'silent' | 'retiring';
  /** the task it runs (the earliest started of those sent to it) */
  task: { msgId: string; label: string | null; started: number } | null;
  /** tasks sent to it waiting behind the running one */
  queued: number;
  done: number;
  cpu: number | null;
  rss: number | null;
  registered: string;
}

/** Everything the live pages show, as one SSE event (spans: only those after the client's last). */
export interface Snapshot {
  time: number;
  cluster: HubView['cluster'] & { controllerPid: number; clients: number; rss: number };
  counts: Record<TaskStatus, number>;
  engines: EngineRow[];
  /** tasks finished per second over the last minutes */
  rate: { t: number[]; done: number[]; failed: number[]; now: number };
  progress: ProgressGroup[];
  spans: Span[];
  /** the seq to ask spans from next time */
  nextSeq: number;
}

/** A task on the engine detail page, with its output tails and its error. */
export interface TaskDetail {
  msgId: string;
  label: string | null;
  status: TaskStatus;
  submitted: number;
  started: number | null;
  completed: number | null;
  ename: string | null;
  evalue: string | null;
  /** the remote stack */
  traceback: string[];
  stdout: string;
  stderr: string;
}

/** Bytes of each output stream the engine page shows per task. */
const OUTPUT_TAIL = 4096;

export class Monitor implements HubObserver {
  readonly metrics: HubMetrics;
  readonly #hub: HubView;
  readonly #spans = new SpanRing();
  readonly #rate = new RateSeries();
  readonly #progress = new Progress();
  readonly #counts: Record<TaskStatus, number> = { submitted: 0, waiting: 0, queued: 0, running: 0, retrying: 0, done: 0, failed: 0 };

  constructor(hub: HubView) {
    this.#hub = hub;
    this.metrics = new HubMetrics({ engines: () => hub.engines(), queued: () => hub.queued(), dropped: () => hub.dropped() });
  }

  submitted(r: TaskRecord): void {
    this.metrics.counts.submitted++;
    this.#counts[r.status]++;
    this.#progress.submitted(r, r.submitted);
  }

  moved(r: TaskRecord, from: TaskStatus): void {
    this.#counts[from]--;
    this.#counts[r.status]++;
    switch (r.status) {
      case 'running':
        if (r.started !== null) this.metrics.queueWait.add((r.started - r.submitted) / 1000);
        return;
      case 'retrying':
        this.metrics.counts.retried++;
        return;
      case 'done':
      case 'failed':
        this.#finished(r);
        return;
      default:
        return;
    }
  }

  #finished(r: TaskRecord): void {
    const now = r.completed ?? Date.now();
    const ok = r.status === 'done';
    if (ok) this.metrics.counts.completed++;
    else this.metrics.counts.failed++;
    if (r.started !== null) this.metrics.duration.add((now - r.started) / 1000);
    this.#spans.push(r);
    this.#rate.count(ok, now);
    this.#progress.finished(r, now);
  }

  engineJoined(): void {
    this.metrics.counts.joined++;
  }

  engineLeft(): void {
    this.metrics.counts.left++;
  }

  /** The seq of the next span (a new stream starts from recent ones before it). */
  get nextSeq(): number {
    return this.#spans.next;
  }

  /** The live pages' data; spans from seq `from` on (at most `limit`). */
  snapshot(from: number, limit = 2000): Snapshot {
    const now = Date.now();
    const hub = this.#hub;
    const engines = [...hub.engines()].sort((a, b) => a.id - b.id).map((e) => this.#row(e, now));
    return {
      time: now,
      cluster: { ...hub.cluster, controllerPid: process.pid, clients: hub.clients(), rss: process.memoryUsage.rss() },
      counts: { ...this.#counts },
      engines,
      rate: { ...this.#rate.series(now), now: this.#rate.rate(now) },
      progress: this.#progress.groups(now),
      spans: this.#spans.since(from, limit),
      nextSeq: this.#spans.next,
    };
  }

  #row(e: EngineState, now: number): EngineRow {
    let task: TaskRecord | undefined;
    for (const t of e.inFlight) if (t.record.started !== null && (!task || t.record.started < task.started!)) task = t.record;
    const silent = now - e.lastSeen > 2 * this.#hub.heartbeatMs;
    return {
      id: e.id,
      host: e.hostname,
      pid: e.pid,
      state: e.retiring !== undefined ? 'retiring' : silent ? 'silent' : e.load > 0 ? 'busy' : 'idle',
      task: task ? { msgId: task.msgId, label: task.label, started: task.started! } : null,
      queued: Math.max(0, e.load - 1),
      done: e.completed,
      cpu: e.cpu,
      rss: e.rss,
      registered: e.registered,
    };
  }

  /** An engine's row (null when it is not registered now) and its recent tasks, newest first. */
  engine(id: number, limit = 50): { engine: EngineRow | null; tasks: TaskDetail[] } {
    const e = [...this.#hub.engines()].find((x) => x.id === id);
    const records = this.#hub.store.query({ engineId: id, limit }).reverse();
    return { engine: e ? this.#row(e, Date.now()) : null, tasks: records.map((r) => this.#detail(r)) };
  }

  #detail(r: TaskRecord): TaskDetail {
    let evalue: string | null = null;
    let traceback: string[] = [];
    const reply = r.status === 'failed' ? this.#hub.store.get(r.msgId)?.reply : undefined;
    if (reply?.[5]) {
      try {
        const c = parseFrame(reply[5], 'content') as { evalue?: unknown; traceback?: unknown };
        if (typeof c.evalue === 'string') evalue = c.evalue;
        if (Array.isArray(c.traceback)) traceback = c.traceback.filter((l): l is string => typeof l === 'string');
      } catch {
        // a stored reply was verified on arrival; an unreadable one shows no stack
      }
    }
    return {
      msgId: r.msgId,
      label: r.label,
      status: r.status,
      submitted: r.submitted,
      started: r.started,
      completed: r.completed,
      ename: r.ename,
      evalue,
      traceback,
      stdout: r.stdout.slice(-OUTPUT_TAIL),
      stderr: r.stderr.slice(-OUTPUT_TAIL),
    };
  }
}
