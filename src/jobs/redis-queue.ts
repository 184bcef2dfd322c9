import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ConnectionOptions, Job, Queue, QueueEvents, QueueEventsProducer, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { TailorError, isTailorError } from '../core/errors';
import { FINISHED, JobRecord, JobStatus, JobType, STOPPED, progressOf } from './job-store';
import { JobContext, JobEvent, JobRunner, PROGRESS_WRITE_INTERVAL_MS, prepareJob } from './job.service';
import type { JobQueue } from './queue';
import { QueueUrl, redisClient } from './redis';

export interface RedisQueueOptions {
  /** Prefix of every key (BullMQ's too): servers sharing jobs share it. */
  prefix?: string;
  /** BullMQ's job lock: a server silent this long is taken for dead and its job goes to another server. */
  lockMs?: number;
  log?: { log(m: string): void; warn(m: string): void };
}

const FIELDS = ['id', 'type', 'device', 'params', 'status', 'progress', 'message', 'etaSeconds', 'result', 'error', 'attempts', 'createdAt', 'startedAt', 'finishedAt', 'updatedAt'] as const;
/** A job whose server dies this many times in a row fails instead of killing the next one. */
const MAX_STALLS = 5;
const EVENTS_KEPT = 10_000;

// Records are hashes of JSON-encoded fields (the embedded JSON shape), so scripts can test a status atomically.
const encode = (patch: Partial<JobRecord>) => Object.entries(patch).flatMap(([k, v]) => [k, JSON.stringify(v ?? null)]);
const decode = (h: Record<string, string>): JobRecord | null =>
  h.id ? (Object.fromEntries(FIELDS.map((f) => [f, JSON.parse(h[f] ?? 'null')])) as JobRecord) : null;
const now = () => new Date().toISOString();

/** Takes a lock key unless a job that is still queued or running holds it; returns that holder. */
const LOCK = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  local s = redis.call('HGET', ARGV[2] .. holder, 'status')
  if s == '"queued"' or s == '"running"' then return holder end
end
redis.call('SET', KEYS[1], ARGV[1])
return false`;
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 1`;
/** A worker took the job: it runs unless it ended or was cancelled meanwhile (a resumed job counts one more attempt). */
const CLAIM = `
local s = redis.call('HGET', KEYS[1], 'status')
if not s then return 'missing' end
if s ~= '"queued"' and s ~= '"running"' then return 'ended' end
if redis.call('HEXISTS', KEYS[1], 'cancelRequested') == 1 then
  redis.call('HSET', KEYS[1], 'status', '"cancelled"', 'message', '"cancelled"', 'finishedAt', ARGV[1], 'updatedAt', ARGV[1])
  return 'cancelled'
end
redis.call('HSET', KEYS[1], 'status', '"running"', 'attempts', tostring(tonumber(redis.call('HGET', KEYS[1], 'attempts')) + 1), 'error', 'null', 'updatedAt', ARGV[1])
if redis.call('HGET', KEYS[1], 'startedAt') == 'null' then redis.call('HSET', KEYS[1], 'startedAt', ARGV[1]) end
return 'started'`;
/** Cancels a job that is not running; a running one is asked to stop (its server aborts it, or the next one to take it). */
const CANCEL = `
local s = redis.call('HGET', KEYS[1], 'status')
if not s then return 'missing' end
if s == '"queued"' then
  redis.call('HSET', KEYS[1], 'status', '"cancelled"', 'message', '"cancelled before it started"', 'finishedAt', ARGV[1], 'updatedAt', ARGV[1])
  return 'cancelled'
end
if s == '"running"' then redis.call('HSET', KEYS[1], 'cancelRequested', '1') return 'running' end
return 'ended'`;

/**
 * The job queue on Redis through BullMQ, shared by every server with the same TAILOR_QUEUE: one
 * BullMQ queue per device with a global concurrency of 1 (a device runs one job at a time across
 * servers), records in Redis hashes (the embedded JSON shape), events through BullMQ's event
 * stream (QueueEvents), lock keys in Redis. A server that dies leaves its job to BullMQ's
 * stalled-job check: another server takes it again once its lock expires, as a resumed attempt.
 */
