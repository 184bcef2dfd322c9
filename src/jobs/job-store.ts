import * as fs from 'node:fs';
import * as path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { TailorError } from '../core/errors';

export type JobType = 'profile' | 'validate' | 'train' | 'acc-predictor' | 'search';
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';
export const FINISHED: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];
/** Statuses after which a job does nothing more in this process (interrupted jobs resume at the next start). */
export const STOPPED: readonly JobStatus[] = [...FINISHED, 'interrupted'];

export interface JobError {
  code: string;
  message: string;
}

export interface JobRecord {
  id: string;
  type: JobType;
  device: string;
  params: Record<string, unknown>;
  status: JobStatus;
  /** 0..1 */
  progress: number;
  message: string;
  etaSeconds: number | null;
  result: unknown;
  error: JobError | null;
  attempts: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

interface Row {
  id: string;
  type: JobType;
  device: string;
  params: string;
  status: JobStatus;
  progress: number;
  message: string;
  eta_seconds: number | null;
  result: string | null;
  error: string | null;
  attempts: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  device TEXT NOT NULL,
  params TEXT NOT NULL,
  status TEXT NOT NULL,
  progress REAL NOT NULL DEFAULT 0,
  message TEXT NOT NULL DEFAULT '',
  eta_seconds REAL,
  result TEXT,
  error TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, device, seq);
`;

function toRecord(r: Row): JobRecord {
  return {
    id: r.id, type: r.type, device: r.device, params: JSON.parse(r.params), status: r.status, progress: r.progress,
    message: r.message, etaSeconds: r.eta_seconds, result: r.result === null ? null : JSON.parse(r.result),
    error: r.error === null ? null : JSON.parse(r.error), attempts: r.attempts, createdAt: r.created_at,
    startedAt: r.started_at, finishedAt: r.finished_at, updatedAt: r.updated_at,
  };
}

/** Jobs in an embedded SQLite database (WAL: a crash never leaves a half-written record). */
export class JobStore {
  private readonly db: BetterSqlite3.Database;

  constructor(dataDir: string) {
    fs.mkdirSync(dataDir, { recursive: true });
    const Database = require('better-sqlite3') as typeof BetterSqlite3;
    this.db = new Database(path.join(dataDir, 'tailor.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
  }

  private release: (() => Promise<void>) | null = null;

  /**
   * Opens the store for a service: one service per data directory (two would both resume and
   * run the same jobs), enforced with a lock file that goes stale if the holder dies.
   */
  static async open(dataDir: string): Promise<JobStore> {
    fs.mkdirSync(dataDir, { recursive: true });
    const lockfile = await import('proper-lockfile');
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(dataDir, { realpath: false, lockfilePath: path.join(dataDir, 'service.lock'), stale: 10_000, update: 2_000, retries: { retries: 8, minTimeout: 500, maxTimeout: 2_000 }, onCompromised: () => undefined });
    } catch (e) {
      if ((e as { code?: string }).code === 'ELOCKED') throw new TailorError('DATA_DIR_IN_USE', { dir: dataDir });
      throw e;
    }
    const store = new JobStore(dataDir);
    store.release = release;
    return store;
  }

  close(): void {
    this.db.close();
    void this.release?.().catch(() => undefined);
    this.release = null;
  }

  insert(job: Pick<JobRecord, 'id' | 'type' | 'device' | 'params'>): JobRecord {
    const now = new Date().toISOString();
    const seq = (this.db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM jobs').get() as { n: number }).n;
    this.db
      .prepare(`INSERT INTO jobs (id, seq, type, device, params, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)`)
      .run(job.id, seq, job.type, job.device, JSON.stringify(job.params), now, now);
    return this.get(job.id)!;
  }

  get(id: string): JobRecord | null {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined;
    return row ? toRecord(row) : null;
  }

  list(filter: { status?: JobStatus; device?: string; limit?: number } = {}): JobRecord[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.status) (where.push('status = ?'), args.push(filter.status));
    if (filter.device) (where.push('device = ?'), args.push(filter.device));
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, filter.limit ?? 100) as Row[]).map(toRecord);
  }

  /** Oldest queued job per device, for devices with nothing running. */
  runnable(): JobRecord[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM jobs j WHERE status = 'queued'
           AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.device = j.device AND r.status = 'running')
           AND seq = (SELECT MIN(seq) FROM jobs q WHERE q.device = j.device AND q.status = 'queued')
         ORDER BY seq`,
      )
      .all() as Row[];
    return rows.map(toRecord);
  }

  update(id: string, patch: Partial<Pick<JobRecord, 'status' | 'progress' | 'message' | 'etaSeconds' | 'result' | 'error' | 'attempts' | 'startedAt' | 'finishedAt'>>): JobRecord {
    const columns: Record<string, unknown> = {};
    if (patch.status !== undefined) columns.status = patch.status;
    if (patch.progress !== undefined) columns.progress = patch.progress;
    if (patch.message !== undefined) columns.message = patch.message;
    if (patch.etaSeconds !== undefined) columns.eta_seconds = patch.etaSeconds;
    if (patch.result !== undefined) columns.result = JSON.stringify(patch.result);
    if (patch.error !== undefined) columns.error = patch.error === null ? null : JSON.stringify(patch.error);
    if (patch.attempts !== undefined) columns.attempts = patch.attempts;
    if (patch.startedAt !== undefined) columns.started_at = patch.startedAt;
    if (patch.finishedAt !== undefined) columns.finished_at = patch.finishedAt;
    columns.updated_at = new Date().toISOString();
    const names = Object.keys(columns);
    this.db.prepare(`UPDATE jobs SET ${names.map((n) => `${n} = @${n}`).join(', ')} WHERE id = @id`).run({ ...columns, id });
    return this.get(id)!;
  }

  /** After a crash or shutdown: whatever was running is interrupted. */
  markRunningInterrupted(message: string): number {
    return this.db
      .prepare(`UPDATE jobs SET status = 'interrupted', message = ?, updated_at = ? WHERE status = 'running'`)
      .run(message, new Date().toISOString()).changes;
  }
}

/** A job's progress as a fraction and its ETA from the time spent so far (null before any progress). */
export function progressOf(done: number, total: number, startedAt: number): { progress: number; etaSeconds: number | null } {
  const progress = total > 0 ? Math.min(1, done / total) : 0;
  const elapsed = (Date.now() - startedAt) / 1000;
  return { progress, etaSeconds: progress > 0 ? Math.round((elapsed * (1 - progress)) / progress) : null };
}
