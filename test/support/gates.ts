/**
 * Gates for suites that need a component from outside the project (a Jupyter
 * server, sshd, Open MPI, Slurm, Chromium...). Locally, a missing component
 * skips the suite, saying what is missing and the command that installs it;
 * with CI=true a missing component fails the suite: CI tests everything.
 *
 *   const jupyter = commandGate({ name: 'jupyter notebook', command: 'jupyter', versionArgs: ['notebook', '--version'],
 *                                 install: 'apt-get install -y jupyter-notebook' });
 *   describeGated(jupyter, 'notebooks', () => { ... });
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { before, describe } from 'node:test';

export interface Gate {
  /** the component, as a reader knows it ('jupyter notebook', 'sshd') */
  readonly name: string;
  /** the command that installs it */
  readonly install: string;
  /** undefined when the component is there; else why not, with the install command */
  readonly missing: string | undefined;
  /** for describe's `skip` option: why the suite is skipped, or false (the component is there, or this is CI) */
  readonly skip: string | false;
  /** true when CI=true: a missing component is a failure */
  readonly ci: boolean;
  /** Throws (naming what is missing and how to install it) when the component is missing. */
  assertAvailable(): void;
}

export interface GateOptions {
  name: string;
  install: string;
  /** undefined when the component is usable; else what is wrong (e.g. "no 'jupyter' on PATH") */
  probe: () => string | undefined;
  /** default: process.env.CI === 'true' */
  ci?: boolean;
}

/** A gate on whatever `probe` checks (run once, now). */
export function gate(o: GateOptions): Gate {
  const ci = o.ci ?? process.env.CI === 'true';
  const reason = o.probe();
  const missing = reason === undefined ? undefined : `${o.name} is not available (${reason}): install it with \`${o.install}\``;
  return {
    name: o.name,
    install: o.install,
    missing,
    ci,
    skip: missing !== undefined && !ci ? `skipped: ${missing}` : false,
    assertAvailable(): void {
      if (missing !== undefined) throw new Error(ci ? `CI=true, and ${missing}` : missing);
    },
  };
}

/** The path of an executable `cmd` on `path` (default $PATH), or undefined. */
export function which(cmd: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return join(dir, cmd);
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface CommandGateOptions {
  name: string;
  /** the executable, looked up on PATH */
  command: string;
  /** arguments of a quick check that the command works (e.g. ['--version']); it must exit 0 within 60 s */
  versionArgs: readonly string[];
  install: string;
  ci?: boolean;
  /** where to look for the command (default $PATH) */
  path?: string;
}

/** A gate on a command: on PATH, and `command ...versionArgs` exits 0. `path` is where it is ('' when missing). */
export function commandGate(o: CommandGateOptions): Gate & { path: string } {
  const path = which(o.command, o.path);
  const g = gate({
    name: o.name,
    install: o.install,
    ci: o.ci,
    probe: () => {
      if (path === undefined) return `no '${o.command}' on PATH`;
      const r = spawnSync(path, o.versionArgs, { encoding: 'utf8', timeout: 60_000 });
      if (r.status === 0) return undefined;
      const why = r.stderr.trim() || r.error?.message || `exit ${r.status ?? r.signal}`;
      return `'${[o.command, ...o.versionArgs].join(' ')}' failed: ${why}`;
    },
  });
  return { ...g, path: g.missing === undefined ? (path ?? '') : '' };
}

/**
 * describe() for a suite behind a gate: skipped, saying why, when the
 * component is missing; in CI its first hook fails instead, and with it every
 * test of the suite.
 */
export function describeGated(g: Gate, name: string, fn: () => void): void {
  describe(name, { skip: g.skip }, () => {
    before(() => g.assertAvailable());
    fn();
  });
}
