/**
 * What the shared-object store works with: who asks (a requester, answered
 * once), what it answers, and the failure a call ends with. No sockets here:
 * controller/shared/wire.ts connects requesters to the hub's endpoints.
 */
import type { SharedErrorName, SharedKind } from '../../errors/shared.js';
import type { StoredValue } from '../../protocol/shared-values.js';

export type { StoredValue };
export type { SharedKind };

/** The answer to one call. */
export type SharedResult =
  | { ok: true; result?: boolean | number | null; keys?: string[]; values?: StoredValue[] }
  | { ok: false; ename: SharedErrorName; evalue: string; setting?: string };

/** Who made a request, and how to answer it. */
export interface Requester {
  /**
   * Who waits and who holds locks: `client:<routing id>` or `engine:<id>`.
   * Its waiters are dropped, and its locks released, when it is gone.
   */
  owner: string;
  /** the request's msg_id (an engine cancels waits by it) */
  msgId: string;
  /** answer the request; called once */
  reply(r: SharedResult): void;
}

/** A call that cannot be carried out: thrown inside the store, answered as an error. */
export class SharedFailure extends Error {
  constructor(
    readonly ename: SharedErrorName,
    message: string,
    readonly setting?: string,
  ) {
    super(message);
  }

  get result(): SharedResult {
    return { ok: false, ename: this.ename, evalue: this.message, ...(this.setting ? { setting: this.setting } : {}) };
  }
}

/** One object of the store, whatever its kind. */
export interface SharedObject {
  readonly kind: SharedKind;
  readonly name: string;
  /** bytes charged to it (its values, keys and a fixed part) */
  bytes: number;
  /** the owner is gone: drop its waiters (and release what it holds) */
  ownerGone(owner: string): void;
  /** drop the waiters of these requests of `owner` (unanswered: nobody listens any more) */
  cancel(owner: string, msgIds: ReadonlySet<string>): void;
  /** the object is deleted: every waiter fails */
  destroy(): void;
}

/** `queue 'jobs'`, for messages. */
export function describe(kind: SharedKind, name: string): string {
  return `${kind} '${name.length > 60 ? `${name.slice(0, 60)}...` : name}'`;
}

/** Fail the waiters of a deleted object. */
export function deletedFailure(kind: SharedKind, name: string): SharedFailure {
  return new SharedFailure('SharedObjectError', `${describe(kind, name)} was deleted while this call waited`);
}
