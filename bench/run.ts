/**
 * `npm run bench [-- --engines N --quick --json FILE --no-ipyparallel --scale 8,32,64]`:
 * each workload on tscluster and on ipyparallel (Debian's python3-ipyparallel,
 * driven by bench/ipyparallel_bench.py) with the same number of engines, in
 * one run, printed as a table of medians and ratios; with `--scale`, then the
 * workloads of bench/scale.ts at each engine count, as a second table.
 *
 * ratio = how many times better tscluster is (ipyparallel / tscluster for
 * times and sizes, tscluster / ipyparallel for rates).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '../index.js';
import { storePath } from '../profiles/index.js';
import { timeDaemonStart, withCluster } from './clusters.js';
import { ipyparallelVersion, runIpyparallel } from './ipyparallel.js';
import { watchDashboard } from './dashboard-load.js';
import { stopOnSignals } from './procs.js';
import { compare, notes, table } from './report.js';
import type { Row, Workload } from './report.js';
import { SCALE_FULL, SCALE_QUICK, benchScale } from './scale.js';
import { STREAM_NOTES, STREAM_WORKLOADS, benchStreams } from './streams.js';
import type { StreamSizes } from './streams.js';
import { sleep } from '../util/sleep.js';
import { burst, log, median, noop, percentile, rate, sample } from './util.js';
import type { View } from './util.js';

const WORKLOADS: Record<string, Workload> = {
  startup_s: { unit: 's', better: 'lower' },
  lb_roundtrip_ms: { unit: 'ms', better: 'lower' },
  lb_roundtrip_p99_ms: { unit: 'ms', better: 'lower' },
  direct_roundtrip_ms: { unit: 'ms', better: 'lower' },
  lb_throughput_tasks_per_s: { unit: 'tasks/s', better: 'higher' },
  lb_throughput_hwm0_tasks_per_s: { unit: 'tasks/s', better: 'higher' },
  lb_throughput_prefetch1_tasks_per_s: { unit: 'tasks/s', better: 'higher' },
  lb_throughput_dashboard_watched_tasks_per_s: { unit: 'tasks/s', better: 'higher' },
  lb_throughput_dashboard_off_tasks_per_s: { unit: 'tasks/s', better: 'higher' },
  lb_throughput_store_none_tasks_per_s: { unit: 'tasks/s', better: 'higher' },
  controller_restart_s: { unit: 's', better: 'lower' },
  map_items_per_s: { unit: 'items/s', better: 'higher' },
  push_MBps: { unit: 'MB/s', better: 'higher' },
  pull_MBps: { unit: 'MB/s', better: 'higher' },
  cpu_speedup: { unit: 'x', better: 'higher' },
  controller_rss_2s_MB: { unit: 'MB', better: 'lower' },
  controller_rss_MB: { unit: 'MB', better: 'lower' },
  store_disk_MB: { unit: 'MB', better: 'lower' },
  ...STREAM_WORKLOADS,
};

export interface Sizes extends StreamSizes {
  latencySamples: number;
  throughputTasks: number;
  mapItems: number;
  pushMB: number;
  cpuTasks: number;
  cpuTaskSeconds: number;
  rssTasks: number;
}

/** a hang guard for bench/ipyparallel_bench.py */
const IPP_BENCH_LIMIT_MS = 60 * 60 * 1000;

const FULL: Sizes = {
  reps: 3,
  latencySamples: 2000,
  throughputTasks: 20000,
  mapItems: 1_000_000,
  pushMB: 100,
  cpuTasks: 16,
  cpuTaskSeconds: 0.5,
  rssTasks: 200_000,
  channelSamples: 2000,
  streamItems: 200_000,
  queuePairs: 20_000,
  channelMB: 100,
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
  channelSamples: 200,
  streamItems: 20_000,
  queuePairs: 2000,
  channelMB: 100,
};

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
  out.lb_throughput_tasks_per_s = await rate(z.reps, z.throughputTasks, () => burst(lb, z.throughputTasks));
  log('tscluster: map');
  const items = Array.from({ length: z.mapItems }, (_, i) => i);
  out.map_items_per_s = await rate(z.reps, z.mapItems, async () => {
    const res = await lb.map(noop, items, { chunksize: 1000 });
    if (res.length !== items.length || res[items.length - 1] !== items.length - 1) throw new Error('map returned wrong results');
  });
}

