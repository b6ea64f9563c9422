/**
 * Every message type of the tscluster protocol: msg_type -> content schema.
 * Receivers validate with these; a message that fails is dropped and counted,
 * never crashes a process. A parsed message carries its msg_type at the top
 * (`msg.type`), so `switch (msg.type)` narrows its content.
 *
 * Channels (all over ZeroMQ, the controller binds):
 * - client  (ROUTER at the controller, DEALER at each client)
 * - engine  (ROUTER at the controller, DEALER at each engine)
 * - data    (ROUTER in each engine's execution worker, DEALER at each client):
 *           large request payloads, past the controller (executor/data-inbox.ts)
 */
import * as z from 'zod';
import { EmptyContentSchema } from './schemas/header.js';
import type { Header } from './schemas/header.js';
import { DataEndpointSchema, EngineRetireSchema, HeartbeatSchema, RegistrationReplySchema, RegistrationRequestSchema } from './schemas/engines.js';
import {
  AbortReplySchema,
  AbortRequestSchema,
  ConnectReplySchema,
  EngineEventSchema,
  ErrorReplySchema,
  PurgeRequestSchema,
  QueryReplySchema,
  QueryRequestSchema,
  QueueReplySchema,
  ResultReplySchema,
  ResultRequestSchema,
  ShutdownRequestSchema,
  StatsReplySchema,
} from './schemas/hub.js';
import { ChannelAckSchema, ChannelCloseSchema, ChannelDataSchema } from './schemas/channels.js';
import { ApplyContentSchema, ApplyReplyContentSchema, StreamContentSchema } from './schemas/tasks.js';
import { SharedBatchReplySchema, SharedBatchSchema, SharedCancelSchema, SharedReplySchema, SharedRequestSchema } from './schemas/shared.js';
import type { RawMessage } from './wire.js';

export * from './schemas/header.js';
export * from './schemas/tasks.js';
export * from './schemas/engines.js';
export * from './schemas/hub.js';
export * from './schemas/shared.js';
export * from './schemas/channels.js';

/** msg_type -> content schema, for every message type on the wire. */
export const ContentSchemas = {
  // client <-> controller
  connect_request: EmptyContentSchema,
  connect_reply: ConnectReplySchema,
  apply_request: ApplyContentSchema,
  apply_reply: ApplyReplyContentSchema,
  stream: StreamContentSchema,
  engine_event: EngineEventSchema,
  queue_request: EmptyContentSchema,
  queue_reply: QueueReplySchema,
  stats_request: EmptyContentSchema,
  stats_reply: StatsReplySchema,
  result_request: ResultRequestSchema,
  result_reply: ResultReplySchema,
  purge_request: PurgeRequestSchema,
  query_request: QueryRequestSchema,
  query_reply: QueryReplySchema,
  purge_reply: z.object({ purged: z.number().int().nonnegative() }),
  abort_request: AbortRequestSchema,
  abort_reply: AbortReplySchema,
  shutdown_request: ShutdownRequestSchema,
  shutdown_reply: z.object({ status: z.literal('ok') }),
  /** any request the controller refuses */
  error_reply: ErrorReplySchema,
  // client or engine <-> controller: shared objects (controller/shared/); value frames are the buffers
  shared_request: SharedRequestSchema,
  shared_reply: SharedReplySchema,
  shared_cancel: SharedCancelSchema,
  /** client -> controller: calls made together (client/shared-batch.ts), answered by shared_batch_reply messages */
  shared_batch: SharedBatchSchema,
  shared_batch_reply: SharedBatchReplySchema,
  /**
   * client -> controller, after the controller was restarted: the tasks the client still waits for.
   * The controller sends again the replies it holds for finished ones and answers which it never heard of.
   */
  resync_request: z.object({ msg_ids: z.array(z.string().min(1).max(200)).max(10_000_000) }),
  /** `unknown`: tasks the controller has no record of (the client sends them again) */
  resync_reply: z.object({ unknown: z.array(z.string().max(200)), pending: z.number().int().nonnegative() }),
  // engine <-> controller
  registration_request: RegistrationRequestSchema,
  registration_reply: RegistrationReplySchema,
  /** controller -> engine: you are not registered (declared dead while you were away): register again */
  engine_unknown: z.object({
    reason: z.string().max(1000),
    /** the controller was restarted and expects this engine back: it registers again under its id, keeping its tasks */
    restarted: z.boolean().optional(),
  }),
  /** engine -> controller: no new tasks for me; these I hand back unstarted (controller/tasks.ts retire) */
  engine_retire: EngineRetireSchema,
  /** controller -> engine: hand back these prefetched tasks if they have not started (an idle engine takes them) */
  steal_request: z.object({ msg_ids: z.array(z.string().min(1).max(200)).max(1000) }),
  /** engine -> controller: the tasks of a steal_request it handed back unstarted (the others run here) */
  steal_reply: z.object({ returned: z.array(z.string().min(1).max(200)).max(1000) }),
  /** engine -> controller: also its CPU and memory (optional fields); controller -> engine or client: {} */
  heartbeat: HeartbeatSchema,
  /** engine -> controller: its data endpoint is open (after registration: the execution worker opens it) */
  engine_data: z.object({ data: DataEndpointSchema }),
  // client -> engine, on the engine's data endpoint
  /** the payload frames (buffers) of the task `msg_id`, sent past the controller */
  data_put: z.object({ msg_id: z.string().min(1).max(200) }),
  /** engine -> client: the result frames (buffers) of the task `msg_id`; its apply_reply says `data_out` */
  data_result: z.object({ msg_id: z.string().min(1).max(200) }),
  /** client -> engine: the data_result of `msg_id` arrived (the engine's memory it was sent from is free again) */
  data_ack: z.object({ msg_id: z.string().min(1).max(200) }),
  // client <-> engine through the controller, both ways (protocol/schemas/channels.ts)
  /** one value of a channel; buffers: the serialized value */
  channel_data: ChannelDataSchema,
  /** credit: the receiver consumed the values up to `seq` */
  channel_ack: ChannelAckSchema,
  /** a side closed the channel */
  channel_close: ChannelCloseSchema,
} as const;

