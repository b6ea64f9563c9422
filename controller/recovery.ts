/**
 * A controller restarted by its supervisor takes up where the one that died
 * left off (issue: nothing lost when the controller dies):
 * - the engines it had are expected back (`EngineRegistry.expect`): their ids
 *   stay theirs, and each resumes with the tasks it holds (tasks.ts `resumed`);
 * - unfinished tasks come back from the store (tasks.ts `adopt`), with their
 *   requests, timeouts and the engines they failed on;
 * - clients that had tasks are not taken for gone while they reconnect; a
 *   client's `resync_request` gets the replies it missed and the ids the store
 *   never had (it sends those again);
 * - a task whose payload was too large for the store and that no engine had
 *   waits for its client to send it again (it is among the ids the client is
 *   told to send again), then runs as if nothing had happened; a client that
 *   does not come back within the grace has it fail with EngineError.
 * A first start instead closes the records an earlier cluster left unfinished.
 */
import type { Endpoint, Header, Incoming, RawMessage } from '../protocol/index.js';
import { TaskMetadataSchema, parseFrame } from '../protocol/index.js';
import type { Logger } from '../util/log.js';
import { setLongTimeout } from '../util/timers.js';
import type { EngineRegistry, KnownEngine } from './registry.js';
import { failureReply } from './replies.js';
import type { TaskStore, RestoredTask } from './store/store.js';
import { Task } from './task.js';
import { PAYLOAD_NOT_KEPT } from './tasks.js';
import type { TaskManager } from './tasks.js';

/** How long a restarted controller waits for the clients and engines of its predecessor. */
export const RECONNECT_GRACE_MS = 60_000;

const ENGINES_KEY = 'engines';
const NEXT_ID_KEY = 'next_engine_id';

export interface RecoveryParts {
  store: TaskStore;
  tasks: TaskManager;
  registry: EngineRegistry;
  clients: Endpoint;
  log: Logger;
}

export class Recovery {
  readonly #p: RecoveryParts;
  /** clients with restored tasks that have not reconnected yet (latin1 identity) */
  readonly #awaited = new Set<string>();
  /** tasks not on an engine whose payload the store did not keep: their clients send them again */
  readonly #resend = new Map<string, RestoredTask>();
  #until = 0;

  constructor(p: RecoveryParts) {
    this.#p = p;
  }

