/**
 * `npm run bench -- --scale 8,32,64`: for each engine count N, a cluster of N
 * engines on tscluster, then on ipyparallel (bench/ipyparallel_scale.py,
 * given the same sizes), each measured then stopped:
 *
 * - `startup_s@N`: from starting the cluster until all N engines are registered;
 * - `fanout_noop_ms@N`: a no-op applied on a direct view of all N engines, median round trip;
 * - `push8MB_all_s@N`: an 8 MB Float64Array (numpy float64) pushed to all N engines, median;
 * - `lb_throughput_tasks_per_s@N`: load-balanced no-op tasks submitted at once, default options.
 */
import type { Client } from '../index.js';
import { withCluster } from './clusters.js';
import { runIpyparallel } from './ipyparallel.js';
import { compare } from './report.js';
import type { Measured, Row, Workload } from './report.js';
import { withTimeout } from '../util/timers.js';
import { burst, log, median, noop, rate, sample } from './util.js';

export interface ScaleSizes {
  /** round trips before the fan-out is timed */
  warmup: number;
  fanoutSamples: number;
  pushMB: number;
  pushReps: number;
  lbTasks: number;
  lbReps: number;
  /** seconds a start or one workload may take */
  timeoutS: number;
}

export const SCALE_FULL: ScaleSizes = { warmup: 5, fanoutSamples: 50, pushMB: 8, pushReps: 5, lbTasks: 20_000, lbReps: 1, timeoutS: 300 };
export const SCALE_QUICK: ScaleSizes = { warmup: 2, fanoutSamples: 10, pushMB: 8, pushReps: 2, lbTasks: 2_000, lbReps: 1, timeoutS: 300 };

function workloads(z: ScaleSizes): Record<string, Workload> {
  return {
    startup_s: { unit: 's', better: 'lower' },
    fanout_noop_ms: { unit: 'ms', better: 'lower' },
    [`push${z.pushMB}MB_all_s`]: { unit: 's', better: 'lower' },
    lb_throughput_tasks_per_s: { unit: 'tasks/s', better: 'higher' },
  };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The workloads not measured after `failed` failed (the cluster may still be busy with it: they would measure that). */
function notRun(m: Measured, workloads: string[], failed: string): void {
  for (const w of workloads) if (m.results[w] === undefined && m.errors[w] === undefined) m.errors[w] = `not run: ${failed} failed`;
}

/** Each workload in turn into `m`, until one fails. */
async function measureAll(m: Measured, timeoutS: number, runs: [string, () => Promise<number>][]): Promise<void> {
  const names = runs.map(([w]) => w);
  for (const [workload, run] of runs) {
    log(`tscluster: ${workload}`);
    try {
      m.results[workload] = await withTimeout(run(), timeoutS * 1000, () => new Error(`timed out after ${timeoutS} s`));
    } catch (e) {
      m.errors[workload] = message(e);
      notRun(m, names, workload);
      return;
    }
  }
}

async function fanoutMs(rc: Client, z: ScaleSizes): Promise<number> {
  const dv = rc.directView();
  const n = rc.ids.length;
  const fan = async (i: number): Promise<void> => {
    const r = await dv.apply(noop, i);
    if (r.length !== n) throw new Error(`fan-out returned ${r.length} results from ${n} engines`);
  };
  for (let i = 0; i < z.warmup; i++) await fan(i);
  return median(await sample(z.fanoutSamples, fan));
}

async function pushAllS(rc: Client, z: ScaleSizes): Promise<number> {
  const dv = rc.directView();
  const big = new Float64Array((z.pushMB * 1024 * 1024) / 8);
  const seconds = median(await sample(z.pushReps, () => dv.push({ big }))) / 1000;
  await dv.execute('big = undefined');
  return seconds;
}

async function tsclusterAt(n: number, z: ScaleSizes): Promise<Measured> {
  const m: Measured = { results: {}, errors: {}, problems: [] };
  log(`tscluster: ${n} engines: startup`);
  try {
    await withCluster({ n, profile: `scale${n}`, timeoutMs: z.timeoutS * 1000 }, async (cluster, startS) => {
      m.results.startup_s = startS;
      const rc = await cluster.connect();
      const lb = rc.loadBalancedView();
      await measureAll(m, z.timeoutS, [
        ['fanout_noop_ms', () => fanoutMs(rc, z)],
        [`push${z.pushMB}MB_all_s`, () => pushAllS(rc, z)],
        ['lb_throughput_tasks_per_s', () => rate(z.lbReps, z.lbTasks, () => burst(lb, z.lbTasks))],
      ]);
    });
  } catch (e) {
    // a start that failed, a connect that failed, or a stop that left processes
    if (m.results.startup_s !== undefined) {
      m.problems.push(message(e));
      for (const w of Object.keys(workloads(z))) if (m.results[w] === undefined && m.errors[w] === undefined) m.errors[w] = `not run: ${message(e)}`;
    } else {
      m.errors.startup_s = message(e);
      notRun(m, Object.keys(workloads(z)), 'startup_s');
    }
  }
  return m;
}

async function ipyparallelAt(n: number, z: ScaleSizes): Promise<Measured> {
  const args = {
    engines: n,
    warmup: z.warmup,
    'fanout-samples': z.fanoutSamples,
    'push-mb': z.pushMB,
    'push-reps': z.pushReps,
    'lb-tasks': z.lbTasks,
    'lb-reps': z.lbReps,
    timeout: z.timeoutS,
  };
  // the start and each workload may take the timeout, and the stop some time more
  const limitMs = (Object.keys(workloads(z)).length + 1) * z.timeoutS * 1000;
  const m = await runIpyparallel(
    'ipyparallel_scale.py',
    Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)]),
    limitMs,
  );
  // a script that ended early (its problems say why) reported nothing of the rest
  if (m.problems.length > 0)
    for (const w of Object.keys(workloads(z)))
      if (m.results[w] === undefined && m.errors[w] === undefined) m.errors[w] = 'not measured: the script ended early';
  return m;
}

