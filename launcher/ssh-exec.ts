/**
 * Running shell scripts on other hosts through ssh, without a terminal or a
 * password prompt (BatchMode): the script goes on ssh's stdin to `sh -s`, so
 * nothing of it (a connection file's key among it) shows in any process list
 * or lands in a world-readable temporary file.
 */
import type { SshOptions } from '../profiles/index.js';
import { runCommand, runCommandSync } from '../util/run.js';
import type { CommandResult } from '../util/run.js';

export type SshResult = CommandResult;

/** ssh's own arguments to reach `host` (non-interactive: a host that cannot be reached fails fast). */
export function sshArgs(o: SshOptions, host: string): string[] {
  return [
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=10',
    ...(o.port !== undefined ? ['-p', String(o.port)] : []),
    ...(o.identity !== undefined ? ['-i', o.identity] : []),
    ...o.options.flatMap((x) => ['-o', x]),
    host,
  ];
}

/** Run `script` with `sh -s` on `host`; resolves with its exit code and output (ssh's own failure: code 255). */
export function sshRun(o: SshOptions, host: string, script: string, timeoutMs = 60_000): Promise<SshResult> {
  return runCommand('ssh', [...sshArgs(o, host), 'sh -s'], { input: script, timeoutMs, failCode: 255 });
}

/** The same, blocking (for exit hooks, where nothing can be awaited). */
export function sshRunSync(o: SshOptions, host: string, script: string, timeoutMs = 10_000): SshResult {
  return runCommandSync('ssh', [...sshArgs(o, host), 'sh -s'], { input: script, timeoutMs });
}

/** A shell word for `s` (single-quoted). */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The profile root on the remote host: `--remote-dir`, else its own $TSCLUSTER_DIR or ~/.tscluster. */
export function remoteRoot(dir: string | undefined): string {
  return dir !== undefined ? shq(dir) : '"${TSCLUSTER_DIR:-$HOME/.tscluster}"';
}

/** A shell function that prints a process's start time (/proc/PID/stat, after the command name). */
export const START_OF = `start_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }`;

/**
 * A script that starts `n` copies of `command` detached (each in its own
 * session, so its whole process group can be ended), output appended to
 * `log`, and prints `pid <pid> <start>` for each.
 */
export function startScript(o: {
  root: string;
  dir: string;
  file?: { path: string; text: string };
  log: string;
  n: number;
  command: string;
  mark: string;
}): string {
  const lines = [
    'set -e',
    'umask 077',
    START_OF,
    `ROOT=${o.root}`,
    `DIR=${o.dir}`,
    'export ROOT DIR',
    'mkdir -p "$DIR/security" "$DIR/log"',
    'chmod 700 "$DIR/security"',
  ];
  if (o.file) {
    // written through a temporary name in a 0700 directory, then renamed: never half-written, never readable by others
    lines.push(
      `cat > "$DIR/${o.file.path}.tmp" <<'TSCLUSTER_FILE_END'`,
      o.file.text.trimEnd(),
      'TSCLUSTER_FILE_END',
      `mv "$DIR/${o.file.path}.tmp" "$DIR/${o.file.path}"`,
    );
    lines.push(`echo "file $DIR/${o.file.path}"`);
  }
  lines.push(`LOG="$DIR/${o.log}"`, `echo ${shq(o.mark)} >> "$LOG"`, 'chmod 600 "$LOG"', 'echo "log $LOG"');
  lines.push(`i=0; while [ $i -lt ${o.n} ]; do`);
  lines.push(`  setsid sh -c ${shq(o.command)} >> "$LOG" 2>&1 < /dev/null &`);
  lines.push('  p=$!; echo "pid $p $(start_of $p)"; i=$((i + 1))', 'done');
  return lines.join('\n') + '\n';
}

/**
 * A script that gives the recorded processes `graceS` seconds to end, then
 * ends their process groups (TERM, then KILL): only those whose start time is
 * still the recorded one. Then removes `files`.
 */
export function stopScript(procs: { pid: number; start: string | null }[], graceS: number, files: string[]): string {
  const ours = procs.map((p) => `${p.pid}:${p.start ?? ''}`).join(' ');
  return [
    START_OF,
    `ours() { for e in ${ours}; do p=\${e%%:*}; s=\${e#*:}; [ -n "$s" ] && [ "$(start_of $p)" = "$s" ] && echo $p; done; return 0; }`,
    `end=$(($(date +%s) + ${Math.ceil(graceS)}))`,
    'while [ -n "$(ours)" ] && [ $(date +%s) -lt $end ]; do sleep 0.2; done',
    'for p in $(ours); do kill -TERM -- -$p 2>/dev/null || kill -TERM $p 2>/dev/null; done',
    'n=0; while [ -n "$(ours)" ] && [ $n -lt 20 ]; do sleep 0.1; n=$((n + 1)); done',
    'for p in $(ours); do kill -KILL -- -$p 2>/dev/null || kill -KILL $p 2>/dev/null; done',
    ...files.map((f) => `rm -f ${shq(f)}`),
    '',
  ].join('\n');
}

/** A script that prints how many of the recorded processes still run. */
export function pollScript(procs: { pid: number; start: string | null }[]): string {
  const ours = procs.map((p) => `${p.pid}:${p.start ?? ''}`).join(' ');
  return [
    START_OF,
    `n=0; for e in ${ours}; do p=\${e%%:*}; s=\${e#*:}; [ -n "$s" ] && [ "$(start_of $p)" = "$s" ] && n=$((n + 1)); done`,
    'echo "running $n"',
    '',
  ].join('\n');
}