/** The same burst while two viewers watch the dashboard's live stream and /metrics is scraped every second. */
async function watchedThroughput(lb: View, url: string | null, z: Sizes, out: Record<string, number>): Promise<void> {
  if (url === null) throw new Error('the bench cluster has no dashboard');
  log('tscluster: throughput, dashboard watched');
  const w = watchDashboard(url);
  let watched: { events: number; scrapes: number } | undefined;
  try {
    out.lb_throughput_dashboard_watched_tasks_per_s = await rate(z.reps, z.throughputTasks, () => burst(lb, z.throughputTasks));
  } finally {
    watched = w.stop();
  }
  if (watched.events === 0 || watched.scrapes === 0) {
    throw new Error(`the dashboard was not watched: ${watched.events} event batches, ${watched.scrapes} scrapes`);
  }
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

/**
 * after the last burst, before reading the controller's RSS (both systems):
 * once after 2 s, once after 10 s (the second idle collection, which shrinks
 * V8's young generation, comes 7-8.5 s after a burst: util/memory-return.ts)
 */
const REST_BEFORE_RSS_MS = [2000, 10_000] as const;

async function controllerMemory(lb: View, pid: number, z: Sizes, out: Record<string, number>): Promise<void> {
  log(`tscluster: controller memory after ${z.rssTasks} tasks`);
  for (let done = 0; done < z.rssTasks;) {
    const k = Math.min(20000, z.rssTasks - done);
    await burst(lb, k);
    done += k;
  }
  // at rest: the controller gives memory back once idle (util/memory-return.ts); ipyparallel's side rests as long
  await sleep(REST_BEFORE_RSS_MS[0]);
  out.controller_rss_2s_MB = rssMB(pid);
  await sleep(REST_BEFORE_RSS_MS[1] - REST_BEFORE_RSS_MS[0]);
  out.controller_rss_MB = rssMB(pid);
  // the SQLite store after those tasks: file and write-ahead log (bounded by --max-records and --max-record-bytes)
  const db = storePath('bench', '');
  out.store_disk_MB = [db, `${db}-wal`, `${db}-shm`].reduce((n, f) => n + (existsSync(f) ? statSync(f).size : 0), 0) / 1024 ** 2;
}

/**
 * Restart to serving: SIGKILL the controller while a client holds a connection; the time until that client's
 * next task has run (the supervisor starts a new controller, the engines resume, the client resyncs).
 */
async function restartTime(engines: number, z: Sizes, out: Record<string, number>): Promise<void> {
  log('tscluster: controller restart to serving');
  await withCluster({ n: engines, profile: 'bench' }, async (cluster) => {
    const rc = await cluster.connect();
    const lb = rc.loadBalancedView();
    await burst(lb, 200);
    const times: number[] = [];
    for (let i = 0; i < z.reps; i++) {
      const pid = rc.cluster.controllerPid;
      const t0 = performance.now();
      process.kill(pid, 'SIGKILL');
      // the client notices (its check runs once a second), waits for the new controller and resyncs
      await lb.apply(noop, i).get({ timeoutMs: 60_000 });
      times.push((performance.now() - t0) / 1000);
      await burst(lb, 100);
    }
    out.controller_restart_s = median(times);
  });
}

/** Run every workload on tscluster; values keyed like WORKLOADS. */
export async function benchTscluster(engines: number, z: Sizes): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  log('tscluster: startup');
  const starts: number[] = [];
  for (let i = 0; i < z.reps; i++) starts.push(await timeDaemonStart(4, 'benchstart'));
  out.startup_s = median(starts);
  await withCluster({ n: engines, profile: 'bench' }, async (cluster) => {
    const rc = await cluster.connect();
    const lb = rc.loadBalancedView();
    for (let i = 0; i < 200; i++) await lb.apply(noop, i);
    await latencies(rc, z, out);
    await throughputs(lb, z, out);
    await watchedThroughput(lb, cluster.dashboardUrl, z, out);
    await pushPull(rc, z, out);
    await cpuSpeedup(lb, z, out);
    await controllerMemory(lb, cluster.controllerPid, z, out);
    await benchStreams(rc, z, out);
  });
  log('tscluster: throughput with prefetch 1');
  await withCluster({ n: engines, profile: 'bench', prefetch: 1 }, async (cluster) => {
    const lb = (await cluster.connect()).loadBalancedView();
    await burst(lb, 1000);
    out.lb_throughput_prefetch1_tasks_per_s = await rate(z.reps, z.throughputTasks, () => burst(lb, z.throughputTasks));
  });
  log('tscluster: throughput, dashboard off');
  await withCluster({ n: engines, profile: 'bench', dashboard: 'off' }, async (cluster) => {
    const lb = (await cluster.connect()).loadBalancedView();
    await burst(lb, 1000);
    out.lb_throughput_dashboard_off_tasks_per_s = await rate(z.reps, z.throughputTasks, () => burst(lb, z.throughputTasks));
  });
  log('tscluster: throughput, --store none');
  await withCluster({ n: engines, profile: 'bench', store: 'none' }, async (cluster) => {
    const lb = (await cluster.connect()).loadBalancedView();
    await burst(lb, 1000);
    out.lb_throughput_store_none_tasks_per_s = await rate(z.reps, z.throughputTasks, () => burst(lb, z.throughputTasks));
  });
  await restartTime(engines, z, out);
  log('tscluster: pipelined throughput with hwm 0');
  await withCluster({ n: engines, profile: 'bench', hwm: 0 }, async (cluster) => {
    const lb = (await cluster.connect()).loadBalancedView();
    await burst(lb, 1000);
    out.lb_throughput_hwm0_tasks_per_s = await rate(z.reps, z.throughputTasks, () => burst(lb, z.throughputTasks));
  });
  return out;
}