/** `workload@n` -> what `pick` gives, over the engine counts. */
function flatten<V>(byN: Map<number, Measured>, pick: (m: Measured) => Record<string, V>): Record<string, V> {
  const out: Record<string, V> = {};
  for (const [n, m] of byN) for (const [k, v] of Object.entries(pick(m))) out[`${k}@${n}`] = v;
  return out;
}

/** A row a workload and engine count (grouped by workload); why a value is missing in its note. */
function scaleRows(ns: number[], z: ScaleSizes, ts: Map<number, Measured>, ipp: Map<number, Measured>): Row[] {
  const specs: Record<string, Workload> = {};
  for (const [w, spec] of Object.entries(workloads(z))) for (const n of ns) specs[`${w}@${n}`] = spec;
  const results = (m: Measured): Record<string, number> => m.results;
  const rows = compare(specs, flatten(ts, results), flatten(ipp, results));
  const errors = { tscluster: flatten(ts, (m) => m.errors), ipyparallel: flatten(ipp, (m) => m.errors) };
  for (const r of rows) {
    const why = Object.entries(errors).flatMap(([system, e]) => (e[r.workload] ? [`${system}: ${e[r.workload]}`] : []));
    if (why.length > 0) r.note = why.join('; ');
  }
  return rows;
}

function problems(system: string, byN: Map<number, Measured>): string[] {
  return [...byN].flatMap(([n, m]) => m.problems.map((p) => `${system}, ${n} engines: ${p}`));
}

/**
 * Each engine count on tscluster, then on ipyparallel (unless `ippSkipped`
 * says why not): the rows, and what went wrong beyond single workloads.
 */
export async function benchScale(ns: number[], z: ScaleSizes, ippSkipped: string | undefined): Promise<{ rows: Row[]; problems: string[] }> {
  const ts = new Map<number, Measured>();
  const ipp = new Map<number, Measured>();
  for (const n of ns) {
    ts.set(n, await tsclusterAt(n, z));
    if (ippSkipped === undefined) ipp.set(n, await ipyparallelAt(n, z));
  }
  return { rows: scaleRows(ns, z, ts, ipp), problems: [...problems('tscluster', ts), ...problems('ipyparallel', ipp)] };
}
