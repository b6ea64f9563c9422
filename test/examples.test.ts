/**
 * The runnable examples (examples/, built into dist/examples/), each run as a
 * user runs it: a node process of its own against a running 3-engine cluster,
 * found through TSCLUSTER_DIR. Each test checks the exit code and the values
 * the example prints; every child is ended by pid and checked gone.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { DIST, assertAllGone, killIfRunning, runNode, sharedCluster, showResult, spawnWatched, tempRootForFile, waitExit } from './support/index.js';
import type { CliResult, WatchedChild } from './support/index.js';

const root = tempRootForFile('examples');
const EXAMPLES = join(DIST, 'examples');
const ENV = { TSCLUSTER_DIR: root };
const LIMIT_MS = 120_000;

/** `node dist/examples/<name>.js <args>` to completion. */
function runExample(name: string, args: string[] = []): Promise<CliResult> {
  return runNode(join(EXAMPLES, `${name}.js`), args, { env: ENV, timeoutMs: LIMIT_MS });
}

/** The work-queue reader started as a process of its own, as on another machine. */
function startReader(args: string[] = []): WatchedChild {
  return spawnWatched([join(EXAMPLES, 'work-queue-reader.js'), ...args], { env: ENV });
}

/** Wait for the reader to exit; whatever happens, it is ended by pid and checked gone. */
async function readerResult(r: WatchedChild): Promise<{ code: number | string; text: string }> {
  try {
    const code = await waitExit(r.child, LIMIT_MS);
    return { code, text: `stdout:\n${r.out.text}\nstderr:\n${r.err.text}` };
  } finally {
    killIfRunning(r.child);
    await assertAllGone(r.child.pid === undefined ? [] : [r.child.pid], 'the work-queue reader');
  }
}

/** The per-engine counts of a line like "(engine 0: 293, engine 1: 359)". */
function perEngine(line: string): number[] {
  return [...line.matchAll(/engine \d+: (\d+)/g)].map((m) => Number(m[1]));
}

describe('examples (3 engines)', () => {
  const c = sharedCluster({ n: 3 });
  before(() => c.rc());

  test('work-queue: 3 engines factor 1,000 numbers from a shared queue; a reader process started first gets 1,000 results, all correct', async () => {
    // the reader waits for results while the producer runs; each ends on its own, and the reader is ended by pid
    const [p, r] = await Promise.all([runExample('work-queue'), readerResult(startReader(['--timeout-s', '60']))]);
    assert.equal(p.code, 0, showResult(p));
    const line = /^put 1,000 jobs on 'jobs'; 3 engines factored them in [\d.]+ s \((.*)\)$/m.exec(p.stdout);
    assert.ok(line, showResult(p));
    const counts = perEngine(line[1]!);
    assert.equal(counts.length, 3, line[0]);
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      1000,
      `every job was done once: ${line[0]}`,
    );
    assert.equal(r.code, 0, r.text);
    assert.match(r.text, /^1,000 results, all correct \(1,000 distinct numbers, 4,185 prime factors\)$/m);
  });

  test('work-queue runs again (its closed queue from the last run is replaced); a reader started after it finds the results waiting', async () => {
    const p = await runExample('work-queue');
    assert.equal(p.code, 0, showResult(p));
    assert.match(p.stdout, /^put 1,000 jobs on 'jobs'; 3 engines factored them/m);
    const r = await readerResult(startReader());
    assert.equal(r.code, 0, r.text);
    assert.match(r.text, /^1,000 results, all correct \(1,000 distinct numbers, 4,185 prime factors\)$/m);
  });

  test('work-queue-reader with no results coming: exits 1 after its timeout, saying how many it read', async () => {
    const r = await readerResult(startReader(['--count', '1', '--timeout-s', '1']));
    assert.equal(r.code, 1, r.text);
    assert.match(r.text, /FAILED: after 0 results: .*1000 ms/);
  });

  test('tokenize: a MultiChannel over 3 engines tokenizes 3,000 sentences, 1,000 each, as tokenizing locally does', async () => {
    const p = await runExample('tokenize');
    assert.equal(p.code, 0, showResult(p));
    assert.match(
      p.stdout,
      /^tokenized 3,000 sentences on 3 engines \(engine \d+: 1000, engine \d+: 1000, engine \d+: 1000\), all as tokenizing here gives$/m,
    );
    assert.match(p.stdout, /^29,989 tokens, 14 distinct words; most frequent: runs \(2,158\), of \(2,155\), a \(2,152\)$/m);
  });

  test('pipeline: 2,000 numbers go client -> engine -> shared queue -> engine -> client and come back once each, in order', async () => {
    const p = await runExample('pipeline');
    assert.equal(p.code, 0, showResult(p));
    assert.match(p.stdout, /^engine (\d+) squared 2,000 numbers, engine (?!\1)\d+ added one to 2,000, in [\d.]+ s$/m);
    assert.match(p.stdout, /^2,000 results came back in order, each i\*i\+1, none missing or twice$/m);
  });
});
