/** Running one code cell on a kernel and collecting its outputs and its error, as Jupyter saves them. */
import { KernelMessage } from '@jupyterlab/services';
import type { Kernel } from '@jupyterlab/services';
import { Interrupted } from './interrupt.js';
import { text } from './notebook.js';
import type { DataOutput, ErrorOutput, Output } from './notebook.js';

/** ANSI escape sequences (colours in tracebacks). */
export const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g; // eslint-disable-line no-control-regex

/** What one execution left: its outputs, execution count, an error (when it failed) and when each message came. */
export interface CellResult {
  outputs: Output[];
  count: number | null;
  error?: ErrorOutput;
  timing: Record<string, string>;
}

/** How long a cell may run (0: no limit) and the Ctrl-C that stops it. */
export interface CellLimits {
  timeoutMs: number;
  signal: AbortSignal;
}

class CellTimeout extends Error {
  constructor(ms: number) {
    super(`the cell did not finish within ${ms / 1000} s (--timeout); the kernel was interrupted`);
  }
}

class KernelDied extends Error {}

/**
 * Error output from a failed execute_reply when the kernel sent no `error`
 * message (tslab writes a thrown error to stderr and replies status error):
 * ename and evalue from the reply if it has them, else from the stderr text.
 */
function errorFromReply(content: Record<string, unknown>, stderr: string): ErrorOutput {
  if (typeof content.ename === 'string') {
    return {
      output_type: 'error',
      ename: content.ename,
      evalue: typeof content.evalue === 'string' ? content.evalue : '',
      traceback: Array.isArray(content.traceback) ? content.traceback.map(String) : [],
    };
  }
  const tb = stderr.replace(ANSI, '').trimEnd().split('\n');
  let ename = 'Error';
  let evalue = tb.find((l) => l.trim() !== '') ?? 'the cell failed (the kernel replied status error)';
  const matches = tb.map((l) => /^([A-Za-z_$][\w$]*)(?: \[[^\]]*\])?: (.*)$/.exec(l)).filter((m) => m !== null);
  const named = matches.find((m) => /(Error|Exception|Timeout|Aborted|Dependency|Running)$/.test(m[1]!)) ?? matches[0];
  if (named) [, ename = 'Error', evalue = ''] = named;
  else if (/^\d+:\d+ - /.test(evalue)) ename = 'CompileError';
  return { output_type: 'error', ename, evalue, traceback: tb };
}

const displayId = (content: { transient?: unknown }): string | undefined => (content.transient as { display_id?: string } | undefined)?.display_id;

/** The outputs of one execution, kept from its iopub messages as Jupyter keeps them. */
class CellOutputs {
  readonly outputs: Output[] = [];
  count: number | null = null;
  /** when nbrun received each message (as nbclient records them) */
  readonly timing: Record<string, string> = {};
  #stderr = '';
  #displays = new Map<string, DataOutput[]>();
  #clearPending = false;

  push(o: Output): void {
    if (this.#clearPending) {
      this.outputs.length = 0;
      this.#clearPending = false;
    }
    const last = this.outputs[this.outputs.length - 1];
    if (o.output_type === 'stream' && last?.output_type === 'stream' && last.name === o.name) last.text = text(last.text) + text(o.text);
    else this.outputs.push(o);
  }

