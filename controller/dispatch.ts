/**
 * Dispatch: one handler per message type, for each of the hub's two sockets.
 * Handlers read what they need (the header was verified by the endpoint;
 * `parse` validates the content of the types that carry one) and hand the
 * work to the part that owns it.
 */
import { ProtocolError } from '../errors/index.js';
import { TaskMetadataSchema, parseFrame } from '../protocol/index.js';
import type { ApplyReplyMetadata, Endpoint, ErrorContent, Incoming, Message, MsgType, TaskMetadata } from '../protocol/index.js';
import type { ChannelRouter } from './channels.js';
import type { ClientRegistry } from './clients.js';
import type { Queries } from './queries.js';
import type { EngineRegistry, EngineState } from './registry.js';
import type { TaskManager } from './tasks.js';
import { fanOut } from './fanout.js';
import { abortTasks } from './abort.js';
import type { SharedStore } from './shared/store.js';
import type { Recovery } from './recovery.js';
import { BatchReplies, clientOwner, engineOwner, serveEngineShared, serveShared, serveSharedBatch } from './shared/wire.js';

export type Handler = (m: Incoming) => void;
export type Handlers = Partial<Record<MsgType, Handler>>;

/** The parts of the hub the handlers reach. */
export interface HubParts {
  clients: Endpoint;
  engines: Endpoint;
  clientRegistry: ClientRegistry;
  registry: EngineRegistry;
  tasks: TaskManager;
  channels: ChannelRouter;
  queries: Queries;
  /** shared objects (controller/shared/) */
  shared: SharedStore;
  shutdown: (identity: Buffer, hub: boolean, targets: number[] | undefined) => void;
  /** an engine's data endpoint opened: tell the clients */
  dataOpened: (e: EngineState) => void;
  /** what a restarted controller took up (controller/recovery.ts) */
  recovery: Recovery;
}

/**
 * Call the handler of a message's type. A type this side does not take is
 * refused with `onUnknown` (clients hear why) or dropped and counted.
 */
export function dispatch(ep: Endpoint, handlers: Handlers, side: string, m: Incoming, onUnknown?: (m: Incoming, err: ProtocolError) => void): void {
  const type = m.header.msg_type;
  // own properties only: a msg_type such as 'toString' or '__proto__' names no handler
  const h = Object.hasOwn(handlers, type) ? (handlers as Record<string, Handler | undefined>)[type] : undefined;
  if (h) {
    h(m);
    return;
  }
  const err = new ProtocolError(`unexpected msg_type '${type}' from ${side}`, 'schema');
  if (onUnknown) onUnknown(m, err);
  else ep.drop(err, m.frames);
}

/**
 * Refuse a correctly signed client request with an answer naming what is
 * wrong: an apply_request gets an error apply_reply (its task fails with
 * InvalidRequest), any other request an error_reply. Never a silent drop.
 */
export function refuseClient(ep: Endpoint, m: Incoming, err: ProtocolError): void {
  ep.refuse(err);
  const evalue = `the controller refused this ${m.header.msg_type}: ${err.message}`;
  if (m.header.msg_type !== 'apply_request') {
    ep.send(m.identity, 'error_reply', { ename: 'InvalidRequest', evalue }, { parent: m.header });
    return;
  }
  const content: ErrorContent = { status: 'error', ename: 'InvalidRequest', evalue, traceback: [] };
  const metadata: ApplyReplyMetadata = { engine_id: null, engine_uuid: null, status: 'error', started: null, completed: new Date().toISOString() };
  // a refused broadcast fails each of its tasks: the client waits on their msg_ids
  for (const id of fanoutOf(m) ?? [m.header.msg_id]) ep.send(m.identity, 'apply_reply', content, { parent: { ...m.header, msg_id: id }, metadata });
}

/** The msg_ids of a broadcast request's tasks, read as far as they can be (to refuse each); undefined for a plain request. */
function fanoutOf(m: Incoming): string[] | undefined {
  try {
    const fanout = (parseFrame(m.raw.metadata, 'metadata') as { fanout?: unknown } | null)?.fanout;
    if (!Array.isArray(fanout) || fanout.length > 100_000) return undefined;
    const ids = fanout.filter((id): id is string => typeof id === 'string' && id.length > 0 && id.length <= 200);
    return ids.length > 0 ? [...new Set(ids)] : undefined;
  } catch {
    return undefined;
  }
}

