/**
 * Helpers shared by the reliability and security tests (fuzz, security,
 * faults): a small seeded PRNG, raw Jupyter-framed messages built and signed
 * by hand, a reader of replies on a raw socket, and `tscluster list --json`.
 *
 * This module has no tests of its own (see helpers.ts on how `node --test`
 * treats such files).
 */
import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { DELIMITER, Signer, unpack } from '../protocol/index.js';

// ------------------------------------------------------------------ seeded randomness

/**
 * mulberry32: a tiny, fast, seeded 32-bit PRNG. Good enough to make a fuzz
 * run or a kill schedule reproducible from one number.
 */
export class Rng {
  #a: number;
  constructor(readonly seed: number) {
    this.#a = seed >>> 0;
  }

  /** uniform in [0, 1) */
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) | 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** integer in [lo, hi] */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    assert.ok(xs.length > 0, 'pick from an empty list');
    return xs[this.int(xs.length)]!;
  }

  /** `n` pseudo-random bytes (fast: 4 bytes per draw) */
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) b.writeUInt32LE((this.next() * 4294967296) >>> 0, i);
    for (; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** printable ASCII without `"`, `}` and `\`: appended to `{"` it never closes the string */
  unterminated(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) {
      let c = 32 + this.int(95);
      if (c === 0x22 || c === 0x7d || c === 0x5c) c = 0x61;
      s += String.fromCharCode(c);
    }
    return s;
  }

  /** A child generator with its own stream, so one test's draws do not shift another's. */
  fork(tag: number): Rng {
    return new Rng((Math.imul(this.seed ^ 0x9e3779b9, 0x85ebca6b) + tag * 0x27d4eb2d) >>> 0);
  }
}

/**
 * The seed of this run: `$<envName>` when set (to reproduce a failure), else a
 * fresh random one. Printed either way.
 */
export function seedFromEnv(envName: string, what: string): number {
  const fromEnv = process.env[envName];
  let seed: number;
  if (fromEnv !== undefined && fromEnv !== '') {
    seed = Number(fromEnv);
    assert.ok(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32, `${envName} must be an integer in [0, 2^32), got '${fromEnv}'`);
  } else {
    seed = randomInt(2 ** 32 - 1);
  }
  console.log(`# ${what} seed ${seed} (reproduce with ${envName}=${seed})`);
  return seed;
}

// ------------------------------------------------------------------ raw messages

/** The four JSON frames of a message, and its buffers, as bytes. */
export interface Parts {
  header: Buffer;
  parent: Buffer;
  metadata: Buffer;
  content: Buffer;
  buffers: Buffer[];
}

export interface RawHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
}

export function rawHeader(msgType: string, msgId: string = randomUUID(), session = 'rel-test'): RawHeader {
  return { msg_id: msgId, msg_type: msgType, session, username: 'rel-test', date: new Date().toISOString(), version: '1.0' };
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** Parts of a message of `msgType` with JSON-encoded fields. */
export function parts(
  msgType: string,
  content: unknown,
  o: { metadata?: unknown; parent?: unknown; buffers?: Buffer[]; msgId?: string } = {},
): Parts & { msgId: string } {
  const msgId = o.msgId ?? randomUUID();
  return {
    msgId,
    header: json(rawHeader(msgType, msgId)),
    parent: json(o.parent ?? {}),
    metadata: json(o.metadata ?? {}),
    content: json(content),
    buffers: o.buffers ?? [],
  };
}

/** `[<IDS|MSG>, signature, header, parent, metadata, content, ...buffers]` */
export function framesOf(p: Parts, signature: Buffer): Buffer[] {
  return [DELIMITER, signature, p.header, p.parent, p.metadata, p.content, ...p.buffers];
}

/** The frames of `p`, signed with `signer`'s key. */
export function signedFrames(signer: Signer, p: Parts): Buffer[] {
  return framesOf(p, signer.sign(p.header, p.parent, p.metadata, p.content));
}

/** One logical message received on a raw socket. */
export interface Received {
  msgType: string;
  parentId: string | undefined;
  signature: Buffer;
  content: unknown;
  buffers: Buffer[];
}

function parseJson(b: Buffer | undefined): unknown {
  if (b === undefined) return undefined;
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Decode a logical message (frames from the delimiter on, after unpacking). */
export function decode(frames: Buffer[]): Received | undefined {
  const d = frames.findIndex((f) => f.equals(DELIMITER));
  if (d < 0 || frames.length < d + 6) return undefined;
  const header = parseJson(frames[d + 2]) as { msg_type?: unknown } | undefined;
  const parent = parseJson(frames[d + 3]) as { msg_id?: unknown } | undefined;
  return {
    msgType: typeof header?.msg_type === 'string' ? header.msg_type : '?',
    parentId: typeof parent?.msg_id === 'string' ? parent.msg_id : undefined,
    signature: frames[d + 1]!,
    content: parseJson(frames[d + 5]),
    buffers: frames.slice(d + 6),
  };
}

interface ReceivingSocket {
  receive(): Promise<Buffer[]>;
  readonly closed: boolean;
}

/**
 * Collects every message that arrives on a raw DEALER (packed or not), keyed
 * by the msg_id of its parent, and lets a test wait for the reply to a request.
 */
export class Inbox {
  readonly byParent = new Map<string, Received[]>();
  count = 0;
  #waiters: (() => void)[] = [];

  constructor(sock: ReceivingSocket) {
    void (async () => {
      while (!sock.closed) {
        let zmsg: Buffer[];
        try {
          zmsg = await sock.receive();
        } catch {
          return;
        }
        let messages: Buffer[][];
        try {
          messages = unpack(zmsg);
        } catch {
          continue;
        }
        for (const m of messages) {
          const r = decode(m);
          if (!r) continue;
          this.count++;
          if (r.parentId !== undefined) {
            const list = this.byParent.get(r.parentId);
            if (list) list.push(r);
            else this.byParent.set(r.parentId, [r]);
          }
        }
        const w = this.#waiters;
        this.#waiters = [];
        for (const f of w) f();
      }
    })();
  }

  /** Every message received so far whose parent is `msgId` (of `type`, when given). */
  repliesTo(msgId: string, type?: string): Received[] {
    return (this.byParent.get(msgId) ?? []).filter((r) => type === undefined || r.msgType === type);
  }

  /** Wait for the first message whose parent is `msgId` (of `type`, when given). */
  async waitFor(msgId: string, type: string | undefined, timeoutMs: number): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.repliesTo(msgId, type)[0];
      if (r) return r;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type ?? 'reply'} to ${msgId} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** after - before, per key, without the zeros. */
export function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of [...new Set([...Object.keys(after), ...Object.keys(before)])].sort()) {
    const d = (after[k] ?? 0) - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/** Sorted copy of a count record, for stable deepEqual messages. */
export function sortedCounts(r: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(r).sort()) if (r[k] !== 0) out[k] = r[k]!;
  return out;
}

// ------------------------------------------------------------------ the CLI
