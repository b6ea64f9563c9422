/**
 * The controller's web dashboard and /metrics, on a real cluster: the token
 * (403 without it, a cookie after the first visit), the event stream, the
 * Prometheus text of /metrics counting a map, `tscluster list` and
 * `tscluster dashboard`, the metrics-only bind, and a headless Chromium that
 * opens every page (gated on Debian's chromium: skipped locally when missing,
 * a failure with CI=true). Screenshots of the pages go to the temp dir; with
 * TSCLUSTER_UPDATE_DOCS=1 the status page's also replaces docs/dashboard.png
 * (not on every run, so a test run leaves the worktree as it was).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { Cluster } from '../index.js';
import { freePort } from '../util/net.js';
import { ROOT, connectionFile, describeGated, listJson, range, runCli, sharedCluster, stopCluster, tempRootForFile, which } from './support/index.js';
import { chromiumGate, closeChromium, launchChromium, parsePrometheus, sampleValue } from './support/browser.js';

const root = tempRootForFile('dashboard');
const metricsPort = await freePort();

/** The dashboard's base address and token, from `cluster.dashboardUrl`. */
function split(url: string | null): { base: string; token: string } {
  assert.ok(url, 'the cluster serves a dashboard');
  const u = new URL(url);
  const token = u.searchParams.get('token');
  assert.ok(token, `the address carries its token: ${url}`);
  return { base: u.origin, token };
}

async function metricsOf(base: string, token: string): Promise<ReturnType<typeof parsePrometheus>> {
  const r = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
  return parsePrometheus(await r.text());
}

/** The first snapshot of the event stream. */
async function firstSnapshot(base: string, cookie: string): Promise<{ engines: unknown[]; counts: Record<string, number> }> {
  const ac = new AbortController();
  const r = await fetch(`${base}/events`, { headers: { cookie }, signal: ac.signal });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      assert.ok(!done, `the stream ended before a snapshot: ${text}`);
      text += value;
      const m = /event: snapshot\ndata: (.*)\n\n/.exec(text);
      if (m) return JSON.parse(m[1]!) as { engines: unknown[]; counts: Record<string, number> };
    }
  } finally {
    ac.abort();
  }
}

