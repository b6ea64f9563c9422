/**
 * Handles on shared objects the controller hosts: queues, dicts, events and
 * locks, by name. The same handles serve a client (`rc.queue('jobs')`) and
 * remote code on an engine (the global `tscluster`), each over its own
 * transport: a client's connection, or the engine's through its execution
 * worker (executor/shared-global.ts). No zod here: execution workers load it.
 */
import { sharedError } from '../errors/shared.js';
import type { SharedKind } from '../errors/shared.js';
import type { SharedReply, SharedRequest } from '../protocol/schemas/shared.js';
import { SHARED_KEY_MAX, SHARED_NAME_MAX, decodeValues, encodeValue, encodeValues } from '../protocol/shared-values.js';
import { checkOptionKeys, isPlainObject, show } from './validate.js';

/** How a shared_request reaches the controller and its reply comes back. */
export interface SharedTransport {
  /**
   * Send a request with its value buffers; resolves with the reply. `waitMs`
   * is how long the controller may hold it (null: no limit), so the transport
   * waits at least that long.
   */
  call(req: SharedRequest, buffers: Buffer[], waitMs: number | null): Promise<{ content: SharedReply; buffers: Buffer[] }>;
}

/** How long a call may wait at the controller. */
export interface WaitOptions {
  /** milliseconds (default: no limit; 0: do not wait) */
  timeoutMs?: number;
}

type Ok = Extract<SharedReply, { status: 'ok' }> & { buffers: Buffer[] };

/** What every handle shares: its name and the calls it makes. */
abstract class Handle {
  readonly #t: SharedTransport;
  /** the object's name */
  readonly name: string;
  abstract readonly kind: SharedKind;

  constructor(t: SharedTransport, name: string) {
    this.#t = t;
    this.name = name;
  }

  protected async call(req: SharedRequest, buffers: Buffer[] = [], waitMs: number | null = 0): Promise<Ok> {
    const r = await this.#t.call(req, buffers, waitMs);
    if (r.content.status === 'error') throw sharedError(r.content.ename, r.content.evalue, this.name, r.content.setting);
    return { ...r.content, buffers: r.buffers };
  }

  /** Delete the object at the controller: its memory is freed and calls waiting on it fail. Resolves false when it did not exist. */
  async destroy(): Promise<boolean> {
    return (await this.call({ op: 'destroy', name: this.name, kind: this.kind })).result === true;
  }
}

/**
 * A FIFO queue shared by every client and engine of the cluster.
 * @example
 * const q = rc.queue<number>('jobs', { maxsize: 100 });
 * await q.put(1);
 * const n = await q.get({ timeoutMs: 5000 });
 */
export class SharedQueue<T = unknown> extends Handle {
  readonly kind = 'queue';
  readonly #maxsize: number | undefined;

  /** @internal */
  constructor(t: SharedTransport, name: string, maxsize: number | undefined) {
    super(t, name);
    this.#maxsize = maxsize;
  }