export type MsgType = keyof typeof ContentSchemas;
export type ContentOf<T extends MsgType> = z.infer<(typeof ContentSchemas)[T]>;

export function isMsgType(t: string): t is MsgType {
  return Object.prototype.hasOwnProperty.call(ContentSchemas, t);
}

/** The reply type that answers each request type. */
export interface ReplyTypes {
  connect_request: 'connect_reply';
  queue_request: 'queue_reply';
  stats_request: 'stats_reply';
  purge_request: 'purge_reply';
  query_request: 'query_reply';
  abort_request: 'abort_reply';
  shutdown_request: 'shutdown_reply';
  registration_request: 'registration_reply';
  shared_request: 'shared_reply';
  resync_request: 'resync_reply';
}
export type RequestType = keyof ReplyTypes;
export const REPLY_TYPES: ReplyTypes = {
  connect_request: 'connect_reply',
  queue_request: 'queue_reply',
  stats_request: 'stats_reply',
  purge_request: 'purge_reply',
  query_request: 'query_reply',
  abort_request: 'abort_reply',
  shutdown_request: 'shutdown_reply',
  registration_request: 'registration_reply',
  shared_request: 'shared_reply',
  resync_request: 'resync_reply',
};
export type ReplyOf<T extends RequestType> = ReplyTypes[T];

/** A received message, verified and validated. */
export interface Message<T extends MsgType = MsgType> {
  /** the msg_type (as in the header), at the top so that a switch on it narrows `content` */
  type: T;
  identities: Buffer[];
  header: Header & { msg_type: T };
  parent: Header | Record<string, never>;
  metadata: Record<string, unknown>;
  content: ContentOf<T>;
  buffers: Buffer[];
  /** the frames as received, for forwarding without re-signing */
  raw: RawMessage;
}

/** Any message, as a union discriminated by `type`. */
export type AnyMessage = { [K in MsgType]: Message<K> }[MsgType];

/** The messages of a channel (protocol/schemas/channels.ts), either way. */
export type ChannelMsg = Extract<AnyMessage, { type: 'channel_data' | 'channel_ack' | 'channel_close' }>;

export function isChannelMsg(msg: AnyMessage | undefined): msg is ChannelMsg {
  return msg?.type === 'channel_data' || msg?.type === 'channel_ack' || msg?.type === 'channel_close';
}

/**
 * The one unsigned message: the controller's answer to a connect_request whose
 * signature does not match, so a client with a wrong key gets a clear error
 * instead of a timeout. It carries no data and grants nothing (protocol/auth.ts).
 */
export const AUTH_ERROR = 'auth_error';
