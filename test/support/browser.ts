/**
 * A headless Chromium for the dashboard's browser test (puppeteer-core drives
 * the Debian package's chromium), behind a gate: skipped locally when it is
 * missing, a failure in CI. A small parser of the Prometheus text format.
 * Imported by its suite itself, not through index.ts: puppeteer-core loads there only.
 */
import assert from 'node:assert/strict';
import puppeteer from 'puppeteer-core';
import type { Browser } from 'puppeteer-core';
import { commandGate } from './gates.js';
import { ensureGone } from './processes.js';

export const chromiumGate = (): ReturnType<typeof commandGate> =>
  commandGate({ name: 'chromium', command: 'chromium', versionArgs: ['--version'], install: 'apt-get install -y chromium' });

/** Start headless Chromium (no sandbox: tests may run as root, and each run has a throwaway profile). */
export function launchChromium(path: string): Promise<Browser> {
  return puppeteer.launch({
    executablePath: path,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    defaultViewport: { width: 1280, height: 800 },
  });
}

/** Close a browser, and check by pid that its process is gone. */
export async function closeChromium(browser: Browser | undefined): Promise<void> {
  if (!browser) return;
  const pid = browser.process()?.pid;
  await browser.close();
  if (pid !== undefined) assert.deepEqual(await ensureGone([pid]), [], 'chromium is gone after browser.close()');
}

/** One sample of the Prometheus text format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Metric families and their samples, from the Prometheus text format; throws at the first line that is not in it. */
export function parsePrometheus(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
  const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) continue;
    const m = SAMPLE.exec(line);
    assert.ok(m, `line ${i + 1} is not in the Prometheus text format: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < m[3].length) {
        const l = LABEL.exec(m[3]);
        assert.ok(l, `line ${i + 1}: bad labels: ${m[3]}`);
        labels[l[1]!] = l[2]!;
      }
    }
    // Prometheus reads NaN and Inf in any case (Go's ParseFloat); prom-client writes NaN as 'Nan'
    const raw = m[4]!.toLowerCase();
    const value = raw === '+inf' || raw === 'inf' ? Infinity : raw === '-inf' ? -Infinity : Number(m[4]);
    assert.ok(!Number.isNaN(value) || raw === 'nan', `line ${i + 1}: bad value ${m[4]}`);
    const family = m[1]!.replace(/_(bucket|sum|count|total|created)$/, '');
    assert.ok(types.has(m[1]!) || types.has(family), `line ${i + 1}: ${m[1]} has no # TYPE`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { types, samples };
}

/** The value of the sample `name` whose labels include `labels` (undefined when there is none). */
export function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}
