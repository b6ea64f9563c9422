/**
 * The settings resolver (config/resolve.ts), without processes: defaults,
 * the precedence of code options over flags over the profile's file over
 * defaults, the errors (naming the source, the setting, what it accepts and
 * what it got), deadAfterMs <= heartbeatMs refused, and the command-line
 * side: argOptions, helpRows and toFlags, which round-trip through parseArgs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseArgs } from 'node:util';
import { SettingError, argOptions, helpRows, resolveSettings, toFlags } from '../../config/resolve.js';
import { keysOf } from '../../config/settings.js';
import type { Scope, Settings } from '../../config/settings.js';

const PROFILE_PATH = '/profiles/profile_x/tscluster.json';

/** The SettingError `fn` throws. */
function settingError(fn: () => unknown): SettingError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SettingError, `SettingError expected, got ${String(e)}`);
    return e;
  }
  return assert.fail('no SettingError thrown');
}

/** The settings of a scope only. */
function pick(s: Settings, scope: Scope): Partial<Settings> {
  return Object.fromEntries(keysOf(scope).map((k) => [k, s[k]]));
}

describe('resolveSettings', () => {
  test('defaults, scope by scope', () => {
    assert.deepEqual(pick(resolveSettings('controller'), 'controller'), {
      scheme: 'leastload',
      hwm: 1,
      prefetch: 0,
      ip: '127.0.0.1',
      clientPort: 0,
      enginePort: 0,
      heartbeatMs: 1000,
      deadAfterMs: 5000,
      location: undefined,
      curve: undefined,
      noCurve: undefined,
      maxRecords: undefined,
      store: 'sqlite',
      storeResultMaxBytes: 1024 ** 2,
      storeRequestMaxBytes: 1024 ** 2,
      maxRecordBytes: 1024 ** 3,
      sharedMaxBytes: 1024 ** 3,
      sharedObjectMaxBytes: 256 * 1024 ** 2,
      // Slurm settings reach the controller too (--controller slurm, --adapt)
      adapt: undefined,
      adaptIdleS: 60,
      partition: undefined,
      timeLimit: undefined,
      account: undefined,
      cpusPerEngine: undefined,
      memory: undefined,
      sbatch: undefined,
      enginesPerJob: undefined,
      slurmTemplate: undefined,
      startTimeoutS: undefined,
      lifetimeS: undefined,
      // the dashboard is on by default; /metrics without a token only when asked
      dashboard: 'on',
      metrics: undefined,
    });
    const start = pick(resolveSettings('start'), 'start');
    assert.deepEqual(Object.fromEntries(Object.entries(start).filter(([, v]) => (v as unknown) !== undefined)), {
      scheme: 'leastload',
      hwm: 1,
      prefetch: 0,
      ip: '127.0.0.1',
      store: 'sqlite',
      engines: 'local',
      controller: 'local',
      remoteCmd: 'tscluster',
      mpiexec: 'mpiexec',
      controllerGraceS: 60,
      adaptIdleS: 60,
      dashboard: 'on',
      // a local controller runs under its supervisor unless --no-supervise
      supervise: true,
    });
    assert.deepEqual(pick(resolveSettings('engine'), 'engine'), { timeoutS: 30, controllerGraceS: 60, maxMemoryMb: undefined, lifetimeS: undefined });
  });

  test('precedence: code options over flags over the profile file over defaults, setting by setting', () => {
    const options = { hwm: 5 };
    const flags = { hwm: '4', scheme: 'lru' };
    const profile = { values: { hwm: 3, scheme: 'twobin', ip: '10.1.2.3' }, path: PROFILE_PATH };
    const all = resolveSettings('controller', { options, flags, profile });
    assert.deepEqual([all.hwm, all.scheme, all.ip, all.heartbeatMs], [5, 'lru', '10.1.2.3', 1000]);
    assert.equal(resolveSettings('controller', { flags, profile }).hwm, 4);
    assert.equal(resolveSettings('controller', { profile }).hwm, 3);
    assert.equal(resolveSettings('controller', {}).hwm, 1);
    // an option given as undefined does not count
    assert.equal(resolveSettings('controller', { options: { hwm: undefined }, flags }).hwm, 4);
  });

  test('flags: numbers are parsed, the last of a repeated flag counts, booleans pass as they are', () => {
    const s = resolveSettings('controller', {
      flags: { 'client-port': '5555', hwm: ['2', '7'], curve: true, 'heartbeat-ms': ' 250 ', 'dead-after-ms': '1e4' },
    });
    assert.deepEqual([s.clientPort, s.hwm, s.curve, s.heartbeatMs, s.deadAfterMs], [5555, 7, true, 250, 10000]);
    assert.equal(resolveSettings('start', { flags: { n: '3' } }).n, 3);
  });

  test('settings outside the scope, and engine settings the profile may not set, are not read', () => {
    // heartbeatMs 1 would be refused; `start` does not take it
    assert.equal(resolveSettings('start', { options: { heartbeatMs: 1 } }).heartbeatMs, 1000);
    // timeoutS is not a profile setting
    assert.equal(resolveSettings('engine', { profile: { values: { timeoutS: 99 }, path: PROFILE_PATH } }).timeoutS, 30);
    assert.equal(resolveSettings('engine', { flags: { timeout: '99' } }).timeoutS, 99);
  });

  test('an invalid code option names the setting, what it accepts and what it got', () => {
    const e = settingError(() => resolveSettings('controller', { options: { hwm: -1 } }));
    assert.equal(e.setting, 'hwm');
    assert.equal(e.name, 'SettingError');
    assert.ok(e instanceof RangeError);
    assert.equal(e.message, 'hwm must be a whole number from 0 to 1000000, got -1');
    assert.equal(
      settingError(() => resolveSettings('start', { options: { ip: '999.1.1.1' } })).message,
      "ip must be an IP address or a host name, got '999.1.1.1'",
    );
    assert.equal(
      settingError(() => resolveSettings('controller', { options: { hwm: 1.5 } })).message,
      'hwm must be a whole number from 0 to 1000000, got 1.5',
    );
  });

  test('an invalid flag names the flag as typed', () => {
    const e = settingError(() => resolveSettings('controller', { flags: { hwm: 'many' } }));
    assert.equal(e.setting, 'hwm');
    assert.equal(e.message, "--hwm must be a whole number from 0 to 1000000, got 'many'");
    assert.equal(
      settingError(() => resolveSettings('controller', { flags: { 'client-port': '70000' } })).message,
      '--client-port must be a whole number from 0 to 65535, got 70000',
    );
    assert.equal(
      settingError(() => resolveSettings('controller', { flags: { hwm: '' } })).message,
      "--hwm must be a whole number from 0 to 1000000, got ''",
    );
    assert.equal(settingError(() => resolveSettings('engine', { flags: { 'max-memory-mb': '8' } })).setting, 'maxMemoryMb');
    for (const bad of ['70000', 'host:', ':80', '999.1.1.1:80', 'yes']) {
      assert.equal(
        settingError(() => resolveSettings('start', { flags: { dashboard: bad } })).message,
        `--dashboard must be 'on', 'off', or [ADDR:]PORT (a port from 0 to 65535, 0: a free one), got '${bad}'`,
        bad,
      );
    }
    for (const good of ['0', '8080', 'localhost:8080', '0.0.0.0:0', '[::1]:9000', 'off']) {
      assert.equal(resolveSettings('start', { flags: { dashboard: good } }).dashboard, good);
    }
    assert.match(settingError(() => resolveSettings('controller', { flags: { metrics: 'off' } })).message, /^--metrics must be \[ADDR:\]PORT/);
  });

  test('an invalid value in the profile file names the setting and the file', () => {
    const e = settingError(() => resolveSettings('controller', { profile: { values: { scheme: 'fifo' }, path: PROFILE_PATH } }));
    assert.equal(e.setting, 'scheme');
    assert.equal(e.message, `scheme in ${PROFILE_PATH} must be one of leastload, lru, weighted, plainrandom, twobin, got 'fifo'`);
    assert.equal(
      settingError(() => resolveSettings('controller', { profile: { values: { curve: 'yes' }, path: PROFILE_PATH } })).message,
      `curve in ${PROFILE_PATH} must be true or false, got 'yes'`,
    );
    assert.equal(
      settingError(() => resolveSettings('controller', { profile: { values: { maxRecordBytes: 10 }, path: PROFILE_PATH } })).message,
      `maxRecordBytes in ${PROFILE_PATH} must be a whole number >= 1024, got 10`,
    );
  });

  test('deadAfterMs must be longer than heartbeatMs, whatever sets them', () => {
    for (const src of [
      { options: { heartbeatMs: 5000, deadAfterMs: 5000 } },
      { flags: { 'heartbeat-ms': '6000' } },
      { profile: { values: { deadAfterMs: 900 }, path: PROFILE_PATH } },
    ]) {
      const e = settingError(() => resolveSettings('controller', src));
      assert.equal(e.setting, 'deadAfterMs');
      assert.match(e.message, /^deadAfterMs \(\d+\) must be longer than heartbeatMs \(\d+\): engines would be declared dead between heartbeats$/);
    }
    const ok = resolveSettings('controller', { options: { heartbeatMs: 5000, deadAfterMs: 5001 } });
    assert.deepEqual([ok.heartbeatMs, ok.deadAfterMs], [5000, 5001]);
  });
});

