/** Client <-> hub: connect, queue status, stats, records, purge, abort, shutdown. */
import * as z from 'zod';
import { EngineInfoSchema } from './engines.js';
import { TASK_STATUSES } from './tasks.js';

export const ConnectReplySchema = z.object({
  engines: z.array(EngineInfoSchema),
  scheme: z.string(),
  hwm: z.number().int().nonnegative(),
  profile: z.string(),
  cluster_id: z.string(),
  controller_pid: z.number().int(),
  /** the controller starts engines when tasks wait (--adapt): load-balanced tasks may be submitted while none is registered */
  adaptive: z.boolean().optional(),
});
export type ConnectReply = z.infer<typeof ConnectReplySchema>;

export const EngineEventSchema = z.object({
  /** `data`: the engine's data endpoint opened (its info now has `data`) */
  event: z.enum(['registered', 'unregistered', 'data']),
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
  /** tasks to abort; from a client, without msg_ids, client or all: all of its own unfinished tasks */
  msg_ids: z.array(z.string().max(200)).max(1000000).optional(),
  /** every unfinished task of the client with this id (its session id) */
  client: z.string().min(1).max(200).optional(),
  /** every unfinished task of every client */
  all: z.boolean().optional(),
  /** from the controller to an engine: the error the aborted task ends with */
  ename: z.enum(['TaskAborted', 'TaskTimeout']).optional(),
  evalue: z.string().max(10000).optional(),
});
export type AbortRequest = z.infer<typeof AbortRequestSchema>;

export const AbortReplySchema = z.object({
  /** tasks stopped (queued ones removed, running ones interrupted) */
  aborted: z.number().int().nonnegative(),
  /** msg ids named that the controller has no unfinished task for (never received, or finished) */
  unknown: z.array(z.string()).optional(),
});

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
  /** correctly signed requests refused with an answer (an error naming the field), by reason */
  refused: z.record(z.string(), z.number().int()).optional(),
  tasks: z.object({ submitted: z.number().int(), completed: z.number().int(), pending: z.number().int() }),
  engines: z.number().int(),
  clients: z.number().int(),
  /** the controller's memory, bytes */
  memory: z.object({ rss: z.number(), heapUsed: z.number(), external: z.number() }).optional(),
  /** task records kept (finished ones are bounded) */
  records: z.number().int().optional(),
  /** channel_data messages the controller forwarded (either way), and the values in them (several a message when batched) */
  channels: z.object({ data: z.number().int(), values: z.number().int() }).optional(),
  /**
   * shared objects (rc.queue, rc.dict, rc.event, rc.lock) and the bytes they hold; the shared_request
   * and shared_batch messages received, and the calls in them (several a message when batched)
   */
  shared: z
    .object({ objects: z.number().int(), bytes: z.number().int(), messages: z.number().int().optional(), calls: z.number().int().optional() })
    .optional(),
  /** adaptive scaling (--adapt): its range, the engines it aims for, those registered and those of its jobs still to come */
  adapt: z
    .object({
      min: z.number().int(),
      max: z.number().int(),
      target: z.number().int(),
      engines: z.number().int(),
      starting: z.number().int(),
      jobs: z.number().int(),
      /** why its last job brought no engine (Slurm's word and the job's output), until one does */
      problem: z.string().max(100_000).optional(),
    })
    .optional(),
});
export type StatsReply = z.infer<typeof StatsReplySchema>;

/** The answer to a request the controller refuses (a field out of range, an unknown id): names the field. */
export const ErrorReplySchema = z.object({
  ename: z.string().max(200),
  evalue: z.string().max(100000),
});
export type ErrorReply = z.infer<typeof ErrorReplySchema>;

/** Which task records to list (`rc.dbQuery`, `tscluster tasks`); every field narrows the selection. */
export const QueryRequestSchema = z.object({
  status: z.array(z.enum(TASK_STATUSES)).max(TASK_STATUSES.length).optional(),
  engine_id: z.number().int().nonnegative().optional(),
  label: z.string().max(1000).optional(),
  client: z.string().max(200).optional(),
  /** submitted at or after, epoch ms */
  since: z.number().optional(),
  /** submitted before, epoch ms */
  until: z.number().optional(),
  /** at most this many, the most recently submitted */
  limit: z.number().int().positive().max(1_000_000).optional(),
});

export const TaskRecordSchema = z.object({
  msg_id: z.string(),
  client: z.string(),
  route: z.enum(['direct', 'lb']),
  label: z.string().nullable(),
  status: z.enum(TASK_STATUSES),
  engine_id: z.number().int().nullable(),
  submitted: z.number(),
  started: z.number().nullable(),
  completed: z.number().nullable(),
  priority: z.number(),
  attempts: z.array(z.object({ engine_id: z.number().int().nullable(), ename: z.string() })),
  ename: z.string().nullable(),
});
export type TaskRecordWire = z.infer<typeof TaskRecordSchema>;

export const QueryReplySchema = z.object({ records: z.array(TaskRecordSchema) });
