/**
 * The shared-object store on the hub's sockets: a shared_request from a
 * client or an engine is validated (a malformed one is refused with an
 * error_reply naming what is wrong, never a crash), its values split from
 * its buffers, and handed to the store with a requester that answers with a
 * shared_reply to whoever asked.
 */
import { ProtocolError } from '../../errors/index.js';
import type { Endpoint, Incoming, Message } from '../../protocol/index.js';
import { joinValues, splitValues } from '../../protocol/index.js';
import type { SharedReply, SharedRequest, WireValue } from '../../protocol/index.js';
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
  const values = valuesOf(req, msg);
  if (typeof values === 'string') {
    refuseShared(ep, m, new ProtocolError(values, 'schema'));
    return;
  }
  const requester: Requester = {
    owner,
    msgId: m.header.msg_id,
    reply: (r) => answer(ep, m, r),
  };
  store.handle(req, values, requester);
}

/** Serve a shared_request from an engine; one not registered (`engineId` undefined) hears why, so its remote code does not wait forever. */
export function serveEngineShared(store: SharedStore, ep: Endpoint, m: Incoming, engineId: number | undefined): void {
  if (engineId === undefined) refuseShared(ep, m, new ProtocolError('this engine is not registered (it registers again)', 'schema'));
  else serveShared(store, ep, m, engineOwner(engineId));
}

/** The request's values from its buffers, or what is wrong with them. */
function valuesOf(req: SharedRequest, msg: Message<'shared_request'>): StoredValue[] | string {
  let wire: WireValue[] = [];
  if ('value' in req) wire = [req.value];
  else if (req.op === 'dict_update') {
    if (req.keys.length !== req.values.length) return `dict_update has ${req.keys.length} keys and ${req.values.length} values`;
    wire = req.values;
  }
  const split = splitValues(wire, msg.buffers);
  if (!split) return `the value frame counts of this ${req.op} (${wire.length} values) do not match its ${msg.buffers.length} buffers`;
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

function answer(ep: Endpoint, m: Incoming, r: SharedResult): void {
  let content: SharedReply;
  let buffers: Buffer[] = [];
  if (r.ok) {
    const joined = r.values ? joinValues(r.values) : undefined;
    buffers = joined?.buffers ?? [];
    content = {
      status: 'ok',
      ...(r.result !== undefined ? { result: r.result } : {}),
      ...(r.keys ? { keys: r.keys } : {}),
      ...(joined ? { values: joined.wire } : {}),
    };
  } else {
    content = { status: 'error', ename: r.ename, evalue: r.evalue, ...(r.setting ? { setting: r.setting } : {}) };
  }
  ep.send(m.identity, 'shared_reply', content, { parent: m.header, buffers });
}

/** Answer a shared_request that cannot be served with an error_reply saying why (counted as refused). */
export function refuseShared(ep: Endpoint, m: Incoming, err: ProtocolError): void {
  ep.refuse(err);
  ep.send(
    m.identity,
    'error_reply',
    { ename: 'InvalidRequest', evalue: `the controller refused this shared_request: ${err.message}` },
    { parent: m.header },
  );
}
