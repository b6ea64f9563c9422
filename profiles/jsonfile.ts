/**
 * JSON files read and checked against a zod schema, with an error naming the
 * file and the bad field. (They are written by util/atomic.ts.)
 */
import { readFileSync } from 'node:fs';
import { ConnectionFileError } from '../errors/client.js';
import type * as z from 'zod';

export interface ReadJsonOptions {
  /** what the file is, for messages: "connection file" */
  what: string;
  /** what to do when it is missing */
  missingHint: string;
  /** what to do when it is corrupt */
  corruptHint: string;
}

export function readJsonFile<S extends z.ZodType>(path: string, schema: S, o: ReadJsonOptions): z.infer<S> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new ConnectionFileError(`no ${o.what} at ${path}: ${o.missingHint}`, path);
    if (code === 'EACCES') throw new ConnectionFileError(`cannot read the ${o.what} ${path}: permission denied (it belongs to another user?)`, path);
    throw new ConnectionFileError(`cannot read the ${o.what} ${path}: ${(e as Error).message}`, path);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConnectionFileError(
      `the ${o.what} ${path} is not valid JSON (${text.trim() === '' ? 'it is empty' : (e as Error).message}): it is corrupt or half-written. ${o.corruptHint}`,
      path,
    );
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.join('.') || '(root)';
    throw new ConnectionFileError(`the ${o.what} ${path} has a bad field '${field}': ${issue.message}. ${o.corruptHint}`, path, field);
  }
  return r.data;
}
