/**
 * HMAC-SHA256 signing and verification of the four JSON frames, with a
 * constant-time compare and a bounded history of digests that refuses replays.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ProtocolError } from './errors.js';

export const SIGNATURE_SCHEME = 'hmac-sha256';

export class Signer {
  readonly #key: Buffer;
  readonly #history = new Set<string>();
  readonly #order: string[] = [];
  #next = 0;

  /**
   * @param key the shared secret (hex string from the connection file, used as bytes of its text as Jupyter does)
   * @param historySize how many recent digests are remembered to refuse replays
   */
  constructor(key: string, readonly historySize = 65536) {
    if (!key) throw new Error('an empty key is not allowed: every message must be signed');
    this.#key = Buffer.from(key, 'utf8');
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
   * Throws ProtocolError with reason `signature` or `replay`.
   */
  verify(signature: Buffer, header: Buffer, parent: Buffer, metadata: Buffer, content: Buffer): void {
    if (signature.length === 0) throw new ProtocolError('message is not signed', 'signature');
    const expected = this.sign(header, parent, metadata, content);
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      throw new ProtocolError('message signature does not match the key', 'signature');
    }
    const digest = signature.toString('latin1');
    if (this.#history.has(digest)) throw new ProtocolError('message is a replay of one already received', 'replay');
    this.#remember(digest);
  }

  #remember(digest: string): void {
    if (this.#order.length < this.historySize) {
      this.#order.push(digest);
    } else {
      this.#history.delete(this.#order[this.#next]!);
      this.#order[this.#next] = digest;
      this.#next = (this.#next + 1) % this.historySize;
    }
    this.#history.add(digest);
  }
}
