/** What the client keeps of each task it waits for. */

/** What the client knows of one task. */
export interface TaskInfo {
  msgId: string;
  /** the engine that ran it, once known */
  engineId: number | null;
  submitted: Date;
  started: Date | null;
  completed: Date | null;
  /** when the client received the result */
  received: Date | null;
  status: 'pending' | 'ok' | 'error';
  stdout: string;
  stderr: string;
  /** earlier failed runs of a retried task: the engine and the error of each */
  attempts: { engineId: number | null; ename: string }[];
}

/** Internal: one task's state, shared by the client and the AsyncResult. */
export interface TaskState {
  info: TaskInfo;
  done: boolean;
  value: unknown;
  error: Error | undefined;
  /** called once when the task finishes */
  listeners: ((t: TaskState) => void)[];
  /** asks the controller to abort tasks */
  abort: (msgIds: string[]) => Promise<number>;
}
