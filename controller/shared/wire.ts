/**
 * The shared-object store on the hub's sockets: a shared_request from a
 * client or an engine is validated (a malformed one is refused with an
 * error_reply naming what is wrong, never a crash), its values split from
 * its buffers, and handed to the store with a requester that answers with a
 * shared_reply to whoever asked. A client's shared_batch (calls it made
 * together) is checked as a whole, then each call is handed to the store in
 * order with a requester of its own; their answers travel back gathered
 * (BatchReplies).
 */
import { ProtocolError } from '../../errors/index.js';
import type { Endpoint, Header, Incoming } from '../../protocol/index.js';
import { SHARED_BATCH_BYTES, SHARED_BATCH_CALLS, SharedRequestSchema, joinValues, splitValues } from '../../protocol/index.js';
import type { SharedBatch, SharedBatchReply, SharedReply, SharedRequest, WireValue } from '../../protocol/index.js';
import type { SharedStore } from './store.js';
import type { Requester, SharedResult, StoredValue } from './types.js';

/** The owner key of a client connection (its routing identity). */
export function clientOwner(identity: Buffer): string {
  return `client:${identity.toString('hex')}`;
}

/** The owner key of an engine (remote code on it holds locks as the engine). */
export function engineOwner(engineId: number): string {
  return `engine:${engineId}`;
}

/**
 * Serve a shared_request that came on `ep` from `owner` (identity first).
 * Answers an error_reply when the request cannot be read.
 */
export function serveShared(store: SharedStore, ep: Endpoint, m: Incoming, owner: string): void {
  const msg = ep.tryParse(m);
  if (msg instanceof Error || msg.type !== 'shared_request') {
    refuseShared(ep, m, msg instanceof Error ? msg : new ProtocolError(`expected a shared_request, got ${msg.type}`, 'schema'));
    return;
  }
  const req = msg.content;
  const values = valuesOf(req, msg.buffers);
  if (typeof values === 'string') {
    refuseShared(ep, m, new ProtocolError(values, 'schema'));
    return;
  }
  store.traffic.messages++;
  store.traffic.calls++;
  const requester: Requester = {
    owner,
    msgId: m.header.msg_id,
    reply: (r) => {
      const { content, buffers } = replyOf(r);
      ep.send(m.identity, 'shared_reply', content, { parent: m.header, buffers });
    },
  };
  store.handle(req, values, requester);
}

/** Serve a shared_request from an engine; one not registered (`engineId` undefined) hears why, so its remote code does not wait forever. */
export function serveEngineShared(store: SharedStore, ep: Endpoint, m: Incoming, engineId: number | undefined): void {
  if (engineId === undefined) refuseShared(ep, m, new ProtocolError('this engine is not registered (it registers again)', 'schema'));
  else serveShared(store, ep, m, engineOwner(engineId));
}

/**
 * Serve a client's shared_batch: a batch that cannot be read as a whole (its
 * schema, call ids used twice, frame counts that do not add up to its
 * buffers) is refused with an error_reply; otherwise each call is handed to
 * the store in order, its own msg id `<batch msg_id>/<call id>` (the store
 * drops waiters by it), and answered through `replies`. A call that is not a
 * valid request fails alone, with a SharedObjectError saying why.
 */
export function serveSharedBatch(store: SharedStore, ep: Endpoint, m: Incoming, owner: string, replies: BatchReplies): void {
  const msg = ep.tryParse(m);
  if (msg instanceof Error || msg.type !== 'shared_batch') {
    refuseShared(ep, m, msg instanceof Error ? msg : new ProtocolError(`expected a shared_batch, got ${msg.type}`, 'schema'));
    return;
  }
  const calls = msg.content.calls;
  const frames = framesOfCalls(calls, msg.buffers);
  if (typeof frames === 'string') {
    refuseShared(ep, m, new ProtocolError(frames, 'schema'));
    return;
  }
  store.traffic.messages++;
  store.traffic.calls += calls.length;
  const to = replies.to(m.identity!, m.header);
  const batchId = m.header.msg_id;
  for (let i = 0; i < calls.length; i++) {
    const { id, req } = calls[i]!;
    const reply = (r: SharedResult): void => to(id, r);
    const parsed = SharedRequestSchema.safeParse(req);
    const values = parsed.success ? valuesOf(parsed.data, frames[i]!) : issueOf(parsed.error.issues[0]);
    if (!parsed.success || typeof values === 'string') {
      reply({ ok: false, ename: 'SharedObjectError', evalue: `the controller refused call ${id} of this shared_batch: ${String(values)}` });
      continue;
    }
    store.handle(parsed.data, values, { owner, msgId: `${batchId}/${id}`, reply });
  }
}

