/**
 * The gates of suites that need an outside component (test/support/gates.ts):
 * a component found makes no difference; a missing one skips the suite
 * locally, saying what is missing and how to install it, and fails it with
 * CI=true. The suite wrapper is checked end to end, in a child `node --test`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { DIST, commandGate, gate, runNode, showResult, tempRootForFile, which } from './support/index.js';

const root = tempRootForFile('gates');
const INSTALL = 'apt-get install -y thing';

describe('gate()', () => {
  test('a component that is there: nothing to skip, nothing to fail, locally or in CI', () => {
    for (const ci of [false, true]) {
      const g = gate({ name: 'thing', install: INSTALL, probe: () => undefined, ci });
      assert.equal(g.missing, undefined);
      assert.equal(g.skip, false);
      assert.equal(g.ci, ci);
      assert.doesNotThrow(() => g.assertAvailable());
    }
  });

  test('a missing component, locally: the suite is skipped with the reason and the install command', () => {
    const g = gate({ name: 'thing', install: INSTALL, probe: () => "no 'thing' on PATH", ci: false });
    const missing = "thing is not available (no 'thing' on PATH): install it with `apt-get install -y thing`";
    assert.equal(g.missing, missing);
    assert.equal(g.skip, `skipped: ${missing}`);
    assert.throws(() => g.assertAvailable(), { message: missing });
  });

  test('a missing component in CI: not skipped; assertAvailable fails, saying CI=true, the reason and the install command', () => {
    const g = gate({ name: 'thing', install: INSTALL, probe: () => 'version 1 is too old', ci: true });
    assert.equal(g.skip, false);
    assert.throws(() => g.assertAvailable(), {
      message: 'CI=true, and thing is not available (version 1 is too old): install it with `apt-get install -y thing`',
    });
  });

  test('CI comes from the environment (CI=true only), and the probe runs once, when the gate is made', () => {
    const saved = process.env.CI;
    let probes = 0;
    const probe = (): string => {
      probes++;
      return 'absent';
    };
    try {
      process.env.CI = 'true';
      assert.equal(gate({ name: 'thing', install: INSTALL, probe }).ci, true);
      process.env.CI = '1';
      assert.equal(gate({ name: 'thing', install: INSTALL, probe }).ci, false);
      delete process.env.CI;
      const g = gate({ name: 'thing', install: INSTALL, probe });
      assert.equal(g.ci, false);
      assert.notEqual(g.skip, false);
      assert.throws(() => g.assertAvailable());
      assert.equal(probes, 3, 'one probe per gate, none when it is read or asserted');
    } finally {
      if (saved === undefined) delete process.env.CI;
      else process.env.CI = saved;
    }
  });
});

describe('which() and commandGate()', () => {
  test('which finds an executable on the path given, not a plain file, and skips empty entries', () => {
    const bin = join(root, 'bin');
    const other = join(root, 'other');
    mkdirSync(bin, { recursive: true });
    mkdirSync(other, { recursive: true });
    writeFileSync(join(bin, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(join(other, 'tool'), '', { mode: 0o644 });
    const path = ['', join(root, 'no-such-dir'), other, bin].join(delimiter);
    assert.equal(which('tool', path), join(bin, 'tool'), 'the first executable one, past a plain file of the same name');
    assert.equal(which('tool', other), undefined, 'a plain file is not a command');
    assert.equal(which('absent', path), undefined);
    assert.equal(which('tool', ''), undefined);
  });

  test('commandGate: a command that runs is available at its path; one not on PATH, or failing its check, is missing and says why', () => {
    const nodeDir = dirname(process.execPath);
    const ok = commandGate({ name: 'node', command: 'node', versionArgs: ['--version'], install: INSTALL, path: nodeDir, ci: false });
    assert.equal(ok.missing, undefined);
    assert.equal(ok.path, join(nodeDir, 'node'));
    assert.equal(ok.skip, false);

    const absent = commandGate({ name: 'thing', command: 'no-such-command-here', versionArgs: ['--version'], install: INSTALL, ci: false });
    assert.equal(absent.path, '');
    assert.equal(absent.missing, "thing is not available (no 'no-such-command-here' on PATH): install it with `apt-get install -y thing`");

    const broken = commandGate({
      name: 'node',
      command: 'node',
      versionArgs: ['-e', 'console.error("cannot start"); process.exit(2)'],
      install: INSTALL,
      path: nodeDir,
      ci: false,
    });
    assert.equal(broken.path, '', 'a command that fails its check is not offered');
    assert.match(
      broken.missing ?? '',
      /^node is not available \('node -e console\.error\("cannot start"\); process\.exit\(2\)' failed: cannot start\)/,
    );
    const silent = commandGate({ name: 'node', command: 'node', versionArgs: ['-e', 'process.exit(3)'], install: INSTALL, path: nodeDir, ci: false });
    assert.match(silent.missing ?? '', /failed: exit 3\)/);
  });
});

describe('describeGated, in a child `node --test`', () => {
  const file = join(root, 'gated.test.mjs');
  writeFileSync(
    file,
    [
      "import { test } from 'node:test';",
      `import { describeGated, gate } from ${JSON.stringify(pathToFileURL(join(DIST, 'test', 'support', 'gates.js')).href)};`,
      "const g = gate({ name: 'thing', install: 'apt-get install -y thing', probe: () => (process.env.THING_MISSING ? \"no 'thing' on PATH\" : undefined) });",
      "describeGated(g, 'needs thing', () => {",
      "  test('uses thing', () => {});",
      "  test('uses thing again', () => {});",
      '});',
      '',
    ].join('\n'),
  );
  // a child of a test run reports to its parent unless NODE_TEST_CONTEXT is unset: here it reports TAP, for us to read
  const run = (env: NodeJS.ProcessEnv): ReturnType<typeof runNode> =>
    runNode('--test', ['--test-reporter=tap', file], { env: { CI: '', THING_MISSING: '', NODE_TEST_CONTEXT: undefined, ...env } });

  test('the component there: its tests run and pass', async () => {
    const r = await run({});
    assert.equal(r.code, 0, showResult(r));
    assert.match(r.stdout, /^# pass 2$/m);
  });

  test('missing, locally: the suite is skipped, saying why and how to install it; no test runs, the run passes', async () => {
    const r = await run({ THING_MISSING: '1' });
    assert.equal(r.code, 0, showResult(r));
    assert.match(
      r.stdout,
      /^ok 1 - needs thing # SKIP skipped: thing is not available \(no 'thing' on PATH\): install it with `apt-get install -y thing`$/m,
    );
    assert.match(r.stdout, /^# pass 0$/m);
    assert.doesNotMatch(r.stdout, /ok \d+ - uses thing/);
  });

  test('missing, with CI=true: the suite fails, saying so, and the run fails', async () => {
    const r = await run({ THING_MISSING: '1', CI: 'true' });
    assert.equal(r.code, 1, showResult(r));
    assert.match(r.stdout, /^not ok 1 - needs thing$/m);
    assert.match(r.stdout, /CI=true, and thing is not available \(no 'thing' on PATH\): install it with `apt-get install -y thing`/);
    assert.match(r.stdout, /^# pass 0$/m);
  });
});