/** Run bench/ipyparallel_bench.py: values keyed like WORKLOADS, or why there are none. */
export async function benchIpyparallel(engines: number, quick: boolean): Promise<Record<string, number> | string> {
  log('ipyparallel: running bench/ipyparallel_bench.py');
  const run = await runIpyparallel('ipyparallel_bench.py', ['--engines', String(engines), ...(quick ? ['--quick'] : [])], IPP_BENCH_LIMIT_MS);
  return run.problems.length > 0 ? run.problems.join('; ') : run.results;
}

/** The dashboard's cost: the watched burst against the same burst unwatched and with the dashboard off. */
function dashboardNote(ts: Record<string, number>): string {
  const watched = ts.lb_throughput_dashboard_watched_tasks_per_s;
  const change = (base: number | undefined): string =>
    base && watched ? `${watched >= base ? '+' : ''}${(100 * (watched / base - 1)).toFixed(1)}%` : '?';
  return (
    'tscluster with two viewers on the dashboard and /metrics scraped every second (ipyparallel at its default): ' +
    `${change(ts.lb_throughput_tasks_per_s)} against unwatched, ${change(ts.lb_throughput_dashboard_off_tasks_per_s)} against --dashboard off ` +
    '(target: no worse than -5%)'
  );
}

/** The durable store's cost: the default (SQLite store) against --store none. */
function storeNote(ts: Record<string, number>): string {
  const on = ts.lb_throughput_tasks_per_s;
  const off = ts.lb_throughput_store_none_tasks_per_s;
  const kept = on && off ? `${((100 * on) / off).toFixed(0)}%` : '?';
  return `tscluster with --store none; the default (SQLite store) keeps ${kept} of it (target: >= 85%)`;
}

