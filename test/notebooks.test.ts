/**
 * The notebooks and `tscluster nbrun`: every notebook in notebooks/ runs
 * through a temporary local Jupyter server with the tslab kernel and gives the
 * values it shows; a cell that throws on an engine stops the run naming the
 * cell with the remote stack; --timeout and Ctrl-C stop a run; a file that is
 * not JSON, not a notebook, or names a kernel that is not installed is refused
 * naming the file and why; nbrun works against a server that is already
 * running (--url/--token); and after every run no process is left: no
 * Jupyter server, kernel, controller or engine (found by pid and by this
 * test's TSCLUSTER_DIR in each process's environment).
 *
 * Needs `jupyter notebook` (Debian: apt-get install -y jupyter-notebook). Without
 * it the suite is skipped, saying so, unless CI=true, where it fails (test/support/gates.ts).
 * Nothing here touches the user's Jupyter setup: HOME, JUPYTER_* and the
 * kernelspec (installed by `tslab install --prefix`) all live in a temp dir.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../util/net.js';
import {
  FIXTURES,
  NOTEBOOKS,
  ROOT,
  assertNoProcesses,
  assertServerGone,
  cell,
  cellHtml,
  cellStdout,
  describeGated,
  ensureGone,
  errorOutputs,
  joined,
  jupyterGate,
  nbrun,
  notebookFiles,
  processesOf,
  readNotebook,
  removeTempRoot,
  showResult,
  sleep,
  squeeze,
  useTempRoot,
  waitFor,
} from './support/index.js';
import type { NbrunResult } from './support/index.js';

const jupyter = jupyterGate();
const JUPYTER = jupyter.path;

// ------------------------------------------------------------------ the suite

describeGated(jupyter, 'notebooks and tscluster nbrun', () => {
  let tsclusterDir = '';
  let tmp = '';
  let out = '';
  const saved: Record<string, string | undefined> = {};
  const setEnv = (k: string, v: string | undefined): void => {
    if (!(k in saved)) saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  };

  before(() => {
    tsclusterDir = useTempRoot('notebooks');
    tmp = join(tsclusterDir, 'jupyter-test');
    out = join(tmp, 'out');
    mkdirSync(join(tmp, 'home'), { recursive: true });
    // a private Jupyter setup: nothing read from or written to the user's
    setEnv('HOME', join(tmp, 'home'));
    setEnv('JUPYTER_PATH', join(tmp, 'prefix', 'share', 'jupyter'));
    setEnv('JUPYTER_CONFIG_DIR', join(tmp, 'home', '.jupyter'));
    setEnv('JUPYTER_DATA_DIR', join(tmp, 'home', 'data'));
    setEnv('JUPYTER_RUNTIME_DIR', join(tmp, 'home', 'runtime'));
    setEnv('IPYTHONDIR', join(tmp, 'home', '.ipython'));
    setEnv('JUPYTER_TOKEN', undefined);
    setEnv('JUPYTER_TOKEN_FILE', undefined);
    // tslab's kernelspec into the temp prefix, installed with the Python that runs jupyter;
    // its command is `tslab`, which nbrun finds in node_modules/.bin (as after `npm i tslab && npx tslab install`)
    const shebang = readFileSync(JUPYTER, 'utf8').split('\n')[0] ?? '';
    const python = /^#!\s*\/usr\/bin\/env\s+(\S+)/.exec(shebang)?.[1] ?? /^#!\s*(\S+)/.exec(shebang)?.[1] ?? 'python3';
    const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tslab'), ['install', '--python', python, '--prefix', join(tmp, 'prefix')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `tslab install failed:\n${r.stdout}\n${r.stderr}`);
    assert.ok(existsSync(join(tmp, 'prefix', 'share', 'jupyter', 'kernels', 'tslab', 'kernel.json')), 'the tslab kernelspec is in the temp prefix');
  });

  after(async () => {
    const left = processesOf(tsclusterDir);
    await ensureGone(
      left.map((p) => p.pid),
      0,
    );
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (tsclusterDir) removeTempRoot(tsclusterDir);
  });

  test('every notebook in notebooks/ runs through nbrun with no error output', { timeout: 400_000 }, async (t) => {
    const files = notebookFiles();
    assert.deepEqual(files, [
      '01-quickstart.ipynb',
      '02-load-balancing.ipynb',
      '03-parallel-functions.ipynb',
      '04-monte-carlo-pi.ipynb',
      '05-dashboard-display.ipynb',
    ]);
    const r = await nbrun([...files.map((f) => join('notebooks', f)), '--out', out]);
    t.diagnostic(`nbrun of ${files.length} notebooks: ${(r.ms / 1000).toFixed(1)} s`);
    for (const m of r.stdout.matchAll(/([\w-]+\.ipynb): kernel \S+ ready in ([\d.]+) s/g)) t.diagnostic(`${m[1]}: kernel ready in ${m[2]} s`);
    for (const m of r.stdout.matchAll(/([\w-]+\.ipynb): (\d+) cells in ([\d.]+) s/g)) t.diagnostic(`${m[1]}: ${m[2]} code cells in ${m[3]} s`);
    assert.equal(r.code, 0, showResult(r));
    // a progress line per code cell
    assert.match(r.stdout, /\[1\/\d+\] ok [\d.]+ s {2}const \{ Cluster, RemoteError \} = require\('tscluster'\)/);
    for (const f of files) {
      const nb = readNotebook(join(out, f));
      assert.equal(nb.metadata.kernelspec?.name, 'tslab', f);
      assert.deepEqual(errorOutputs(nb), [], `${f}: error outputs`);
      for (const c of nb.cells.filter((x) => x.cell_type === 'code')) {
        assert.equal(typeof c.execution_count, 'number', `${f}: cell ${c.id} ran`);
        const stderr = (c.outputs ?? [])
          .filter((o) => o.name === 'stderr')
          .map((o) => joined(o.text))
          .join('');
        assert.equal(stderr, '', `${f}: cell ${c.id} wrote to stderr`);
      }
    }
    assert.doesNotMatch(r.stdout, /leftover process/, 'every notebook stopped its clusters and every kernel exited');
    assertServerGone(r);
    await assertNoProcesses(tsclusterDir, 'after nbrun of every notebook');
  });

  test('01-quickstart: apply, map, push/pull, engine output echoed with [engine N], RemoteError', () => {
    const nb = readNotebook(join(out, '01-quickstart.ipynb'));
    assert.match(cellStdout(nb, 'start'), /^engines 0, 1 \(pids \d+, \d+\), controller pid \d+$/m);
    assert.match(squeeze(cellStdout(nb, 'apply')), /^\[\d+,\d+\]$/);
    assert.equal(cellStdout(nb, 'apply-lb').trim(), '42');
    assert.equal(squeeze(cellStdout(nb, 'map')), '[1,4,9,16,25,36,49,64]');
    assert.equal(squeeze(cellStdout(nb, 'push-pull')), '[15,15]');
    assert.equal(squeeze(cellStdout(nb, 'pull')), "[10,Map(2){'x'=>1,'y'=>2}]");
    const echo = cellStdout(nb, 'echo');
    assert.match(echo, /^\[engine 0\] hello from pid \d+$/m);
    assert.match(echo, /^\[engine 1\] hello from pid \d+$/m);
    assert.match(cellStdout(nb, 'error'), /^SyntaxError on engine \d: .*JSON/m);
    assert.equal(cellStdout(nb, 'stop').trim(), 'stopped');
  });

  test('02-load-balancing: a timing per scheme; hwm 1 beats lru with hwm 0 on uneven tasks', () => {
    const nb = readNotebook(join(out, '02-load-balancing.ipynb'));
    const table = cellStdout(nb, 'schemes');
    for (const s of ['lru', 'leastload', 'weighted', 'plainrandom', 'twobin'])
      assert.match(table, new RegExp(`'${s}'\\s*│ 0\\s*│ \\d+`), `${s} has a row`);
    // lru rotates: every third task (all the long ones) on one engine
    assert.match(table, /'lru'.*'(?:1600 \/ 160 \/ 160|160 \/ 1600 \/ 160|160 \/ 160 \/ 1600)'/);
    const m = /lru, hwm 0: (\d+) ms; leastload, hwm 1: (\d+) ms/.exec(cellStdout(nb, 'hwm'));
    assert.ok(m, cellStdout(nb, 'hwm'));
    assert.ok(Number(m[2]) < Number(m[1]), `hwm 1 (${m[2]} ms) is faster than lru with hwm 0 (${m[1]} ms)`);
  });

  test('03-parallel-functions: lb.parallel, dv.parallel, lb.remote, the function form of the decorators', () => {
    const nb = readNotebook(join(out, '03-parallel-functions.ipynb'));
    assert.equal(squeeze(cellStdout(nb, 'parallel')), '[1,4,9,16,25,36,49,64,81,100]');
    assert.deepEqual(
      [...cellStdout(nb, 'chunks').matchAll(/size: (\d+)/g)].map((x) => Number(x[1])),
      [3, 3, 3, 1],
    );
    assert.match(cellStdout(nb, 'direct'), /partial sums 1275 \+ 3775 = 5050/);
    assert.equal(cellStdout(nb, 'remote').trim(), '5');
    assert.match(cellStdout(nb, 'decorators'), /^\[ 1, 4, 9, 16 \]\nhost pid \d+$/m);
  });

  test('04-monte-carlo-pi: serial and parallel estimates agree and are within 0.01 of pi', () => {
    const nb = readNotebook(join(out, '04-monte-carlo-pi.ipynb'));
    const serial = /serial: {3}pi ≈ ([\d.]+) in (\d+) ms/.exec(cellStdout(nb, 'serial'));
    const parallel = /parallel: pi ≈ ([\d.]+) in (\d+) ms/.exec(cellStdout(nb, 'parallel'));
    assert.ok(serial && parallel, `${cellStdout(nb, 'serial')}${cellStdout(nb, 'parallel')}`);
    assert.ok(Math.abs(Number(parallel[1]) - Math.PI) < 0.01, `parallel estimate ${parallel[1]}`);
    assert.ok(Math.abs(Number(serial[1]) - Number(parallel[1])) < 0.005, `serial ${serial[1]} vs parallel ${parallel[1]}`);
    assert.match(cellStdout(nb, 'check'), /serial and parallel agree: true/);
  });

  test('05-dashboard-display: the engines table and the HTML progress (updated to done, with time per engine) as text/html; legacy decorators', () => {
    const nb = readNotebook(join(out, '05-dashboard-display.ipynb'));
    for (const id of ['engines', 'engines-after']) {
      const [table, ...more] = cellHtml(nb, id);
      assert.equal(more.length, 0, `${id}: one display`);
      assert.match(table ?? '', /<caption[^>]*>2 engines<\/caption>/, id);
      for (const h of ['id', 'host', 'pid', 'registered', 'queued', 'running', 'completed'])
        assert.match(table ?? '', new RegExp(`<th[^>]*>${h}</th>`), id);
    }
    // completed counts after the maps: 40 + 20 map tasks and the decorated calls
    const completed = [...(cellHtml(nb, 'engines-after')[0] ?? '').matchAll(/<tr>(?:<td[^>]*>[^<]*<\/td>){6}<td[^>]*>(\d+)<\/td><\/tr>/g)].map((m) =>
      Number(m[1]),
    );
    assert.equal(completed.length, 2, 'a row per engine');
    assert.ok(completed.reduce((a, b) => a + b, 0) >= 60, `completed ${completed.join(' + ')}`);
    for (const [id, n] of [
      ['progress', 40],
      ['wait-interactive', 20],
    ] as const) {
      const [html, ...more] = cellHtml(nb, id);
      assert.equal(more.length, 0, `${id}: one display, updated in place`);
      assert.match(html ?? '', /class="tscluster-progress"/, id);
      assert.match(html ?? '', new RegExp(`${n}/${n} tasks done`), `${id}: the display was updated to done`);
      assert.match(html ?? '', /<caption[^>]*>time per engine<\/caption>/, id);
    }
    assert.match(cellStdout(nb, 'progress'), /^sum of squares 20540$/m);
    assert.match(cellStdout(nb, 'decorators'), /^\[ 1, 4, 9, 16 \]\nhost pid \d+$/m);
  });

  test('the notebooks in the repository are saved with their outputs', () => {
    for (const f of notebookFiles()) {
      const nb = readNotebook(join(NOTEBOOKS, f));
      assert.deepEqual(errorOutputs(nb), [], f);
      for (const c of nb.cells.filter((x) => x.cell_type === 'code'))
        assert.equal(typeof c.execution_count, 'number', `${f}: cell ${c.id} saved unexecuted`);
      assert.ok(
        nb.cells.some((c) => (c.outputs ?? []).length > 0),
        `${f} has outputs`,
      );
    }
  });

  test(
    'a cell that throws on an engine: exit 1, the cell named, the remote stack printed, the cluster ends with the kernel',
    { timeout: 300_000 },
    async (t) => {
      const r = await nbrun([join('test', 'fixtures', 'remote-error.ipynb'), '--out', join(out, 'failing')]);
      t.diagnostic(`nbrun: ${(r.ms / 1000).toFixed(1)} s`);
      assert.equal(r.code, 1, showResult(r));
      assert.match(
        r.stderr,
        /remote-error\.ipynb: cell index 3 \(code cell 3 of 4, id remote-throw\) failed: function checkedDivide\(a: number, b: number\): number \{/,
      );
      assert.match(r.stderr, /^RemoteError: RangeError: division by zero \[engine 0\]$/m);
      assert.match(r.stderr, /remote stack \(engine 0\):\n\s+RangeError: division by zero\n\s+at checkedDivide \(/);
      assert.match(r.stdout, /\[3\/4\] FAILED/);
      // the notebook is written up to the failing cell, with the error as an error output
      const nb = readNotebook(join(out, 'failing', 'remote-error.ipynb'));
      const errors = (cell(nb, 'remote-throw').outputs ?? []).filter((o) => o.output_type === 'error');
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.ename, 'RemoteError');
      assert.match(errors[0]!.evalue ?? '', /RangeError: division by zero/);
      assert.ok(
        errors[0]!.traceback?.some((l) => l.includes('at checkedDivide')),
        'the remote stack is in the traceback',
      );
      assert.equal(cell(nb, 'not-reached').execution_count, null);
      assert.deepEqual(cell(nb, 'not-reached').outputs, []);
      // the source fixture is untouched
      assert.equal(cell(readNotebook(join(FIXTURES, 'remote-error.ipynb')), 'remote-throw').execution_count, null);
      assert.doesNotMatch(r.stdout, /leftover process/, 'the cluster ended with its kernel, not by nbrun');
      assertServerGone(r);
      await assertNoProcesses(tsclusterDir, 'after a failed notebook (its cluster was never stopped by the notebook)');
    },
  );

  test(
    'a kernel killed during a cell: exit 1, KernelDied, the cell named; its cluster and the restarted kernel end',
    { timeout: 300_000 },
    async () => {
      const r = await nbrun([join('test', 'fixtures', 'kernel-dies.ipynb'), '--out', join(out, 'kernel-dies')]);
      assert.equal(r.code, 1, showResult(r));
      assert.match(r.stderr, /kernel-dies\.ipynb: cell index 2 \(code cell 2 of 3, id die\) failed: process\.kill\(process\.pid, 'SIGKILL'\);/);
      assert.match(r.stderr, /^KernelDied: the kernel died while the cell ran/m);
      assert.doesNotMatch(r.stdout, /could not shut the kernel down/);
      // the cluster's controller watches the kernel that started it: nbrun had nothing left to end
      assert.doesNotMatch(r.stdout, /leftover process/);
      assertServerGone(r);
      await assertNoProcesses(tsclusterDir, 'after the kernel died');
    },
  );

  test('--timeout: a cell running too long fails the run, named, and everything under the server ends', { timeout: 300_000 }, async () => {
    const r = await nbrun([join('test', 'fixtures', 'slow-cell.ipynb'), '--out', join(out, 'timeout'), '--timeout', '3']);
    assert.equal(r.code, 1, showResult(r));
    assert.match(r.stderr, /slow-cell\.ipynb: cell index 2 \(code cell 2 of 3, id slow\) failed: console\.log\('sleeping'\);/);
    assert.match(r.stderr, /CellTimeout: the cell did not finish within 3 s/);
    assertServerGone(r);
    await assertNoProcesses(tsclusterDir, 'after a cell timed out');
  });

  test('Ctrl-C during a cell: exit 130, the kernel, its cluster and the server end', { timeout: 300_000 }, async () => {
    const r = await nbrun([join('test', 'fixtures', 'slow-cell.ipynb'), '--out', join(out, 'interrupted')], {
      onStart: (child, output) => {
        void waitFor('the first cell to finish', () => /\[1\/3\] ok/.test(output()), { timeoutMs: 120_000 })
          .then(() => sleep(1000))
          .then(() => child.kill('SIGINT'))
          .catch(() => child.kill('SIGKILL'));
      },
    });
    assert.equal(r.code, 130, showResult(r));
    assert.match(r.stderr, /nbrun: SIGINT: stopping/);
    assertServerGone(r);
    await assertNoProcesses(tsclusterDir, 'after Ctrl-C');
  });

  /**
   * nbrun on a notebook it cannot run: exit 1 with `cause` on stderr (not the
   * "Poll ... is disposed" that used to hide it), the notebook not written,
   * and no server or kernel left.
   */
  async function assertRefused(fixture: string, cause: RegExp): Promise<void> {
    const dir = join(out, 'refused');
    const r = await nbrun([join('test', 'fixtures', fixture), '--out', dir], { timeoutMs: 120_000 });
    assert.equal(r.code, 1, showResult(r));
    assert.match(r.stderr, cause, showResult(r));
    assert.doesNotMatch(r.stderr, /is disposed/, showResult(r));
    assert.ok(!existsSync(join(dir, fixture)), `${fixture} was written to --out`);
    assertServerGone(r);
    await assertNoProcesses(tsclusterDir, `after nbrun refused ${fixture}`);
  }

  test('a notebook that is not JSON: exit 1, the notebook named and the parse error, no server left', { timeout: 180_000 }, async () => {
    await assertRefused('not-json.ipynb', /^tscluster: \S*not-json\.ipynb: not a Jupyter notebook: the file is not JSON \(.+\)$/m);
  });

  test('a notebook that is {}: exit 1, what it lacks named (cells, nbformat), no server left', { timeout: 180_000 }, async () => {
    await assertRefused('not-a-notebook.ipynb', /^tscluster: \S*not-a-notebook\.ipynb: not a Jupyter notebook .*: missing 'cells' and 'nbformat'$/m);
  });

  test(
    'a kernelspec naming a kernel that is not installed: exit 1, the installed kernels listed, no server or kernel left',
    { timeout: 180_000 },
    async () => {
      await assertRefused(
        'no-such-kernel.ipynb',
        /^tscluster: \S*no-such-kernel\.ipynb: the server has no kernel 'no-such-kernel' \(it has: [^)]*\btslab\b[^)]*\)$/m,
      );
    },
  );

  test('--url/--token: a server that is already running; nbrun leaves it running with no kernel of its own', { timeout: 300_000 }, async (t) => {
    const port = await freePort();
    const token = randomBytes(16).toString('hex');
    const args = [
      'notebook',
      '--no-browser',
      '--ip=127.0.0.1',
      `--port=${port}`,
      '--port-retries=0',
      '--NotebookApp.password=',
      `--notebook-dir=${ROOT}`,
    ];
    if (process.getuid?.() === 0) args.push('--allow-root');
    const path = [join(ROOT, 'node_modules', '.bin'), process.env.PATH ?? ''].join(delimiter);
    const server = spawn(JUPYTER, args, { cwd: ROOT, env: { ...process.env, PATH: path, JUPYTER_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    server.stdout.setEncoding('utf8').on('data', (d: string) => (log += d));
    server.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
    const url = `http://127.0.0.1:${port}/`;
    const api = async (p: string, tok = token): Promise<Response> => fetch(`${url}api/${p}`, { headers: { Authorization: `token ${tok}` } });
    try {
      await waitFor(
        'the Jupyter server to answer',
        async () => {
          if (server.exitCode !== null) throw new Error(`the Jupyter server exited (${server.exitCode}):\n${log}`);
          return (await api('status').catch(() => undefined))?.ok;
        },
        { timeoutMs: 60_000, intervalMs: 100 },
      );

      const r = await nbrun([join('test', 'fixtures', 'url-check.ipynb'), '--url', url, '--token', token, '--out', join(out, 'url')]);
      t.diagnostic(`nbrun --url: ${(r.ms / 1000).toFixed(1)} s`);
      assert.equal(r.code, 0, showResult(r));
      assert.doesNotMatch(r.stdout, /started a Jupyter server/);
      const nb = readNotebook(join(out, 'url', 'url-check.ipynb'));
      assert.deepEqual(errorOutputs(nb), []);
      assert.equal(cellStdout(nb, 'cwd').trim(), `cwd ${FIXTURES}`, 'the kernel started in the notebook directory');
      assert.equal(cellStdout(nb, 'cluster').trim(), '[2,3,4]');
      // nbrun shut its kernel down and left the server running
      assert.equal(server.exitCode, null, 'the server still runs');
      assert.deepEqual(await (await api('sessions')).json(), []);
      assert.deepEqual(await (await api('kernels')).json(), []);

      // a wrong token is refused up front
      const bad = await nbrun([join('test', 'fixtures', 'url-check.ipynb'), '--url', url, '--token', 'wrong', '--out', join(out, 'url')], {
        timeoutMs: 60_000,
      });
      assert.equal(bad.code, 1, showResult(bad));
      assert.match(bad.stderr, /refused the token/);
      // a token in the URL is used; an unknown kernel is named with the kernels the server has
      const other = join(tmp, 'no-such-kernel.ipynb');
      writeFileSync(other, JSON.stringify({ cells: [], metadata: { kernelspec: { name: 'no-such-kernel' } }, nbformat: 4, nbformat_minor: 5 }));
      const unknown = await nbrun([other, '--url', `${url}?token=${token}`], { timeoutMs: 60_000 });
      assert.equal(unknown.code, 1, showResult(unknown));
      assert.match(unknown.stderr, /the server has no kernel 'no-such-kernel' \(it has: .*tslab/);
    } finally {
      server.kill('SIGTERM');
      await waitFor('the Jupyter server to exit', () => server.exitCode !== null || server.signalCode !== null, { timeoutMs: 20_000 }).catch(() =>
        server.kill('SIGKILL'),
      );
    }
    assert.ok(server.pid !== undefined && (await ensureGone([server.pid])).length === 0, 'the server is gone');
    await assertNoProcesses(tsclusterDir, 'after the server the test started stopped');
  });

  test('nbrun without jupyter on PATH says how to install it; --help shows usage and examples', { timeout: 120_000 }, async () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent-bin';
    let r: NbrunResult;
    try {
      r = await nbrun([join('notebooks', '01-quickstart.ipynb'), '--out', join(out, 'nojupyter')], { timeoutMs: 60_000 });
    } finally {
      process.env.PATH = saved;
    }
    assert.equal(r.code, 1, showResult(r));
    assert.match(r.stderr, /'jupyter' was not found on PATH: install it with `apt-get install -y jupyter-notebook`/);
    const help = await nbrun(['--help'], { timeoutMs: 60_000 });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: tscluster nbrun NOTEBOOK\.\.\. \[--url URL --token T\] \[--out DIR\] \[--timeout S\]/);
    assert.match(help.stdout, /Examples:\n {2}tscluster nbrun notebooks\/\*\.ipynb/);
    const usage = await nbrun([], { timeoutMs: 60_000 });
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /name at least one notebook/);
    await assertNoProcesses(tsclusterDir, 'after the usage checks');
  });
});
