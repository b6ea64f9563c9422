/** The header every message carries, and the parent header of replies. */
import * as z from 'zod';

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

/** Content of messages that carry none (requests without arguments, heartbeats). */
export const EmptyContentSchema = z.looseObject({});
