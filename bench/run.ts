/**
 * `npm run bench [-- --engines N --quick --json FILE --no-ipyparallel]`:
 * each workload on tscluster and on ipyparallel (Debian's python3-ipyparallel,
 * driven by bench/ipyparallel_bench.py) with the same number of engines, in
 * one run, printed as a table of medians and ratios.
 *
 * ratio = how many times better tscluster is (ipyparallel / tscluster for
 * times and sizes, tscluster / ipyparallel for rates).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Cluster } from '../index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const PY_SCRIPT = join(ROOT, 'bench', 'ipyparallel_bench.py');

export interface Row {
  workload: string;
  unit: string;
  tscluster: number | null;
  ipyparallel: number | null;
  ratio: number | null;
  note?: string;
}

type Better = 'lower' | 'higher';
const WORKLOADS: Record<string, { unit: string; better: Better }> = {
  startup_s: { unit: 's', better: 'lower' },
  lb_roundtrip_ms: { unit: 'ms', better: 'lower' },
  lb_roundtrip_p99_ms: { unit: 'ms', better: 'lower' },
  direct_roundtrip_ms: { unit: 'ms', better: 'lower' },
  lb_throughput_tasks_per_s: { unit: 'tasks/s', better: 'higher' },
  lb_throughput_hwm0_tasks_per_s: { unit: 'tasks/s', better: 'higher' },
  map_items_per_s: { unit: 'items/s', better: 'higher' },
  push_MBps: { unit: 'MB/s', better: 'higher' },
  pull_MBps: { unit: 'MB/s', better: 'higher' },
  cpu_speedup: { unit: 'x', better: 'higher' },
  controller_rss_MB: { unit: 'MB', better: 'lower' },
};

export interface Sizes {
  reps: number;
  latencySamples: number;
  throughputTasks: number;
  mapItems: number;
  pushMB: number;
  cpuTasks: number;
  cpuTaskSeconds: number;
  rssTasks: number;
}

const FULL: Sizes = {
  reps: 3,
  latencySamples: 2000,
  throughputTasks: 20000,
  mapItems: 1_000_000,
  pushMB: 100,
  cpuTasks: 16,
  cpuTaskSeconds: 0.5,
  rssTasks: 200_000,
};
const QUICK: Sizes = {
  reps: 1,
  latencySamples: 200,
  throughputTasks: 2000,
  mapItems: 100_000,
  pushMB: 10,
  cpuTasks: 4,
  cpuTaskSeconds: 0.1,
  rssTasks: 10_000,
};

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

/** Milliseconds of each of `n` awaited calls, one at a time. */
async function sample(n: number, call: (i: number) => PromiseLike<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await call(i);
    out.push(performance.now() - t);
  }
  return out;
}

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** A CPU-bound function and the argument that makes one call take about `seconds`, calibrated here. */
function calibrateBurn(seconds: number): number {
  const burn = (n: number): number => {
    let s = 0;
    for (let i = 0; i < n; i++) s = (s + ((i * i) % 7)) | 0;
    return s;
  };
  let n = 1_000_000;
  for (;;) {
    const t = performance.now();
    burn(n);
    const dt = (performance.now() - t) / 1000;
    if (dt > 0.05) return Math.round((n * seconds) / dt);
    n *= 4;
  }
}

const burnRemote = (n: number): number => {
  let s = 0;
  for (let i = 0; i < n; i++) s = (s + ((i * i) % 7)) | 0;
  return s;
};

