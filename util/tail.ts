/** The end of a text file (a log), read without loading all of it. */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

/**
 * The last `lines` lines of a file, from byte `from` on (at most its last 64 KiB).
 * '(no log)' when the file cannot be read.
 */
export function tailFile(path: string, lines = 15, from = 0): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '(no log)';
  }
  try {
    const size = statSync(path).size;
    const start = Math.min(size, Math.max(from, size - 64 * 1024));
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    return buf.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } finally {
    closeSync(fd);
  }
}
