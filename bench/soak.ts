/**
 * `npm run soak [-- --tasks N --engines N]`: N no-op tasks through the load-balanced view,
 * printing the resident memory of the controller, each engine and this client as they run.
 * Memory must stay bounded however long the run.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Cluster } from '../index.js';

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { tasks: { type: 'string', default: '500000' }, engines: { type: 'string', default: '2' }, batch: { type: 'string', default: '20000' } },
  });
  const total = Number(values.tasks);
  const batch = Number(values.batch);
  process.env.TSCLUSTER_DIR = mkdtempSync(join(tmpdir(), 'tscluster-soak-'));
  const cluster = await Cluster.start({ n: Number(values.engines), profile: 'soak' });
  try {
    const rc = await cluster.connect();
    const lb = rc.loadBalancedView();
    const noop = (x: number): number => x;
    const t0 = performance.now();
    let done = 0;
    console.log('tasks\tcontroller_MB\tengines_MB\tclient_MB\ttasks_per_s');
    while (done < total) {
      const k = Math.min(batch, total - done);
      const r = await Promise.all(Array.from({ length: k }, (_, i) => lb.apply(noop, i)));
      if (r[k - 1] !== k - 1) throw new Error('wrong result');
      done += k;
      if (done % (batch * 5) === 0 || done === total) {
        const engines = cluster.enginePids.map((p) => rssMB(p).toFixed(0)).join('/');
        console.log(
          `${done}\t${rssMB(cluster.controllerPid).toFixed(0)}\t${engines}\t${(process.memoryUsage().rss / 1048576).toFixed(0)}\t${(done / ((performance.now() - t0) / 1000)).toFixed(0)}`,
        );
      }
    }
    const s = await rc.stats();
    console.log(`done: ${s.tasks.completed} completed, ${s.tasks.pending} pending, ${s.records} records kept`);
  } finally {
    await cluster.stop();
    rmSync(process.env.TSCLUSTER_DIR, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
