/**
 * The data endpoint's messages (`data_put`, `data_ack` in; `data_result`
 * out) signed and checked by hand rather than through the protocol's zod
 * schemas: the execution worker that owns the endpoint then starts without
 * loading zod (tens of milliseconds of CPU per engine, which add up when many
 * engines start on few cores). Same framing, signature and replay rules as
 * every message (protocol/session.ts); the schemas of these messages in
 * protocol/messages.ts describe the same content.
 */
import { randomUUID } from 'node:crypto';
import { ProtocolError } from '../errors/protocol.js';
import { Signer } from '../protocol/signing.js';
import { joinFrames, splitFrames } from '../protocol/wire.js';

const EMPTY = Buffer.from('{}');
const MAX_JSON = 64 * 1024;
const PROTOCOL_VERSION = '1.0';

export type DataIn = { type: 'data_put'; msgId: string; buffers: Buffer[] } | { type: 'data_ack'; msgId: string };

export class DataWire {
  readonly #signer: Signer;
  readonly #session = randomUUID();

  constructor(key: string) {
    this.#signer = new Signer(key);
  }

  /** A verified data_put or data_ack; throws ProtocolError naming what is wrong. */
  read(frames: Buffer[]): DataIn {
    const raw = splitFrames(frames);
    if (raw.header.length > MAX_JSON || raw.content.length > MAX_JSON || raw.metadata.length > MAX_JSON || raw.parent.length > MAX_JSON) {
      throw new ProtocolError('JSON frame over the size limit', 'size');
    }
    const header = json(raw.header, 'header') as { msg_type?: unknown; date?: unknown } | null;
    const dateMs = typeof header?.date === 'string' ? Date.parse(header.date) : NaN;
    this.#signer.verify(raw.signature, raw.header, raw.parent, raw.metadata, raw.content, Number.isNaN(dateMs) ? Infinity : dateMs);
    if (Number.isNaN(dateMs)) throw new ProtocolError('invalid header: no ISO date', 'schema');
    const type = header?.msg_type;
    if (type !== 'data_put' && type !== 'data_ack') throw new ProtocolError(`unexpected ${String(type)} on the data endpoint`, 'schema');
    const content = json(raw.content, 'content') as { msg_id?: unknown } | null;
    const msgId = content?.msg_id;
    if (typeof msgId !== 'string' || msgId.length === 0 || msgId.length > 200) throw new ProtocolError(`invalid ${type} content: msg_id`, 'schema');
    return type === 'data_put' ? { type, msgId, buffers: raw.buffers } : { type, msgId };
  }

  /** The frames of a signed data_result for task `msgId`, to the peer `to`. */
  result(to: string, msgId: string, buffers: Buffer[]): Buffer[] {
    const header = Buffer.from(
      JSON.stringify({
        msg_id: randomUUID(),
        msg_type: 'data_result',
        session: this.#session,
        username: 'engine',
        date: new Date().toISOString(),
        version: PROTOCOL_VERSION,
      }),
    );
    const content = Buffer.from(JSON.stringify({ msg_id: msgId }));
    const signature = this.#signer.sign(header, EMPTY, EMPTY, content);
    return joinFrames([Buffer.from(to)], { signature, header, parent: EMPTY, metadata: EMPTY, content, buffers });
  }
}

function json(frame: Buffer, what: string): unknown {
  try {
    return JSON.parse(frame.toString('utf8'));
  } catch {
    throw new ProtocolError(`${what} frame is not valid JSON`, 'json');
  }
}
