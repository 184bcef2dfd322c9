import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../core/fs-atomic';

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
export const SHA256_RE = /^[0-9a-f]{64}$/;

/**
 * Models by content (sha256), as files in one directory: the service's store (shared with its job
 * workers, which put models there themselves) and the agent's cache. With reference counts, a
 * model nothing uses is deleted after a grace period (a worker may be about to load it again).
 */
export class ModelStore {
  private readonly refs = new Map<string, number>();
  private readonly deletions = new Map<string, NodeJS.Timeout>();

  constructor(
    readonly dir: string,
    private readonly graceMs = 60_000,
  ) {}

  file(sha: string): string {
    if (!SHA256_RE.test(sha)) throw new Error(`not a sha256: ${sha}`);
    return path.join(this.dir, `${sha}.bin`);
  }

  has(sha: string): boolean {
    return fs.existsSync(this.file(sha));
  }

  /** Stores the bytes under their hash (once: same content, same file); written whole or not at all (writeFileAtomic). */
  put(bytes: Uint8Array, expected?: string): string {
    const sha = sha256(bytes);
    if (expected !== undefined && sha !== expected) throw new Error(`content does not match its sha256 (expected ${expected.slice(0, 12)}, got ${sha.slice(0, 12)})`);
    const file = this.file(sha);
    // Out of space: DISK_FULL, and neither the model nor a temp file left behind.
    if (!fs.existsSync(file)) writeFileAtomic(file, bytes, { what: 'the model' });
    return sha;
  }

  read(sha: string): Buffer {
    return fs.readFileSync(this.file(sha));
  }

  acquire(sha: string): void {
    clearTimeout(this.deletions.get(sha));
    this.deletions.delete(sha);
    this.refs.set(sha, (this.refs.get(sha) ?? 0) + 1);
  }

  release(sha: string): void {
    const n = (this.refs.get(sha) ?? 1) - 1;
    if (n > 0) return void this.refs.set(sha, n);
    this.refs.delete(sha);
    const timer = setTimeout(() => {
      this.deletions.delete(sha);
      if (!this.refs.has(sha)) fs.rmSync(this.file(sha), { force: true });
    }, this.graceMs);
    timer.unref();
    this.deletions.set(sha, timer);
  }

  /** Removes every stored model (a service starting: no session survives a restart). */
  clear(): void {
    for (const t of this.deletions.values()) clearTimeout(t);
    this.deletions.clear();
    this.refs.clear();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
