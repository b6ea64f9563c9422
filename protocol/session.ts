/**
 * A Session builds signed messages and verifies and parses received ones.
 * One per process endpoint (client, engine, controller); its id goes in every header.
 */
import { userInfo } from 'node:os';
import { v4 as uuidv4 } from 'uuid';
import { ProtocolError } from '../errors/protocol.js';
import { ContentSchemas, HeaderSchema, ParentSchema, PROTOCOL_VERSION, isMsgType } from './messages.js';
import type { AnyMessage, ContentOf, Header, MsgType } from './messages.js';
import { Signer } from './signing.js';
import { joinFrames, splitFrames } from './wire.js';
import type { RawMessage } from './wire.js';

/** JSON frames above this are refused: payloads belong in buffers. */
export const MAX_JSON_FRAME = 64 * 1024 * 1024;
const MAX_HEADER_FRAME = 64 * 1024;

const EMPTY_OBJECT = Buffer.from('{}');

export interface BuildOptions {
  parent?: Header | Record<string, never> | Buffer;
  metadata?: Record<string, unknown>;
  buffers?: Buffer[];
  msgId?: string;
}

let usernameCache: string | undefined;
function username(): string {
  if (usernameCache === undefined) {
    try {
      usernameCache = userInfo().username;
    } catch {
      usernameCache = 'unknown';
    }
  }
  return usernameCache;
}

export class Session {
  readonly id: string = uuidv4();
  readonly signer: Signer;
  readonly #username = username();

  /** @param opts.replayHorizon refuse messages older than the replay history reaches (see Signer) */
  constructor(key: string, opts: { replayHorizon?: boolean } = {}) {
    this.signer = new Signer(key, undefined, opts.replayHorizon ?? true);
  }

  newHeader<T extends MsgType>(msgType: T, msgId: string = uuidv4()): Header & { msg_type: T } {
    return {
      msg_id: msgId,
      msg_type: msgType,
      session: this.id,
      username: this.#username,
      date: new Date().toISOString(),
      version: PROTOCOL_VERSION,
    };
  }

  /** Build the frames of a signed message. Returns the frames and the header used. */
  build<T extends MsgType>(
    identities: readonly Buffer[],
    msgType: T,
    content: ContentOf<T>,
    opts: BuildOptions = {},
  ): { frames: Buffer[]; header: Header & { msg_type: T } } {
    const header = this.newHeader(msgType, opts.msgId);
    const h = Buffer.from(JSON.stringify(header));
    const p = opts.parent === undefined ? EMPTY_OBJECT : Buffer.isBuffer(opts.parent) ? opts.parent : Buffer.from(JSON.stringify(opts.parent));
    const m = opts.metadata === undefined ? EMPTY_OBJECT : Buffer.from(JSON.stringify(opts.metadata));
    const c = Buffer.from(JSON.stringify(content));
    const signature = this.signer.sign(h, p, m, c);
    return {
      frames: joinFrames(identities, { signature, header: h, parent: p, metadata: m, content: c, buffers: opts.buffers ?? [] }),
      header,
    };
  }

  /**
   * Verify the signature of a raw message (once per hop) and parse its header.
   * Throws ProtocolError naming what is wrong.
   */
  verify(frames: Buffer[]): { raw: RawMessage; header: Header } {
    const raw = splitFrames(frames);
    if (raw.header.length > MAX_HEADER_FRAME || raw.parent.length > MAX_HEADER_FRAME) {
      throw new ProtocolError('header frame over the size limit', 'size');
    }
    if (raw.metadata.length > MAX_JSON_FRAME || raw.content.length > MAX_JSON_FRAME) {
      throw new ProtocolError(`JSON frame over the ${MAX_JSON_FRAME}-byte limit`, 'size');
    }
    // the header is read before the signature is recorded: the replay check needs its (signed) date;
    // what is wrong with it is reported after the signature check, as before
    const json = parseFrameUnverified(raw);
    const h = json === NOT_JSON ? undefined : HeaderSchema.safeParse(json);
    const dateMs = h?.success ? Date.parse(h.data.date) : NaN;
    this.signer.verify(raw.signature, raw.header, raw.parent, raw.metadata, raw.content, Number.isNaN(dateMs) ? Infinity : dateMs);
    if (h === undefined) throw new ProtocolError('header frame is not valid JSON', 'json');
    if (!h.success) throw new ProtocolError(`invalid header: ${h.error.issues[0]?.message ?? 'schema'}`, 'schema');
    if (Number.isNaN(dateMs)) throw new ProtocolError(`invalid header: date '${h.data.date}' is not an ISO date`, 'schema');
    return { raw, header: h.data };
  }

  /** Verify, then parse and validate every JSON frame against the schema of its msg_type. */
  parse(frames: Buffer[]): AnyMessage {
    const { raw, header } = this.verify(frames);
    return parseVerified(raw, header);
  }
}

/** Parse the remaining frames of a message whose signature and header were verified. */
export function parseVerified(raw: RawMessage, header: Header): AnyMessage {
  if (!isMsgType(header.msg_type)) throw new ProtocolError(`unknown msg_type '${header.msg_type}'`, 'schema');
  const parent = ParentSchema.safeParse(parseFrame(raw.parent, 'parent_header'));
  if (!parent.success) throw new ProtocolError('invalid parent_header', 'schema');
  const metadata = parseFrame(raw.metadata, 'metadata');
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new ProtocolError('metadata is not a JSON object', 'schema');
  }
  const schema = ContentSchemas[header.msg_type];
  const content = schema.safeParse(parseFrame(raw.content, 'content'));
  if (!content.success) {
    const issue = content.error.issues[0];
    throw new ProtocolError(`invalid ${header.msg_type} content: ${issue ? `${issue.path.join('.')} ${issue.message}` : 'schema'}`, 'schema');
  }
  // the content was validated by the schema of this msg_type: the pairing the union expresses
  return {
    type: header.msg_type,
    identities: raw.identities,
    header,
    parent: parent.data,
    metadata: metadata as Record<string, unknown>,
    content: content.data,
    buffers: raw.buffers,
    raw,
  } as AnyMessage;
}

const NOT_JSON = Symbol('not JSON');

/** The header frame's JSON, or NOT_JSON (the signature check runs first either way). */
function parseFrameUnverified(raw: RawMessage): unknown {
  try {
    return JSON.parse(raw.header.toString('utf8'));
  } catch {
    return NOT_JSON;
  }
}

export function parseFrame(frame: Buffer, what: string): unknown {
  try {
    return JSON.parse(frame.toString('utf8'));
  } catch {
    throw new ProtocolError(`${what} frame is not valid JSON`, 'json');
  }
}
