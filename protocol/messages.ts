/**
 * Every message type of the tscluster protocol, as zod schemas for the header,
 * metadata and content. Receivers validate with these; a message that fails is
 * dropped and counted, never crashes a process.
 *
 * Channels (all over ZeroMQ, the controller binds):
 * - client  (ROUTER at the controller, DEALER at each client)
 * - engine  (ROUTER at the controller, DEALER at each engine)
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = '1.0';

export const HeaderSchema = z.object({
  msg_id: z.string().min(1).max(200),
  msg_type: z.string().min(1).max(100),
  session: z.string().max(200),
  username: z.string().max(200),
  date: z.string().max(64),
  version: z.string().max(16),
});
export type Header = z.infer<typeof HeaderSchema>;

/** A parent header is either a full header or `{}` when there is no parent. */
export const ParentSchema = z.union([HeaderSchema, z.object({}).strict()]);

// ---------------------------------------------------------------- tasks

export const DependencySchema = z.object({
  ids: z.array(z.string().min(1).max(200)).max(100000),
  all: z.boolean(),
  success: z.boolean(),
  failure: z.boolean(),
});
export type DependencyWire = z.infer<typeof DependencySchema>;

/** Per-task options a client sends in apply_request metadata. */
export const TaskMetadataSchema = z.object({
  /** `direct`: run on `targets[0]`; `lb`: the scheduler picks among `targets` (or all). */
  route: z.enum(['direct', 'lb']),
  targets: z.array(z.number().int().nonnegative()).max(100000).optional(),
  label: z.string().max(1000).optional(),
  /** higher runs first (load-balanced); default 0 */
  priority: z.number().int().min(-1e9).max(1e9).optional(),
  /** resubmissions on error or engine death (load-balanced) */
  retries: z.number().int().nonnegative().max(1000).optional(),
  /** the task fails with TaskTimeout this long after submission, queued or running */
  timeout_ms: z.number().positive().max(2 ** 31 - 1).optional(),
  /** time dependency: run after these finish */
  after: DependencySchema.optional(),
  /** location dependency: run where these ran */
  follow: DependencySchema.optional(),
});
export type TaskMetadata = z.infer<typeof TaskMetadataSchema>;

/** What an apply_request asks the engine to do. Payload travels in buffers. */
export const ApplyContentSchema = z.discriminatedUnion('kind', [
  /** buffers: the serialized args array, with the function source as its head (serialize.ts) */
  z.object({ kind: z.literal('apply') }),
  /** buffers: the serialized items array, with the function source as its head; the function is called once per item */
  z.object({ kind: z.literal('map') }),
  /**
   * run a code string in the engine namespace; TypeScript is stripped of its
   * types (always with `typescript: true`, else when the code is not valid JavaScript)
   */
  z.object({ kind: z.literal('execute'), code: z.string(), typescript: z.boolean().optional(), filename: z.string().max(4096).optional() }),
  /** buffers: [serialized record, ...]; each key becomes a global in the namespace */
  z.object({ kind: z.literal('push') }),
  /** read globals from the namespace */
  z.object({ kind: z.literal('pull'), names: z.array(z.string().max(1000)).max(10000) }),
  /** drop everything pushed or defined in the namespace */
  z.object({ kind: z.literal('clear') }),
]);
export type ApplyContent = z.infer<typeof ApplyContentSchema>;
export type ApplyKind = ApplyContent['kind'];