  onIOPub(msg: KernelMessage.IIOPubMessage): void {
    if (KernelMessage.isStatusMsg(msg)) {
      this.timing[`iopub.status.${msg.content.execution_state}`] ??= new Date().toISOString();
    } else if (KernelMessage.isExecuteInputMsg(msg)) {
      this.timing['iopub.execute_input'] = new Date().toISOString();
      this.count = msg.content.execution_count;
    } else if (KernelMessage.isStreamMsg(msg)) {
      if (msg.content.name === 'stderr') this.#stderr += msg.content.text;
      this.push({ output_type: 'stream', name: msg.content.name, text: msg.content.text });
    } else if (KernelMessage.isExecuteResultMsg(msg) || KernelMessage.isDisplayDataMsg(msg)) {
      const o: DataOutput = { output_type: msg.header.msg_type, data: { ...msg.content.data }, metadata: { ...msg.content.metadata } };
      if (KernelMessage.isExecuteResultMsg(msg)) o.execution_count = msg.content.execution_count;
      this.push(o);
      const id = displayId(msg.content);
      if (id) this.#displays.set(id, [...(this.#displays.get(id) ?? []), o]);
    } else if (KernelMessage.isUpdateDisplayDataMsg(msg)) {
      const id = displayId(msg.content);
      for (const o of (id && this.#displays.get(id)) || []) {
        o.data = { ...msg.content.data };
        o.metadata = { ...msg.content.metadata };
      }
    } else if (KernelMessage.isErrorMsg(msg)) {
      this.push({ output_type: 'error', ename: msg.content.ename, evalue: msg.content.evalue, traceback: [...msg.content.traceback] });
    } else if (KernelMessage.isClearOutputMsg(msg)) {
      if (msg.content.wait) this.#clearPending = true;
      else this.outputs.length = 0;
    }
  }

  /** The result once the kernel replied. */
  finish(reply: KernelMessage.IExecuteReplyMsg): CellResult {
    this.timing['shell.execute_reply'] = new Date().toISOString();
    const { outputs, timing } = this;
    const count =
      this.count ?? (reply.content.status === 'abort' ? null : ((reply.content as { execution_count?: number | null }).execution_count ?? null));
    let error = outputs.find((o): o is ErrorOutput => o.output_type === 'error');
    if (reply.content.status === 'error' && !error) {
      error = errorFromReply(reply.content as unknown as Record<string, unknown>, this.#stderr);
      this.push(error);
    } else if (reply.content.status === 'abort' && !error) {
      error = { output_type: 'error', ename: 'Aborted', evalue: 'the kernel aborted the execution', traceback: [] };
    }
    return { outputs, count, timing, ...(error ? { error } : {}) };
  }

  /** The result when the cell got no reply (it timed out, the kernel died): the reason as an error output. */
  fail(ename: string, evalue: string): CellResult {
    const error: ErrorOutput = { output_type: 'error', ename, evalue, traceback: [] };
    this.push(error);
    return { outputs: this.outputs, count: this.count, timing: this.timing, error };
  }
}

/** A promise that rejects when the cell runs too long, on Ctrl-C, or when the kernel dies; `dispose` stops watching. */
function watchFailure(kernel: Kernel.IKernelConnection, limits: CellLimits): { failed: Promise<never>; dispose: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  let onStatus: ((_: unknown, s: KernelMessage.Status) => void) | undefined;
  const failed = new Promise<never>((_, reject) => {
    if (limits.timeoutMs > 0) timer = setTimeout(() => reject(new CellTimeout(limits.timeoutMs)), limits.timeoutMs);
    onAbort = () => reject(new Interrupted());
    limits.signal.addEventListener('abort', onAbort, { once: true });
    onStatus = (_, s) => {
      if (s === 'dead' || s === 'restarting' || s === 'autorestarting') reject(new KernelDied(`the kernel died while the cell ran (status ${s})`));
    };
    kernel.statusChanged.connect(onStatus);
  });
  const dispose = (): void => {
    clearTimeout(timer);
    if (onAbort) limits.signal.removeEventListener('abort', onAbort);
    if (onStatus) kernel.statusChanged.disconnect(onStatus);
  };
  return { failed, dispose };
}

/** Run one code cell; resolves with its outputs, execution count and status. */
export async function executeCell(kernel: Kernel.IKernelConnection, code: string, limits: CellLimits): Promise<CellResult> {
  const cell = new CellOutputs();
  const future = kernel.requestExecute({ code, silent: false, store_history: true, allow_stdin: false, stop_on_error: true });
  future.onIOPub = (msg: KernelMessage.IIOPubMessage): void => cell.onIOPub(msg);
  const watch = watchFailure(kernel, limits);
  try {
    // the connection may end the request itself (a kernel gone before its status said so)
    const done = future.done.catch((e: unknown) => {
      throw new KernelDied(`the connection to the kernel ended during the cell (${e instanceof Error ? e.message : String(e)})`);
    });
    return cell.finish(await Promise.race([done, watch.failed]));
  } catch (e) {
    if (e instanceof CellTimeout) {
      await kernel.interrupt().catch(() => undefined);
      return cell.fail('CellTimeout', e.message);
    }
    if (e instanceof KernelDied) return cell.fail('KernelDied', e.message);
    throw e;
  } finally {
    watch.dispose();
    future.dispose();
  }
}