export class RedisJobService implements JobQueue {
  private readonly prefix: string;
  private readonly lockMs: number;
  private bull!: typeof import('bullmq');
  private redis!: Redis;
  private producer!: QueueEventsProducer;
  private events!: QueueEvents;
  private readonly queues = new Map<string, Promise<Queue>>();
  private readonly workers = new Map<string, Worker>();
  private readonly local = new EventEmitter();
  private readonly running = new Map<string, AbortController>();
  private resync: NodeJS.Timeout | null = null;
  private stopping = false;

  constructor(
    private readonly url: QueueUrl,
    private readonly runners: Partial<Record<JobType, JobRunner>>,
    private readonly options: RedisQueueOptions = {},
  ) {
    this.prefix = options.prefix ?? 'tailor';
    this.lockMs = options.lockMs ?? 30_000;
    this.local.setMaxListeners(0);
  }

  private key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  private get bullOptions() {
    // BullMQ opens (and closes) connections of its own from these.
    return { connection: { ...this.url.options } as ConnectionOptions, prefix: this.prefix };
  }

  private warn(m: string): void {
    this.options.log?.warn(m);
  }

  /** Connects, then runs the jobs of every device any server has queued for (new devices join as they come). */
  async start(): Promise<void> {
    this.bull = require('bullmq') as typeof import('bullmq');
    this.redis = redisClient(this.url, (e) => this.warn(`job queue: ${e.message}`));
    this.producer = new this.bull.QueueEventsProducer('events', this.bullOptions);
    this.producer.on('error', (e) => this.warn(`job queue events: ${e.message}`));
    this.events = new this.bull.QueueEvents('events', this.bullOptions);
    this.events.on('error', (e) => this.warn(`job queue events: ${e.message}`));
    this.events.on('tailor' as never, ((args: Record<string, string>) => this.onEvent(args)) as never);
    await this.events.waitUntilReady();
    await this.syncWorkers();
    this.resync = setInterval(() => void this.syncWorkers().catch((e: Error) => this.warn(`job queue: ${e.message}`)), 10_000);
    this.resync.unref();
  }

  async submit(type: string, params: unknown): Promise<JobRecord> {
    if (this.stopping) throw new TailorError('SERVICE_STOPPING', {});
    const { runner, prepared, lock } = prepareJob(this.runners, type, params);
    const t = now();
    const job: JobRecord = {
      id: randomUUID(), type: type as JobType, device: prepared.device, params: prepared.params, status: 'queued', progress: 0, message: '',
      etaSeconds: null, result: null, error: null, attempts: 0, createdAt: t, startedAt: null, finishedAt: null, updatedAt: t,
    };
    const record = this.key('job', job.id);
    // The record exists (queued) before the lock is taken: another server checking the holder sees it queued.
    await this.redis.hset(record, ...encode(job));
    if (lock) {
      const lockKey = this.key('lock', this.runners[type as JobType]?.lockGroup ?? type, lock);
      const holder = (await this.redis.eval(LOCK, 1, lockKey, job.id, this.key('job', ''))) as string | null;
      if (holder) {
        await this.redis.del(record);
        throw runner.lockError?.(prepared.params, `job ${holder}`) ?? new TailorError('TABLE_LOCKED', { table: lock, holder: `job ${holder}` });
      }
      await this.redis.hset(record, 'lockKey', lockKey);
    }
    await this.redis.zadd(this.key('jobs'), await this.redis.incr(this.key('seq')), job.id);
    try {
      const queue = await this.queue(job.device);
      if (await this.redis.sadd(this.key('devices'), job.device)) await this.publish({ kind: 'device', device: job.device });
      this.worker(job.device);
      await queue.add('job', { type }, { jobId: job.id, removeOnComplete: true, removeOnFail: 1000 });
    } catch (e) {
      await this.finish(job.id, { status: 'failed', error: { code: 'INTERNAL', message: (e as Error).message }, message: (e as Error).message });
      throw e;
    }
    await this.publish({ kind: 'status', jobId: job.id, job: JSON.stringify(job) });
    return job;
  }

  async get(id: string): Promise<JobRecord> {
    const job = decode(await this.redis.hgetall(this.key('job', id)));
    if (!job) throw new TailorError('UNKNOWN_JOB', { job: id });
    return job;
  }

