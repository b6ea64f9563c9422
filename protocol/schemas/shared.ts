/**
 * Shared objects the controller hosts (controller/shared/): one request type
 * whose `op` says what to do, from clients and from engines (remote code),
 * and one reply. Values travel as protocol/shared-values.ts says.
 */
import * as z from 'zod';
import { SHARED_ERROR_NAMES } from '../../errors/shared.js';
import { SHARED_BATCH_CALLS, SHARED_KEY_MAX, SHARED_NAME_MAX } from '../shared-values.js';

const name = z.string().min(1).max(SHARED_NAME_MAX);
const key = z.string().max(SHARED_KEY_MAX);
/** how long a blocking call may wait at the controller, ms; null: no limit */
const timeoutMs = z.number().nonnegative().nullable();
/** a queue's bound as its handle declares it (0: unbounded); absent: as the queue already is */
const maxsize = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional();

export const WireValueSchema = z.union([z.number(), z.object({ frames: z.number().int().min(1).max(1_000_000) })]);

const op = <T extends string, S extends z.ZodRawShape>(o: T, shape: S) => z.object({ op: z.literal(o), name, ...shape });

export const SharedRequestSchema = z.discriminatedUnion('op', [
  op('queue_put', { maxsize, timeout_ms: timeoutMs, value: WireValueSchema }),
  /** nowait: fail with QueueEmpty instead of waiting */
  op('queue_get', { maxsize, timeout_ms: timeoutMs, nowait: z.boolean().optional() }),
  op('queue_size', { maxsize }),
  op('queue_close', { maxsize }),
  op('dict_get', { key }),
  op('dict_set', { key, value: WireValueSchema }),
  op('dict_delete', { key }),
  op('dict_has', { key }),
  op('dict_keys', {}),
  op('dict_entries', {}),
  op('dict_size', {}),
  op('dict_update', { keys: z.array(key).max(1_000_000), values: z.array(WireValueSchema).max(1_000_000) }),
  op('dict_set_if_absent', { key, value: WireValueSchema }),
  op('dict_increment', { key, by: z.number() }),
  op('event_set', {}),
  op('event_clear', {}),
  op('event_is_set', {}),
  op('event_wait', { timeout_ms: timeoutMs }),
  op('lock_acquire', { timeout_ms: timeoutMs }),
  op('lock_release', {}),
  /** delete the object (any kind, checked against `kind`); its memory is freed, its waiters fail */
  op('destroy', { kind: z.enum(['queue', 'dict', 'event', 'lock']) }),
]);
export type SharedRequest = z.infer<typeof SharedRequestSchema>;
export type SharedOp = SharedRequest['op'];

export const SharedReplySchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('ok'),
    /** a boolean (has, event wait, lock acquire...), a count or a number (size, increment), or null */
    result: z.union([z.boolean(), z.number(), z.null()]).optional(),
    /** dict keys, in insertion order (keys, entries) */
    keys: z.array(z.string()).optional(),
    /** values (get, entries, setIfAbsent): their frames are the message's buffers, in order */
    values: z.array(WireValueSchema).optional(),
  }),
  z.object({
    status: z.literal('error'),
    ename: z.enum(SHARED_ERROR_NAMES),
    evalue: z.string().max(100_000),
    /** SharedLimitExceeded: the setting that raises the limit */
    setting: z.string().max(200).optional(),
  }),
]);
export type SharedReply = z.infer<typeof SharedReplySchema>;

/** engine -> controller: the execution worker that waited on these requests is gone: drop their waiters */
export const SharedCancelSchema = z.object({ msg_ids: z.array(z.string().min(1).max(200)).max(100_000) });

/**
 * client -> controller: calls made together, carried out in order. `frames`:
 * how many of the message's buffers belong to the call (its values'
 * frames), in order. Each `req` is checked as a SharedRequest on its own: a
 * bad one fails only its call.
 */
export const SharedBatchSchema = z.object({
  calls: z
    .array(
      z.object({
        /** the call's number, unique among the client's calls waiting for an answer */
        id: z.number().int().nonnegative(),
        req: z.unknown(),
        frames: z.number().int().nonnegative().max(1_000_000),
      }),
    )
    .min(1)
    .max(SHARED_BATCH_CALLS),
});
export type SharedBatch = z.infer<typeof SharedBatchSchema>;

/**
 * controller -> client: answers to calls of shared_batch messages, by call
 * id; calls answered at once travel together, calls that waited in later
 * messages. `frames`: the buffers of each answer's values, in order.
 */
export const SharedBatchReplySchema = z.object({
  replies: z
    .array(z.object({ id: z.number().int().nonnegative(), reply: SharedReplySchema, frames: z.number().int().nonnegative().max(1_000_000) }))
    .max(SHARED_BATCH_CALLS),
});
export type SharedBatchReply = z.infer<typeof SharedBatchReplySchema>;
