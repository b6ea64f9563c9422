/**
 * The keys a supervisor (controller/supervisor.ts) hands to each controller it
 * starts: the cluster's HMAC key and its CurveZMQ key pair, made once, so that
 * every restarted controller is the same server to engines and clients. They
 * travel as one JSON line on the controller's stdin (`--keys-stdin`), never in
 * its arguments or in a file.
 */
import type { Readable, Writable } from 'node:stream';
import * as z from 'zod';

export const HandedKeysSchema = z.strictObject({
  key: z.string().regex(/^[0-9a-f]{64}$/),
  /** the controller's CurveZMQ key pair (Z85), or null when traffic is not encrypted */
  curve: z.strictObject({ publicKey: z.string().length(40), secretKey: z.string().length(40) }).nullable(),
});
export type HandedKeys = z.infer<typeof HandedKeysSchema>;

/** Write the keys to a child's stdin and close it. */
export function handKeys(stdin: Writable, keys: HandedKeys): void {
  stdin.on('error', () => undefined); // a child that died at once: its exit is handled by whoever watches it
  stdin.end(`${JSON.stringify(keys)}\n`);
}

/** Read the keys from stdin (until it closes); throws when they are missing or malformed. */
export async function readHandedKeys(stdin: Readable): Promise<HandedKeys> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  const text = Buffer.concat(chunks).toString('utf8').trim();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`--keys-stdin: no keys on stdin (${text === '' ? 'it was empty' : 'not JSON'})`);
  }
  const r = HandedKeysSchema.safeParse(json);
  if (!r.success) throw new Error(`--keys-stdin: the keys on stdin are malformed (${r.error.issues[0]?.message ?? 'invalid'})`);
  return r.data;
}
