/**
 * The auth_error: the one unsigned message. A client whose connect_request is
 * wrongly signed (a stale connection file, the wrong key) gets it instead of a
 * timeout; it carries no data and grants nothing. Built and read here only.
 */
import { AUTH_ERROR } from './messages.js';
import type { Session } from './session.js';
import { DELIMITER, splitFrames } from './wire.js';

const EMPTY = Buffer.from('{}');
/** at most this many auth errors a second, so they cannot be used to flood */
const PER_SECOND = 20;

/** Builds auth_errors for a ROUTER, rate-limited. */
export class AuthErrors {
  #second = 0;
  #count = 0;

  constructor(private readonly session: Session) {}

  /**
   * The frames of the unsigned auth_error answering `frames` (identity first),
   * when they are a wrongly signed connect_request and the rate allows; else undefined.
   */
  replyTo(frames: Buffer[]): Buffer[] | undefined {
    const req = connectRequestOf(frames);
    if (!req) return undefined;
    const second = Math.floor(Date.now() / 1000);
    if (this.#second !== second) {
      this.#second = second;
      this.#count = 0;
    }
    if (++this.#count > PER_SECOND) return undefined;
    const header = Buffer.from(JSON.stringify({ ...this.session.newHeader('heartbeat'), msg_type: AUTH_ERROR }));
    const parent = Buffer.from(JSON.stringify({ msg_id: req.msgId }));
    const content = Buffer.from(JSON.stringify({ evalue: 'the message signature does not match the key of this controller' }));
    return [req.identity, DELIMITER, Buffer.alloc(0), header, parent, EMPTY, content];
  }
}

function connectRequestOf(frames: Buffer[]): { identity: Buffer; msgId: string } | undefined {
  try {
    const raw = splitFrames(frames);
    const identity = raw.identities[0];
    if (!identity || raw.header.length > 4096) return undefined;
    const h = JSON.parse(raw.header.toString('utf8')) as { msg_type?: unknown; msg_id?: unknown } | null;
    if (h?.msg_type !== 'connect_request' || typeof h.msg_id !== 'string') return undefined;
    return { identity, msgId: h.msg_id };
  } catch {
    return undefined;
  }
}

/** The msg_id of the request an unsigned auth_error answers, or undefined when the frames are not one. */
export function readAuthError(frames: Buffer[]): string | undefined {
  try {
    const raw = splitFrames(frames);
    if (raw.signature.length !== 0) return undefined;
    const h = JSON.parse(raw.header.toString('utf8')) as { msg_type?: unknown } | null;
    const p = JSON.parse(raw.parent.toString('utf8')) as { msg_id?: unknown } | null;
    return h?.msg_type === AUTH_ERROR && typeof p?.msg_id === 'string' ? p.msg_id : undefined;
  } catch {
    return undefined;
  }
}
