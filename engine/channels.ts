/**
 * The engine's side of channel routing, on its main thread. A channel's
 * values, credit and closes travel between the function in the execution
 * worker and its client, either through the controller (the engine's own
 * connection) or, when the client asked for it at open (`channel.reply_to`:
 * the routing id of its stream link), over the engine's **stream endpoint**:
 * a ROUTER bound here, one ZeroMQ hop from the client, signed with the
 * cluster key and, with CurveZMQ, encrypted with the engine's data keys.
 *
 * Ordering: each path is FIFO. A direct message the client cannot be reached
 * with (its link is not connected) goes through the controller instead, and
 * that channel uses the controller from then on; the receiving end puts
 * values back in order by their seq. Before its task's reply, the engine
 * sends the channel's `fin` (how many values the function sent) on the same
 * path as its values, so a client that hears the reply first (through the
 * controller) waits for the values still on their way.
 *
 * Direct messages may arrive before their task's request (which comes
 * through the controller): they wait here, bounded in count, bytes and time,
 * and are handed to the runner with the task.
 */
import { Router } from 'zeromq';
import { Endpoint, batchContent, isChannelMsg } from '../protocol/index.js';
import type { AnyMessage, ChannelMsg, Incoming } from '../protocol/index.js';
import type { ChannelMessage } from '../executor/messages.js';
import { fromPosted, toPosted } from '../executor/channel-post.js';
import type { Logger } from '../util/log.js';

/** messages for channels whose task has not arrived yet: at most this many channels, bytes, and this long */
const EARLY_CHANNELS = 1000;
const EARLY_BYTES = 256 * 1024 * 1024;
const EARLY_MS = 60_000;
/** senders held apart for one early channel (the one that opened it is among them; others are forged or stray) */
const EARLY_SENDERS = 8;
/** ended channels remembered (so late messages for them are dropped at once) */
const ENDED_KEPT = 10_000;

export interface EngineChannelsOptions {
  /** the engine's connection to the controller */
  controller: Endpoint;
  key: string;
  log: Logger;
  /** hand a message from a client to the function (false: no such channel task here) */
  toRunner: (m: ChannelMessage) => boolean;
}

interface Route {
  /** the routing id of the client's stream link, when it asked for the direct path */
  client: Buffer | undefined;
  /** messages to the client go direct (until one cannot be sent) */
  direct: boolean;
  /** values the function sent so far */
  sent: number;
}

export class EngineChannels {
  readonly #o: EngineChannelsOptions;
  #stream: Endpoint | undefined;
  /** the URL of the stream endpoint, once bound */
  url: string | undefined;
  readonly #routes = new Map<string, Route>();
  /** messages for channels whose task has not come yet, by channel, then by sender (only the opener's are kept when it comes) */
  readonly #early = new Map<string, { at: number; bySender: Map<string, ChannelMessage[]>; bytes: number }>();
  #earlyBytes = 0;
  /** channels that ended lately: what still comes for them is dropped, not held */
  readonly #ended = new Set<string>();

  constructor(o: EngineChannelsOptions) {
    this.#o = o;
  }

