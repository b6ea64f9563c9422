/**
 * The fuzz-case generator of the fuzz suites (test/fuzz-*.test.ts): from a
 * seeded Rng, malformed messages of every kind for one receiving side, each
 * with the drops its receiver must count for it and the answers it must give
 * to the well-formed messages sent along. Random frames, truncated messages,
 * no delimiter, invalid JSON, valid JSON failing the schema, wrong or missing
 * signatures, replays, oversized frames, packed-transport garbage.
 */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { DELIMITER, MAX_JSON_FRAME, PACK_MAGIC, Signer, deserialize, pack, serialize } from '../../protocol/index.js';
import { seedFromEnv } from './rng.js';
import type { Rng } from './rng.js';
import { framesOf, parts, rawHeader, signedFrames, sortedCounts } from './wire.js';
import type { Inbox, Parts } from './wire.js';

/** malformed ZeroMQ messages per socket */
export const PER_SOCKET = 10000;
/** how many of them carry a JSON frame over MAX_JSON_FRAME (64 MiB) */
export const OVER_MAX_JSON = 2;

/** The indices (of PER_SOCKET) at which a fuzz run sends a message with a JSON frame over MAX_JSON_FRAME, spread evenly. */
export function overMaxJsonAt(): Set<number> {
  return new Set(Array.from({ length: OVER_MAX_JSON }, (_, i) => Math.floor(((i + 1) * PER_SOCKET) / (OVER_MAX_JSON + 1))));
}

export type Side = 'client' | 'engine' | 'engine-direct';
export type Reason = 'framing' | 'signature' | 'replay' | 'json' | 'schema' | 'size';
export type Drops = Partial<Record<Reason, number>>;

/** A request that must be answered exactly once. */
export interface Expect {
  msgId: string;
  /** the result of a well-formed apply (x => x, or x => x * 3 + 1 on an engine) */
  value?: number;
  /** a request with a garbage payload: an error reply */
  error?: true;
}

export interface Out {
  frames: Buffer[];
  expect?: Expect;
}

export interface FuzzCase {
  kind: string;
  /** well-formed messages sent before the malformed one (originals of replays) */
  pre: Out[];
  frames: Buffer[];
  /** the drops the controller must count for it (client and engine sides) */
  drops: Drops;
  expect?: Expect;
}

export const KINDS = [
  'random-frames',
  'no-delimiter',
  'truncated-frames',
  'truncated-json',
  'bit-flip',
  'invalid-json',
  'schema',
  'wrong-signature',
  'replay',
  'oversized',
  'packed-garbage',
  'packed-batch',
  'garbage-payload',
] as const;
export type Kind = (typeof KINDS)[number];
/** relative frequency of each kind */
export const WEIGHTS: Record<Kind, number> = {
  'random-frames': 8,
  'no-delimiter': 8,
  'truncated-frames': 8,
  'truncated-json': 8,
  'bit-flip': 8,
  'invalid-json': 10,
  schema: 12,
  'wrong-signature': 10,
  replay: 8,
  oversized: 4,
  'packed-garbage': 10,
  'packed-batch': 5,
  'garbage-payload': 1,
};
/** kinds whose logical message is dropped by the handler, not by unpack: these may go in a packed batch */
export const BATCHABLE = ['no-delimiter', 'truncated-frames', 'truncated-json', 'bit-flip', 'invalid-json', 'schema', 'wrong-signature'] as const;

export const INVALID_JSON: readonly string[] = [
  '',
  '{',
  '{"a":',
  'nul',
  'undefined',
  "{'a':1}",
  '[1,2',
  '{"a":1,}',
  'NaN',
  '\u0000',
  '}{',
  '"unterminated',
];

