/**
 * Channels: a long-lived function on an engine exchanging a stream of values
 * with its client. A channel is a task (an apply_request whose metadata has
 * `channel`); its values travel as these messages, client -> controller ->
 * engine and back, routed by the controller by the task's msg_id.
 */
import * as z from 'zod';

const ChannelId = z.string().min(1).max(200);

/** How far a receiver may fall behind before its sender's `send` waits (both directions). */
export const ChannelWindowSchema = z.object({
  items: z.number().int().positive().max(1e9),
  bytes: z
    .number()
    .int()
    .positive()
    .max(2 ** 52),
});
export type ChannelWindow = z.infer<typeof ChannelWindowSchema>;

/**
 * Values `seq`, `seq + 1`... (`count` of them, default 1; `seq` counts from 1
 * in each direction); buffers: each value serialized (protocol/serialize.ts),
 * one after the other; `frames`: each value's number of frames, absent when
 * each has one (or, for a single value, every buffer is its). See
 * protocol/channel-batch.ts.
 */
export const ChannelDataSchema = z.object({
  channel: ChannelId,
  seq: z.number().int().positive(),
  count: z.number().int().positive().max(1e6).optional(),
  frames: z.array(z.number().int().positive()).max(1e6).optional(),
  /**
   * client -> engine: the batch's frames (this many, of these bytes) went to
   * the engine's data endpoint (a data_put whose msg_id is `<channel>/<seq>`),
   * not with this message; the execution worker takes them there, no copy
   */
  data_in: z.object({ frames: z.number().int().positive().max(1e6), bytes: z.number().int().nonnegative() }).optional(),
});

/** The receiver has consumed every value up to `seq`: credit for its sender. */
export const ChannelAckSchema = z.object({ channel: ChannelId, seq: z.number().int().nonnegative() });

/** The error a side closed its channel with. */
export const ChannelErrorSchema = z.object({
  ename: z.string().max(1000),
  evalue: z.string().max(100000),
  traceback: z.array(z.string().max(10000)).max(1000),
});
export type ChannelErrorWire = z.infer<typeof ChannelErrorSchema>;

/** A side closed the channel (with an error, or cleanly); the controller sends one to the engine when the client is gone. */
export const ChannelCloseSchema = z.object({
  channel: ChannelId,
  error: ChannelErrorSchema.optional(),
  /**
   * engine -> client, just before the task's reply: the function has ended
   * and sent this many values (they travel on the same path as this message;
   * the reply, through the controller, may arrive first)
   */
  fin: z.number().int().nonnegative().optional(),
});

/** A channel's window, and (client -> engine, at open) the routing id of the client's stream link, to send its messages there directly. */
export const ChannelOpenSchema = ChannelWindowSchema.extend({ reply_to: z.string().min(1).max(200).optional() });