describe('the command line of the settings', () => {
  test('argOptions: one parseArgs option per setting of the scope, boolean for a flag without a value', () => {
    const start = argOptions('start');
    assert.deepEqual(start.n, { type: 'string', short: 'n' });
    assert.deepEqual(start.curve, { type: 'boolean' });
    assert.deepEqual(start['no-curve'], { type: 'boolean' });
    // a list flag may be given several times
    assert.deepEqual(start['ssh-option'], { type: 'string', multiple: true });
    assert.deepEqual(start.hosts, { type: 'string' });
    assert.deepEqual(argOptions('engine'), {
      timeout: { type: 'string' },
      'controller-grace': { type: 'string' },
      'max-memory-mb': { type: 'string' },
      lifetime: { type: 'string' },
    });
    assert.deepEqual(Object.keys(argOptions('controller')).slice(0, 12), [
      'scheme',
      'hwm',
      'prefetch',
      'ip',
      'location',
      'client-port',
      'engine-port',
      'heartbeat-ms',
      'dead-after-ms',
      'curve',
      'no-curve',
      'max-records',
    ]);
    // adding engines takes the launchers' settings, not the controller's
    const engines = Object.keys(argOptions('engines'));
    assert.ok(
      engines.includes('engines') && engines.includes('hosts') && engines.includes('mpiexec') && engines.includes('partition'),
      engines.join(' '),
    );
    assert.ok(!engines.includes('scheme') && !engines.includes('ip'), engines.join(' '));
  });

  test('helpRows: a row per setting with its flag, placeholder, help and default', () => {
    const rows = helpRows('start').split('\n');
    assert.equal(rows.length, keysOf('start').length);
    assert.equal(rows[0], '  -n, --n N              number of engines (default one per core)');
    assert.equal(rows[2], '  --hwm N                most outstanding tasks per engine, 0 = unlimited (default 1)');
    assert.ok(
      rows.includes('  --curve                encrypt all traffic with CurveZMQ (default on when the controller is reachable off loopback)'),
      rows.join('\n'),
    );
    // a boolean that is off by default shows no default
    const noCurve = rows.find((r) => r.startsWith('  --no-curve'));
    assert.ok(noCurve !== undefined && !noCurve.includes('default'), noCurve);
    const controller = helpRows('controller');
    assert.match(controller, /^ {2}--max-record-bytes N {3}bytes of finished task records the controller keeps \(default 1 GiB\)$/m);
    assert.match(controller, /^ {2}--dead-after-ms N {6}declare a silent engine dead after this long, ms \(default 5000\)$/m);
    assert.equal(controller.split('\n').length, keysOf('controller').length);
  });

  test('toFlags gives the flags that resolve to the same settings (through parseArgs), leaving out what is off or unset', () => {
    const cases: [Scope, Partial<Settings>][] = [
      ['controller', {}],
      [
        'controller',
        {
          scheme: 'lru',
          hwm: 2,
          prefetch: 3,
          ip: 'node-7.cluster.local',
          clientPort: 5555,
          enginePort: 5556,
          heartbeatMs: 250,
          deadAfterMs: 2000,
          curve: true,
          maxRecords: 10,
          maxRecordBytes: 4096,
        },
      ],
      ['start', { n: 8, scheme: 'twobin', curve: true }],
      ['start', { n: 4, engines: 'ssh', hosts: 'h1:2,me@h2:2', sshOptions: ['StrictHostKeyChecking=no', 'LogLevel=ERROR'], noCurve: true }],
      ['engines', { engines: 'mpi', mpiArgs: ['--host=a,b', '-x', 'PATH'] }],
      ['start', { engines: 'slurm', partition: 'debug', timeLimit: '1:00:00', sbatch: ['--qos=long', '--exclusive'], enginesPerJob: 2 }],
      ['controller', { adapt: '1:8', adaptIdleS: 30, partition: 'debug' }],
      ['controller', { dashboard: '0.0.0.0:8080', metrics: '9464' }],
      ['start', { dashboard: 'off', metrics: '[::1]:0' }],
      ['start', { supervise: false }],
      ['engine', { timeoutS: 2.5, maxMemoryMb: 256, lifetimeS: 3600 }],
    ];
    for (const [scope, options] of cases) {
      const s = resolveSettings(scope, { options });
      const flags = toFlags(s, scope, scope);
      const { values } = parseArgs({ args: flags, options: argOptions(scope), strict: true });
      assert.deepEqual(resolveSettings(scope, { flags: values }), s, `${scope} ${flags.join(' ')}`);
    }
    assert.deepEqual(toFlags(resolveSettings('start', { options: { n: 2 } }), 'start', 'start').slice(0, 10), [
      '--n',
      '2',
      '--scheme',
      'leastload',
      '--hwm',
      '1',
      '--prefetch',
      '0',
      '--ip',
      '127.0.0.1',
    ]);
    assert.deepEqual(toFlags({ curve: true, hwm: undefined }, 'start', 'start'), ['--curve']);
    // a flag that turns a setting off: given when the setting is off, else not
    assert.deepEqual(toFlags({ supervise: false }, 'start', 'start'), ['--no-supervise']);
    assert.deepEqual(toFlags({ supervise: true }, 'start', 'start'), []);
    assert.equal(resolveSettings('start', { flags: { 'no-supervise': true } }).supervise, false);
    // passed on to a controller: only what both take, so the controller's own settings (its ports) come from its profile
    assert.deepEqual(toFlags(resolveSettings('start', { options: { n: 2 } }), 'start', 'controller'), [
      '--scheme',
      'leastload',
      '--hwm',
      '1',
      '--prefetch',
      '0',
      '--ip',
      '127.0.0.1',
      '--store',
      'sqlite',
      '--adapt-idle',
      '60',
      '--dashboard',
      'on',
    ]);
  });
});
