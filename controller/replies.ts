/**
 * Replies the hub builds (for a task it fails), and what it reads of a
 * message it forwards untouched: the parent msg_id, an error's name, the
 * metadata.
 */
import { parseFrame } from '../protocol/index.js';
import type { ApplyReplyMetadata, ErrorContent, Incoming, RawMessage } from '../protocol/index.js';
import type { TaskRecord } from './store/record.js';
import { ProtocolError } from '../errors/index.js';

export function parentIdOf(m: Incoming): string {
  const parent = parseFrame(m.raw.parent, 'parent_header') as { msg_id?: unknown } | null;
  if (typeof parent?.msg_id !== 'string') throw new ProtocolError(`${m.header.msg_type} without a parent msg_id`, 'schema');
  return parent.msg_id;
}

export function enameOf(m: Incoming): string {
  try {
    const ename = (parseFrame(m.raw.content, 'content') as { ename?: unknown } | null)?.ename;
    return typeof ename === 'string' ? ename : 'Error';
  } catch {
    return 'Error'; // an unreadable error is still an error
  }
}

/** A request's metadata as an object (validated at the door: a JSON object). */
export function metadataOf(raw: RawMessage): Record<string, unknown> {
  const json = parseFrame(raw.metadata, 'metadata');
  return json !== null && typeof json === 'object' ? (json as Record<string, unknown>) : {};
}

/** The content and metadata of the error reply of a task the hub fails (on `engine`, or on none). */
export function failureReply(
  r: TaskRecord,
  ename: string,
  evalue: string,
  engine: { id: number; uuid: string } | null,
): { content: ErrorContent; metadata: ApplyReplyMetadata } {
  const content: ErrorContent = {
    status: 'error',
    ename,
    evalue,
    traceback: [],
    engine_info: { engine_id: engine?.id ?? null, engine_uuid: engine?.uuid ?? null, method: 'apply' },
  };
  const metadata: ApplyReplyMetadata = {
    engine_id: engine?.id ?? null,
    engine_uuid: engine?.uuid ?? null,
    status: 'error',
    started: r.started === null ? null : new Date(r.started).toISOString(),
    completed: new Date().toISOString(),
  };
  if (r.attempts.length > 0) metadata.attempts = r.attempts;
  return { content, metadata };
}
