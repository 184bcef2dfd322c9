import * as fs from 'node:fs';
import * as path from 'node:path';

const fsError = (code: string, message: string, file: string) => Object.assign(new Error(`${code}: ${message}`), { code, path: file });

/** The path's stat, or null when nothing is there (a missing component, or a file where a directory should be). */
function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw e;
  }
}

/** The nearest ancestor of `dir` (itself included) that exists, and the missing ones below it, outermost first. */
function nearestExisting(dir: string): { existing: string; missing: string[] } {
  const missing: string[] = [];
  let d = path.resolve(dir);
  while (!statOrNull(d)) {
    const parent = path.dirname(d);
    if (parent === d) break;
    missing.unshift(d);
    d = parent;
  }
  if (!statOrNull(d)!.isDirectory()) throw fsError('ENOTDIR', `${d} is a file, not a directory`, d);
  return { existing: d, missing };
}

/**
 * `mkdir -p` that fails fast with the real error. Node's recursive mkdirSync retries forever
 * where mkdir(2) answers ENOENT although the parent exists (e.g. anywhere under /proc), blocking
 * the event loop (and so SIGTERM handlers); here each level is created once.
 */
export function makeDirs(dir: string): void {
  for (const d of nearestExisting(dir).missing) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !statOrNull(d)?.isDirectory()) throw e; // EEXIST: made meanwhile
    }
  }
}

/**
 * Why `file` cannot be written by writeFileAtomic, or null when it can: checked before long
 * work, so a typo fails in a second. Probes the nearest existing directory by creating (and
 * removing) an empty directory in it: permission bits do not tell for root, read-only mounts or /proc.
 */
export function unwritableReason(file: string): string | null {
  const target = path.resolve(file);
  if (statOrNull(target)?.isDirectory()) return 'it is a directory';
  let existing: string;
  try {
    existing = nearestExisting(path.dirname(target)).existing;
  } catch (e) {
    return (e as Error).message.replace(/^ENOTDIR: /, '');
  }
  try {
    fs.rmdirSync(fs.mkdtempSync(path.join(existing, '.tailor-probe-')));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return `nothing can be created in ${existing} (${err.code ?? err.message})`;
  }
  return null;
}

/**
 * Write via a temp file in the same directory, flushed to disk, then renamed: readers never see
 * a half-written file, and a crash or a full disk leaves the previous version in place.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(file);
  makeDirs(dir);
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  const dirFd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dirFd); // make the rename itself durable
  } finally {
    fs.closeSync(dirFd);
  }
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}
