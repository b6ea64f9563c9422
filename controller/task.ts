/**
 * A task at run time: its record (controller/store/record.ts) plus what only
 * a live hub needs: the request frames to forward, the client's routing
 * identity, timers, the engines it failed on, and clients waiting for it.
 */
import type { Header, RawMessage, TaskMetadata } from '../protocol/index.js';
import type { Timer } from '../util/timers.js';
import type { TaskRecord } from './store/record.js';

export class Task {
  /** the request as received, forwarded untouched; dropped once the task is done */
  request: RawMessage | undefined;
  /** engines this task failed on, not to be tried again */
  blacklist: Set<number> | undefined = undefined;
  /** the timeoutMs timer */
  timer: Timer | undefined = undefined;
  /** why its engine was asked to stop it (the engine's reply carries it) */
  abort: { ename: 'TaskTimeout' | 'TaskAborted'; evalue: string } | undefined = undefined;
  /** clients that asked for its result before it finished */
  watchers: Buffer[] | undefined = undefined;
  /** a channel (controller/channels.ts routes its values while it runs) */
  channel = false;
  /**
   * taken up after a restart without its payload (too large for the store):
   * it cannot be sent to an engine again, so it is not retried or requeued
   */
  payloadMissing = false;

  constructor(
    readonly record: TaskRecord,
    /** its request's header: the parent of replies the hub builds for it */
    readonly header: Header,
    /** the routing identity of the client that submitted it */
    readonly clientIdentity: Buffer,
    request: RawMessage,
    /** keep it queued when its client disconnects (else it is cancelled) */
    readonly retain = false,
  ) {
    this.request = request;
  }

  /** A new task from a verified apply_request and its metadata. */
  static fromRequest(header: Header, meta: TaskMetadata, clientIdentity: Buffer, request: RawMessage, now = Date.now()): Task {
    const record: TaskRecord = {
      msgId: header.msg_id,
      client: header.session,
      route: meta.route,
      label: meta.label ?? null,
      batch: meta.batch ?? null,
      status: 'submitted',
      engineId: null,
      submitted: now,
      started: null,
      completed: null,
      priority: meta.priority ?? 0,
      retries: meta.route === 'lb' ? (meta.retries ?? 0) : 0,
      targets: meta.targets ?? null,
      attempts: [],
      after: meta.after ?? null,
      follow: meta.follow ?? null,
      ename: null,
      stdout: '',
      stderr: '',
    };
    const task = new Task(record, header, clientIdentity, request, meta.retain ?? false);
    task.channel = meta.channel !== undefined;
    return task;
  }

  get msgId(): string {
    return this.record.msgId;
  }

  /** What the scheduler reads (SchedTask). */
  get priority(): number {
    return this.record.priority;
  }

  get targets(): readonly number[] | undefined {
    return this.record.targets ?? undefined;
  }
}
