/** The local launcher: the parts of a cluster as detached processes of this machine. */
import type { LaunchRecord } from '../profiles/index.js';
import { logPath } from '../profiles/index.js';
import type { LaunchStatus, Launcher, PartSpec } from './launcher.js';
import { signalPid } from '../util/proc.js';
import {
  CONTROLLER_SCRIPT,
  engineScript,
  SUPERVISOR_SCRIPT,
  markRun,
  runLogTail,
  running,
  spawnDetached,
  terminate,
  waitEnded,
} from './processes.js';
import type { RunLog } from './processes.js';

type LocalRecord = Extract<LaunchRecord, { launcher: 'local' }>;

export class LocalLauncher implements Launcher<LocalRecord> {
  readonly name = 'local' as const;
  /** the log of each process this launcher started in this process, marked at its run */
  readonly #logs = new Map<number, RunLog>();

  /**
   * Engines, or the controller: by default its supervisor (controller/supervisor.ts), which starts
   * the controller and starts it again after a crash; with `supervise` off the controller alone.
   */
  start(spec: PartSpec): Promise<LocalRecord> {
    const supervisor = spec.part === 'controller' && spec.settings.supervise;
    const script = spec.part === 'controller' ? (supervisor ? SUPERVISOR_SCRIPT : CONTROLLER_SCRIPT) : engineScript();
    const log = markRun(logPath(spec.profile, spec.clusterId, spec.part), spec.part === 'controller' ? 'controller' : `${spec.n} engine(s)`);
    const processes = Array.from({ length: spec.n }, () => spawnDetached(script, spec.args, log.path));
    for (const p of processes) this.#logs.set(p.pid, log);
    return Promise.resolve({ launcher: 'local', processes, ...(supervisor ? { supervisor: true } : {}) });
  }

  poll(rec: LocalRecord): Promise<LaunchStatus> {
    const ended = rec.processes.filter((p) => !running(p));
    return Promise.resolve({
      running: rec.processes.length - ended.length,
      total: rec.processes.length,
      ended: ended.map((p) => {
        const log = this.#logs.get(p.pid);
        return { what: `pid ${p.pid}`, detail: log ? `Its log (${log.path}):\n${runLogTail(log)}` : '', count: 1 };
      }),
    });
  }

  async stop(rec: LocalRecord, graceMs: number): Promise<void> {
    const left = await waitEnded(rec.processes, graceMs);
    await terminate(left);
  }

  endNow(rec: LocalRecord): void {
    for (const p of rec.processes) if (running(p)) signalPid(p.pid, 'SIGTERM');
  }

  describe(rec: LocalRecord): string {
    const n = rec.processes.length;
    if (rec.supervisor) return `local: 1 process (pid ${rec.processes.map((p) => p.pid).join(', ')}: the controller's supervisor)`;
    return `local: ${n} process${n === 1 ? '' : 'es'}${n ? ` (pid${n === 1 ? '' : 's'} ${rec.processes.map((p) => p.pid).join(', ')})` : ''}`;
  }
}

/** The one local launcher of this process (it remembers the logs of what it started). */
export const localLauncher = new LocalLauncher();