  /** Bind the stream endpoint (`tcp://ip:0`); without it every channel goes through the controller. */
  async open(bind: string, curve: { publicKey: string; secretKey: string } | undefined): Promise<void> {
    const sock = new Router({
      // a message for a client not connected here fails at once (and goes through the controller instead)
      mandatory: true,
      sendHighWaterMark: 0,
      receiveHighWaterMark: 0,
      linger: 0,
      ...(curve ? { curveServer: true, curvePublicKey: curve.publicKey, curveSecretKey: curve.secretKey } : {}),
    });
    try {
      await sock.bind(bind);
    } catch (e) {
      sock.close();
      this.#o.log.warn(`no stream endpoint (channels go through the controller): cannot bind ${bind}: ${String(e)}`);
      return;
    }
    this.url = sock.lastEndpoint ?? bind;
    this.#stream = new Endpoint({
      peer: 'client-stream',
      socket: sock,
      router: true,
      key: this.#o.key,
      log: this.#o.log,
      onMessage: (m) => this.#fromStream(m),
      // not connected: through the controller, and this channel stays there
      onSendError: (_err, messages) => {
        for (const frames of messages) {
          const id = frames[0]!;
          for (const r of this.#routes.values()) if (r.client?.equals(id)) r.direct = false;
          this.#o.controller.sendFrames(frames.slice(1));
        }
      },
    });
    this.#stream.start();
  }

  /** A channel task arrived: where its client wants its messages, and what came for it already. */
  taskArrived(msgId: string, replyTo: string | undefined): ChannelMessage[] {
    const client = replyTo !== undefined && this.#stream ? Buffer.from(replyTo) : undefined;
    this.#routes.set(msgId, { client, direct: client !== undefined, sent: 0 });
    const early = this.#early.get(msgId);
    if (!early) return [];
    this.#forgetEarly(msgId);
    // only the client that opened the channel may speak on it (another's early messages cannot crowd its out)
    return client !== undefined ? (early.bySender.get(client.toString('latin1')) ?? []) : [];
  }

  /** The channel's task ended (its reply goes next): the client hears how many values the function sent, on their path. */
  taskEnded(msgId: string): void {
    const r = this.#routes.get(msgId);
    if (!r) return;
    this.#routes.delete(msgId);
    this.#ended.add(msgId);
    if (this.#ended.size > ENDED_KEPT) this.#ended.delete(this.#ended.values().next().value!);
    this.#send(r, 'channel_close', { channel: msgId, fin: r.sent });
  }

  /** A channel message through the controller. */
  fromController(msg: ChannelMsg): void {
    // a message for a channel that ended here is one the controller routed before it heard the end
    this.#o.toRunner(toWorker(msg));
  }

  /** A channel message from a function in the worker, for its client. */
  fromWorker(m: ChannelMessage): void {
    const r = this.#routes.get(m.msgId) ?? { client: undefined, direct: false, sent: 0 };
    switch (m.op) {
      case 'data': {
        const batch = fromPosted(m.batch);
        r.sent = Math.max(r.sent, m.seq + batch.count - 1);
        this.#send(r, 'channel_data', { channel: m.msgId, seq: m.seq, ...batchContent(batch) }, batch.buffers);
        return;
      }
      case 'ack':
        this.#send(r, 'channel_ack', { channel: m.msgId, seq: m.seq });
        return;
      case 'close':
        this.#send(r, 'channel_close', { channel: m.msgId, ...(m.error ? { error: m.error } : {}) });
        return;
    }
  }

  close(): void {
    this.#stream?.close();
    this.#stream = undefined;
  }

  #send<T extends ChannelMsg['type']>(r: Route, type: T, content: Extract<AnyMessage, { type: T }>['content'], buffers: Buffer[] = []): void {
    if (r.direct && r.client !== undefined && this.#stream) this.#stream.send(r.client, type, content as never, { buffers });
    else this.#o.controller.send(undefined, type, content as never, { buffers });
  }

  #fromStream(m: Incoming): void {
    const msg = this.#stream!.parse(m);
    if (!msg) return;
    if (!isChannelMsg(msg)) {
      this.#stream!.drop(new Error(`a ${msg.type} on the stream endpoint (it takes channel messages only)`), m.frames);
      return;
    }
    const id = msg.content.channel;
    const from = m.identity!;
    const route = this.#routes.get(id);
    if (route) {
      // only the client that opened the channel, and asked for this path, speaks on it here
      if (route.client?.equals(from) === true) this.#o.toRunner(toWorker(msg));
      else this.#stream!.drop(new Error(`a ${msg.type} for channel ${id} from a client that did not open it`), m.frames);
      return;
    }
    if (this.#ended.has(id)) return;
    // its task has not come through the controller yet
    this.#hold(
      id,
      from,
      toWorker(msg),
      msg.buffers.reduce((n, b) => n + b.byteLength, 0),
    );
  }

  #hold(id: string, from: Buffer, m: ChannelMessage, bytes: number): void {
    const now = Date.now();
    for (const [k, e] of this.#early) if (now - e.at > EARLY_MS) this.#forgetEarly(k);
    let e = this.#early.get(id);
    if (!e) {
      if (this.#early.size >= EARLY_CHANNELS) {
        this.#o.log.warn(`dropped a message for channel ${id}: ${EARLY_CHANNELS} channels already wait for their task`);
        return;
      }
      this.#early.set(id, (e = { at: now, bySender: new Map(), bytes: 0 }));
    }
    const sender = from.toString('latin1');
    let held = e.bySender.get(sender);
    if (this.#earlyBytes + bytes > EARLY_BYTES || (!held && e.bySender.size >= EARLY_SENDERS)) {
      this.#o.log.warn(
        `dropped a message for channel ${id}, whose task has not arrived (over ${EARLY_BYTES} bytes or ${EARLY_SENDERS} senders waiting)`,
      );
      return;
    }
    if (!held) e.bySender.set(sender, (held = []));
    held.push(m);
    e.bytes += bytes;
    this.#earlyBytes += bytes;
  }

  #forgetEarly(id: string): void {
    const e = this.#early.get(id);
    if (!e) return;
    this.#earlyBytes -= e.bytes;
    this.#early.delete(id);
  }
}

/** A channel message from a client, as the worker takes it. */
function toWorker(msg: ChannelMsg): ChannelMessage {
  const c = msg.content;
  if (msg.type === 'channel_data') {
    const { batch } = toPosted({ count: msg.content.count ?? 1, frames: msg.content.frames, buffers: msg.buffers });
    // its frames are at the worker's data endpoint
    const dataIn = msg.content.data_in;
    return { type: 'channel', msgId: c.channel, op: 'data', seq: msg.content.seq, batch, ...(dataIn ? { dataIn: { bytes: dataIn.bytes } } : {}) };
  }
  if (msg.type === 'channel_ack') return { type: 'channel', msgId: c.channel, op: 'ack', seq: msg.content.seq };
  return { type: 'channel', msgId: c.channel, op: 'close', ...(msg.content.error ? { error: msg.content.error } : {}) };
}