/** Which JSON frames the receiver parses for a message type (beyond the header, always parsed). */
export function parsedFrames(side: Side, type: string): ('parent' | 'metadata' | 'content')[] {
  if (side === 'engine-direct') return ['parent', 'metadata', 'content'];
  if (side === 'client') {
    if (type === 'apply_request') return ['metadata'];
    if (['result_request', 'abort_request', 'purge_request', 'shutdown_request'].includes(type)) return ['parent', 'metadata', 'content'];
    return [];
  }
  return type === 'registration_request' ? ['parent', 'metadata', 'content'] : [];
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

let overMax: Buffer | undefined;
/** One buffer over MAX_JSON_FRAME, shared (sending it does not change it). */
function overMaxFrame(): Buffer {
  overMax ??= Buffer.alloc(MAX_JSON_FRAME + 1 + 1000, 0x20);
  return overMax;
}

export class Fuzzer {
  readonly signer: Signer;
  readonly wrong: Signer;
  /** well-formed messages already sent, accepted by the receiver: replay material */
  readonly pool: Buffer[][] = [];
  /** well-formed apply_requests already sent (client side): for a second request with the same msg_id */
  readonly applies: string[] = [];
  readonly counts: Partial<Record<Kind, number>> = {};
  readonly #total = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);

  /**
   * @param seen signatures the receiver has verified so far (its replay history):
   *   a correctly signed message whose bytes repeat an earlier one (a broken
   *   header over `{}` frames, say) is a replay, whatever else is wrong with it
   */
  constructor(
    readonly rng: Rng,
    key: string,
    readonly side: Side,
    readonly seen: Set<string> = new Set(),
  ) {
    this.signer = new Signer(key);
    let wrongKey = key;
    while (wrongKey === key) wrongKey = rng.bytes(32).toString('hex');
    this.wrong = new Signer(wrongKey);
  }

  id(): string {
    return this.rng.uuid('a');
  }

  /** A well-formed message of this side, to be broken. */
  template(): Parts & { msgId: string; type: string } {
    const r = this.rng;
    const msgId = this.id();
    const at = <T extends string>(
      type: T,
      content: unknown,
      o: { metadata?: unknown; parent?: unknown; buffers?: Buffer[] } = {},
    ): Parts & { msgId: string; type: T } => ({
      ...parts(type, content, { ...o, msgId }),
      type,
    });
    switch (this.side) {
      case 'client':
        return r.pick([
          () => at('apply_request', { kind: 'apply' }, { metadata: { route: 'lb' }, buffers: serialize([r.int(1000)], 'args', '(x) => x') }),
          () => at('stats_request', {}),
          () => at('queue_request', {}),
          () => at('connect_request', {}),
          () => at('result_request', { msg_ids: [this.id()] }),
          () => at('abort_request', { msg_ids: [this.id()] }),
          () => at('purge_request', { msg_ids: [this.id()] }),
          () => at('shutdown_request', { hub: false, targets: [999999] }),
        ])();
      case 'engine':
        return r.pick([
          () => at('registration_request', { uuid: this.id(), pid: r.between(2, 99999), hostname: 'fuzz', cwd: '/' }),
          () =>
            at(
              'apply_reply',
              { status: 'ok' },
              {
                parent: rawHeader('apply_request', this.id()),
                metadata: { engine_id: 0, engine_uuid: null, status: 'ok', started: null, completed: null },
              },
            ),
          () => at('heartbeat', {}),
          () => at('stream', { name: 'stdout', text: 'fuzz' }, { parent: rawHeader('apply_request', this.id()) }),
        ])();
      case 'engine-direct':
        return r.pick([
          () => at('apply_request', { kind: 'apply' }, { metadata: { route: 'lb' }, buffers: serialize([r.int(1000)], 'args', '(x) => x * 3 + 1') }),
          () => at('heartbeat', {}),
          () => at('abort_request', { msg_ids: [this.id()] }),
        ])();
    }
  }

  signed(p: Parts): Buffer[] {
    return signedFrames(this.signer, p);
  }

  /** A well-formed message the receiver accepts, and what it must answer. */
  original(): Out {
    const o = this.#original();
    this.seen.add(o.frames[1]!.toString('latin1'));
    return o;
  }

  #original(): Out {
    const r = this.rng;
    const msgId = this.id();
    if (this.side === 'client') {
      if (r.chance(0.3)) {
        const x = r.int(100000);
        this.applies.push(msgId);
        return {
          frames: this.signed(
            parts('apply_request', { kind: 'apply' }, { msgId, metadata: { route: 'lb' }, buffers: serialize([x], 'args', '(x) => x') }),
          ),
          expect: { msgId, value: x },
        };
      }
      return { frames: this.signed(parts(r.pick(['stats_request', 'queue_request']), {}, { msgId })), expect: { msgId } };
    }
    if (this.side === 'engine-direct' && r.chance(0.5)) {
      const x = r.int(100000);
      return {
        frames: this.signed(
          parts('apply_request', { kind: 'apply' }, { msgId, metadata: { route: 'lb' }, buffers: serialize([x], 'args', '(x) => x * 3 + 1') }),
        ),
        expect: { msgId, value: x * 3 + 1 },
      };
    }
    // from an unregistered peer on the controller's engine port, a heartbeat is accepted and ignored
    return { frames: this.signed(parts('heartbeat', {}, { msgId })) };
  }

  next(kind?: Kind): FuzzCase {
    let k = kind;
    if (k === undefined) {
      let x = this.rng.next() * this.#total;
      for (const c of KINDS) {
        x -= WEIGHTS[c];
        if (x < 0) {
          k = c;
          break;
        }
      }
      k ??= 'random-frames';
    }
    if (k === 'garbage-payload' && this.side === 'engine') k = 'schema';
    this.counts[k] = (this.counts[k] ?? 0) + 1;
    const c = this.#make(k);
    return { kind: k, pre: [], ...c };
  }

  /**
   * A correctly signed message that passes the size checks is remembered by
   * the receiver's signer before its JSON is read: if the same signature was
   * verified before, it is refused as a replay instead.
   */
  #verified(frames: Buffer[], drops: Drops): Drops {
    const sig = frames[1]!.toString('latin1');
    if (this.seen.has(sig)) return { replay: 1 };
    this.seen.add(sig);
    return drops;
  }

  /** A message with a JSON frame over MAX_JSON_FRAME. */
  overMax(): FuzzCase {
    const t = this.template();
    const big = overMaxFrame();
    const p = this.rng.chance(0.5) ? { ...t, content: big } : { ...t, metadata: big };
    this.counts.oversized = (this.counts.oversized ?? 0) + 1;
    return { kind: 'oversized', pre: [], frames: this.signed(p), drops: { size: 1 } };
  }

  #make(k: Kind): Omit<FuzzCase, 'kind' | 'pre'> & { pre?: Out[] } {
    const r = this.rng;
    switch (k) {
      case 'random-frames': {
        const frames = Array.from({ length: r.between(1, 6) }, () => r.bytes(r.int(300)));
        const f0 = frames[0]!;
        // never the packed magic, never the delimiter: then it is garbage for sure
        if (f0.length > 0 && f0[0] === PACK_MAGIC[0]) f0[0] = 0x55;
        if (f0.equals(DELIMITER)) f0[0] = 0x55;
        return { frames, drops: { framing: 1 } };
      }
      case 'no-delimiter': {
        const f = this.signed(this.template());
        const v = r.int(3);
        if (v === 0) return { frames: f.slice(1), drops: { framing: 1 } };
        if (v === 1) {
          const d = Buffer.from(DELIMITER);
          const variants = [
            () => {
              const i = r.int(d.length);
              d[i] = d[i]! ^ r.between(1, 255);
              return d;
            },
            () => Buffer.from('<IDS|MSG> '),
            () => Buffer.from('<ids|msg>'),
            () => Buffer.from('<IDS|MSG'),
            () => Buffer.from('IDS|MSG'),
          ];
          let bad = r.pick(variants)();
          if (bad.equals(DELIMITER) || bad[0] === PACK_MAGIC[0]) bad = Buffer.from('<IDS|MSG');
          return { frames: [bad, ...f.slice(1)], drops: { framing: 1 } };
        }
        // identity-like frames in front of the delimiter: a DEALER's message must start with it
        const junk = r.bytes(r.between(1, 40));
        if (junk[0] === PACK_MAGIC[0] || junk[0] === DELIMITER[0]) junk[0] = 0x55;
        return { frames: [junk, ...f], drops: { framing: 1 } };
      }
      case 'truncated-frames': {
        const f = this.signed(this.template());
        return { frames: [DELIMITER, ...f.slice(1, 6).slice(0, r.int(5))], drops: { framing: 1 } };
      }
      case 'truncated-json': {
        const t = this.template();
        const f = this.signed(t);
        const i = r.between(2, 5);
        f[i] = f[i]!.subarray(0, r.int(f[i]!.length));
        return { frames: f, drops: { signature: 1 } };
      }
      case 'bit-flip': {
        const f = this.signed(this.template());
        const i = r.between(2, 5);
        const b = Buffer.from(f[i]!);
        const at = r.int(b.length);
        b[at] = b[at]! ^ r.between(1, 255);
        f[i] = b;
        return { frames: f, drops: { signature: 1 } };
      }
      case 'invalid-json': {
        const t = this.template();
        const bad = r.chance(0.2)
          ? Buffer.from(`{"${r.unterminated(r.between(0, 60))}`)
          : r.chance(0.1)
            ? Buffer.from([0xff, 0xfe, 0xfd])
            : Buffer.from(r.pick(INVALID_JSON));
        const which = r.pick(['header', ...parsedFrames(this.side, t.type)] as const);
        const frames = this.signed({ ...t, [which]: bad });
        return { frames, drops: this.#verified(frames, { json: 1 }) };
      }
      case 'schema':
        return this.#schema();
      case 'wrong-signature': {
        const t = this.template();
        const right = this.signer.sign(t.header, t.parent, t.metadata, t.content);
        const variants: (() => Buffer)[] = [
          () => this.wrong.sign(t.header, t.parent, t.metadata, t.content),
          () => Buffer.alloc(0),
          () => Buffer.from(r.bytes(32).toString('hex')),
          () => {
            const s = Buffer.from(right);
            const i = r.int(s.length);
            s[i] = s[i] === 0x30 ? 0x31 : 0x30;
            return s;
          },
          () => Buffer.concat([right, Buffer.from('0')]),
          () => right.subarray(0, r.int(right.length)),
          () => r.bytes(32),
          () =>
            Buffer.from(
              right
                .toString('latin1')
                .toUpperCase()
                .replace(/^[0-9]/, 'X'),
            ),
        ];
        return { frames: framesOf(t, r.pick(variants)()), drops: { signature: 1 } };
      }
      case 'replay': {
        const pre: Out[] = [];
        if (this.side === 'client' && this.applies.length > 0 && r.chance(0.2)) {
          // a new, correctly signed request reusing the msg_id of an accepted one
          const msgId = r.pick(this.applies);
          const p = parts(
            'apply_request',
            { kind: 'apply' },
            { msgId, metadata: { route: 'lb', label: 'same msg_id' }, buffers: serialize([1], 'args', '(x) => x') },
          );
          const frames = this.signed(p);
          this.seen.add(frames[1]!.toString('latin1'));
          return { frames, drops: { replay: 1 } };
        }
        if (this.pool.length === 0 || r.chance(0.3)) {
          const o = this.original();
          pre.push(o);
          this.pool.push(o.frames);
        }
        return { pre, frames: r.pick(this.pool), drops: { replay: 1 } };
      }
      case 'oversized': {
        const t = this.template();
        const v = r.int(20);
        if (v === 0) {
          // a few MB of random bytes
          const big = r.bytes(r.between(1, 4) * 1024 * 1024 + r.int(1000));
          if (big[0] === PACK_MAGIC[0] || big[0] === DELIMITER[0]) big[0] = 0x55;
          return { frames: [big], drops: { framing: 1 } };
        }
        if (v === 1) {
          // a few MB of content, wrongly signed
          const big = r.bytes(r.between(1, 3) * 1024 * 1024);
          return { frames: framesOf({ ...t, content: big }, this.wrong.sign(t.header, t.parent, t.metadata, big)), drops: { signature: 1 } };
        }
        // a header or parent frame over 64 KiB (checked before the signature)
        const pad = 'x'.repeat(64 * 1024 + r.int(4096));
        const h = Buffer.from(JSON.stringify({ ...rawHeader(t.type, t.msgId), username: pad }));
        const p = r.chance(0.5) ? { ...t, header: h } : { ...t, parent: h };
        return { frames: r.chance(0.5) ? this.signed(p) : framesOf(p, r.bytes(64)), drops: { size: 1 } };
      }
      case 'packed-garbage':
        return { frames: this.#packedGarbage(), drops: { framing: 1 } };
      case 'packed-batch': {
        const n = r.between(2, 6);
        const msgs: Buffer[][] = [];
        const drops: Drops = {};
        for (let i = 0; i < n; i++) {
          let c = this.#make(r.pick(BATCHABLE));
          // in a packed batch, frames in front of a delimiter are read as routing identities: keep to garbage that stays garbage
          if (!c.frames[0]!.equals(DELIMITER) && c.frames.slice(1, 8).some((f) => f.equals(DELIMITER))) c = this.#make('truncated-frames');
          msgs.push(c.frames);
          for (const [reason, count] of Object.entries(c.drops) as [Reason, number][]) drops[reason] = (drops[reason] ?? 0) + count;
        }
        return { frames: pack(msgs), drops };
      }
      case 'garbage-payload': {
        const msgId = this.id();
        const buffers = Array.from({ length: r.between(1, 3) }, () => r.bytes(r.between(1, 200)));
        // not a v8 serialization header: the engine cannot read it, for sure
        if (buffers[0]![0] === 0xff) buffers[0]![0] = 0x00;
        const p = parts('apply_request', { kind: r.pick(['apply', 'map']) }, { msgId, metadata: { route: 'lb' }, buffers });
        const frames = this.signed(p);
        this.seen.add(frames[1]!.toString('latin1'));
        return { frames, drops: {}, expect: { msgId, error: true } };
      }
    }
  }

  /** Correctly signed, valid JSON, failing the schema. */
  #schema(): Omit<FuzzCase, 'kind' | 'pre'> {
    const r = this.rng;
    const t = this.template();
    const v = r.int(3);
    if (v === 0) {
      // the header
      const h: Record<string, unknown> = { ...rawHeader(t.type, t.msgId) };
      const keys = Object.keys(h);
      const wrongValues: unknown[] = [5, null, [], {}, true, ''];
      const header = r.pick<() => unknown>([
        () => {
          delete h[r.pick(keys)];
          return h;
        },
        () => {
          const k = r.pick(keys);
          let w = r.pick(wrongValues);
          // an empty session, username, date or version is valid: only msg_id and msg_type must not be empty
          if (w === '' && k !== 'msg_id' && k !== 'msg_type') w = 5;
          h[k] = w;
          return h;
        },
        () => ({ ...h, msg_id: 'x'.repeat(201) }),
        () => ({ ...h, version: 'x'.repeat(17) }),
        () => null,
        () => [h],
        () => 42,
        () => 'header',
        () => true,
      ])();
      const frames = this.signed({ ...t, header: Buffer.from(JSON.stringify(header)) });
      return { frames, drops: this.#verified(frames, { schema: 1 }) };
    }
    if (v === 1 || parsedFrames(this.side, t.type).length === 0) {
      // a msg_type this receiver does not take (engine-direct: one it ignores)
      const types =
        this.side === 'client'
          ? [
              'heartbeat',
              'apply_reply',
              'registration_request',
              'registration_reply',
              'stream',
              'engine_event',
              'stats_reply',
              'auth_error',
              'bogus',
              '__proto__',
              'constructor',
              'hasOwnProperty',
              'toString',
            ]
          : this.side === 'engine'
            ? [
                'apply_request',
                'connect_request',
                'stats_request',
                'shutdown_request',
                'registration_reply',
                'apply_reply',
                'bogus',
                '__proto__',
                'constructor',
                'toString',
              ]
            : ['bogus', '__proto__', 'constructor', 'toString', 'connect_request', 'stats_reply', 'engine_event'];
      const header = Buffer.from(JSON.stringify(rawHeader(r.pick(types), t.msgId)));
      const frames = this.signed({ ...t, header });
      return { frames, drops: this.#verified(frames, { schema: 1 }) };
    }
    // a frame the receiver validates
    const which = r.pick(parsedFrames(this.side, t.type));
    const badParent: unknown[] = [{ x: 1 }, [], 5, 'p', null, { msg_id: 'x' }];
    const badMetadata: unknown[] = [[], 5, null, 'm', true];
    const badTaskMetadata: unknown[] = [
      {},
      { route: 'x' },
      { route: 'lb', retries: -1 },
      { route: 'lb', retries: 1.5 },
      { route: 'lb', targets: 'all' },
      { route: 'lb', targets: [-1] },
      { route: 'direct', priority: 'high' },
      { route: 'lb', timeout_ms: 0 },
      { route: 'lb', after: { ids: 'x' } },
      [],
      null,
      5,
      'lb',
    ];
    const badContent: Record<string, unknown[]> = {
      result_request: [{}, { msg_ids: [] }, { msg_ids: 'x' }, { msg_ids: [1] }, { msg_ids: ['x'.repeat(201)] }, null, [], 'x'],
      abort_request: [{ msg_ids: 'x' }, { msg_ids: [1] }, { ename: 'Nope' }, { evalue: 5 }, null, [], 7],
      purge_request: [{ msg_ids: 5 }, { all: 'yes' }, null, [], 3],
      shutdown_request: [{}, { hub: 'yes' }, { hub: true, targets: 'all' }, { hub: 1 }, null, [], 'stop'],
      registration_request: [
        {},
        { uuid: 5, pid: 1, hostname: 'h', cwd: '/' },
        { uuid: '', pid: 1, hostname: 'h', cwd: '/' },
        { uuid: 'u', pid: '1', hostname: 'h', cwd: '/' },
        null,
        [],
      ],
      apply_request: [{ kind: 'bogus' }, {}, { kind: 'execute' }, { kind: 'pull', names: 'x' }, null, [], 5],
      heartbeat: [null, [], 5, 'beat'],
    };
    let value: unknown;
    if (which === 'parent') value = r.pick(badParent);
    else if (which === 'metadata') value = this.side === 'client' && t.type === 'apply_request' ? r.pick(badTaskMetadata) : r.pick(badMetadata);
    else value = r.pick(badContent[t.type] ?? [null]);
    const frames = this.signed({ ...t, [which]: Buffer.from(JSON.stringify(value)) });
    return { frames, drops: this.#verified(frames, { schema: 1 }) };
  }

  #packedGarbage(): Buffer[] {
    const r = this.rng;
    const head = (count: number): Buffer => Buffer.concat([PACK_MAGIC, Buffer.from([1]), u32(count)]);
    const valid = (): Buffer => pack([this.signed(this.template())])[0]!;
    const variants: (() => Buffer[])[] = [
      // another version
      () => {
        let v = r.int(256);
        if (v === 1) v = 2;
        return [Buffer.concat([PACK_MAGIC, Buffer.from([v]), r.bytes(r.between(4, 200))])];
      },
      // absurd message count
      () => [Buffer.concat([head(r.chance(0.5) ? 0xffffffff : r.between(1000, 0x7fffffff)), r.bytes(r.int(50))])],
      // absurd frame count
      () => [Buffer.concat([head(1), u32(r.chance(0.5) ? 0xffffffff : r.between(1000, 0x7fffffff)), r.bytes(r.int(40))])],
      // an inline frame longer than the message
      () => [Buffer.concat([head(1), u32(1), u32(r.between(100, 0x7fffffff)), r.bytes(r.int(50))])],
      // a valid packed message, truncated
      () => {
        const p = valid();
        return [p.subarray(0, r.between(1, p.length - 1))];
      },
      // trailing bytes
      () => [Buffer.concat([valid(), r.bytes(r.between(1, 20))])],
      // a reference to a large frame that is not there
      () => [Buffer.concat([head(1), u32(1), u32(0x80000000 + r.int(3))])],
      // a large frame nothing refers to
      () => [valid(), r.bytes(70000)],
      // a message with a large buffer, sent without it
      () => [pack([this.signed({ ...this.template(), buffers: [r.bytes(70000)] })])[0]!],
      // a large frame referred to out of order
      () => {
        const two = pack([this.signed({ ...this.template(), buffers: [r.bytes(70000), r.bytes(70000)] })]);
        return [two[0]!, two[2]!, two[1]!, r.bytes(10)];
      },
      // the magic and too little to be a packed message
      () => [Buffer.concat([PACK_MAGIC, r.bytes(r.int(5))])],
      // two messages announced, one there
      () => {
        const p = Buffer.from(valid());
        p.writeUInt32LE(2, 5);
        return [p];
      },
    ];
    return r.pick(variants)();
  }
}

/** Drop counts for a message: sorted, zeros left out. */
export function showCounts(d: Record<string, number>): string {
  return JSON.stringify(sortedCounts(d));
}

export function addDrops(into: Record<string, number>, side: 'client' | 'engine', drops: Drops): void {
  for (const [reason, n] of Object.entries(drops)) into[`${side}.${reason}`] = (into[`${side}.${reason}`] ?? 0) + n;
}

/** Check that every expected request was answered exactly once, and correctly. */
export function checkAnswers(inbox: Inbox, expects: readonly Expect[], replyType: string, what: string): void {
  const problems: string[] = [];
  for (const e of expects) {
    const replies = inbox.repliesTo(e.msgId).filter((m) => m.msgType !== 'stream');
    if (replies.length !== 1) {
      problems.push(`${e.msgId}: ${replies.length} replies (${replies.map((m) => m.msgType).join(', ')})`);
      continue;
    }
    const rep = replies[0]!;
    if (e.value === undefined && e.error === undefined) continue;
    if (rep.msgType !== replyType) {
      problems.push(`${e.msgId}: a ${rep.msgType}, not an ${replyType}`);
      continue;
    }
    const c = rep.content as { status?: string; evalue?: string };
    if (e.error) {
      if (c.status !== 'error') problems.push(`${e.msgId}: garbage payload answered with status ${c.status}`);
    } else if (c.status !== 'ok') {
      problems.push(`${e.msgId}: status ${c.status}: ${c.evalue}`);
    } else {
      const v = deserialize(rep.buffers);
      if (v !== e.value) problems.push(`${e.msgId}: result ${String(v)}, expected ${e.value}`);
    }
  }
  assert.deepEqual(
    problems.slice(0, 20),
    [],
    `${what}: ${problems.length} of ${expects.length} well-formed requests not answered exactly once and correctly`,
  );
}

export interface SocketReport {
  socket: string;
  messages: number;
  kinds: Partial<Record<Kind, number>>;
  drops: Record<string, number>;
  wellFormed: number;
  ms: number;
}

/** The seed of a fuzz run: `$FUZZ_SEED` (to reproduce one), else a fresh one; printed. */
export const fuzzSeed = (): number => seedFromEnv('FUZZ_SEED', 'fuzz');

/** A list for the reports of a test file's fuzzed sockets, printed once its tests have run. */
export function fuzzReports(): SocketReport[] {
  const reports: SocketReport[] = [];
  after(() => printReports(reports));
  return reports;
}

/** Print what each fuzzed socket took (a line of test output per socket). */
export function printReports(reports: readonly SocketReport[]): void {
  for (const r of reports) {
    console.log(
      `# fuzz ${r.socket}: ${r.messages} malformed ZeroMQ messages (+${r.wellFormed} well-formed) in ${r.ms} ms; kinds ${JSON.stringify(r.kinds)}; drops ${showCounts(r.drops)}`,
    );
  }
}

/**
 * Send PER_SOCKET cases of `fz` through `send`: for each, the well-formed
 * messages it needs first (originals of replays), then the case itself (at
 * the overMaxJsonAt() indices, one with a JSON frame over MAX_JSON_FRAME).
 * `after` sees each case once sent and may return more well-formed messages
 * to send after it. Returns what must be answered and how many well-formed
 * messages went along; `t0` is when the first was sent.
 */
export async function sendFuzz(
  fz: Fuzzer,
  send: (frames: Buffer[]) => Promise<void>,
  after: (c: FuzzCase, i: number) => Out[] | undefined = () => undefined,
): Promise<{ expects: Expect[]; wellFormed: number; t0: number }> {
  const expects: Expect[] = [];
  const overAt = overMaxJsonAt();
  let wellFormed = 0;
  const t0 = Date.now();
  const sendOut = async (o: Out): Promise<void> => {
    await send(o.frames);
    wellFormed++;
    if (o.expect) expects.push(o.expect);
  };
  for (let i = 0; i < PER_SOCKET; i++) {
    const c = overAt.has(i) ? fz.overMax() : fz.next();
    for (const o of c.pre) await sendOut(o);
    await send(c.frames);
    if (c.expect) expects.push(c.expect);
    for (const o of after(c, i) ?? []) await sendOut(o);
  }
  return { expects, wellFormed, t0 };
}
