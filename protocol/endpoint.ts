/**
 * An Endpoint is one side of a ZeroMQ connection speaking the tscluster
 * protocol: it owns the socket's session (signing, verification, replay
 * history), its send queue, its receive loop and its counters of dropped
 * messages. The controller has two (clients, engines); an engine and a client
 * have one each.
 *
 * A received message is verified (signature, header) and handed on as an
 * `Incoming`, still unparsed beyond its header, so a hub can forward payload
 * frames it never reads; `parse()` validates the rest against the schema of
 * its msg_type. Replies to `request()`s are matched here and never reach
 * `onMessage`.
 */
import type { Dealer, Router } from 'zeromq';
import { InvalidRequest, ProtocolError, TimeoutError } from '../errors/index.js';
import type { Logger } from '../util/log.js';
import { setLongTimeout } from '../util/timers.js';
import type { Timer } from '../util/timers.js';
import { REPLY_TYPES } from './messages.js';
import type { AnyMessage, ContentOf, Header, Message, MsgType, ReplyOf, RequestType } from './messages.js';
import { Session, parseFrame, parseVerified } from './session.js';
import type { BuildOptions } from './session.js';
import { Receiver, SendQueue } from './socket.js';
import type { SendErrorHandler } from './socket.js';
import { DELIMITER } from './wire.js';
import type { RawMessage } from './wire.js';

/** A verified message: header parsed and signature checked; the other frames unread. */
export interface Incoming {
  /** the peer's routing identity on a ROUTER; undefined on a DEALER */
  identity: Buffer | undefined;
  header: Header;
  raw: RawMessage;
  /** the frames as received (identity first on a ROUTER) */
  frames: Buffer[];
}

export interface EndpointOptions {
  /** what the peers are ('client', 'engine', 'controller'): dropped messages are counted as `<peer>.<reason>` */
  peer: string;
  socket: Router | Dealer;
  /** a ROUTER: every message travels with its peer's identity first */
  router: boolean;
  /** the cluster key */
  key: string;
  /** share a session (one replay history) with another endpoint of this process (default: a new one) */
  session?: Session;
  /** refuse messages older than the replay history reaches (default true; see Signer) */
  replayHorizon?: boolean;
  log?: Logger;
  /** every verified message that does not answer a pending request */
  onMessage: (m: Incoming) => void;
  /** a send failed; the messages (identity first on a ROUTER) were not sent */
  onSendError?: SendErrorHandler;
  /** a message was dropped (and counted) */
  onDrop?: (err: unknown, frames: Buffer[]) => void;
  /**
   * Given, the endpoint keeps the process alive only while it waits for
   * something (pending requests, or `busy()`); idle, it still reads what
   * arrives while the process lives. A client's endpoint; servers omit it.
   */
  busy?: () => boolean;
  /** called before queued messages leave (see SendQueue) */
  beforeSend?: () => void;
}

interface PendingRequest {
  /** the reply type that answers it */
  expect: MsgType;
  resolve: (m: AnyMessage) => void;
  reject: (e: Error) => void;
  timer: Timer;
}

export class Endpoint {
  readonly session: Session;
  readonly #o: EndpointOptions;
  readonly #q: SendQueue;
  readonly #dropped: Record<string, number> = {};
  readonly #refused: Record<string, number> = {};
  readonly #pending = new Map<string, PendingRequest>();
  readonly #receiver: Receiver;

