/** Tasks: apply requests and replies, their options and dependencies, output streams. */
import * as z from 'zod';
import { ChannelOpenSchema } from './channels.js';

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
  /** the tasks of one map or parallel call share it (the dashboard's progress groups them by it) */
  batch: z.string().min(1).max(200).optional(),
  /** higher runs first (load-balanced); default 0 */
  priority: z.number().int().min(-1e9).max(1e9).optional(),
  /** resubmissions on error or engine death (load-balanced) */
  retries: z.number().int().nonnegative().max(1000).optional(),
  /** the task fails with TaskTimeout this long after submission, queued or running */
  timeout_ms: z.number().positive().max(1e15).optional(),
  /** keep the task queued when its client disconnects (default: cancel it) */
  retain: z.boolean().optional(),
  /** time dependency: run after these finish */
  after: DependencySchema.optional(),
  /** location dependency: run where these ran */
  follow: DependencySchema.optional(),
  /**
   * the payload frames travel directly to the engine's data endpoint (a data_put with this task's msg_id),
   * not in this message: how many, and their bytes
   */
  data_in: z.object({ frames: z.number().int().positive().max(100000), bytes: z.number().int().nonnegative() }).optional(),
  /**
   * a broadcast: one request for every engine in `targets` (route `direct`); the controller makes a task per
   * target, under these msg_ids in target order, and forwards each its own copy of the request
   */
  fanout: z.array(z.string().min(1).max(200)).min(1).max(100000).optional(),
  /** send a large result straight to the client's data link with this routing id, if it is connected to the engine */
  data_out_to: z.string().min(1).max(200).optional(),
  /** the task is a channel (its function gets a Channel first): the window both directions use; only to one engine */
  channel: ChannelOpenSchema.optional(),
});
export type TaskMetadata = z.infer<typeof TaskMetadataSchema>;

/** What an apply_request asks the engine to do. Payload travels in buffers. */
export const ApplyContentSchema = z.discriminatedUnion('kind', [
  /** buffers: the serialized args array, with the function source as its head (serialize.ts) */
  z.object({ kind: z.literal('apply') }),
  /**
   * buffers: the serialized items array, with the function source as its head; the function is called once per
   * item (with `spread`, each item is an array of arguments: a map over several sequences zipped)
   */
  z.object({ kind: z.literal('map'), spread: z.boolean().optional() }),
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
  /** the result frames went straight to the client's data link (a data_result), not with this reply */
  data_out: z.object({ frames: z.number().int().nonnegative() }).optional(),
});
export type ApplyReplyMetadata = z.infer<typeof ApplyReplyMetadataSchema>;

export const StreamContentSchema = z.object({
  name: z.enum(['stdout', 'stderr']),
  text: z.string(),
});
export type StreamContent = z.infer<typeof StreamContentSchema>;
export const StreamMetadataSchema = z.object({ engine_id: z.number().int().nullable() });

/**
 * Where a task is in its life, as the controller records it: submitted ->
 * waiting (on dependencies) -> queued (in the scheduler) -> running (on an
 * engine) -> done | failed, with retrying between a failed run and the next
 * queueing (controller/lifecycle.ts).
 */
export const TASK_STATUSES = ['submitted', 'waiting', 'queued', 'running', 'retrying', 'done', 'failed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
