/**
 * The ssh launcher: engines (or the controller) on other hosts, started over
 * ssh. The engine connection file goes to each host over the ssh connection
 * itself (0600, in that host's profile directory); the remote pids and start
 * times are recorded so that another process can stop them later; stopping
 * ends their process groups and removes the files put there. A host that
 * cannot be reached is recorded with ssh's error; the other hosts start.
 */
import { hostname } from 'node:os';
import type { Settings } from '../config/settings.js';
import { clusterStem } from '../profiles/index.js';
import type { LaunchRecord, SshHostRecord, SshOptions } from '../profiles/index.js';
import type { LaunchStatus, Launcher, PartSpec } from './launcher.js';
import { sleep } from '../util/sleep.js';
import { pollScript, remoteRoot, shq, sshRun, sshRunSync, startScript, stopScript } from './ssh-exec.js';

type SshRecord = Extract<LaunchRecord, { launcher: 'ssh' }>;

/** How often the hosts are asked how their processes do (each ask is an ssh connection). */
const POLL_EVERY_MS = 2000;

/** A host and how many engines it runs. */
export interface HostCount {
  host: string;
  n: number;
}

/**
 * `h1:4,user@h2:2,h3`: hosts with counts; a host without a count gets an even
 * share of what `n` leaves (1 each without `n`).
 */
export function parseHosts(list: string, n: number | undefined): HostCount[] {
  const parts = list
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean)
    .map((h) => {
      const m = /^(.*?)(?::(\d+))?$/.exec(h);
      return { host: m?.[1] ?? h, n: m?.[2] !== undefined ? Number(m[2]) : undefined };
    });
  if (parts.length === 0) throw new RangeError('--hosts names no host: give a list like h1:4,user@h2:2');
  const counted = parts.reduce((a, p) => a + (p.n ?? 0), 0);
  const open = parts.filter((p) => p.n === undefined).length;
  const left = n !== undefined ? Math.max(0, n - counted) : open;
  let i = 0;
  return parts.map((p) => {
    if (p.n !== undefined) return { host: p.host, n: p.n };
    const share = Math.floor(left / open) + (i++ < left % open ? 1 : 0);
    return { host: p.host, n: share };
  });
}

export function sshOptionsOf(s: Pick<Settings, 'sshPort' | 'sshIdentity' | 'sshOptions'>): SshOptions {
  return {
    ...(s.sshPort !== undefined ? { port: s.sshPort } : {}),
    ...(s.sshIdentity !== undefined ? { identity: s.sshIdentity } : {}),
    options: s.sshOptions ?? [],
  };
}

/** The last lines ssh printed, for an error message. */
function sshError(stderr: string): string {
  const lines = stderr.trim().split('\n').filter(Boolean);
  return lines.slice(-5).join('\n') || 'ssh failed without a message';
}

/** `file PATH`, `log PATH` and `pid PID START` lines of a start script. */
function parseStarted(stdout: string): { file: string; log: string; pids: { pid: number; start: string | null }[] } {
  let file = '';
  let log = '';
  const pids: { pid: number; start: string | null }[] = [];
  for (const line of stdout.split('\n')) {
    const [word, a, b] = line.trim().split(' ');
    if (word === 'file' && a) file = line.trim().slice(5);
    else if (word === 'log' && a) log = line.trim().slice(4);
    else if (word === 'pid' && a && /^\d+$/.test(a)) pids.push({ pid: Number(a), start: b ?? null });
  }
  return { file, log, pids };
}

export class SshLauncher implements Launcher<SshRecord> {
  readonly name = 'ssh' as const;
  readonly #polled = new WeakMap<SshRecord, { at: number; status: Promise<LaunchStatus> }>();

  async start(spec: PartSpec): Promise<SshRecord> {
    const s = spec.settings;
    const ssh = sshOptionsOf(s);
    const stem = clusterStem(spec.clusterId);
    let targets: HostCount[];
    if (spec.part === 'controller') {
      if (s.controllerHost === undefined) throw new RangeError('--controller ssh needs the host to run it on: --controller-host [user@]HOST');
      targets = [{ host: s.controllerHost, n: 1 }];
    } else {
      if (s.hosts === undefined) throw new RangeError('--engines ssh needs the hosts: --hosts h1:4,user@h2:2 (or "hosts" in the profile)');
      if (!spec.engineFile) throw new Error('the ssh launcher needs the engine connection file to put on the hosts');
      targets = parseHosts(s.hosts, spec.n).filter((t) => t.n > 0);
    }
    const dir = `${remoteRoot(s.remoteDir)}/profile_${spec.profile}`;
    const from = hostname();
    const hosts = await Promise.all(
      targets.map(async ({ host, n }): Promise<SshHostRecord> => {
        // named by host: hosts that share a home directory (NFS) keep their own files
        const tag = host.replace(/[^\w.-]/g, '_');
        const name = `security/${stem}-engine-${tag}.json`;
        const file = spec.part === 'engines' && spec.engineFile ? { path: name, text: spec.engineFile.text } : undefined;
        const partArgs = spec.part === 'engines' ? ['--file', `$DIR/${name}`, ...spec.args] : spec.args;
        // the inner shell expands $DIR (exported by the script); every other word is quoted
        const command = `TSCLUSTER_DIR="$ROOT" exec ${s.remoteCmd} ${spec.part === 'engines' ? 'engine' : 'controller'} ${partArgs
          .map((a) => (a.startsWith('$DIR/') ? `"${a}"` : shq(a)))
          .join(' ')}`;
        const script = startScript({
          dir,
          root: remoteRoot(s.remoteDir),
          file,
          log: spec.part === 'engines' ? `log/${stem}-engines-${tag}.log` : `log/${stem}-controller.log`,
          n,
          command,
          mark: `==== ${new Date().toISOString()} ${spec.part === 'controller' ? 'controller' : `${n} engine(s)`} (started over ssh from ${from}) ====`,
        });
        const r = await sshRun(ssh, host, script);
        const started = parseStarted(r.stdout);
        // a controller writes its connection files next to its log's directory
        const home = started.log.replace(/\/log\/[^/]*$/, '');
        const files =
          spec.part === 'engines' ? [started.file].filter(Boolean) : ['client', 'engine'].map((k) => `${home}/security/${stem}-${k}.json`);
        if (r.code !== 0 || started.pids.length === 0) {
          return { host, n, processes: [], files: started.file ? [started.file] : [], log: started.log, error: sshError(r.stderr) };
        }
        return {
          host,
          n,
          processes: started.pids.map((p) => ({ host, pid: p.pid, start: p.start, cmd: null })),
          files,
          log: started.log,
        };
      }),
    );
    return { launcher: 'ssh', ssh, hosts };
  }

