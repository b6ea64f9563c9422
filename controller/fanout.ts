/**
 * Broadcast requests: one apply_request for many engines (a direct view's
 * call on several targets, `metadata.fanout`) becomes one task per target.
 * Each gets its own msg_id (the client chose them, in target order), its own
 * header and metadata, and a signature made here; the content and payload
 * frames are shared, so a large payload crosses the client's link once.
 */
import { ProtocolError } from '../errors/index.js';
import { parseFrame } from '../protocol/index.js';
import type { Header, RawMessage, TaskMetadata } from '../protocol/index.js';
import type { Signer } from '../protocol/signing.js';

/** One engine's share of a broadcast: what a task is made from. */
export interface FanoutPart {
  header: Header;
  raw: RawMessage;
  meta: TaskMetadata;
}

/**
 * Split a broadcast request into one request per target. Throws ProtocolError
 * (the client is told why) when the fanout does not match its targets, or
 * names a msg_id twice or one `known` to this hub. `metadata` is the request's
 * metadata as parsed at the door, `meta` the same checked by its schema.
 */
export function fanOut(
  header: Header,
  raw: RawMessage,
  metadata: Record<string, unknown>,
  meta: TaskMetadata,
  signer: Signer,
  known: (msgId: string) => boolean,
): FanoutPart[] {
  const { fanout, targets, ...rest } = meta;
  if (fanout === undefined) throw new ProtocolError('not a broadcast request', 'schema');
  if (meta.route !== 'direct') throw new ProtocolError("a broadcast (metadata 'fanout') must have route 'direct'", 'schema');
  if (meta.data_in !== undefined) throw new ProtocolError("a broadcast carries its payload with it (no 'data_in')", 'schema');
  if (targets?.length !== fanout.length) {
    throw new ProtocolError(`a broadcast names ${fanout.length} msg_id(s) for ${targets?.length ?? 0} target(s): one per target expected`, 'schema');
  }
  const ids = new Set(fanout);
  if (ids.size !== fanout.length) throw new ProtocolError('a broadcast names a msg_id twice', 'schema');
  if (ids.has(header.msg_id)) throw new ProtocolError("a broadcast's msg_ids must differ from its own", 'schema');
  const taken = fanout.find(known);
  if (taken !== undefined) throw new ProtocolError(`duplicate msg_id ${taken}`, 'replay');
  const baseHeader = parseFrame(raw.header, 'header') as Record<string, unknown>;
  const { fanout: _, ...baseMeta } = metadata;
  return fanout.map((msgId, i) => {
    const target = targets[i]!;
    const h = Buffer.from(JSON.stringify({ ...baseHeader, msg_id: msgId }));
    const m = Buffer.from(JSON.stringify({ ...baseMeta, targets: [target] }));
    return {
      header: { ...header, msg_id: msgId },
      raw: { ...raw, header: h, metadata: m, signature: signer.sign(h, raw.parent, m, raw.content) },
      meta: { ...rest, targets: [target] },
    };
  });
}