  constructor(o: EndpointOptions) {
    this.#o = o;
    this.session = o.session ?? new Session(o.key, { replayHorizon: o.replayHorizon ?? true });
    const onError: SendErrorHandler = o.onSendError ?? ((err) => o.log?.warn(`send failed: ${String(err)}`));
    this.#q = new SendQueue(o.socket, onError, o.router, o.beforeSend);
    const busy = o.busy;
    this.#receiver = new Receiver(
      o.socket,
      (f) => this.#receive(f),
      (e) => o.log?.error(`receive: ${String(e)}`),
      {
        router: o.router,
        onBad: (e, f) => this.drop(e, f),
        ...(busy ? { busy: () => this.#pending.size > 0 || busy() } : {}),
      },
    );
  }

  /** Start receiving (once). */
  start(): void {
    this.#receiver.start();
  }

  /** Work has begun that waits for an answer: receive actively until it is done (see `busy`). */
  wake(): void {
    this.#receiver.wake();
  }

  /** Dropped messages so far, by `<peer>.<reason>`. */
  get dropped(): Readonly<Record<string, number>> {
    return this.#dropped;
  }

  /** Messages queued and not yet handed to ZeroMQ. */
  get queued(): number {
    return this.#q.length;
  }

  /** Send a signed message (to `to` on a ROUTER). Returns its header. */
  send<T extends MsgType>(to: Buffer | undefined, type: T, content: ContentOf<T>, opts: BuildOptions = {}): Header & { msg_type: T } {
    const { frames, header } = this.session.build(to ? [to] : [], type, content, opts);
    this.#q.send(frames);
    return header;
  }

  /** Pass a received message on unchanged (same signature), to `to` on a ROUTER. */
  forward(to: Buffer | undefined, raw: RawMessage): void {
    const body = [DELIMITER, raw.signature, raw.header, raw.parent, raw.metadata, raw.content, ...raw.buffers];
    this.#q.send(to ? [to, ...body] : body);
  }

  /** Send frames as they are (identity first on a ROUTER). */
  sendFrames(frames: Buffer[]): void {
    this.#q.send(frames);
  }

  /**
   * Send a request and resolve with its reply, typed by the request's type.
   * Rejects with TimeoutError after `timeoutMs` (Infinity: never). `opts.buffers` travel after the content.
   */
  request<T extends RequestType>(
    type: T,
    content: ContentOf<T>,
    timeoutMs: number,
    to?: Buffer,
    opts: Pick<BuildOptions, 'buffers' | 'msgId'> = {},
  ): Promise<Message<ReplyOf<T>>> {
    const { frames, header } = this.session.build(to ? [to] : [], type, content, opts);
    return new Promise<Message<ReplyOf<T>>>((resolve, reject) => {
      const timer = setLongTimeout(() => {
        this.#pending.delete(header.msg_id);
        reject(new TimeoutError(`no ${type.replace('_request', '_reply')} from the ${this.#o.peer} within ${timeoutMs} ms`));
      }, timeoutMs);
      // the reply's type is checked where it arrives (#answer)
      this.#pending.set(header.msg_id, { expect: REPLY_TYPES[type], resolve: resolve as (m: AnyMessage) => void, reject, timer });
      this.#receiver.wake();
      this.#q.send(frames);
    });
  }

  /** Reject a pending request (e.g. on an auth_error answering it). False when none is pending. */
  rejectRequest(msgId: string, err: Error): boolean {
    const p = this.#pending.get(msgId);
    if (!p) return false;
    this.#pending.delete(msgId);
    p.timer.clear();
    p.reject(err);
    return true;
  }

  /** Reject every pending request. */
  failRequests(err: Error): void {
    for (const id of [...this.#pending.keys()]) this.rejectRequest(id, err);
  }

  /** Requests waiting for their replies. */
  get pendingRequests(): number {
    return this.#pending.size;
  }

  /** Validate the rest of a message against the schema of its msg_type; undefined (dropped and counted) if it fails. */
  parse(m: Incoming): AnyMessage | undefined {
    const r = this.tryParse(m);
    if (!(r instanceof Error)) return r;
    this.drop(r, m.frames);
    return undefined;
  }

  /** Validate the rest of a message; the error (not counted) if it fails. */
  tryParse(m: Incoming): AnyMessage | ProtocolError {
    try {
      return parseVerified(m.raw, m.header);
    } catch (e) {
      return e instanceof ProtocolError ? e : new ProtocolError(e instanceof Error ? e.message : String(e), 'schema');
    }
  }

  /** Requests refused with an answer so far (correctly signed, but invalid), by `<peer>.<reason>`. */
  get refused(): Readonly<Record<string, number>> {
    return this.#refused;
  }

  /** Count a request refused with an answer (it is not a drop: its sender hears why). */
  refuse(err: ProtocolError): void {
    const key = `${this.#o.peer}.${err.reason}`;
    const n = (this.#refused[key] = (this.#refused[key] ?? 0) + 1);
    if (n <= 10 || n % 1000 === 0) this.#o.log?.info(`refused a request from a ${this.#o.peer} (${key} #${n}): ${err.message}`);
  }

  /** Count a dropped message by `<peer>.<reason>` and log the first ones. */
  drop(err: unknown, frames: Buffer[]): void {
    const reason = err instanceof ProtocolError ? err.reason : 'error';
    const key = `${this.#o.peer}.${reason}`;
    const n = (this.#dropped[key] = (this.#dropped[key] ?? 0) + 1);
    if (n <= 10 || n % 1000 === 0) {
      this.#o.log?.warn(`dropped a message from a ${this.#o.peer} (${key} #${n}): ${err instanceof Error ? err.message : String(err)}`);
    }
    this.#o.onDrop?.(err, frames);
  }

  /** Resolves when everything queued so far has been handed to ZeroMQ (or after `timeoutMs`). */
  flush(timeoutMs?: number): Promise<void> {
    return this.#q.flush(timeoutMs);
  }

  /** Stop sending and receiving. Pending requests are left to the caller (failRequests). */
  close(): void {
    this.#q.close();
    this.#o.socket.close();
  }

  #receive(frames: Buffer[]): void {
    let v: { raw: RawMessage; header: Header };
    try {
      v = this.session.verify(frames);
    } catch (e) {
      this.drop(e, frames);
      return;
    }
    const identity = this.#o.router ? v.raw.identities[0] : undefined;
    if (this.#o.router && identity === undefined) {
      this.drop(new ProtocolError('no routing identity', 'framing'), frames);
      return;
    }
    if (this.#pending.size > 0 && this.#answer(v.raw, v.header, frames)) return;
    this.#o.onMessage({ identity, header: v.header, raw: v.raw, frames });
  }

  /** Settle the pending request this message answers; false when it answers none. */
  #answer(raw: RawMessage, header: Header, frames: Buffer[]): boolean {
    let parentId: unknown;
    try {
      parentId = (parseFrame(raw.parent, 'parent_header') as { msg_id?: unknown } | null)?.msg_id;
    } catch {
      return false;
    }
    const p = typeof parentId === 'string' ? this.#pending.get(parentId) : undefined;
    if (!p || typeof parentId !== 'string') return false;
    const msg = this.parse({ identity: undefined, header, raw, frames });
    if (!msg) return true;
    this.#pending.delete(parentId);
    p.timer.clear();
    if (msg.type === p.expect) p.resolve(msg);
    else if (msg.type === 'error_reply') p.reject(new InvalidRequest(msg.content.ename, msg.content.evalue, [], null, parentId));
    else p.reject(new ProtocolError(`a ${msg.type} answered a request that expects a ${p.expect}`, 'schema'));
    return true;
  }
}
