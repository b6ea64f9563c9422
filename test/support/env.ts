/**
 * Where the tests run: the paths of the built project, a private profile root
 * (TSCLUSTER_DIR) per test file, and waiting with deadlines.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

/** dist/ (this file is dist/test/support/env.js once compiled). */
export const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The project root, where package.json lives. */
export const ROOT = resolve(DIST, '..');
/** The `tscluster` command line. */
export const CLI = join(DIST, 'cli', 'main.js');
/** The test fixtures (scripts and notebooks), in the source tree. */
export const FIXTURES = join(ROOT, 'test', 'fixtures');

/**
 * Make a fresh profile root for this test file and point TSCLUSTER_DIR at it.
 * Must run before anything starts a cluster (children inherit process.env).
 */
export function useTempRoot(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tscluster-test-${tag}-`));
  process.env.TSCLUSTER_DIR = dir;
  return dir;
}

export function removeTempRoot(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * useTempRoot, and remove the directory once every test of the file has run
 * (after the suites' own `after` hooks, which stop their clusters).
 */
export function tempRootForFile(tag: string): string {
  const dir = useTempRoot(tag);
  after(() => removeTempRoot(dir));
  return dir;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `check` until it returns a value other than undefined/false, or fail
 * with `what` after `timeoutMs`.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 10000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
