/** Aborting tasks on request, and cancelling those of a client that has gone. */
import type { ContentOf } from '../protocol/index.js';
import type { Logger } from '../util/log.js';
import type { TaskManager } from './tasks.js';
import type { Task } from './task.js';

/**
 * Abort tasks: by msg_id, every unfinished task of one client (by its id),
 * of every client (`all`), or else of the asking client (`from`).
 */
export function abortTasks(tasks: TaskManager, from: Buffer, req: ContentOf<'abort_request'>): ContentOf<'abort_reply'> {
  const unknown: string[] = [];
  let chosen: Task[];
  if (req.msg_ids) {
    chosen = req.msg_ids.flatMap((id) => {
      const t = tasks.get(id);
      if (!t) unknown.push(id);
      return t ? [t] : [];
    });
  } else {
    const all = [...tasks.pending()];
    if (req.all) chosen = all;
    else if (req.client !== undefined) chosen = all.filter((t) => t.record.client === req.client);
    else chosen = all.filter((t) => t.clientIdentity.equals(from));
  }
  let aborted = 0;
  for (const t of chosen) if (tasks.stop(t, 'TaskAborted', 'the task was aborted by a client')) aborted++;
  return unknown.length > 0 ? { aborted, unknown } : { aborted };
}

/**
 * A client has gone (its connection closed): its tasks not yet running are
 * cancelled (TaskAborted), unless submitted with retainOnDisconnect; running
 * ones finish and their results stay in the records for getResult.
 */
export function clientGone(tasks: TaskManager, client: Buffer, log: Logger): number {
  let n = 0;
  for (const t of [...tasks.pending()]) {
    if (t.retain || !t.clientIdentity.equals(client) || (t.record.status !== 'waiting' && t.record.status !== 'queued')) continue;
    if (tasks.stop(t, 'TaskAborted', 'its client disconnected (submit with retainOnDisconnect: true to keep such tasks)')) n++;
  }
  if (n > 0) log.info(`a client disconnected: cancelled ${n} of its queued task(s)`);
  return n;
}