  #base(): { name: string; maxsize?: number } {
    return { name: this.name, ...(this.#maxsize !== undefined ? { maxsize: this.#maxsize } : {}) };
  }

  /** Add a value, waiting while the queue is full. Rejects with SharedTimeout after `timeoutMs`, QueueClosed on a closed queue. */
  async put(value: T, o: WaitOptions = {}): Promise<void> {
    const wait = waitOf(`queue('${this.name}').put`, o);
    const v = encodeValue(value, 'value');
    await this.call({ op: 'queue_put', ...this.#base(), timeout_ms: wait, value: v.wire }, v.buffers, wait);
  }

  /** Take the first value, waiting while the queue is empty. Rejects with SharedTimeout after `timeoutMs`, QueueClosed once closed and drained. */
  async get(o: WaitOptions = {}): Promise<T> {
    const wait = waitOf(`queue('${this.name}').get`, o);
    return this.#take(await this.call({ op: 'queue_get', ...this.#base(), timeout_ms: wait }, [], wait));
  }

  /** Take the first value without waiting. Rejects with QueueEmpty (QueueClosed once closed and drained). */
  async getNowait(): Promise<T> {
    return this.#take(await this.call({ op: 'queue_get', ...this.#base(), timeout_ms: 0, nowait: true }));
  }

  #take(r: Ok): T {
    return decodeValues(r.values ?? [], r.buffers)[0] as T;
  }

  /** Values in the queue now (not counting puts waiting for room). */
  async size(): Promise<number> {
    return numberOf(await this.call({ op: 'queue_size', ...this.#base() }));
  }

  /** Take no more values: puts are refused (also those waiting), gets drain what is left, then reject with QueueClosed. */
  async close(): Promise<void> {
    await this.call({ op: 'queue_close', ...this.#base() });
  }

  /** Delete the queue: its values are dropped and freed; calls waiting on it fail. Resolves false when it did not exist. */
  delete(): Promise<boolean> {
    return this.destroy();
  }
}

/**
 * A dict of string keys shared by every client and engine of the cluster.
 * `setIfAbsent` and `increment` are atomic.
 * @example
 * const d = rc.dict<number>('counts');
 * await d.increment('done');
 */
export class SharedDict<V = unknown> extends Handle {
  readonly kind = 'dict';

  /** The value at `key`, or undefined. */
  async get(key: string): Promise<V | undefined> {
    const r = await this.call({ op: 'dict_get', name: this.name, key: keyOf('get', key) });
    return decodeValues(r.values ?? [], r.buffers)[0] as V | undefined;
  }

  async set(key: string, value: V): Promise<void> {
    const v = encodeValue(value, 'value');
    await this.call({ op: 'dict_set', name: this.name, key: keyOf('set', key), value: v.wire }, v.buffers);
  }

  /** Remove a key; resolves whether it was there. */
  async delete(key: string): Promise<boolean> {
    return (await this.call({ op: 'dict_delete', name: this.name, key: keyOf('delete', key) })).result === true;
  }

  async has(key: string): Promise<boolean> {
    return (await this.call({ op: 'dict_has', name: this.name, key: keyOf('has', key) })).result === true;
  }

  /** The keys, in insertion order. */
  async keys(): Promise<string[]> {
    return (await this.call({ op: 'dict_keys', name: this.name })).keys ?? [];
  }

  async entries(): Promise<[string, V][]> {
    const r = await this.call({ op: 'dict_entries', name: this.name });
    const values = decodeValues(r.values ?? [], r.buffers);
    return (r.keys ?? []).map((k, i) => [k, values[i] as V]);
  }

  async size(): Promise<number> {
    return numberOf(await this.call({ op: 'dict_size', name: this.name }));
  }

  /** Set every key of `record` at once (all or none, when they would not fit). */
  async update(record: Readonly<Record<string, V>>): Promise<void> {
    if (!isPlainObject(record)) throw new TypeError(`dict('${this.name}').update takes a plain object of keys to values, got ${show(record)}`);
    const keys = Object.keys(record).map((k) => keyOf('update', k));
    const v = encodeValues(
      keys.map((k) => record[k]),
      (i) => `record.${keys[i]!}`,
    );
    await this.call({ op: 'dict_update', name: this.name, keys, values: v.wire }, v.buffers);
  }

  /** Set `key` unless it is there (atomic); resolves with the value it now holds (yours, or the one already there). */
  async setIfAbsent(key: string, value: V): Promise<V> {
    const v = encodeValue(value, 'value');
    const r = await this.call({ op: 'dict_set_if_absent', name: this.name, key: keyOf('setIfAbsent', key), value: v.wire }, v.buffers);
    return decodeValues(r.values ?? [], r.buffers)[0] as V;
  }

  /**
   * Add `by` (default 1) to the number at `key`, atomically; a missing key
   * counts as 0. Resolves with the new number. A key holding anything but a
   * number rejects with SharedObjectError.
   */
  async increment(key: string, by = 1): Promise<number> {
    if (typeof by !== 'number' || !Number.isFinite(by))
      throw new TypeError(`dict('${this.name}').increment: by must be a finite number, got ${show(by)}`);
    return numberOf(await this.call({ op: 'dict_increment', name: this.name, key: keyOf('increment', key), by }));
  }
}

/**
 * A flag every client and engine can set, clear and wait for.
 * @example
 * const go = rc.event('go');
 * await go.wait({ timeoutMs: 10000 });   // true once set, false on timeout
 */
export class SharedEvent extends Handle {
  readonly kind = 'event';

  /** Set the flag: every wait resolves true. */
  async set(): Promise<void> {
    await this.call({ op: 'event_set', name: this.name });
  }

  async clear(): Promise<void> {
    await this.call({ op: 'event_clear', name: this.name });
  }

  async isSet(): Promise<boolean> {
    return (await this.call({ op: 'event_is_set', name: this.name })).result === true;
  }

  /** Resolves true when the flag is set, false after `timeoutMs`. */
  async wait(o: WaitOptions = {}): Promise<boolean> {
    const wait = waitOf(`event('${this.name}').wait`, o);
    return (await this.call({ op: 'event_wait', name: this.name, timeout_ms: wait }, [], wait)).result === true;
  }
}

/**
 * A lock held by one client or engine at a time (not reentrant). A client's
 * lock is released when its connection closes or is lost; remote code holds
 * a lock as its engine, released when that engine dies or leaves.
 * @example
 * const l = rc.lock('db');
 * if (await l.acquire({ timeoutMs: 5000 })) try { ... } finally { await l.release(); }
 */
export class SharedLock extends Handle {
  readonly kind = 'lock';

  /** Resolves true once held, false after `timeoutMs`. */
  async acquire(o: WaitOptions = {}): Promise<boolean> {
    const wait = waitOf(`lock('${this.name}').acquire`, o);
    return (await this.call({ op: 'lock_acquire', name: this.name, timeout_ms: wait }, [], wait)).result === true;
  }

  /** Release it; rejects with SharedObjectError when this client (engine) does not hold it. */
  async release(): Promise<void> {
    await this.call({ op: 'lock_release', name: this.name });
  }
}

/** The four kinds of shared objects, by name: what `rc` and the global `tscluster` of remote code offer. */
export interface SharedObjects {
  /** A FIFO queue; `maxsize` bounds it (0: unbounded; absent: as it is, unbounded when new). */
  queue<T = unknown>(name: string, o?: { maxsize?: number }): SharedQueue<T>;
  dict<V = unknown>(name: string): SharedDict<V>;
  event(name: string): SharedEvent;
  lock(name: string): SharedLock;
}

/** Handles over one transport. */
export function sharedObjects(t: SharedTransport): SharedObjects {
  return {
    queue: <T>(name: string, o: { maxsize?: number } = {}) => {
      checkOptionKeys('queue', o, ['maxsize']);
      const m = o.maxsize;
      if (m !== undefined && (typeof m !== 'number' || !Number.isSafeInteger(m) || m < 0)) {
        throw new RangeError(`queue: maxsize must be a whole number >= 0 (0: unbounded), got ${show(m)}`);
      }
      return new SharedQueue<T>(t, nameOf('queue', name), m);
    },
    dict: <V>(name: string) => new SharedDict<V>(t, nameOf('dict', name)),
    event: (name: string) => new SharedEvent(t, nameOf('event', name)),
    lock: (name: string) => new SharedLock(t, nameOf('lock', name)),
  };
}

function nameOf(kind: SharedKind, name: unknown): string {
  if (typeof name !== 'string') throw new TypeError(`${kind}: the name must be a string, got ${show(name)}`);
  if (name.length === 0 || name.length > SHARED_NAME_MAX) {
    throw new RangeError(`${kind}: the name must have 1 to ${SHARED_NAME_MAX} characters, got ${name.length}`);
  }
  return name;
}

function keyOf(what: string, key: unknown): string {
  if (typeof key !== 'string') throw new TypeError(`dict ${what}: the key must be a string, got ${show(key)}`);
  if (key.length > SHARED_KEY_MAX) throw new RangeError(`dict ${what}: the key must have at most ${SHARED_KEY_MAX} characters, got ${key.length}`);
  return key;
}

/** A wait as the wire takes it: ms, or null for no limit. */
function waitOf(what: string, o: WaitOptions): number | null {
  const t = checkOptionKeys(what, o, ['timeoutMs']).timeoutMs;
  if (t === undefined || t === Infinity) return null;
  if (typeof t !== 'number' || Number.isNaN(t) || t < 0) {
    throw new RangeError(`${what}: timeoutMs must be a number of milliseconds >= 0 (Infinity for no limit), got ${show(t)}`);
  }
  return t;
}

function numberOf(r: Ok): number {
  return typeof r.result === 'number' ? r.result : 0;
}