  /** Take up the store's unfinished tasks (restart > 0), or close them as abandoned (a first start). */
  start(restart: number, engineGraceMs: number): void {
    const { store, registry, log } = this.#p;
    const restored = store.restore();
    if (restart === 0) {
      for (const rt of restored) this.#abandon(rt);
      if (restored.length > 0) log.info(`closed ${restored.length} task record(s) an earlier cluster left unfinished`);
      this.saveEngines();
      return;
    }
    const now = Date.now();
    this.#until = now + RECONNECT_GRACE_MS;
    const known = parseKnown(store.getMeta(ENGINES_KEY));
    registry.expect(known, Number(store.getMeta(NEXT_ID_KEY) ?? 0), now + engineGraceMs);
    let adopted = 0;
    for (const rt of restored) {
      this.#awaited.add(rt.request.client.toString('latin1'));
      if (!rt.payloadKept && rt.record.status !== 'running') this.#resend.set(rt.record.msgId, rt);
      else if (this.#adopt(rt, now)) adopted++;
    }
    const more = this.#resend.size > 0 ? ` (${this.#resend.size} more wait for their clients to send their payloads again)` : '';
    log.info(`restart ${restart}: took up ${adopted} unfinished task(s) from ${store.where}${more}; expecting ${known.length} engine(s) back`);
    setLongTimeout(() => {
      this.#awaited.clear();
      this.#giveUp();
    }, RECONNECT_GRACE_MS);
  }

  /** Take up one stored task; false (logged) when its stored request is unreadable. */
  #adopt(rt: RestoredTask, now: number): boolean {
    const restored = taskOf(rt, this.#p.log);
    if (!restored) return false;
    const { task, timeout } = restored;
    task.payloadMissing = !rt.payloadKept;
    if (timeout !== undefined) {
      const left = Math.max(0, task.record.submitted + timeout - now);
      task.timer = setLongTimeout(() => this.#p.tasks.stop(task, 'TaskTimeout', `the task did not finish within its timeout of ${timeout} ms`), left);
    }
    this.#p.tasks.adopt(task);
    return true;
  }

  /**
   * An apply_request that is the client sending again a task whose payload
   * the store did not keep: the task goes on with its record (submitted time,
   * attempts) and this request's frames. False for any other request.
   */
  resent(m: Incoming): boolean {
    const rt = this.#resend.get(m.header.msg_id);
    if (rt === undefined || !rt.request.client.equals(m.identity!)) return false;
    this.#resend.delete(m.header.msg_id);
    const r = m.raw;
    this.#adopt(
      {
        record: rt.record,
        request: { frames: [r.signature, r.header, r.parent, r.metadata, r.content, ...r.buffers], client: rt.request.client },
        payloadKept: true,
      },
      Date.now(),
    );
    return true;
  }

  /** The grace is over: tasks whose payloads no client sent again fail. */
  #giveUp(): void {
    const left = [...this.#resend.values()];
    this.#resend.clear();
    for (const rt of left) {
      const restored = taskOf(rt, this.#p.log);
      if (!restored) continue;
      this.#p.tasks.fail(
        restored.task,
        'EngineError',
        `${PAYLOAD_NOT_KEPT}, and its client did not send it again within ${RECONNECT_GRACE_MS / 1000} s`,
        null,
      );
    }
    if (left.length > 0) this.#p.log.warn(`${left.length} task(s) failed: their clients did not send their payloads again after the restart`);
  }

  /** Keep the registered engines in the store (on every join and leave), for a controller that takes over. */
  saveEngines(): void {
    const { registry, store } = this.#p;
    const known: KnownEngine[] = [...registry.all()].map((e) => ({ ...registry.info(e), job: e.job }));
    store.setMeta(ENGINES_KEY, JSON.stringify(known));
    store.setMeta(NEXT_ID_KEY, String(registry.nextId));
  }

  /** A send to this client found it gone: true while it may still reconnect to this restarted controller. */
  mayReturn(identity: Buffer): boolean {
    return Date.now() < this.#until && this.#awaited.has(identity.toString('latin1'));
  }

  /**
   * A client reconnected and waits for these tasks: replies the store holds go
   * to it again (it keeps the first of each), unfinished ones reach it when
   * they finish; returned are the ids the store never had.
   */
  resync(identity: Buffer, msgIds: readonly string[]): { unknown: string[]; pending: number } {
    this.#awaited.delete(identity.toString('latin1'));
    const { tasks, store, clients } = this.#p;
    const unknown: string[] = [];
    let pending = 0;
    for (const id of msgIds) {
      if (this.#resend.has(id)) {
        // its payload was not stored: the client sends the request again (resent)
        unknown.push(id);
        continue;
      }
      if (tasks.get(id)) {
        pending++;
        continue;
      }
      const stored = store.get(id);
      if (!stored) unknown.push(id);
      else if (stored.reply) clients.sendFrames([identity, ...stored.reply]);
      else {
        const r = stored.record;
        const why = `its result is not available after the controller restarted: ${stored.replyNote ?? 'not kept'}`;
        const { content, metadata } = failureReply(r, 'EngineError', why, null);
        const parent = {
          msg_id: id,
          msg_type: 'apply_request',
          session: r.client,
          username: '',
          date: new Date(r.submitted).toISOString(),
          version: '5.3',
        };
        clients.send(identity, 'apply_reply', content, { parent: parent, metadata });
      }
    }
    return { unknown, pending };
  }

  #abandon(rt: RestoredTask): void {
    const r = rt.record;
    r.status = 'failed';
    r.ename = 'EngineError';
    r.completed = Date.now();
    this.#p.store.finish(r, []);
  }
}

function parseKnown(json: string | undefined): KnownEngine[] {
  if (json === undefined) return [];
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) ? (v as KnownEngine[]) : [];
  } catch {
    return [];
  }
}

/** The Task of a stored request and its timeout (ms, from the metadata read here); undefined (logged) when its frames are unreadable. */
function taskOf(rt: RestoredTask, log: Logger): { task: Task; timeout: number | undefined } | undefined {
  const [signature, header, parent, metadata, content, ...buffers] = rt.request.frames;
  try {
    if (!signature || !header || !parent || !metadata || !content) throw new Error('missing frames');
    const raw: RawMessage = { identities: [], signature, header, parent, metadata, content, buffers };
    const h = parseFrame(header, 'header') as Header;
    const meta = TaskMetadataSchema.parse(parseFrame(metadata, 'metadata'));
    const task = new Task(rt.record, h, rt.request.client, raw, meta.retain ?? false);
    task.channel = meta.channel !== undefined;
    const failedOn = rt.record.attempts.map((a) => a.engine_id).filter((id): id is number => id !== null);
    if (failedOn.length > 0) task.blacklist = new Set(failedOn);
    return { task, timeout: meta.timeout_ms };
  } catch (e) {
    log.error(`task ${rt.record.msgId}: its stored request is unreadable (${e instanceof Error ? e.message : String(e)}); dropped`);
    return undefined;
  }
}