/** Each call's buffers, or what is wrong with the batch. */
function framesOfCalls(calls: SharedBatch['calls'], buffers: readonly Buffer[]): Buffer[][] | string {
  const ids = new Set<number>();
  const out: Buffer[][] = [];
  let at = 0;
  for (const c of calls) {
    if (ids.has(c.id)) return `call id ${c.id} appears twice (each call of a batch needs an id of its own)`;
    ids.add(c.id);
    out.push(c.frames === 0 ? [] : buffers.slice(at, at + c.frames));
    at += c.frames;
  }
  if (at !== buffers.length) return `the frame counts of its calls add up to ${at}, but it has ${buffers.length} buffers`;
  return out;
}

function issueOf(issue: { path: PropertyKey[]; message: string } | undefined): string {
  return issue ? `${issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ` : ''}${issue.message}` : 'not a shared-object request';
}

/** The request's values from its buffers, or what is wrong with them. */
function valuesOf(req: SharedRequest, buffers: readonly Buffer[]): StoredValue[] | string {
  let wire: WireValue[] = [];
  if ('value' in req) wire = [req.value];
  else if (req.op === 'dict_update') {
    if (req.keys.length !== req.values.length) return `dict_update has ${req.keys.length} keys and ${req.values.length} values`;
    wire = req.values;
  }
  const split = splitValues(wire, buffers);
  if (!split) return `the value frame counts of this ${req.op} (${wire.length} values) do not match its ${buffers.length} buffers`;
  return split.map((v) => (typeof v === 'number' ? v : v.map(own)));
}

/**
 * A frame in memory of its own: a small frame is a slice of the whole packed
 * message it came in, which it would keep alive (and which its byte count
 * would not show).
 */
function own(f: Buffer): Buffer {
  return f.byteLength < 65536 && f.buffer.byteLength !== f.byteLength ? Buffer.from(f) : f;
}

/** An answer as the wire carries it: a shared reply and its value frames. */
function replyOf(r: SharedResult): { content: SharedReply; buffers: Buffer[] } {
  if (!r.ok) return { content: { status: 'error', ename: r.ename, evalue: r.evalue, ...(r.setting ? { setting: r.setting } : {}) }, buffers: [] };
  const joined = r.values ? joinValues(r.values) : undefined;
  return {
    content: {
      status: 'ok',
      ...(r.result !== undefined ? { result: r.result } : {}),
      ...(r.keys ? { keys: r.keys } : {}),
      ...(joined ? { values: joined.wire } : {}),
    },
    buffers: joined?.buffers ?? [],
  };
}

/** Answers gathered for one client. */
interface Gathered {
  identity: Buffer;
  /** the batch the first of them answers (the message's parent) */
  parent: Header;
  replies: SharedBatchReply['replies'];
  buffers: Buffer[];
  bytes: number;
}

/**
 * Answers to the calls of shared_batch messages, gathered per client: the
 * answers given in one run of work (the calls of a batch answered at once,
 * gets released by a put...) leave together as one shared_batch_reply once
 * that run ends (a microtask), or at once when SHARED_BATCH_CALLS answers or
 * SHARED_BATCH_BYTES of values are gathered. A call that waits is answered
 * later, in the reply of the run that ends its wait.
 */
export class BatchReplies {
  readonly #ep: Endpoint;
  readonly #out = new Map<string, Gathered>();
  #scheduled = false;

  constructor(ep: Endpoint) {
    this.#ep = ep;
  }

  /** How to answer the calls of the batch `parent` from the client `identity`: (call id, answer). */
  to(identity: Buffer, parent: Header): (id: number, r: SharedResult) => void {
    const key = identity.toString('latin1');
    return (id, r) => this.#add(key, identity, parent, id, r);
  }

  #add(key: string, identity: Buffer, parent: Header, id: number, r: SharedResult): void {
    let g = this.#out.get(key);
    if (!g) {
      g = { identity, parent, replies: [], buffers: [], bytes: 0 };
      this.#out.set(key, g);
    }
    const { content, buffers } = replyOf(r);
    g.replies.push({ id, reply: content, frames: buffers.length });
    for (const b of buffers) {
      g.buffers.push(b);
      g.bytes += b.byteLength;
    }
    if (g.replies.length >= SHARED_BATCH_CALLS || g.bytes >= SHARED_BATCH_BYTES) {
      this.#out.delete(key);
      this.#send(g);
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  #flush(): void {
    this.#scheduled = false;
    for (const g of this.#out.values()) this.#send(g);
    this.#out.clear();
  }

  #send(g: Gathered): void {
    this.#ep.send(g.identity, 'shared_batch_reply', { replies: g.replies }, { parent: g.parent, buffers: g.buffers });
  }
}

/** Answer a shared_request (shared_batch) that cannot be served with an error_reply saying why (counted as refused). */
export function refuseShared(ep: Endpoint, m: Incoming, err: ProtocolError): void {
  ep.refuse(err);
  ep.send(
    m.identity,
    'error_reply',
    { ename: 'InvalidRequest', evalue: `the controller refused this ${m.header.msg_type}: ${err.message}` },
    { parent: m.header },
  );
}
