/**
 * The controller's task records, made up for the unit suites of the pieces
 * that keep or move them (the lifecycle, the TaskStore).
 */
import type { TaskRecord } from '../../controller/store/record.js';

/** A record with every field set (a load-balanced task running on engine 3 since t=2000, submitted at t=1000), then `o` on top. */
export function taskRecord(o: Partial<TaskRecord> = {}): TaskRecord {
  return {
    msgId: 'task-1',
    client: 'client-session',
    route: 'lb',
    label: null,
    status: 'running',
    engineId: 3,
    submitted: 1000,
    started: 2000,
    completed: null,
    priority: 0,
    retries: 1,
    targets: null,
    attempts: [],
    after: null,
    follow: null,
    ename: null,
    stdout: '',
    stderr: '',
    ...o,
  };
}
