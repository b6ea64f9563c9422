/** Running a command to completion and collecting its output (ssh, Slurm's commands). */
import { spawn, spawnSync } from 'node:child_process';

export interface CommandResult {
  /** its exit code; null when it could not be run or was killed */
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run `file args` (with `input` on its stdin), SIGKILLed after `timeoutMs`.
 * Never rejects: a command that cannot be run resolves with code `failCode` and the error in stderr.
 */
export function runCommand(
  file: string,
  args: readonly string[],
  o: { input?: string; timeoutMs?: number; failCode?: number | null } = {},
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: o.failCode ?? null, stdout, stderr: `${stderr}${e.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(o.input ?? '');
  });
}

/** The same, blocking (for exit hooks, where nothing can be awaited). */
export function runCommandSync(file: string, args: readonly string[], o: { input?: string; timeoutMs?: number } = {}): CommandResult {
  const r = spawnSync(file, args, { input: o.input ?? '', encoding: 'utf8', timeout: o.timeoutMs ?? 10_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr || (r.error?.message ?? '') };
}