export function rows(ts: Record<string, number>, ipp: Record<string, number> | undefined): Row[] {
  return compare(WORKLOADS, ts, ipp).map((row) => {
    if (row.workload.startsWith('controller_rss_') && ipp?.rss_tasks) row.note = `ipyparallel after ${ipp.rss_tasks} tasks`;
    if (row.workload === 'lb_throughput_hwm0_tasks_per_s') row.note = 'tscluster with hwm 0; ipyparallel at its default';
    if (row.workload === 'lb_throughput_dashboard_watched_tasks_per_s') row.note = dashboardNote(ts);
    if (row.workload === 'lb_throughput_dashboard_off_tasks_per_s') row.note = 'tscluster with --dashboard off; ipyparallel at its default';
    if (row.workload === 'lb_throughput_store_none_tasks_per_s') row.note = storeNote(ts);
    if (row.workload === 'store_disk_MB') row.note = 'the SQLite store (file and log) after the controller-memory burst of tasks';
    if (row.workload === 'controller_restart_s')
      row.note = 'SIGKILL of the controller to the next task done by a connected client (ipyparallel: its controller does not come back)';
    if (row.workload === 'lb_throughput_prefetch1_tasks_per_s')
      row.note = 'tscluster with hwm 1 and --prefetch 1 (work stealing); ipyparallel at its default';
    const streamNote = STREAM_NOTES[row.workload];
    if (streamNote !== undefined) row.note = streamNote;
    return row;
  });
}

const USAGE = `Usage: npm run bench -- [--engines N] [--quick] [--json FILE] [--no-ipyparallel] [--scale N,N,...]

Runs each workload on tscluster and ipyparallel in one run and prints medians and ratios.
--scale 8,32,64 then runs the scaling workloads (start-up, fan-out, push to all,
load-balanced throughput) at each engine count on both, as a second table.`;

function options(): { engines: number; scale: number[]; quick: boolean; json?: string; noIpp: boolean } | undefined {
  const { values } = parseArgs({
    options: {
      engines: { type: 'string', default: '2' },
      scale: { type: 'string' },
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      'no-ipyparallel': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const count = (flag: string, v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} takes whole numbers >= 1, got ${v}`);
    return n;
  };
  return {
    engines: count('--engines', values.engines),
    scale: values.scale === undefined ? [] : [...new Set(values.scale.split(',').map((v) => count('--scale', v.trim())))],
    quick: values.quick,
    noIpp: values['no-ipyparallel'],
    ...(values.json === undefined ? {} : { json: values.json }),
  };
}

/** Why ipyparallel is not run, or undefined if it is. */
function ipyparallelSkipped(noIpp: boolean): string | undefined {
  if (noIpp) return 'skipped (--no-ipyparallel)';
  const version = ipyparallelVersion();
  if (version === undefined) return 'ipyparallel is not installed (apt-get install -y python3-ipyparallel)';
  log(`ipyparallel ${version}`);
  return undefined;
}

function print(title: string, rs: Row[], remarks: string[]): void {
  console.log(`\n${title}, ${new Date().toISOString().slice(0, 10)}`);
  console.log(table(rs));
  if (remarks.length > 0) console.log(`\n${remarks.join('\n')}`);
}

async function main(): Promise<void> {
  const o = options();
  if (!o) {
    console.log(USAGE);
    return;
  }
  const quick = o.quick ? ' (quick)' : '';
  const skipped = ipyparallelSkipped(o.noIpp);
  const root = mkdtempSync(join(tmpdir(), 'tscluster-bench-'));
  process.env.TSCLUSTER_DIR = root;
  stopOnSignals();
  try {
    const ts = await benchTscluster(o.engines, o.quick ? QUICK : FULL);
    const ipp = skipped ?? (await benchIpyparallel(o.engines, o.quick));
    const rs = rows(ts, typeof ipp === 'string' ? undefined : ipp);
    print(`tscluster vs ipyparallel, ${o.engines} engines${quick}`, rs, [...notes(rs), ...(typeof ipp === 'string' ? [`ipyparallel: ${ipp}`] : [])]);
    if (o.scale.length > 0) {
      const scale = await benchScale(o.scale, o.quick ? SCALE_QUICK : SCALE_FULL, skipped);
      print(`scaling, tscluster vs ipyparallel, ${o.scale.join('/')} engines${quick}`, scale.rows, [
        ...notes(scale.rows),
        ...scale.problems,
        ...(skipped ? [`ipyparallel: ${skipped}`] : []),
      ]);
      rs.push(...scale.rows);
    }
    if (o.json) writeFileSync(o.json, JSON.stringify(rs, null, 2) + '\n');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`bench: ${e instanceof Error ? e.stack : String(e)}`);
  process.exit(1);
});
