/** Engines: registration and the engine records clients see. */
import { z } from 'zod';

export const RegistrationRequestSchema = z.object({
  uuid: z.string().min(1).max(200),
  pid: z.number().int(),
  hostname: z.string().max(1000),
  cwd: z.string().max(10000),
});
export type RegistrationRequest = z.infer<typeof RegistrationRequestSchema>;

export const RegistrationReplySchema = z.union([
  z.object({
    status: z.literal('ok'),
    id: z.number().int().nonnegative(),
    heartbeat_ms: z.number().positive(),
    dead_after_ms: z.number().positive(),
  }),
  z.object({ status: z.literal('error'), evalue: z.string() }),
]);
export type RegistrationReply = z.infer<typeof RegistrationReplySchema>;

export const EngineInfoSchema = z.object({
  id: z.number().int().nonnegative(),
  uuid: z.string(),
  pid: z.number().int(),
  hostname: z.string(),
  registered: z.string(),
});
export type EngineInfo = z.infer<typeof EngineInfoSchema>;