async function timeStartup(env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, 'start', '-n', '4', '--daemon', '--profile', 'benchstart'], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tscluster start failed: ${r.stderr}`);
  const rc = await Client.connect({ profile: 'benchstart' });
  await rc.waitForEngines(4);
  const dt = (performance.now() - t0) / 1000;
  await rc.close();
  const s = spawnSync(process.execPath, [CLI, 'stop', '--profile', 'benchstart'], { env, encoding: 'utf8' });
  if (s.status !== 0) throw new Error(`tscluster stop failed: ${s.stderr}`);
  return dt;
}

type View = ReturnType<Client['loadBalancedView']>;
const noop = (x?: unknown): unknown => x;

/** Run `reps` times; the median rate of `count` items done per second. */
async function rate(reps: number, count: number, run: () => Promise<void>): Promise<number> {
  const rates: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await run();
    rates.push(count / ((performance.now() - t) / 1000));
  }
  return median(rates);
}

async function latencies(rc: Client, z: Sizes, out: Record<string, number>): Promise<void> {
  log('tscluster: round trips');
  const lb = rc.loadBalancedView();
  const d0 = rc.directView(rc.ids[0]!);
  const lat = await sample(z.latencySamples, (i) => lb.apply(noop, i));
  out.lb_roundtrip_ms = median(lat);
  out.lb_roundtrip_p99_ms = percentile(lat, 0.99);
  out.direct_roundtrip_ms = median(await sample(z.latencySamples, (i) => d0.apply(noop, i)));
}

async function throughputs(lb: View, z: Sizes, out: Record<string, number>): Promise<void> {
  log('tscluster: throughput');
  out.lb_throughput_tasks_per_s = await rate(z.reps, z.throughputTasks, async () => {
    await Promise.all(Array.from({ length: z.throughputTasks }, (_, i) => lb.apply(noop, i)));
  });
  log('tscluster: map');
  const items = Array.from({ length: z.mapItems }, (_, i) => i);
  out.map_items_per_s = await rate(z.reps, z.mapItems, async () => {
    const res = await lb.map(noop, items, { chunksize: 1000 });
    if (res.length !== items.length || res[items.length - 1] !== items.length - 1) throw new Error('map returned wrong results');
  });
}

async function pushPull(rc: Client, z: Sizes, out: Record<string, number>): Promise<void> {
  log('tscluster: push and pull');
  const d0 = rc.directView(rc.ids[0]!);
  const big = new Float64Array((z.pushMB * 1024 * 1024) / 8);
  for (let i = 0; i < big.length; i += 4096) big[i] = i;
  out.push_MBps = await rate(z.reps, z.pushMB, async () => {
    await d0.push({ big });
  });
  out.pull_MBps = await rate(z.reps, z.pushMB, async () => {
    const back = await d0.pull<Float64Array>('big');
    if (back.length !== big.length || back[4096] !== 4096) throw new Error('pull returned a different array');
  });
  await d0.execute('big = undefined');
}

async function cpuSpeedup(lb: View, z: Sizes, out: Record<string, number>): Promise<void> {
  log('tscluster: cpu speedup');
  const n = calibrateBurn(z.cpuTaskSeconds);
  let t = performance.now();
  for (let i = 0; i < z.cpuTasks; i++) burnRemote(n);
  const serial = performance.now() - t;
  await lb.map(burnRemote, [n, n]); // warm the engines' JIT
  t = performance.now();
  await lb.map(
    burnRemote,
    Array.from({ length: z.cpuTasks }, () => n),
  );
  out.cpu_speedup = serial / (performance.now() - t);
}

async function controllerMemory(lb: View, pid: number, z: Sizes, out: Record<string, number>): Promise<void> {
  log(`tscluster: controller memory after ${z.rssTasks} tasks`);
  for (let done = 0; done < z.rssTasks;) {
    const k = Math.min(20000, z.rssTasks - done);
    await Promise.all(Array.from({ length: k }, (_, i) => lb.apply(noop, i)));
    done += k;
  }
  out.controller_rss_MB = rssMB(pid);
}

/** Run every workload on tscluster; values keyed like WORKLOADS. */
export async function benchTscluster(engines: number, z: Sizes): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  log('tscluster: startup');
  const starts: number[] = [];
  for (let i = 0; i < z.reps; i++) starts.push(await timeStartup({ ...process.env }));
  out.startup_s = median(starts);
  const cluster = await Cluster.start({ n: engines, profile: 'bench' });
  try {
    const rc = await cluster.connect();
    const lb = rc.loadBalancedView();
    for (let i = 0; i < 200; i++) await lb.apply(noop, i);
    await latencies(rc, z, out);
    await throughputs(lb, z, out);
    await pushPull(rc, z, out);
    await cpuSpeedup(lb, z, out);
    await controllerMemory(lb, cluster.controllerPid, z, out);
  } finally {
    await cluster.stop();
  }
  log('tscluster: pipelined throughput with hwm 0');
  const c0 = await Cluster.start({ n: engines, profile: 'bench', hwm: 0 });
  try {
    const lb = (await c0.connect()).loadBalancedView();
    await Promise.all(Array.from({ length: 1000 }, (_, i) => lb.apply(noop, i)));
    out.lb_throughput_hwm0_tasks_per_s = await rate(z.reps, z.throughputTasks, async () => {
      await Promise.all(Array.from({ length: z.throughputTasks }, (_, i) => lb.apply(noop, i)));
    });
  } finally {
    await c0.stop();
  }
  return out;
}

/** Run bench/ipyparallel_bench.py; its last stdout line is a JSON object keyed like WORKLOADS. */
export async function benchIpyparallel(engines: number, quick: boolean): Promise<Record<string, number> | string> {
  const python = '/usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import ipyparallel; print(ipyparallel.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'ipyparallel is not installed (apt-get install -y python3-ipyparallel)';
  log(`ipyparallel ${probe.stdout.trim()}: running bench/ipyparallel_bench.py`);
  const ipdir = mkdtempSync(join(tmpdir(), 'ipp-bench-'));
  try {
    const child = spawn(python, [PY_SCRIPT, '--engines', String(engines), ...(quick ? ['--quick'] : [])], {
      env: { ...process.env, IPYTHONDIR: ipdir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    if (code !== 0) return `ipyparallel_bench.py exited with ${code}`;
    const last = stdout.trim().split('\n').pop() ?? '{}';
    return JSON.parse(last) as Record<string, number>;
  } finally {
    // ipcluster leaves nothing running after stop_cluster_sync; its files go with the directory
    try {
      execFileSync('pkill', ['-f', ipdir]);
    } catch {
      // nothing left
    }
    rmSync(ipdir, { recursive: true, force: true });
  }
}

export function rows(ts: Record<string, number>, ipp: Record<string, number> | undefined): Row[] {
  return Object.entries(WORKLOADS).map(([workload, w]) => {
    const a = ts[workload] ?? null;
    const b = ipp?.[workload] ?? null;
    const ratio = a === null || b === null || a === 0 || b === 0 ? null : w.better === 'lower' ? b / a : a / b;
    const row: Row = { workload, unit: w.unit, tscluster: a, ipyparallel: b, ratio };
    if (workload === 'controller_rss_MB' && ipp?.rss_tasks) row.note = `ipyparallel after ${ipp.rss_tasks} tasks`;
    if (workload === 'lb_throughput_hwm0_tasks_per_s') row.note = 'tscluster with hwm 0; ipyparallel at its default';
    return row;
  });
}

function fmt(x: number | null): string {
  if (x === null) return '-';
  if (x >= 1000) return Math.round(x).toLocaleString('en-US');
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(3);
}

export function table(rs: Row[]): string {
  const lines = [
    ['workload', 'unit', 'tscluster', 'ipyparallel', 'ratio'],
    ...rs.map((r) => [r.workload, r.unit, fmt(r.tscluster), fmt(r.ipyparallel), r.ratio === null ? '-' : `${r.ratio.toFixed(1)}x`]),
  ];
  const w = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines.map((l) => l.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')).join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      engines: { type: 'string', default: '2' },
      quick: { type: 'boolean' },
      json: { type: 'string' },
      'no-ipyparallel': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      'Usage: npm run bench -- [--engines N] [--quick] [--json FILE] [--no-ipyparallel]\n\nRuns each workload on tscluster and ipyparallel in one run and prints medians and ratios.',
    );
    return;
  }
  const engines = Number(values.engines);
  if (!Number.isInteger(engines) || engines < 1) throw new Error(`--engines takes a whole number >= 1, got ${values.engines}`);
  const z = values.quick ? QUICK : FULL;
  const root = mkdtempSync(join(tmpdir(), 'tscluster-bench-'));
  process.env.TSCLUSTER_DIR = root;
  try {
    const ts = await benchTscluster(engines, z);
    const ipp = values['no-ipyparallel'] ? 'skipped (--no-ipyparallel)' : await benchIpyparallel(engines, values.quick ?? false);
    const rs = rows(ts, typeof ipp === 'string' ? undefined : ipp);
    console.log(`\ntscluster vs ipyparallel, ${engines} engines${values.quick ? ' (quick)' : ''}, ${new Date().toISOString().slice(0, 10)}`);
    console.log(table(rs));
    if (typeof ipp === 'string') console.log(`\nipyparallel: ${ipp}`);
    if (values.json) writeFileSync(values.json, JSON.stringify(rs, null, 2) + '\n');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`bench: ${e instanceof Error ? e.stack : String(e)}`);
  process.exit(1);
});
