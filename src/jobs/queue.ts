import type { JobRecord, JobStatus } from './job-store';
import type { JobEvent } from './job.service';

type MaybePromise<T> = T | Promise<T>;

/**
 * What the HTTP layer needs of a job queue: the embedded one (SQLite + in-process scheduling,
 * synchronous) or the shared one (Redis through BullMQ, asynchronous). Records have one shape.
 */
export interface JobQueue {
  start(): MaybePromise<void>;
  submit(type: string, params: unknown): MaybePromise<JobRecord>;
  get(id: string): MaybePromise<JobRecord>;
  list(filter?: { status?: JobStatus; device?: string; limit?: number }): MaybePromise<JobRecord[]>;
  cancel(id: string): MaybePromise<JobRecord>;
  /** Live updates of one job; returns the unsubscribe function. */
  subscribe(id: string, listener: (e: JobEvent) => void): () => void;
  /** Running jobs are interrupted (they resume at the next start, or on another server). */
  shutdown(): Promise<void>;
  /** After shutdown: releases connections (the embedded store is closed by its owner). */
  close?(): MaybePromise<void>;
}

export const JOB_QUEUE = Symbol('JOB_QUEUE');