describe('the dashboard and /metrics of a cluster', () => {
  const { rc, cluster } = sharedCluster({ n: 2, metrics: `127.0.0.1:${metricsPort}` });
  let base = '';
  let token = '';
  before(() => ({ base, token } = split(cluster().dashboardUrl)));

  test('its address and token are in the client connection file, and no page shows the connection key', async () => {
    const info = JSON.parse(readFileSync(connectionFile(root, 'client'), 'utf8')) as { key: string; dashboard?: { url: string; token: string } };
    assert.deepEqual(info.dashboard, { url: base, token });
    const engineFile = JSON.parse(readFileSync(connectionFile(root, 'engine'), 'utf8')) as Record<string, unknown>;
    assert.equal(engineFile.dashboard, undefined, 'engines are not told the token');
    for (const path of ['/', '/api/snapshot', '/api/engine/0', '/api/logs', '/metrics']) {
      const body = await (await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } })).text();
      assert.ok(!body.includes(info.key), `${path} shows the connection key`);
    }
  });

  test('without the token every path is refused with 403', async () => {
    for (const path of ['/', '/index.html', '/events', '/metrics', '/api/snapshot', '/api/engine/0', '/api/logs', '/app/app.js', '/nothing']) {
      assert.equal((await fetch(`${base}${path}`)).status, 403, path);
    }
    assert.equal((await fetch(`${base}/?token=${token.slice(1)}`)).status, 403, 'a wrong token');
    assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer nope' } })).status, 403, 'a wrong bearer token');
    assert.equal((await fetch(`${base}/`, { headers: { cookie: `tscluster_dashboard_${new URL(base).port}=nope` } })).status, 403, 'a wrong cookie');
  });

  test('with the token: 200 and an HttpOnly cookie that lets the browser back in without it', async () => {
    const first = await fetch(`${base}/?token=${token}`);
    assert.equal(first.status, 200);
    assert.match(await first.text(), /<title>tscluster dashboard<\/title>/);
    const setCookie = first.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    const cookie = setCookie.split(';')[0]!;
    for (const path of ['/', '/app/app.js', '/app/app.css', '/vendor/uPlot.iife.min.js', '/api/snapshot']) {
      assert.equal((await fetch(`${base}${path}`, { headers: { cookie } })).status, 200, path);
    }
    assert.equal((await fetch(`${base}/app/../../package.json`, { headers: { cookie } })).status, 404, 'no path outside the app');
  });

  test('the event stream delivers snapshots with the engine count', async () => {
    const snap = await firstSnapshot(base, `tscluster_dashboard_${new URL(base).port}=${token}`);
    assert.equal(snap.engines.length, 2);
    assert.equal(typeof snap.counts.done, 'number');
  });

  test('/metrics is Prometheus text, and counts a map of N tasks', async () => {
    const N = 24;
    const before = await metricsOf(base, token);
    for (const [name, type] of Object.entries({
      tscluster_tasks_submitted_total: 'counter',
      tscluster_tasks_completed_total: 'counter',
      tscluster_tasks_failed_total: 'counter',
      tscluster_tasks_retried_total: 'counter',
      tscluster_messages_dropped_total: 'counter',
      tscluster_engines_joined_total: 'counter',
      tscluster_engines_left_total: 'counter',
      tscluster_engines: 'gauge',
      tscluster_tasks_queued: 'gauge',
      tscluster_engine_load: 'gauge',
      tscluster_task_duration_seconds: 'histogram',
      tscluster_task_queue_wait_seconds: 'histogram',
      process_resident_memory_bytes: 'gauge',
    })) {
      assert.equal(before.types.get(name), type, `${name} is a ${type}`);
    }
    const done0 = sampleValue(before.samples, 'tscluster_tasks_completed_total')!;
    const submitted0 = sampleValue(before.samples, 'tscluster_tasks_submitted_total')!;
    const count0 = sampleValue(before.samples, 'tscluster_task_duration_seconds_count')!;
    assert.deepEqual(
      await rc()
        .loadBalancedView()
        .map((x: number) => x * x, range(N)),
      range(N).map((x) => x * x),
    );
    const afterMap = await metricsOf(base, token);
    assert.equal(sampleValue(afterMap.samples, 'tscluster_tasks_completed_total'), done0 + N);
    assert.equal(sampleValue(afterMap.samples, 'tscluster_tasks_submitted_total'), submitted0 + N);
    assert.equal(sampleValue(afterMap.samples, 'tscluster_task_duration_seconds_count'), count0 + N);
    assert.equal(sampleValue(afterMap.samples, 'tscluster_engines'), 2);
    assert.equal(sampleValue(afterMap.samples, 'tscluster_engines_joined_total'), 2);
    assert.equal(sampleValue(afterMap.samples, 'tscluster_engine_load', { engine: '0' }), 0);
    assert.equal(sampleValue(afterMap.samples, 'tscluster_task_queue_wait_seconds_bucket', { le: '+Inf' }), count0 + N);
    const promtool = which('promtool');
    if (promtool) {
      const text = await (await fetch(`${base}/metrics?token=${token}`)).text();
      const r = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
    }
  });

  test('--metrics serves /metrics without a token, and nothing else', async () => {
    const r = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(r.status, 200);
    assert.ok(sampleValue(parsePrometheus(await r.text()).samples, 'tscluster_engines') === 2);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/api/snapshot`)).status, 404);
  });

  test("a failed task shows on its engine's page with its error and remote stack", async () => {
    const dv = rc().directView(1);
    await assert.rejects(
      dv.apply(() => {
        console.log('about to fail');
        throw new Error('boom from the dashboard test');
      }),
    );
    const r = await fetch(`${base}/api/engine/1`, { headers: { authorization: `Bearer ${token}` } });
    const d = (await r.json()) as {
      engine: { id: number } | null;
      tasks: { status: string; evalue: string | null; traceback: string[]; stdout: string }[];
    };
    assert.equal(d.engine?.id, 1);
    const failed = d.tasks.find((t) => t.evalue === 'boom from the dashboard test');
    assert.ok(failed, 'the failed task is on record');
    assert.equal(failed.status, 'failed');
    assert.ok(failed.traceback.some((l) => l.includes('boom from the dashboard test')));
    assert.match(failed.stdout, /about to fail/);
  });

  test('tscluster list and tscluster dashboard print the address with its token', async () => {
    const rows = await listJson();
    assert.equal(rows.find((r) => r.profile === 'default' && r.clusterId === '')?.dashboard, cluster().dashboardUrl);
    const text = await runCli(['list']);
    assert.ok(text.stdout.includes(`dashboard: ${cluster().dashboardUrl}`), text.stdout);
    const r = await runCli(['dashboard']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), cluster().dashboardUrl);
    const none = await runCli(['dashboard', '--cluster-id', 'none']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no cluster is running/);
  });

  test("with dashboard: 'off' the controller serves none and says so", async () => {
    const off = await Cluster.start({ n: 0, clusterId: 'off', dashboard: 'off' });
    try {
      assert.equal(off.dashboardUrl, null);
      const r = await runCli(['dashboard', '--cluster-id', 'off']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /serves no dashboard/);
    } finally {
      await stopCluster(off);
    }
  });
});

describeGated(chromiumGate(), 'the dashboard in a headless Chromium', () => {
  const { rc, cluster } = sharedCluster({ n: 2 }, 'browser');
  const shots = join(root, 'screenshots');
  let browser: Browser | undefined;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    mkdirSync(shots, { recursive: true });
    browser = await launchChromium(chromiumGate().path);
    page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
  });
  after(() => closeChromium(browser));

  const shot = async (name: string): Promise<string> => {
    const path = join(shots, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    return path;
  };
  // page code as strings: this project's TypeScript has no DOM types
  const text = async (selector: string): Promise<string> =>
    String(await page.evaluate(`document.querySelector(${JSON.stringify(selector)})?.textContent ?? ''`));

  test('without the token the page is refused', async () => {
    const { base } = split(cluster().dashboardUrl);
    const r = await page.goto(`${base}/`);
    assert.equal(r?.status(), 403);
    assert.match(await page.content(), /needs its token/);
  });

  test('with the token it shows the engines, then a map: done count, task stream and progress', async () => {
    const r = await page.goto(cluster().dashboardUrl!);
    assert.equal(r?.status(), 200);
    await page.waitForFunction("document.getElementById('engine-count')?.textContent === '2'", { timeout: 20000 });
    assert.ok(!page.url().includes('token='), 'the token leaves the address bar');
    const N = 40;
    const lb = rc().loadBalancedView().withOptions({ label: 'squares' });
    const work = lb.map((x: number) => {
      const t = Date.now();
      while (Date.now() - t < 25);
      return x * x;
    }, range(N));
    await page.goto(`${new URL(cluster().dashboardUrl!).origin}/#progress`);
    await page.waitForSelector('#progress tbody tr', { timeout: 20000 });
    await work;
    await page.waitForFunction(`document.querySelector('#progress tbody tr .done')?.textContent === '${N} / ${N}'`, { timeout: 20000 });
    assert.match(await text('#progress tbody tr'), /squares/);
    await shot('progress');
    await page.evaluate("location.hash = '#status'");
    await page.waitForFunction(`Number(document.getElementById('count-done')?.textContent) >= ${N}`, { timeout: 20000 });
    assert.equal(await page.evaluate("document.querySelectorAll('#engines tbody tr').length"), 2);
    const status = await shot('status');
    if (process.env.TSCLUSTER_UPDATE_DOCS === '1') copyFileSync(status, join(ROOT, 'docs', 'dashboard.png'));
    await page.evaluate("location.hash = '#stream'");
    await page.waitForFunction(`Number(document.getElementById('stream-canvas')?.dataset.spans) >= ${N}`, { timeout: 20000 });
    await shot('stream');
  });

  test('hovering a bar of the task stream shows its label, engine, duration and status', async () => {
    const canvas = await page.$('#stream-canvas');
    const box = await canvas!.boundingBox();
    assert.ok(box);
    const tip = async (): Promise<string | undefined> =>
      String(await page.evaluate("(() => { const t = document.getElementById('stream-tip'); return t.hidden ? '' : t.textContent; })()")) ||
      undefined;
    let shown: string | undefined;
    // lane 0 (engine 0) is 20 px from the top, 22 px high; its bars are in the last seconds of the window
    for (let x = box.width - 12; x > 70 && shown === undefined; x -= 2) {
      await page.mouse.move(box.x + x, box.y + 31);
      shown = await tip();
    }
    assert.ok(shown, 'a tooltip appears over a bar');
    assert.match(shown, /squares/);
    assert.match(shown, /engine 0 · .* · done/);
  });

  test("an engine's page lists its tasks, and the logs page the controller's log", async () => {
    await page.evaluate("location.hash = '#engine/0'");
    await page.waitForSelector('#engine-tasks .task', { timeout: 20000 });
    assert.match(await text('#engine-title'), /Engine 0/);
    await shot('engine');
    await page.evaluate("location.hash = '#logs'");
    await page.waitForFunction("/engine 0 registered/.test(document.getElementById('log-text')?.textContent ?? '')", { timeout: 20000 });
    await shot('logs');
    writeFileSync(join(shots, 'README.txt'), 'screenshots of the dashboard test\n');
    assert.deepEqual(errors, [], 'no script errors on any page');
  });
});
