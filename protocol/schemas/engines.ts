/** Engines: registration and the engine records clients see. */
import * as z from 'zod';

/** An engine's place in an MPI job: its rank and the job's size (from MPI's environment). */
export const MpiPlaceSchema = z
  .object({ rank: z.number().int().nonnegative(), size: z.number().int().positive() })
  .refine((m) => m.rank < m.size, 'rank must be below size');
export type MpiPlace = z.infer<typeof MpiPlaceSchema>;

/** An engine's data endpoint: a ZeroMQ URL and, with CurveZMQ, the engine's public key for it. */
export const DataEndpointSchema = z.object({
  url: z.string().min(1).max(1000),
  curve_key: z.string().length(40).nullable(),
  /** the engine's stream endpoint (channels, one hop; same curve key), if it has one */
  stream_url: z.string().min(1).max(1000).optional(),
});
export type DataEndpoint = z.infer<typeof DataEndpointSchema>;

export const RegistrationRequestSchema = z.object({
  uuid: z.string().min(1).max(200),
  pid: z.number().int(),
  hostname: z.string().max(1000),
  cwd: z.string().max(10000),
  /** its rank and size when it runs as a rank of an MPI job */
  mpi: MpiPlaceSchema.nullable().optional(),
  /** the batch job the engine runs in (Slurm's SLURM_JOB_ID), if any */
  job: z.string().max(200).optional(),
  /** where clients send large request frames directly (its execution worker's data socket), if it has one */
  data: DataEndpointSchema.nullable().optional(),
  /**
   * registering again after its controller was restarted: the id it had, the
   * tasks it holds (running or waiting to run) and those it finished recently
   * (their replies kept, in case the controller that died never stored them)
   */
  resume: z
    .object({
      id: z.number().int().nonnegative(),
      holds: z.array(z.string().max(200)).max(1_000_000),
      finished: z.array(z.string().max(200)).max(1_000_000),
    })
    .optional(),
});
export type RegistrationRequest = z.infer<typeof RegistrationRequestSchema>;

export const RegistrationReplySchema = z.union([
  z.object({
    status: z.literal('ok'),
    id: z.number().int().nonnegative(),
    heartbeat_ms: z.number().positive(),
    dead_after_ms: z.number().positive(),
    /** it registered again under its old id and keeps the tasks it holds (after a controller restart) */
    resumed: z.boolean().optional(),
    /** finished tasks whose replies the controller lacks: send them again */
    want: z.array(z.string().max(200)).max(1_000_000).optional(),
  }),
  z.object({ status: z.literal('error'), evalue: z.string() }),
]);
export type RegistrationReply = z.infer<typeof RegistrationReplySchema>;

/**
 * engine -> controller: the engine takes no new tasks (its lifetime ended).
 * `returned`: tasks it hands back unstarted, to be queued again (it may send
 * more, for tasks that reach it afterwards); `exiting`: it has finished what
 * it ran and leaves now (sent last).
 */
export const EngineRetireSchema = z.object({
  reason: z.string().max(1000),
  returned: z.array(z.string().max(200)).max(1_000_000),
  exiting: z.boolean(),
});
export type EngineRetire = z.infer<typeof EngineRetireSchema>;

/**
 * A heartbeat's content: engines report how busy and how big they are (the
 * dashboard shows it). Every field is optional: an engine that sends `{}` (an
 * older one, or the controller's and clients' heartbeats) still parses.
 */
export const HeartbeatSchema = z.looseObject({
  /** CPU of the engine process (all its threads) since its last heartbeat, in percent of one core */
  cpu: z.number().min(0).max(1e6).optional(),
  /** resident set size of the engine process, bytes */
  rss: z.number().int().nonnegative().optional(),
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

export const EngineInfoSchema = z.object({
  id: z.number().int().nonnegative(),
  uuid: z.string(),
  pid: z.number().int(),
  hostname: z.string(),
  registered: z.string(),
  /** its rank and its job's size when it runs as a rank of an MPI job (`--engines mpi`), else null */
  mpi: MpiPlaceSchema.nullable().default(null),
  /** where large request frames go directly (past the controller), or null */
  data: DataEndpointSchema.nullable().default(null),
});
export type EngineInfo = z.infer<typeof EngineInfoSchema>;
