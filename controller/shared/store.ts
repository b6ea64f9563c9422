/**
 * The shared objects of a cluster, by name: queues, dicts, events, locks
 * (one kind per name), created on first use and kept until deleted or until
 * the controller stops. Values stay the frames they came as; bytes are
 * bounded (budget.ts). Calls that wait are answered later through their
 * requester; nothing here blocks or touches a socket.
 */
import type { SharedRequest } from '../../protocol/schemas/shared.js';
import type { SharedKind } from '../../errors/shared.js';
import { ByteBudget } from './budget.js';
import type { SharedLimits } from './budget.js';
import { SharedDict } from './dict.js';
import { SharedQueue } from './queue.js';
import { SharedEvent, SharedLock } from './sync.js';
import type { Requester, SharedObject, SharedResult, StoredValue } from './types.js';
import { SharedFailure, describe } from './types.js';

export type { SharedLimits };

interface Kinds {
  queue: SharedQueue;
  dict: SharedDict;
  event: SharedEvent;
  lock: SharedLock;
}

export class SharedStore {
  readonly #objects = new Map<string, SharedObject>();
  readonly #budget: ByteBudget;

  constructor(limits: SharedLimits) {
    this.#budget = new ByteBudget(limits);
  }

  /** shared_request and shared_batch messages received, and the calls in them (counted by controller/shared/wire.ts) */
  readonly traffic = { messages: 0, calls: 0 };

  /** Objects and the bytes they hold (for stats). */
  get stats(): { objects: number; bytes: number } {
    return { objects: this.#objects.size, bytes: this.#budget.used };
  }

  /**
   * Carry out one request; `values` are the request's values (split from its
   * buffers). The requester is answered once, now or when its wait ends.
   */
  handle(req: SharedRequest, values: readonly StoredValue[], r: Requester): void {
    let answer: SharedResult | undefined;
    try {
      answer = this.#run(req, values, r);
    } catch (e) {
      if (!(e instanceof SharedFailure)) throw e;
      answer = e.result;
    }
    if (answer) r.reply(answer);
  }

  /** The owner (a client or an engine) is gone: its waiters are dropped, its locks released. */
  ownerGone(owner: string): void {
    for (const o of this.#objects.values()) o.ownerGone(owner);
  }

  /** Drop waiters of these requests of `owner` (nobody listens for their answers any more). */
  cancel(owner: string, msgIds: readonly string[]): void {
    const ids = new Set(msgIds);
    for (const o of this.#objects.values()) o.cancel(owner, ids);
  }

  /** The answer now, or undefined when the call waits (answered later) or was answered already. */
  #run(req: SharedRequest, values: readonly StoredValue[], r: Requester): SharedResult | undefined {
    const v = values[0]!;
    switch (req.op) {
      case 'queue_put':
        this.#queue(req.name, req.maxsize).put(v, req.timeout_ms, r);
        return undefined;
      case 'queue_get':
        this.#queue(req.name, req.maxsize).get(req.timeout_ms, req.nowait === true, r);
        return undefined;
      case 'queue_size':
        return { ok: true, result: this.#queue(req.name, req.maxsize).size };
      case 'queue_close':
        this.#queue(req.name, req.maxsize).close();
        return { ok: true };
      case 'event_wait':
        this.#get('event', req.name).wait(req.timeout_ms, r);
        return undefined;
      case 'lock_acquire':
        this.#get('lock', req.name).acquire(req.timeout_ms, r);
        return undefined;
      case 'destroy':
        return this.#destroy(req.kind, req.name);
      default:
        return this.#now(req, values, r.owner);
    }
  }

  /** Calls answered at once. */
  #now(req: SharedRequest, values: readonly StoredValue[], owner: string): SharedResult {
    const v = values[0]!;
    switch (req.op) {
      case 'dict_get':
        return this.#get('dict', req.name).get(req.key);
      case 'dict_set':
        return this.#get('dict', req.name).set(req.key, v);
      case 'dict_delete':
        return this.#get('dict', req.name).delete(req.key);
      case 'dict_has':
        return this.#get('dict', req.name).has(req.key);
      case 'dict_keys':
        return this.#get('dict', req.name).keys();
      case 'dict_entries':
        return this.#get('dict', req.name).entries();
      case 'dict_size':
        return this.#get('dict', req.name).size();
      case 'dict_update':
        return this.#get('dict', req.name).update(req.keys, values);
      case 'dict_set_if_absent':
        return this.#get('dict', req.name).setIfAbsent(req.key, v);
      case 'dict_increment':
        return this.#get('dict', req.name).increment(req.key, req.by);
      case 'event_set':
        return this.#get('event', req.name).set();
      case 'event_clear':
        return this.#get('event', req.name).clear();
      case 'event_is_set':
        return this.#get('event', req.name).isSet();
      case 'lock_release':
        return this.#get('lock', req.name).release(owner);
      default:
        throw new SharedFailure('SharedObjectError', `unknown shared-object call '${req.op}'`);
    }
  }

  #destroy(kind: SharedKind, name: string): SharedResult {
    const o = this.#objects.get(name);
    if (!o) return { ok: true, result: false };
    this.#checkKind(o, kind);
    this.#objects.delete(name);
    o.destroy();
    return { ok: true, result: true };
  }

  /** The queue of this name, made with `maxsize` when new; a queue made with another maxsize is an error. */
  #queue(name: string, maxsize: number | undefined): SharedQueue {
    const q = this.#get('queue', name, maxsize);
    if (maxsize !== undefined && q.maxsize !== maxsize) {
      throw new SharedFailure(
        'SharedObjectError',
        `${describe('queue', name)} exists with maxsize ${q.maxsize}; this handle asks for maxsize ${maxsize} (leave maxsize out to use it as it is)`,
      );
    }
    return q;
  }

  /** The object of this name and kind, made when new. */
  #get<K extends SharedKind>(kind: K, name: string, maxsize?: number): Kinds[K] {
    const found = this.#objects.get(name);
    if (found) {
      this.#checkKind(found, kind);
      return found as Kinds[K];
    }
    const made = this.#make(kind, name, maxsize ?? 0);
    this.#objects.set(name, made);
    return made as Kinds[K];
  }

  #make(kind: SharedKind, name: string, maxsize: number): SharedObject {
    switch (kind) {
      case 'queue':
        return new SharedQueue(name, maxsize, this.#budget);
      case 'dict':
        return new SharedDict(name, this.#budget);
      case 'event':
        return new SharedEvent(name, this.#budget);
      case 'lock':
        return new SharedLock(name, this.#budget);
    }
  }

  #checkKind(o: SharedObject, kind: SharedKind): void {
    if (o.kind !== kind) {
      throw new SharedFailure('SharedObjectError', `'${o.name.slice(0, 60)}' is a shared ${o.kind}, not a ${kind}: a name holds one kind of object`);
    }
  }
}