  async list(filter: { status?: JobStatus; device?: string; limit?: number } = {}): Promise<JobRecord[]> {
    const ids = await this.redis.zrevrange(this.key('jobs'), 0, -1);
    const limit = filter.limit ?? 100;
    const out: JobRecord[] = [];
    for (let i = 0; i < ids.length && out.length < limit; i += 200) {
      const pipe = this.redis.pipeline();
      for (const id of ids.slice(i, i + 200)) pipe.hgetall(this.key('job', id));
      for (const [, h] of (await pipe.exec()) ?? []) {
        const job = decode(h as Record<string, string>);
        if (job && (!filter.status || job.status === filter.status) && (!filter.device || job.device === filter.device)) out.push(job);
      }
    }
    return out.slice(0, limit);
  }

  async cancel(id: string): Promise<JobRecord> {
    const job = await this.get(id);
    if (FINISHED.includes(job.status)) throw new TailorError('JOB_FINISHED', { job: id, status: job.status });
    const outcome = await this.redis.eval(CANCEL, 1, this.key('job', id), JSON.stringify(now()));
    if (outcome === 'running') {
      // Whichever server runs it aborts it; if that server is gone, the next one to take the job cancels it.
      await this.publish({ kind: 'cancel', jobId: id });
      return this.get(id);
    }
    const after = await this.get(id);
    if (outcome !== 'cancelled') throw new TailorError('JOB_FINISHED', { job: id, status: after.status });
    await this.unlock(id);
    await (await this.queue(after.device)).remove(id).catch(() => 0); // taken meanwhile: its worker sees it cancelled
    await this.publish({ kind: 'status', jobId: id, job: JSON.stringify(after) });
    return after;
  }

  subscribe(id: string, listener: (e: JobEvent) => void): () => void {
    const handler = (e: JobEvent) => e.job.id === id && listener(e);
    this.local.on('job', handler);
    // Events are not stored for late or reconnecting listeners: the end of a job is also checked now and then.
    const check = setInterval(() => {
      this.get(id).then((job) => STOPPED.includes(job.status) && listener({ type: 'status', job }), () => undefined);
    }, 2_000);
    check.unref();
    return () => {
      clearInterval(check);
      this.local.off('job', handler);
    };
  }

  /** Running jobs are handed back to the queue (queued again): another server, or this one at its next start, resumes them. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.resync) clearInterval(this.resync);
    const closing = [...this.workers.values()].map((w) => w.close());
    for (const abort of this.running.values()) abort.abort('shutdown');
    await Promise.all(closing);
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map(async (q) => (await q.catch(() => null))?.close()));
    await Promise.all([this.events?.close(), this.producer?.close()]);
    await this.redis?.quit().catch(() => undefined);
  }

  // ---- internals ----

  private queue(device: string): Promise<Queue> {
    let q = this.queues.get(device);
    if (!q) {
      const queue = new this.bull.Queue(`device-${device}`, this.bullOptions);
      queue.on('error', (e) => this.warn(`job queue of "${device}": ${e.message}`));
      q = queue.setGlobalConcurrency(1).then(() => queue); // one job per device across all servers
      q.catch(() => this.queues.delete(device));
      this.queues.set(device, q);
    }
    return q;
  }

  private worker(device: string): void {
    if (this.stopping || this.workers.has(device)) return;
    const w = new this.bull.Worker(`device-${device}`, (job, token) => this.process(job, token), {
      ...this.bullOptions, concurrency: 1, lockDuration: this.lockMs, stalledInterval: this.lockMs, maxStalledCount: MAX_STALLS,
    });
    w.on('error', (e) => this.warn(`job worker of "${device}": ${e.message}`));
    // Only infrastructure failures reach BullMQ (a runner's error is a failed record): the record says so too.
    w.on('failed', (job, e) => {
      if (job?.id && e.name !== 'WaitingError') void this.failIfOpen(job.id, e).catch((x: Error) => this.warn(`job ${job.id}: ${x.message}`));
    });
    this.workers.set(device, w);
  }

  private async syncWorkers(): Promise<void> {
    for (const device of await this.redis.smembers(this.key('devices'))) this.worker(device);
  }

  private async failIfOpen(id: string, e: Error): Promise<void> {
    const job = await this.get(id).catch(() => null);
    if (!job || FINISHED.includes(job.status)) return;
    await this.finish(id, { status: 'failed', error: { code: 'INTERNAL', message: e.message }, message: e.message });
  }

  private onEvent(args: Record<string, string>): void {
    if (args.kind === 'progress' || args.kind === 'status') this.local.emit('job', { type: args.kind, job: JSON.parse(args.job) });
    else if (args.kind === 'cancel') this.running.get(args.jobId)?.abort('cancel');
    else if (args.kind === 'device') this.worker(args.device);
  }

  private async publish(fields: Record<string, string>): Promise<void> {
    await this.producer.publishEvent({ eventName: 'tailor', ...fields }, EVENTS_KEPT);
  }

  private async write(id: string, patch: Partial<JobRecord>): Promise<JobRecord> {
    const record = this.key('job', id);
    const [, [, h]] = (await this.redis.multi().hset(record, ...encode({ ...patch, updatedAt: now() })).hgetall(record).exec())! as [unknown, [unknown, Record<string, string>]];
    return decode(h)!;
  }

  private async unlock(id: string): Promise<void> {
    const lockKey = await this.redis.hget(this.key('job', id), 'lockKey');
    if (lockKey) await this.redis.eval(UNLOCK, 1, lockKey, id);
  }

  private async finish(id: string, patch: Partial<JobRecord>): Promise<void> {
    const terminal = patch.status !== undefined && FINISHED.includes(patch.status);
    const job = await this.write(id, { ...patch, ...(terminal ? { finishedAt: now() } : {}) });
    if (terminal) await this.unlock(id);
    await this.publish({ kind: 'status', jobId: id, job: JSON.stringify(job) });
  }

  /** Back to the front of its device's queue, untouched (BullMQ: moveToWait, then WaitingError). */
  private async handBack(bjob: Job, token: string | undefined): Promise<never> {
    await bjob.moveToWait(token);
    throw new this.bull.WaitingError();
  }

