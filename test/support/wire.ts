/**
 * The protocol by hand, for tests that talk to a socket without the
 * library's endpoints: raw Jupyter-framed messages built and signed (or
 * broken) field by field, a reader of what comes back on a raw socket, and
 * arithmetic on drop counters.
 */
import { randomUUID } from 'node:crypto';
import { DELIMITER, serialize, unpack } from '../../protocol/index.js';
import type { Signer } from '../../protocol/index.js';

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

/** A function source that appends `text` to `file` on the engine that runs it (proof that a request ran). */
export function markerSource(file: string, text: string): string {
  return `() => require('node:fs').appendFileSync(${JSON.stringify(file)}, ${JSON.stringify(text)})`;
}

/** Parts of a load-balanced apply_request of the function `fnSource` with `args`. */
export function applyParts(
  fnSource: string,
  args: unknown[] = [],
  o: { msgId?: string; metadata?: Record<string, unknown> } = {},
): Parts & { msgId: string } {
  return parts(
    'apply_request',
    { kind: 'apply' },
    { msgId: o.msgId, metadata: o.metadata ?? { route: 'lb' }, buffers: serialize(args, 'args', fnSource) },
  );
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

/** A key of the same length and alphabet as `key`, but not `key` (for wrongly signed messages and files with the wrong key). */
export function otherKey(key: string): string {
  const k = key.split('').reverse().join('');
  return k !== key ? k : `${key.startsWith('0') ? '1' : '0'}${key.slice(1)}`;
}