/** A broadcast request: a task per target, or refused as a whole (each of its tasks told why). */
function submitBroadcast(p: HubParts, m: Incoming, metadata: Record<string, unknown>, meta: TaskMetadata & { fanout: string[] }): void {
  let parts;
  try {
    parts = fanOut(m.header, m.raw, metadata, meta, p.engines.session.signer, (id) => p.tasks.known(id));
  } catch (e) {
    const err = e instanceof ProtocolError ? e : new ProtocolError(String(e), 'schema');
    // a replay of a broadcast already taken: answering would settle its tasks
    if (err.reason === 'replay') p.clients.drop(err, m.frames);
    else refuseClient(p.clients, m, err);
    return;
  }
  for (const part of parts) p.tasks.submit(part, m.identity!, part.meta);
}

/** The request parsed as its type; undefined (refused with an answer) when it is invalid. */
function parsed<T extends MsgType>(ep: Endpoint, m: Incoming, type: T): Message<T> | undefined {
  const msg = ep.tryParse(m);
  if (msg instanceof Error) {
    refuseClient(ep, m, msg);
    return undefined;
  }
  return msg.type === type ? (msg as Message<T>) : undefined;
}

function metadataProblem(metadata: Record<string, unknown>, kind: string): { meta: TaskMetadata } | { err: ProtocolError } {
  const meta = TaskMetadataSchema.safeParse(metadata);
  if (meta.success) {
    const m = meta.data;
    // a channel's values are routed between one client and one engine
    if (m.channel && (m.route !== 'direct' || m.targets?.length !== 1 || kind !== 'apply')) {
      return { err: new ProtocolError("invalid metadata field 'channel': a channel is an apply to exactly one engine (route 'direct')", 'schema') };
    }
    return { meta: m };
  }
  const issue = meta.error.issues[0];
  const field = issue?.path.join('.') ?? '';
  return { err: new ProtocolError(`invalid metadata${field ? ` field '${field}'` : ''}: ${issue?.message ?? 'schema'}`, 'schema') };
}

/** The three channel message types, each with the same handler (controller/channels.ts reads the type). */
function channelRoutes(h: Handler): Handlers {
  return { channel_data: h, channel_ack: h, channel_close: h };
}

/** A client's shared-object calls: one at a time, or a batch (answered in gathered replies). */
function sharedRoutes(p: HubParts): Handlers {
  const replies = new BatchReplies(p.clients);
  return {
    shared_request: (m) => serveShared(p.shared, p.clients, m, clientOwner(m.identity!)),
    shared_batch: (m) => serveSharedBatch(p.shared, p.clients, m, clientOwner(m.identity!), replies),
  };
}

/** A client's apply_request: checked, then a task (or one per target of a broadcast). */
function applyRequest(p: HubParts, m: Incoming): void {
  const ep = p.clients;
  // parent and content are checked here, not only at the engine: a request the engine would refuse
  // must not become a task that never ends (payload buffers still pass through unread)
  const msg = parsed(ep, m, 'apply_request');
  if (!msg) return;
  const checked = metadataProblem(msg.metadata, msg.content.kind);
  if ('err' in checked) {
    refuseClient(ep, m, checked.err);
    return;
  }
  const fanout = checked.meta.fanout;
  if (fanout !== undefined) {
    submitBroadcast(p, m, msg.metadata, { ...checked.meta, fanout });
    return;
  }
  // after a restart: a task whose payload the store did not keep, sent again by its client
  if (p.recovery.resent(m)) return;
  if (p.tasks.known(m.header.msg_id)) {
    // a second request under a known msg_id is a replay: answering would settle the first one's result
    ep.drop(new ProtocolError(`duplicate msg_id ${m.header.msg_id}`, 'replay'), m.frames);
    return;
  }
  p.tasks.submit(m, m.identity!, checked.meta);
}

