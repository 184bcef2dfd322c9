import * as fs from 'node:fs';
import * as path from 'node:path';
import { TailorError } from './errors';

/** What a failed write names in its error: the kind of file, and what to do after freeing space. */
export interface WriteLabel {
  what?: string;
  hint?: string;
}

/**
 * How the temp file's bytes are written: the one seam through which tests make a write fail the
 * way a full disk does (a partial write, then ENOSPC).
 */
export const tempFileWriter = {
  write: (fd: number, data: string | Uint8Array, _file: string): void => fs.writeFileSync(fd, data),
};

const OUT_OF_SPACE: Record<string, string> = { ENOSPC: 'no space left on the device', EDQUOT: 'disk quota exceeded' };

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let i = -1;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Free space for unprivileged writers on the file system holding `file` (its nearest existing folder). */
function freeSpace(file: string): string {
  let dir = path.dirname(file);
  while (!fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  try {
    const s = fs.statfsSync(dir);
    return formatBytes(s.bavail * s.bsize);
  } catch {
    return 'unknown';
  }
}

/**
 * DISK_FULL for an out-of-space error (ENOSPC, EDQUOT) while writing `file`; any other error is
 * returned as it was. Call it after removing partial output, so the free space reported is real.
 */
export function diskFullError(e: unknown, file: string, bytes: number, label: WriteLabel = {}): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (!code || !(code in OUT_OF_SPACE)) return e;
  return new TailorError('DISK_FULL', {
    what: label.what, file, reason: `${code}: ${OUT_OF_SPACE[code]}`, free: freeSpace(file), size: formatBytes(bytes), hint: label.hint,
  });
}

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
 * a half-written file, and a crash or a full disk leaves the previous version in place. Out of
 * space, the temp file is removed and the error is DISK_FULL (naming the file and the free space).
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, label: WriteLabel = {}): void {
  const writer = new AtomicFileWriter(file, label);
  writer.append(typeof data === 'string' ? Buffer.from(data) : data);
  writer.commit();
}

export function writeJsonAtomic(file: string, value: unknown, label: WriteLabel = {}): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', label);
}

/**
 * writeFileAtomic for a file written in pieces, too large to hold in memory at once: `append`
 * writes to a temp file beside `file`, `commit` flushes it and renames it into place, `abort`
 * removes it. Out of space, the temp file is removed and the error is DISK_FULL. A process killed
 * meanwhile leaves the temp file (`file.<pid>.<time>.tmp`); staleTempFiles finds it.
 */
export class AtomicFileWriter {
  private readonly tmp: string;
  private fd: number | null = null;
  /** Committed or aborted: nothing more to write. */
  private finished = false;
  /** Bytes appended so far. */
  written = 0;

  constructor(readonly file: string, private readonly label: WriteLabel = {}) {
    this.tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    try {
      makeDirs(path.dirname(file));
      this.fd = fs.openSync(this.tmp, 'w');
    } catch (e) {
      throw this.failed(e, 0);
    }
  }

  append(data: Uint8Array): void {
    try {
      tempFileWriter.write(this.openFd(), data, this.file);
    } catch (e) {
      throw this.failed(e, this.written + data.byteLength);
    }
    this.written += data.byteLength;
  }

  commit(): void {
    try {
      const fd = this.openFd();
      fs.fsyncSync(fd);
      this.fd = null;
      fs.closeSync(fd);
      fs.renameSync(this.tmp, this.file);
    } catch (e) {
      throw this.failed(e, this.written);
    }
    this.finished = true;
    const dirFd = fs.openSync(path.dirname(this.file), 'r');
    try {
      fs.fsyncSync(dirFd); // make the rename itself durable
    } finally {
      fs.closeSync(dirFd);
    }
  }

  /** Removes the temp file (`file` itself is untouched); a no-op once committed or aborted. */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // the temp file goes either way
      }
      this.fd = null;
    }
    try {
      fs.rmSync(this.tmp, { force: true });
    } catch {
      // nothing to remove where the directory itself could not be made: the first error says why
    }
  }

  private openFd(): number {
    if (this.finished || this.fd === null) throw new Error(`${this.file} is already committed or aborted`);
    return this.fd;
  }

  private failed(e: unknown, bytes: number): unknown {
    this.abort();
    return diskFullError(e, this.file, bytes, this.label);
  }
}

/** Temp files of atomic writes of `file` whose writing process is gone (killed mid-write). */
export function staleTempFiles(file: string): string[] {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const pid = name.startsWith(prefix) && name.endsWith('.tmp') ? Number(name.slice(prefix.length).split('.')[0]) : NaN;
    return Number.isInteger(pid) && pid !== process.pid && !processAlive(pid) ? [path.join(dir, name)] : [];
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}