export const ErrorContentSchema = z.object({
  status: z.literal('error'),
  ename: z.string(),
  evalue: z.string(),
  traceback: z.array(z.string()),
  engine_info: z
    .object({
      engine_id: z.number().int().nullable(),
      engine_uuid: z.string().nullable(),
      method: z.string().optional(),
    })
    .optional(),
  /** Structured extras, e.g. the path of an unserializable value. */
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type ErrorContent = z.infer<typeof ErrorContentSchema>;

export const ApplyReplyContentSchema = z.union([z.object({ status: z.literal('ok') }), ErrorContentSchema]);
export type ApplyReplyContent = z.infer<typeof ApplyReplyContentSchema>;

export const ApplyReplyMetadataSchema = z.object({
  engine_id: z.number().int().nullable(),
  engine_uuid: z.string().nullable(),
  status: z.enum(['ok', 'error']),
  /** ISO dates */
  started: z.string().nullable(),
  completed: z.string().nullable(),
  /** earlier failed runs of a retried task, added by the controller */
  attempts: z.array(z.object({ engine_id: z.number().int().nullable(), ename: z.string() })).optional(),
});
export type ApplyReplyMetadata = z.infer<typeof ApplyReplyMetadataSchema>;

export const StreamContentSchema = z.object({
  name: z.enum(['stdout', 'stderr']),
  text: z.string(),
});
export type StreamContent = z.infer<typeof StreamContentSchema>;
export const StreamMetadataSchema = z.object({ engine_id: z.number().int().nullable() });

// ---------------------------------------------------------------- engines

export const RegistrationRequestSchema = z.object({
  uuid: z.string().min(1).max(200),
  pid: z.number().int(),
  hostname: z.string().max(1000),
  cwd: z.string().max(10000),
});
export type RegistrationRequest = z.infer<typeof RegistrationRequestSchema>;

export const RegistrationReplySchema = z.union([
  z.object({ status: z.literal('ok'), id: z.number().int().nonnegative(), heartbeat_ms: z.number().positive(), dead_after_ms: z.number().positive() }),
  z.object({ status: z.literal('error'), evalue: z.string() }),
]);
export type RegistrationReply = z.infer<typeof RegistrationReplySchema>;

export const EmptyContentSchema = z.object({}).passthrough();

export const EngineInfoSchema = z.object({
  id: z.number().int().nonnegative(),
  uuid: z.string(),
  pid: z.number().int(),
  hostname: z.string(),
  registered: z.string(),
});
export type EngineInfo = z.infer<typeof EngineInfoSchema>;

// ---------------------------------------------------------------- client <-> hub

export const ConnectReplySchema = z.object({
  engines: z.array(EngineInfoSchema),
  scheme: z.string(),
  hwm: z.number().int().nonnegative(),
  profile: z.string(),
  cluster_id: z.string(),
  controller_pid: z.number().int(),
});
export type ConnectReply = z.infer<typeof ConnectReplySchema>;

export const EngineEventSchema = z.object({
  event: z.enum(['registered', 'unregistered']),
  engine: EngineInfoSchema,
  reason: z.string().optional(),
});
export type EngineEvent = z.infer<typeof EngineEventSchema>;

export const QueueStatusEntrySchema = z.object({
  queued: z.number().int(),
  running: z.number().int(),
  completed: z.number().int(),
});
export const QueueReplySchema = z.object({
  engines: z.record(z.string(), QueueStatusEntrySchema),
  unassigned: z.number().int(),
});
export type QueueReply = z.infer<typeof QueueReplySchema>;

export const ShutdownRequestSchema = z.object({
  /** also stop the controller after the engines */
  hub: z.boolean(),
  /** engines to stop; all when absent */
  targets: z.array(z.number().int()).optional(),
});
export type ShutdownRequest = z.infer<typeof ShutdownRequestSchema>;

export const AbortRequestSchema = z.object({
  /** tasks to abort; from a client, all of its pending tasks when absent */
  msg_ids: z.array(z.string().max(200)).max(1000000).optional(),
  /** from the controller to an engine: the error the aborted task ends with */
  ename: z.enum(['TaskAborted', 'TaskTimeout']).optional(),
  evalue: z.string().max(10000).optional(),
});
export type AbortRequest = z.infer<typeof AbortRequestSchema>;

export const ResultRequestSchema = z.object({ msg_ids: z.array(z.string().max(200)).min(1).max(100000) });

/** One task's record, as the hub keeps it; the result frames travel as the message's buffers. */
export const ResultReplySchema = z.object({
  msg_id: z.string(),
  /** unknown: never submitted, or culled from the bounded store */
  status: z.enum(['ok', 'error', 'unknown']),
  reply_content: z.record(z.string(), z.unknown()).optional(),
  reply_metadata: z.record(z.string(), z.unknown()).optional(),
  submitted: z.string().optional(),
  stdout: z.string().optional(),
  stderr: z.string().optional(),
});
export type ResultReply = z.infer<typeof ResultReplySchema>;

export const PurgeRequestSchema = z.object({ msg_ids: z.array(z.string().max(200)).max(1000000).optional(), all: z.boolean().optional() });

export const StatsReplySchema = z.object({
  dropped: z.record(z.string(), z.number().int()),
  tasks: z.object({ submitted: z.number().int(), completed: z.number().int(), pending: z.number().int() }),
  engines: z.number().int(),
  clients: z.number().int(),
  /** the controller's memory, bytes */
  memory: z.object({ rss: z.number(), heapUsed: z.number(), external: z.number() }).optional(),
  /** task records kept (finished ones are bounded) */
  records: z.number().int().optional(),
});
export type StatsReply = z.infer<typeof StatsReplySchema>;

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
  purge_reply: z.object({ purged: z.number().int().nonnegative() }),
  abort_request: AbortRequestSchema,
  abort_reply: z.object({ aborted: z.number().int().nonnegative() }),
  shutdown_request: ShutdownRequestSchema,
  shutdown_reply: z.object({ status: z.literal('ok') }),
  // engine <-> controller
  registration_request: RegistrationRequestSchema,
  registration_reply: RegistrationReplySchema,
  heartbeat: EmptyContentSchema,
} as const;

export type MsgType = keyof typeof ContentSchemas;
export type ContentOf<T extends MsgType> = z.infer<(typeof ContentSchemas)[T]>;

export function isMsgType(t: string): t is MsgType {
  return Object.prototype.hasOwnProperty.call(ContentSchemas, t);
}

/**
 * The one unsigned message: the controller's answer to a connect_request whose
 * signature does not match, so a client with a wrong key gets a clear error
 * instead of a timeout. It carries no data and grants nothing.
 */
export const AUTH_ERROR = 'auth_error';
