import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { TailorError, isTailorError } from '../core/errors';
import { FINISHED, JobRecord, JobStatus, JobStore, JobType, progressOf } from './job-store';
import type { JobQueue } from './queue';

export interface JobContext {
  signal: AbortSignal;
  /** 1 on the first run, 2 after the first resume, ... */
  attempt: number;
  progress(done: number, total: number, message: string): void;
}

/** One kind of long work: checks its parameters before queueing, then runs. */
export interface JobRunner {
  /** Throws a TailorError on bad parameters; returns the normalized parameters and the device the job occupies. */
  prepare(params: Record<string, unknown>): { device: string; params: Record<string, unknown> };
  /** Jobs with the same lock key (e.g. the table they write) may not be queued or run together. */
  lock?(params: Record<string, unknown>): string;
  /** Job types in the same lock group compare their lock keys (default: only jobs of the same type). */
  lockGroup?: string;
  /** The error for a job refused because `holder` holds its lock (default: the latency table is locked). */
  lockError?(params: Record<string, unknown>, holder: string): TailorError;
  run(params: Record<string, unknown>, ctx: JobContext): Promise<unknown>;
}

export type JobEvent = { type: 'progress' | 'status'; job: JobRecord };

export const PROGRESS_WRITE_INTERVAL_MS = 250;

/** Checks a submission (type, params) the same way for every queue: the runner, its normalized params and lock key. */
export function prepareJob(runners: Partial<Record<JobType, JobRunner>>, type: string, params: unknown) {
  const runner = runners[type as JobType];
  if (!runner) throw new TailorError('INVALID_OPTION', { option: 'type', reason: `"${type}" is not a job type (${Object.keys(runners).join(', ')})` });
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new TailorError('INVALID_OPTION', { option: 'params', reason: 'must be an object' });
  }
  const prepared = runner.prepare(params as Record<string, unknown>);
  return { runner, prepared, lock: runner.lock?.(prepared.params) };
}

/**
 * Queues, runs, cancels and persists jobs. Jobs on the same device run one at a time (latency
 * measurements must not overlap); jobs on different devices run concurrently.
 */
export class JobService implements JobQueue {
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly events = new EventEmitter();
  private stopping = false;

  constructor(
    private readonly store: JobStore,
    private readonly runners: Partial<Record<JobType, JobRunner>>,
  ) {
    this.events.setMaxListeners(0);
  }

  /** Jobs a previous process left running or interrupted are queued again: they resume. */
  start(): void {
    this.store.markRunningInterrupted('interrupted: the service stopped while the job ran');
    for (const job of this.store.list({ status: 'interrupted', limit: 10_000 })) {
      this.store.update(job.id, { status: 'queued', message: 'resuming after restart' });
    }
    this.schedule();
  }

  submit(type: string, params: unknown): JobRecord {
    if (this.stopping) throw new TailorError('SERVICE_STOPPING', {});
    const { runner, prepared, lock } = prepareJob(this.runners, type, params);
    if (lock) {
      const busy = [...this.store.list({ status: 'queued', limit: 10_000 }), ...this.store.list({ status: 'running', limit: 10_000 })]
        .find((j) => this.lockGroup(j.type) === this.lockGroup(type) && this.runners[j.type]?.lock?.(j.params) === lock);
      if (busy) throw runner.lockError?.(prepared.params, `job ${busy.id}`) ?? new TailorError('TABLE_LOCKED', { table: lock, holder: `job ${busy.id}` });
    }
    const job = this.store.insert({ id: randomUUID(), type: type as JobType, device: prepared.device, params: prepared.params });
    this.emit('status', job);
    this.schedule();
    return job;
  }

  private lockGroup(type: string): string {
    return this.runners[type as JobType]?.lockGroup ?? type;
  }

  get(id: string): JobRecord {
    const job = this.store.get(id);
    if (!job) throw new TailorError('UNKNOWN_JOB', { job: id });
    return job;
  }

  list(filter: { status?: JobStatus; device?: string; limit?: number } = {}): JobRecord[] {
    return this.store.list(filter);
  }

  cancel(id: string): JobRecord {
    const job = this.get(id);
    if (FINISHED.includes(job.status)) throw new TailorError('JOB_FINISHED', { job: id, status: job.status });
    const active = this.running.get(id);
    if (active) {
      active.abort.abort('cancel');
      return this.store.get(id)!;
    }
    const cancelled = this.store.update(id, { status: 'cancelled', message: 'cancelled before it started', finishedAt: new Date().toISOString() });
    this.emit('status', cancelled);
    return cancelled;
  }

  /** Live updates of one job; returns the unsubscribe function. */
  subscribe(id: string, listener: (e: JobEvent) => void): () => void {
    const handler = (e: JobEvent) => e.job.id === id && listener(e);
    this.events.on('job', handler);
    return () => this.events.off('job', handler);
  }

  /** Graceful stop: running jobs are aborted and marked interrupted (they resume at the next start). */
  async shutdown(): Promise<void> {
    this.stopping = true;
    const active = [...this.running.values()];
    for (const a of active) a.abort.abort('shutdown');
    await Promise.all(active.map((a) => a.done));
  }

  private emit(type: JobEvent['type'], job: JobRecord): void {
    this.events.emit('job', { type, job });
  }

  private schedule(): void {
    if (this.stopping) return;
    for (const job of this.store.runnable()) {
      if (!this.running.has(job.id)) this.launch(job);
    }
  }

  private launch(job: JobRecord): void {
    const abort = new AbortController();
    const startedAt = Date.now();
    let lastWrite = 0;
    const record = this.store.update(job.id, { status: 'running', startedAt: job.startedAt ?? new Date().toISOString(), attempts: job.attempts + 1, error: null });
    this.emit('status', record);
    const ctx: JobContext = {
      signal: abort.signal,
      attempt: record.attempts,
      progress: (done, total, message) => {
        const { progress, etaSeconds } = progressOf(done, total, startedAt);
        const now = Date.now();
        // The database gets at most a few writes per second; listeners get every update.
        const updated = now - lastWrite >= PROGRESS_WRITE_INTERVAL_MS || progress >= 1
          ? (lastWrite = now, this.store.update(job.id, { progress, message, etaSeconds }))
          : { ...this.store.get(job.id)!, progress, message, etaSeconds };
        this.emit('progress', updated);
      },
    };
    const runner = this.runners[job.type];
    const done = (runner ? runner.run(job.params, ctx) : Promise.reject(new TailorError('INVALID_OPTION', { option: 'type', reason: `this service cannot run "${job.type}" jobs` })))
      .then(
        (result) => this.finish(job.id, { status: 'succeeded', result, progress: 1, message: 'done', etaSeconds: 0 }),
        (e) => {
          if (abort.signal.aborted) {
            const reason = abort.signal.reason;
            return this.finish(job.id, reason === 'shutdown'
              ? { status: 'interrupted', message: 'interrupted by shutdown; resumes at the next start' }
              : { status: 'cancelled', message: 'cancelled' });
          }
          const error = isTailorError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: (e as Error).message };
          return this.finish(job.id, { status: 'failed', error, message: error.message });
        },
      )
      .finally(() => {
        this.running.delete(job.id);
        this.schedule();
      });
    this.running.set(job.id, { abort, done });
  }

  private finish(id: string, patch: Parameters<JobStore['update']>[1]): void {
    const terminal = patch.status && FINISHED.includes(patch.status);
    const job = this.store.update(id, { ...patch, ...(terminal ? { finishedAt: new Date().toISOString() } : {}) });
    this.emit('status', job);
  }
}
