/**
 * Connection files: 0600 from creation (never visible with another mode), in
 * a security directory made 0700 even when it existed looser; and clear
 * errors (ConnectionFileError naming the file, and the field) for a file that
 * is truncated, half-written, empty or has a bad field, from a client and from
 * an engine.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, watch, writeFileSync } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Client, Cluster, ConnectionFileError } from '../index.js';
import {
  DIST,
  OutputWatcher,
  assertAllGone,
  connectionFile,
  pidGone,
  readConnectionFile,
  sharedCluster,
  stopCluster,
  tempRootForFile,
  waitExit,
  writeConnectionFileCopy,
} from './support/index.js';
import type { ConnectionFileJson } from './support/index.js';

const root = tempRootForFile('security-files');
const SIGNED = 'signed';
const CURVE = 'curve';

describe('security: connection files', () => {
  sharedCluster({ n: 1, profile: SIGNED });
  sharedCluster({ n: 1, profile: CURVE, curve: true });

  test('0600 from creation, never visible with another mode; the security directory becomes 0700 (even when it existed looser)', async (t) => {
    const profile = 'watched';
    const security = join(root, `profile_${profile}`, 'security');
    mkdirSync(security, { recursive: true });
    chmodSync(security, 0o755);
    const seen = new Map<string, Set<number>>();
    const look = (name: string): void => {
      try {
        const m = lstatSync(join(security, name)).mode & 0o777;
        let s = seen.get(name);
        if (!s) seen.set(name, (s = new Set()));
        s.add(m);
      } catch {
        // gone already (a temporary file renamed into place)
      }
    };
    const watcher: FSWatcher = watch(security, (_event, name) => {
      if (name) look(name);
    });
    const poll = setInterval(() => {
      for (const n of readdirSync(security)) look(n);
    }, 1);
    let cluster: Cluster | undefined;
    try {
      cluster = await Cluster.start({ n: 1, profile });
      const c = await cluster.connect();
      assert.deepEqual(await c.loadBalancedView().map((x: number) => x, [1, 2]), [1, 2]);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      clearInterval(poll);
      watcher.close();
      await stopCluster(cluster);
    }
    t.diagnostic(`seen in the security directory: ${[...seen].map(([n, m]) => `${n} (${[...m].map((x) => x.toString(8)).join('/')})`).join(', ')}`);
    for (const kind of ['client', 'engine'])
      assert.ok(seen.has(`tscluster-${kind}.json`), `saw the ${kind} file appear: ${[...seen.keys()].join(', ')}`);
    const loose = [...seen]
      .filter(([, modes]) => [...modes].some((m) => m !== 0o600))
      .map(([n, modes]) => `${n}: ${[...modes].map((m) => m.toString(8)).join(', ')}`);
    assert.deepEqual(loose, [], 'every file in the security directory was 0600 whenever seen');
    assert.equal(statSync(security).mode & 0o777, 0o700, 'the security directory is 0700');
    assert.deepEqual(readdirSync(security), [], 'cluster.stop() removed the connection files');
  });

  test('the files of running clusters are 0600 in a 0700 directory', () => {
    for (const profile of [SIGNED, CURVE]) {
      for (const kind of ['client', 'engine'] as const) {
        const mode = statSync(connectionFile(root, kind, profile)).mode & 0o777;
        assert.equal(mode, 0o600, `${profile} ${kind} file mode ${mode.toString(8)}`);
      }
      const dir = statSync(join(root, `profile_${profile}`, 'security')).mode & 0o777;
      assert.equal(dir, 0o700, `${profile} security directory mode ${dir.toString(8)}`);
    }
  });

  test('a truncated, half-written or empty file gives ConnectionFileError naming the file', async () => {
    const text = readFileSync(connectionFile(root, 'client', SIGNED), 'utf8');
    const cases: [string, string][] = [
      ['truncated.json', text.slice(0, Math.floor(text.length / 2))],
      ['one-byte.json', '{'],
      ['empty.json', ''],
      ['whitespace.json', '\n  \n'],
      ['not-json.json', 'ip=127.0.0.1\nport=1\n'],
    ];
    for (const [name, body] of cases) {
      const path = join(root, name);
      writeFileSync(path, body, { mode: 0o600 });
      await assert.rejects(Client.connect({ connectionFile: path, timeoutMs: 3000 }), (e: unknown) => {
        assert.ok(e instanceof ConnectionFileError, `${name}: ConnectionFileError expected, got ${String(e)}`);
        assert.equal(e.path, path);
        assert.ok(e.message.includes(path), `${name}: ${e.message}`);
        assert.match(e.message, /corrupt|half-written|empty/, `${name}: ${e.message}`);
        return true;
      });
    }
    // an engine given a corrupt file says which file, and exits
    const path = join(root, 'truncated-engine.json');
    writeFileSync(path, readFileSync(connectionFile(root, 'engine', SIGNED), 'utf8').slice(0, 40), { mode: 0o600 });
    const child = spawn(process.execPath, [join(DIST, 'engine', 'main.js'), '--file', path, '--timeout', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    const err = new OutputWatcher(child.stderr);
    try {
      assert.equal(await waitExit(child, 20000), 1);
      assert.ok(err.text.includes(path), `the engine names the file: ${err.text}`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await assertAllGone([child.pid!], 'the engine given a corrupt file');
    }
  });

  test('a bad field gives ConnectionFileError naming the file and the field', async () => {
    const cases: [string, (f: ConnectionFileJson) => unknown][] = [
      ['port', (f) => ({ ...f, port: 'x' })],
      ['port', (f) => ({ ...f, port: 70000 })],
      ['key', (f) => ({ ...f, key: f.key.toUpperCase().replace(/^[0-9]/, 'A') })],
      ['key', (f) => ({ ...f, key: f.key.slice(0, 10) })],
      ['curve_serverkey', (f) => ({ ...f, curve_serverkey: 'short' })],
      ['ip', (f) => ({ ...f, ip: '' })],
      ['tscluster', (f) => ({ ...f, tscluster: 2 })],
      ['signature_scheme', (f) => ({ ...f, signature_scheme: 'hmac-md5' })],
      [
        'controller_pid',
        (f) => {
          const { controller_pid: _pid, ...rest } = f;
          return rest;
        },
      ],
    ];
    for (const [i, [field, change]] of cases.entries()) {
      const path = writeConnectionFileCopy(root, `bad-field-${i}.json`, change, { profile: SIGNED });
      await assert.rejects(Client.connect({ connectionFile: path, timeoutMs: 3000 }), (e: unknown) => {
        assert.ok(e instanceof ConnectionFileError, `${field}: ConnectionFileError expected, got ${String(e)}`);
        assert.equal(e.path, path);
        assert.equal(e.field, field);
        assert.ok(e.message.includes(path) && e.message.includes(field), `${field}: ${e.message}`);
        return true;
      });
    }
    assert.equal(pidGone(readConnectionFile(root, 'client', SIGNED).controller_pid), false);
  });
});
