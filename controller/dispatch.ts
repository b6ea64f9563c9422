/**
 * Dispatch: one handler per message type, for each of the hub's two sockets.
 * Handlers read what they need (the header was verified by the endpoint;
 * `parse` validates the content of the types that carry one) and hand the
 * work to the part that owns it.
 */
import { ProtocolError } from '../errors/index.js';
import { TaskMetadataSchema } from '../protocol/index.js';
import type { Endpoint, Incoming, MsgType } from '../protocol/index.js';
import type { ClientRegistry } from './clients.js';
import type { Queries } from './queries.js';
import type { EngineRegistry } from './registry.js';
import type { TaskManager } from './tasks.js';

export type Handler = (m: Incoming) => void;
export type Handlers = Partial<Record<MsgType, Handler>>;

/** The parts of the hub the handlers reach. */
export interface HubParts {
  clients: Endpoint;
  engines: Endpoint;
  clientRegistry: ClientRegistry;
  registry: EngineRegistry;
  tasks: TaskManager;
  queries: Queries;
  shutdown: (identity: Buffer, hub: boolean, targets: number[] | undefined) => void;
}

/** Call the handler of a message's type; a type this side does not take is dropped and counted. */
export function dispatch(ep: Endpoint, handlers: Handlers, side: string, m: Incoming): void {
  const type = m.header.msg_type;
  // own properties only: a msg_type such as 'toString' or '__proto__' names no handler
  const h = Object.hasOwn(handlers, type) ? (handlers as Record<string, Handler | undefined>)[type] : undefined;
  if (h) h(m);
  else ep.drop(new ProtocolError(`unexpected msg_type '${m.header.msg_type}' from ${side}`, 'schema'), m.frames);
}

export function clientHandlers(p: HubParts): Handlers {
  const ep = p.clients;
  return {
    apply_request: (m) => {
      // parent and content are checked here, not only at the engine: a request the engine would refuse
      // must not become a task that never ends (payload buffers still pass through unread)
      const msg = ep.parse(m);
      if (msg?.type !== 'apply_request') return;
      const meta = TaskMetadataSchema.safeParse(msg.metadata);
      if (!meta.success) {
        const issue = meta.error.issues[0];
        ep.drop(new ProtocolError(`invalid apply_request metadata: ${issue?.path.join('.')} ${issue?.message}`, 'schema'), m.frames);
        return;
      }
      if (p.tasks.known(m.header.msg_id)) {
        ep.drop(new ProtocolError(`duplicate msg_id ${m.header.msg_id}`, 'replay'), m.frames);
        return;
      }
      p.tasks.submit(m, m.identity!, meta.data);
    },
    connect_request: (m) => {
      p.clientRegistry.add(m.identity!);
      ep.send(m.identity, 'connect_reply', p.queries.connectReply(), { parent: m.header });
    },
    queue_request: (m) => ep.send(m.identity, 'queue_reply', p.queries.queueStatus(), { parent: m.header }),
    stats_request: (m) => ep.send(m.identity, 'stats_reply', p.queries.stats(), { parent: m.header }),
    result_request: (m) => {
      const msg = ep.parse(m);
      if (msg?.type === 'result_request') for (const id of msg.content.msg_ids) p.queries.sendResult(m.identity!, m.header, id);
    },
    purge_request: (m) => {
      const msg = ep.parse(m);
      if (msg?.type === 'purge_request') ep.send(m.identity, 'purge_reply', p.queries.purge(msg.content), { parent: m.header });
    },
    abort_request: (m) => {
      const msg = ep.parse(m);
      if (msg?.type === 'abort_request')
        ep.send(m.identity, 'abort_reply', { aborted: p.tasks.abort(m.identity!, msg.content.msg_ids) }, { parent: m.header });
    },
    shutdown_request: (m) => {
      const msg = ep.parse(m);
      if (msg?.type !== 'shutdown_request') return;
      ep.send(m.identity, 'shutdown_reply', { status: 'ok' }, { parent: m.header });
      p.shutdown(m.identity!, msg.content.hub, msg.content.targets);
    },
  };
}

export function engineHandlers(p: HubParts): Handlers {
  const ep = p.engines;
  const registered = (m: Incoming): ReturnType<EngineRegistry['find']> => {
    const e = p.registry.find(m.identity!);
    if (e) p.registry.seen(e);
    return e;
  };
  return {
    apply_reply: (m) => {
      const e = registered(m);
      if (!e) {
        ep.drop(new ProtocolError('apply_reply from an unregistered engine', 'schema'), m.frames);
        return;
      }
      p.tasks.onReply(e, m);
    },
    stream: (m) => {
      if (registered(m)) p.tasks.onStream(m);
    },
    heartbeat: (m) => {
      registered(m);
    },
    registration_request: (m) => {
      const msg = ep.parse(m);
      if (msg?.type === 'registration_request') p.registry.register(m.identity!, m.header, msg.content);
    },
  };
}