  poll(rec: SshRecord): Promise<LaunchStatus> {
    const last = this.#polled.get(rec);
    if (last && Date.now() - last.at < POLL_EVERY_MS) return last.status;
    const status = this.#poll(rec);
    this.#polled.set(rec, { at: Date.now(), status });
    return status;
  }

  async #poll(rec: SshRecord): Promise<LaunchStatus> {
    const per = await Promise.all(
      rec.hosts.map(async (h) => {
        if (h.error !== undefined) return { h, running: 0, detail: `could not start engines on ${h.host}: ${h.error}` };
        const r = await sshRun(rec.ssh, h.host, pollScript(h.processes) + (h.log ? `tail -n 15 ${shq(h.log)} 2>/dev/null\n` : ''), 20_000);
        const m = /^running (\d+)$/m.exec(r.stdout);
        // a host that does not answer the poll: its processes are not known to have ended
        if (r.code !== 0 || !m) return { h, running: h.processes.length, detail: '' };
        const tail = r.stdout.slice(m.index + m[0].length).trim();
        return { h, running: Number(m[1]), detail: `Its log on ${h.host} (${h.log}):\n${tail || '(nothing logged)'}` };
      }),
    );
    const total = rec.hosts.reduce((a, h) => a + h.n, 0);
    return {
      running: per.reduce((a, p) => a + p.running, 0),
      total,
      ended: per
        .filter((p) => p.running < p.h.n)
        .map((p) => ({ what: `on ${p.h.host} (${p.h.n - p.running} of ${p.h.n})`, detail: p.detail, count: p.h.n - p.running })),
    };
  }

  async stop(rec: SshRecord, graceMs: number): Promise<void> {
    const hosts = rec.hosts.filter((h) => h.processes.length > 0 || h.files.length > 0);
    await Promise.all(hosts.map((h) => sshRun(rec.ssh, h.host, stopScript(h.processes, graceMs / 1000, h.files), graceMs + 30_000)));
  }

  endNow(rec: SshRecord): void {
    // at exit: one blocking ssh per host (bounded), so that nothing is left behind
    for (const h of rec.hosts) if (h.processes.length) sshRunSync(rec.ssh, h.host, stopScript(h.processes, 0, h.files), 5000);
  }

  describe(rec: SshRecord): string {
    const parts = rec.hosts.map((h) =>
      h.error !== undefined
        ? `${h.host}: failed (${h.error.split('\n')[0] ?? ''})`
        : `${h.host}: pid${h.processes.length === 1 ? '' : 's'} ${h.processes.map((p) => p.pid).join(', ')}`,
    );
    const n = rec.hosts.reduce((a, h) => a + h.processes.length, 0);
    return `ssh: ${n} process${n === 1 ? '' : 'es'} (${parts.join('; ')})`;
  }

  async fetchConnectionFiles(rec: SshRecord, clusterId: string, timeoutMs: number): Promise<{ client: string; engine: string }> {
    const h = rec.hosts[0];
    if (!h) throw new Error('no controller host was recorded');
    if (h.error !== undefined) throw new Error(`could not start the controller on ${h.host}: ${h.error}`);
    const stem = clusterStem(clusterId);
    const dir = h.log.replace(/\/log\/[^/]*$/, '');
    const script = `${pollScript(h.processes)}for k in client engine; do f=${shq(dir)}/security/${stem}-$k.json; [ -f "$f" ] && { echo "==== $k"; cat "$f"; echo; }; done; true\n`;
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const r = await sshRun(rec.ssh, h.host, script, 20_000);
      if (r.code === 0) {
        const files = new Map<string, string>();
        for (const chunk of r.stdout.split(/^==== /m).slice(1)) {
          const nl = chunk.indexOf('\n');
          files.set(chunk.slice(0, nl), chunk.slice(nl + 1).trim());
        }
        const client = files.get('client');
        const engine = files.get('engine');
        if (client && engine) return { client, engine };
        if (/^running 0$/m.test(r.stdout)) {
          const log = await sshRun(rec.ssh, h.host, `tail -n 15 ${shq(h.log)}\n`, 20_000);
          throw new Error(
            `the controller on ${h.host} exited during start-up. Its log there (${h.log}):\n${log.stdout.trim() || '(nothing logged)'}`,
          );
        }
      } else last = sshError(r.stderr);
      if (Date.now() > deadline) {
        throw new Error(
          `the controller on ${h.host} wrote no connection files within ${timeoutMs} ms${last ? ` (ssh: ${last})` : ''}; its log there: ${h.log}`,
        );
      }
      await sleep(250);
    }
  }
}

export const sshLauncher = new SshLauncher();
