/**
 * What clients ask of the hub about the cluster: the connect reply, queue
 * status, stats, task records (getResult, also of other clients' tasks; a
 * pending one is answered when it finishes) and purging them.
 */
import { parseFrame } from '../protocol/index.js';
import type { ContentOf, Endpoint, Header, TaskRecordWire } from '../protocol/index.js';
import type { TaskQuery, TaskRecord } from './store/record.js';
import type { EngineRegistry } from './registry.js';
import type { Scheduler } from './scheduler.js';
import type { TaskStore } from './store/store.js';
import type { Task } from './task.js';
import type { TaskManager } from './tasks.js';
import type { EngineState } from './registry.js';

export interface QueryOptions {
  store: TaskStore;
  tasks: TaskManager;
  registry: EngineRegistry;
  scheduler: Scheduler<Task, EngineState>;
  clients: Endpoint;
  /** the other side's counters, for stats */
  engines: Endpoint;
  /** connected clients, for stats */
  clientCount: () => number;
  hub: { scheme: string; hwm: number; profile: string; clusterId: string };
  /** the adapter's status, when the controller adapts (--adapt) */
  adapt?: () => ContentOf<'stats_reply'>['adapt'];
  /** shared objects and the bytes they hold; the shared messages received and the calls in them */
  shared?: () => ContentOf<'stats_reply'>['shared'];
  /** channel_data messages forwarded and the values in them */
  channels?: () => { data: number; values: number };
}

export class Queries {
  readonly #o: QueryOptions;

  constructor(o: QueryOptions) {
    this.#o = o;
  }

  connectReply(): ContentOf<'connect_reply'> {
    const { hub, registry } = this.#o;
    return {
      engines: [...registry.all()].map((e) => registry.info(e)),
      scheme: hub.scheme,
      hwm: hub.hwm,
      profile: hub.profile,
      cluster_id: hub.clusterId,
      controller_pid: process.pid,
      ...(this.#o.adapt?.() ? { adaptive: true } : {}),
    };
  }

  queueStatus(): ContentOf<'queue_reply'> {
    const engines: ContentOf<'queue_reply'>['engines'] = {};
    for (const e of this.#o.registry.all()) {
      const running = Math.min(e.load, 1);
      engines[String(e.id)] = { queued: e.load - running, running, completed: e.completed };
    }
    return { engines, unassigned: this.#o.scheduler.queued };
  }

  stats(): ContentOf<'stats_reply'> {
    const c = this.#o.store.counts();
    const { rss, heapUsed, external } = process.memoryUsage();
    return {
      dropped: { ...this.#o.clients.dropped, ...this.#o.engines.dropped },
      refused: { ...this.#o.clients.refused },
      tasks: { submitted: c.submitted, completed: c.completed, pending: c.submitted - c.completed },
      engines: this.#o.registry.size,
      clients: this.#o.clientCount(),
      memory: { rss, heapUsed, external },
      records: c.records,
      ...(this.#o.adapt?.() ? { adapt: this.#o.adapt() } : {}),
      ...(this.#o.shared ? { shared: this.#o.shared() } : {}),
      ...(this.#o.channels ? { channels: this.#o.channels() } : {}),
    };
  }

  /** Task records matching a query (ipyparallel's db_query), oldest first. */
  query(c: ContentOf<'query_request'>): ContentOf<'query_reply'> {
    const q: TaskQuery = {
      ...(c.status ? { status: c.status } : {}),
      ...(c.engine_id !== undefined ? { engineId: c.engine_id } : {}),
      ...(c.label !== undefined ? { label: c.label } : {}),
      ...(c.client !== undefined ? { client: c.client } : {}),
      ...(c.since !== undefined ? { since: c.since } : {}),
      ...(c.until !== undefined ? { until: c.until } : {}),
      ...(c.limit !== undefined ? { limit: c.limit } : {}),
    };
    return { records: this.#o.store.query(q).map(toWire) };
  }

  purge(c: ContentOf<'purge_request'>): ContentOf<'purge_reply'> {
    return { purged: this.#o.store.purge(c.all ? 'all' : (c.msg_ids ?? [])) };
  }

  /**
   * Send a task's record to a client (any client: results are shared). A
   * pending task's record is sent when it finishes.
   */
  sendResult(identity: Buffer, parent: Header | undefined, msgId: string): void {
    const pending = this.#o.tasks.get(msgId);
    if (pending) {
      (pending.watchers ??= []).push(identity);
      return;
    }
    const stored = this.#o.store.get(msgId);
    const opts = parent ? { parent } : {};
    if (stored?.reply === undefined) {
      this.#o.clients.send(identity, 'result_reply', { msg_id: msgId, status: 'unknown' }, opts);
      return;
    }
    const { record: r, reply } = stored;
    let metadata: Record<string, unknown> = {};
    let content: Record<string, unknown> = {};
    try {
      metadata = parseFrame(reply[4]!, 'metadata') as Record<string, unknown>;
      content = parseFrame(reply[5]!, 'content') as Record<string, unknown>;
    } catch {
      // stored frames were verified on arrival; unreadable ones are reported as empty
    }
    const result: ContentOf<'result_reply'> = {
      msg_id: msgId,
      status: r.status === 'done' ? 'ok' : 'error',
      reply_content: content,
      reply_metadata: metadata,
      submitted: new Date(r.submitted).toISOString(),
      stdout: r.stdout,
      stderr: r.stderr,
    };
    this.#o.clients.send(identity, 'result_reply', result, { ...opts, buffers: reply.slice(6) });
  }

  /** A task finished: answer the clients that asked for it. */
  finished(task: Task): void {
    if (!task.watchers) return;
    for (const w of task.watchers) this.sendResult(w, undefined, task.msgId);
    task.watchers = undefined;
  }
}

function toWire(r: TaskRecord): TaskRecordWire {
  return {
    msg_id: r.msgId,
    client: r.client,
    route: r.route,
    label: r.label,
    status: r.status,
    engine_id: r.engineId,
    submitted: r.submitted,
    started: r.started,
    completed: r.completed,
    priority: r.priority,
    attempts: r.attempts,
    ename: r.ename,
  };
}
