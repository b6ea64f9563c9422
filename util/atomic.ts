/**
 * Files that must never be seen half-written or world-readable: written to a
 * temporary file created with the final mode (exclusive) and renamed into place.
 */
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';

/** Write `content` to `path` atomically, created with `mode` (default 0600). */
export function writeFileAtomic(path: string, content: string | Buffer, mode = 0o600): void {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, content, { mode, flag: 'wx' });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Write `data` as pretty JSON to `path` atomically (default mode 0600). */
export function writeJsonAtomic(path: string, data: unknown, mode = 0o600): void {
  writeFileAtomic(path, JSON.stringify(data, null, 2) + '\n', mode);
}