  private async process(bjob: Job, token: string | undefined): Promise<void> {
    const id = bjob.id!;
    if (this.stopping) return this.handBack(bjob, token);
    const claimed = await this.redis.eval(CLAIM, 1, this.key('job', id), JSON.stringify(now()));
    if (claimed === 'cancelled') {
      await this.unlock(id);
      await this.publish({ kind: 'status', jobId: id, job: JSON.stringify(await this.get(id)) });
    }
    if (claimed !== 'started') return;
    let job = await this.get(id);
    await this.publish({ kind: 'status', jobId: id, job: JSON.stringify(job) });
    const abort = new AbortController();
    this.running.set(id, abort);
    // A cancel published before this server listened for it: the record still tells.
    if (await this.redis.hexists(this.key('job', id), 'cancelRequested')) abort.abort('cancel');
    const startedAt = Date.now();
    let lastWrite = 0;
    const ctx: JobContext = {
      signal: abort.signal,
      attempt: job.attempts,
      progress: (done, total, message) => {
        const { progress, etaSeconds } = progressOf(done, total, startedAt);
        job = { ...job, progress, message, etaSeconds, updatedAt: now() };
        const slow = (e: Error) => this.warn(`job ${id}: progress not recorded: ${e.message}`);
        // Redis gets at most a few writes per second; listeners (on every server) get every update.
        if (Date.now() - lastWrite >= PROGRESS_WRITE_INTERVAL_MS || progress >= 1) {
          lastWrite = Date.now();
          this.write(id, { progress, message, etaSeconds }).catch(slow);
        }
        this.publish({ kind: 'progress', jobId: id, job: JSON.stringify(job) }).catch(slow);
      },
    };
    try {
      const runner = this.runners[job.type];
      if (!runner) throw new TailorError('INVALID_OPTION', { option: 'type', reason: `this service cannot run "${job.type}" jobs` });
      const result = await runner.run(job.params, ctx);
      await this.finish(id, { status: 'succeeded', result, progress: 1, message: 'done', etaSeconds: 0 });
    } catch (e) {
      if (abort.signal.aborted && abort.signal.reason === 'shutdown') {
        // Queued again, not interrupted: followers keep following it to whichever server resumes it.
        await this.finish(id, { status: 'queued', message: 'handed back by a stopping server; resumes on the next server to take it' });
        return this.handBack(bjob, token);
      }
      if (abort.signal.aborted) return this.finish(id, { status: 'cancelled', message: 'cancelled' });
      const error = isTailorError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: (e as Error).message };
      await this.finish(id, { status: 'failed', error, message: error.message });
    } finally {
      this.running.delete(id);
    }
  }
}
