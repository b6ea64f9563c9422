/**
 * HMAC-SHA256 signing and verification of the four JSON frames, with a
 * constant-time compare and a bounded history of digests that refuses replays.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ProtocolError } from '../errors/protocol.js';
import { DigestSet } from '../util/digest-set.js';

export const SIGNATURE_SCHEME = 'hmac-sha256';

export class Signer {
  readonly #key: Buffer;
  /**
   * Digests seen, each kept as its first 52 bits (8 bytes in a typed array,
   * where a 64-character string would take ~100); a false match (a fresh
   * message taken for a replay) has a chance of about historySize / 2^52 per message.
   */
  readonly #history = new DigestSet();
  /** ring of digests and their dates, in arrival order */
  readonly #ringKeys: Float64Array;
  readonly #ringDates: Float64Array;
  #count = 0;
  #next = 0;
  /**
   * The newest date among digests the history has forgotten. A message dated
   * at or before it could be a replay of one forgotten, so it is refused:
   * together with the history, nothing can be replayed, however old.
   */
  #horizon = -Infinity;

  /**
   * @param key the shared secret (hex string from the connection file, used as bytes of its text as Jupyter does)
   * @param historySize how many recent digests are remembered; the horizon trails the newest by about that many messages
   * @param horizon refuse messages older than the history reaches; off where messages arrive late by design
   *   (an engine receives requests the controller held in its queue, checked by the controller when they arrived)
   */
  constructor(
    key: string,
    readonly historySize = 262144,
    readonly horizon = true,
  ) {
    if (!key) throw new Error('an empty key is not allowed: every message must be signed');
    this.#key = Buffer.from(key, 'utf8');
    this.#ringKeys = new Float64Array(historySize);
    this.#ringDates = new Float64Array(historySize);
  }

  /** Hex HMAC over header, parent, metadata, content. */
  sign(header: Buffer, parent: Buffer, metadata: Buffer, content: Buffer): Buffer {
    const h = createHmac('sha256', this.#key);
    h.update(header);
    h.update(parent);
    h.update(metadata);
    h.update(content);
    return Buffer.from(h.digest('hex'), 'latin1');
  }

  /**
   * Verify a signature and record it so a replay is refused.
   * @param dateMs the message's (signed) date, checked against the history's horizon
   * Throws ProtocolError with reason `signature` or `replay`.
   */
  verify(signature: Buffer, header: Buffer, parent: Buffer, metadata: Buffer, content: Buffer, dateMs: number): void {
    if (signature.length === 0) throw new ProtocolError('message is not signed', 'signature');
    const expected = this.sign(header, parent, metadata, content);
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      throw new ProtocolError('message signature does not match the key', 'signature');
    }
    // 0 is the set's empty slot: counted as 1 (a false match of 1 in 2^52 more)
    const digest = parseInt(signature.toString('latin1', 0, 13), 16) || 1;
    if (this.#history.has(digest)) throw new ProtocolError('message is a replay of one already received', 'replay');
    if (this.horizon && !(dateMs > this.#horizon)) {
      throw new ProtocolError('message is older than the replay history reaches (a replay, or a sender whose clock is far behind)', 'replay');
    }
    // a date in the future counts as now, so a fast clock cannot move the horizon ahead of real time
    this.#remember(digest, Math.min(dateMs, Date.now()));
  }

  #remember(digest: number, dateMs: number): void {
    if (this.#count < this.historySize) {
      this.#count++;
    } else {
      this.#history.delete(this.#ringKeys[this.#next]!);
      const oldDate = this.#ringDates[this.#next]!;
      if (oldDate > this.#horizon) this.#horizon = oldDate;
    }
    this.#ringKeys[this.#next] = digest;
    this.#ringDates[this.#next] = dateMs;
    this.#next = (this.#next + 1) % this.historySize;
    this.#history.add(digest);
  }
}
