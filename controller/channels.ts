/**
 * Channel routing: a channel is a running direct task (controller/tasks.ts
 * holds it: its client identity, its engine); its channel_data, channel_ack
 * and channel_close messages go from that client to that engine and back,
 * forwarded untouched (same signature, payload frames unread). Only the small
 * content frame is read, for the channel's msg_id.
 *
 * A message for a channel that is not open (it ended, or never was) is
 * answered (a value from a client: a channel_close, so its sender knows) or
 * dropped; a message for another client's channel is dropped and counted.
 * When a client goes away, its open channels are closed on their engines.
 */
import { ProtocolError } from '../errors/index.js';
import { isChannelMsg } from '../protocol/index.js';
import type { ChannelMsg, Endpoint, Incoming } from '../protocol/index.js';
import type { Logger } from '../util/log.js';
import type { EngineRegistry, EngineState } from './registry.js';
import type { Task } from './task.js';
import type { TaskManager } from './tasks.js';

export interface ChannelRouterOptions {
  tasks: TaskManager;
  registry: EngineRegistry;
  /** the endpoint of clients */
  clients: Endpoint;
  /** the endpoint of engines */
  engines: Endpoint;
  log: Logger;
}

/** What the router has forwarded (stats_reply's `channels`): channel_data messages, and the values in them. */
export interface ChannelStats {
  data: number;
  values: number;
}

export class ChannelRouter {
  readonly #o: ChannelRouterOptions;
  readonly #stats: ChannelStats = { data: 0, values: 0 };

  constructor(o: ChannelRouterOptions) {
    this.#o = o;
  }

  get stats(): ChannelStats {
    return { ...this.#stats };
  }

  #count(msg: ChannelMsg): void {
    if (msg.type !== 'channel_data') return;
    this.#stats.data++;
    this.#stats.values += msg.content.count ?? 1;
  }

  /** The open channel `id`: a channel task running on an engine. */
  #open(id: string): Task | undefined {
    const task = this.#o.tasks.get(id);
    return task?.channel === true && task.record.status === 'running' ? task : undefined;
  }

  /** The engine a channel task runs on, while registered. */
  #engineOf(task: Task): EngineState | undefined {
    return task.record.engineId === null ? undefined : this.#o.registry.get(task.record.engineId);
  }

  /** A channel message from a client: to the channel's engine. */
  fromClient(m: Incoming): void {
    const ep = this.#o.clients;
    const msg = ep.parse(m);
    if (!isChannelMsg(msg)) return;
    const id = msg.content.channel;
    const task = this.#open(id);
    if (task && !task.clientIdentity.equals(m.identity!)) {
      ep.drop(new ProtocolError(`${msg.type} for channel ${id} from a client that did not open it`, 'schema'), m.frames);
      return;
    }
    const engine = task && this.#engineOf(task);
    if (task && engine) {
      this.#count(msg);
      this.#o.engines.forward(engine.identity, m.raw);
      return;
    }
    // the channel ended (its reply is on its way to the client, or already there): a sender hears so
    if (msg.type === 'channel_data') {
      const error = { ename: 'ChannelClosed', evalue: `channel ${id} is not open: its function has ended`, traceback: [] };
      ep.send(m.identity, 'channel_close', { channel: id, error }, { parent: m.header });
    }
  }

  /** A channel message from an engine: to the channel's client. */
  fromEngine(e: EngineState, m: Incoming): void {
    const ep = this.#o.engines;
    const msg = ep.parse(m);
    if (!isChannelMsg(msg)) return;
    const task = this.#open(msg.content.channel);
    if (!task || task.record.engineId !== e.id) {
      ep.drop(new ProtocolError(`${msg.type} for channel ${msg.content.channel} from engine ${e.id}, which does not run it`, 'late'), m.frames);
      return;
    }
    this.#count(msg);
    this.#o.clients.forward(task.clientIdentity, m.raw);
  }

  /** A client has gone: its open channels are closed on their engines (their functions' receive rejects). */
  clientGone(client: Buffer): number {
    let n = 0;
    for (const task of this.#o.tasks.pending()) {
      if (!task.channel || task.record.status !== 'running' || !task.clientIdentity.equals(client)) continue;
      const engine = this.#engineOf(task);
      if (!engine) continue;
      const error = { ename: 'ChannelClosed', evalue: 'the client of this channel disconnected', traceback: [] };
      this.#o.engines.send(engine.identity, 'channel_close', { channel: task.msgId, error });
      n++;
    }
    if (n > 0) this.#o.log.info(`a client disconnected: closed ${n} of its channel(s) on their engines`);
    return n;
  }
}