export function clientHandlers(p: HubParts): Handlers {
  const ep = p.clients;
  return {
    apply_request: (m) => applyRequest(p, m),
    connect_request: (m) => {
      p.clientRegistry.add(m.identity!);
      ep.send(m.identity, 'connect_reply', p.queries.connectReply(), { parent: m.header });
    },
    resync_request: (m) => {
      const msg = parsed(ep, m, 'resync_request');
      if (!msg) return;
      p.clientRegistry.add(m.identity!);
      ep.send(m.identity, 'resync_reply', p.recovery.resync(m.identity!, msg.content.msg_ids), { parent: m.header });
    },
    queue_request: (m) => ep.send(m.identity, 'queue_reply', p.queries.queueStatus(), { parent: m.header }),
    stats_request: (m) => ep.send(m.identity, 'stats_reply', p.queries.stats(), { parent: m.header }),
    result_request: (m) => {
      const msg = parsed(ep, m, 'result_request');
      if (msg) for (const id of msg.content.msg_ids) p.queries.sendResult(m.identity!, m.header, id);
    },
    query_request: (m) => {
      const msg = parsed(ep, m, 'query_request');
      if (msg) ep.send(m.identity, 'query_reply', p.queries.query(msg.content), { parent: m.header });
    },
    purge_request: (m) => {
      const msg = parsed(ep, m, 'purge_request');
      if (msg) ep.send(m.identity, 'purge_reply', p.queries.purge(msg.content), { parent: m.header });
    },
    abort_request: (m) => {
      const msg = parsed(ep, m, 'abort_request');
      if (msg) ep.send(m.identity, 'abort_reply', abortTasks(p.tasks, m.identity!, msg.content), { parent: m.header });
    },
    ...sharedRoutes(p),
    ...channelRoutes((m) => p.channels.fromClient(m)),
    shutdown_request: (m) => {
      const msg = parsed(ep, m, 'shutdown_request');
      if (!msg) return;
      ep.send(m.identity, 'shutdown_reply', { status: 'ok' }, { parent: m.header });
      p.shutdown(m.identity!, msg.content.hub, msg.content.targets);
    },
  };
}

/** The engine a message came from, when registered (it was heard from now). */
function registeredEngine(p: HubParts, m: Incoming): EngineState | undefined {
  const e = p.registry.find(m.identity!);
  if (e) p.registry.seen(e);
  return e;
}

/** A message from a registered engine, parsed as its type; undefined when the engine is unknown (told so) or the message invalid (dropped). */
function fromEngine<T extends MsgType>(p: HubParts, m: Incoming, type: T): { e: EngineState; msg: Message<T> } | undefined {
  const e = registeredEngine(p, m);
  if (!e) {
    p.registry.unknown(m.identity!);
    return undefined;
  }
  const msg = p.engines.parse(m);
  return msg?.type === type ? { e, msg: msg as Message<T> } : undefined;
}

export function engineHandlers(p: HubParts): Handlers {
  const ep = p.engines;
  const registered = (m: Incoming): EngineState | undefined => registeredEngine(p, m);
  return {
    apply_reply: (m) => {
      const e = registered(m);
      if (e) {
        p.tasks.onReply(e, m);
        return;
      }
      p.tasks.dropReply(m, 'from an engine that is not registered');
      p.registry.unknown(m.identity!);
    },
    stream: (m) => {
      if (registered(m)) p.tasks.onStream(m);
      else p.registry.unknown(m.identity!);
    },
    heartbeat: (m) => {
      const got = fromEngine(p, m, 'heartbeat');
      if (got) p.registry.heartbeat(got.e, got.msg.content);
    },
    ...channelRoutes((m) => {
      const e = registered(m);
      if (e) p.channels.fromEngine(e, m);
      else p.registry.unknown(m.identity!);
    }),
    registration_request: (m) => {
      const msg = ep.parse(m);
      if (msg?.type === 'registration_request') p.registry.register(m.identity!, m.header, msg.content);
    },
    engine_data: (m) => {
      const got = fromEngine(p, m, 'engine_data');
      if (!got) return;
      got.e.data = got.msg.content.data;
      p.dataOpened(got.e);
    },
    shared_request: (m) => {
      const e = registered(m);
      serveEngineShared(p.shared, ep, m, e?.id);
      if (!e) p.registry.unknown(m.identity!);
    },
    shared_cancel: (m) => {
      const got = fromEngine(p, m, 'shared_cancel');
      if (got) p.shared.cancel(engineOwner(got.e.id), got.msg.content.msg_ids);
    },
    steal_reply: (m) => {
      const got = fromEngine(p, m, 'steal_reply');
      if (got) p.tasks.stolen(got.e, got.msg.content.returned);
    },
    engine_retire: (m) => {
      const got = fromEngine(p, m, 'engine_retire');
      if (!got) return;
      const { e, msg } = got;
      p.tasks.retire(e, msg.content.reason);
      p.tasks.handedBack(e, msg.content.returned);
      if (msg.content.exiting) p.registry.unregister(e, `retired (${msg.content.reason})`);
    },
  };
}
