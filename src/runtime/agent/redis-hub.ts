import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { TailorError } from '../../core/errors';
import { QueueUrl, redisClient } from '../../jobs/redis';
import { describeChanges } from '../fingerprint';
import { AgentHubOptions, AgentView, ServiceHub, noteReportChanges } from './hub';
import { ModelStore } from './models';
import { AgentReport, MAX_POLL_SECONDS, ResultBody, Work, WorkRequest, WorkResult, boardChanges, describeWork, resultProblem } from './protocol';

/** A shared model lives this long after its last load (a server that died never released it). */
const MODEL_TTL_MS = 3_600_000;
/** ...and this long after its last session ended (a job may load it again). */
const MODEL_GRACE_MS = 60_000;
/** Ended work ids are remembered this long for duplicate detection (s). */
const DONE_TTL_S = 3_600;
/** Waiting polls look at the queue at least this often (a lost wake-up message costs no more). */
const RECHECK_MS = 1_000;
const SHUTDOWN_GRACE_MS = 200;

/** Leases the oldest queued item whose record still exists. */
const LEASE = `
while true do
  local popped = redis.call('ZPOPMIN', KEYS[1])
  if #popped == 0 then return false end
  local w = ARGV[1] .. popped[1]
  if redis.call('EXISTS', w) == 1 then
    redis.call('HSET', w, 'lease', ARGV[4], 'leasedTo', ARGV[2], 'leasedAt', ARGV[3])
    redis.call('SADD', KEYS[2], popped[1])
    return {popped[1], redis.call('HGET', w, 'request')}
  end
end`;
/** Ends an item once (under its lease, when given) and sends the answer to the server waiting for it. */
const END = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'lease') ~= ARGV[3] then return -1 end
local origin = redis.call('HGET', KEYS[1], 'origin')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SET', KEYS[4], ARGV[2], 'EX', ARGV[6])
if ARGV[4] ~= '' then
  redis.call('RPUSH', ARGV[5] .. origin, ARGV[4])
  redis.call('EXPIRE', ARGV[5] .. origin, ARGV[6])
end
return 1`;
/** Back to the queue at its submission time, if it still has the lease the caller saw. */
const REQUEUE = `
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], 'lease', 'leasedTo', 'leasedAt')
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[1], 'submittedAt'), ARGV[1])
return 1`;
const MODEL_USE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;
const MODEL_RELEASE = `
if redis.call('DECR', KEYS[2]) <= 0 then
  redis.call('DEL', KEYS[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 1`;

interface LocalAgent {
  session: string;
  /** What it reported at registration: work of sessions opened on another report is not leased to it. */
  report: AgentReport;
  lost: boolean;
  /** Another agent registered as this device since (maybe on another server): this one is told so. */
  replaced?: boolean;
  lastSeen: number;
  /** Polls waiting for work: woken when work is queued for the device. */
  wakers: Set<() => void>;
}

interface Waiting {
  device: string;
  request: WorkRequest;
  resolve(r: WorkResult): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

interface Lease {
  id: string;
  lease: string;
  leasedTo: string;
  leasedAt: number;
  request: WorkRequest;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The agent hub of servers sharing TAILOR_QUEUE: work items, their queue per device, leases,
 * agents' reports and liveness live in Redis, so a job on any server measures on a board whose
 * agent is connected to any other. An agent's session (its polls) lives on the server it talks
 * to; results go back to the waiting server through its reply list (BLPOP). Models travel
 * through Redis too (by sha256, reference-counted, with a TTL): no shared disk needed. Leases
 * of an agent that stops heartbeating (or whose server died) go back to the queue, from any server.
 */
export class RedisAgentHub implements ServiceHub {
  readonly models: ModelStore;
  /** This server, for replies. */
  private readonly id = randomUUID();
  private readonly prefix: string;
  private redis!: Redis;
  private sub!: Redis;
  private blocking!: Redis;
  private readonly local = new Map<string, LocalAgent>();
  private readonly waiting = new Map<string, Waiting>();
  private sweeper: NodeJS.Timeout | null = null;
  private stopping = false;
  private stopped = false;
  private closed = false;
  private stoppedAll: Promise<void> | null = null;
  private replies: Promise<void> | null = null;

  constructor(
    readonly options: AgentHubOptions,
    private readonly url: QueueUrl,
    prefix = 'tailor',
  ) {
    this.models = options.models;
    this.prefix = `${prefix}:agents`;
  }

  private k(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  private warn(m: string): void {
    this.options.log?.warn(m);
  }

  private get aliveMs(): number {
    return this.options.heartbeatMs * this.options.missedHeartbeats;
  }

  async start(): Promise<void> {
    const onError = (e: Error) => this.warn(`agent hub: ${e.message}`);
    this.redis = redisClient(this.url, onError);
    this.sub = redisClient(this.url, onError);
    this.blocking = redisClient(this.url, onError, { maxRetriesPerRequest: null });
    this.sub.on('message', (_channel: string, device: string) => this.wake(device));
    await this.sub.subscribe(this.k('wake'));
    this.replies = this.replyLoop();
    let sweeping = false; // one sweep at a time, however slow Redis answers
    this.sweeper = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      this.sweep().catch(onError).finally(() => (sweeping = false));
    }, Math.max(25, Math.floor(this.options.heartbeatMs / 2)));
    this.sweeper.unref();
  }

  stop(): void {
    this.stopping = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const a of this.local.values()) this.endPolls(a);
    this.stoppedAll = sleep(SHUTDOWN_GRACE_MS).then(async () => {
      this.stopped = true;
      for (const [id, w] of [...this.waiting]) {
        await this.end(id, w.device, 'failed').catch(() => undefined);
        this.forget(id)?.reject(new TailorError('SERVICE_STOPPING', {}));
      }
    });
  }

  async close(): Promise<void> {
    await this.stoppedAll;
    this.closed = true;
    this.blocking?.disconnect();
    await this.replies;
    await Promise.all([this.redis, this.sub].map((c) => c?.quit().catch(() => undefined)));
  }

  // ---- the side of measurements (AgentBackend) ----

  async waitForAgent(device: string): Promise<AgentReport> {
    const deadline = Date.now() + this.options.workTimeoutMs;
    for (;;) {
      if (this.stopped) throw new TailorError('SERVICE_STOPPING', {});
      const [alive, report] = await Promise.all([this.redis.get(this.k('alive', device)), this.redis.hget(this.k('agent', device), 'report')]);
      if (alive && report) return JSON.parse(report) as AgentReport;
      if (Date.now() >= deadline) throw new TailorError('AGENT_UNAVAILABLE', { device, seconds: Math.round(this.options.workTimeoutMs / 1000) });
      await sleep(Math.min(250, deadline - Date.now()));
    }
  }

  async run(device: string, request: WorkRequest): Promise<WorkResult> {
    const sha = request.session.model;
    if (this.stopped) {
      if (request.op === 'dispose') return {};
      throw new TailorError('SERVICE_STOPPING', {});
    }
    if (request.op === 'load') {
      if (!this.models.has(sha)) throw new Error(`model ${sha} is not in the agent model store`);
      this.models.acquire(sha);
      await this.shareModel(sha).catch((e: Error) => {
        this.models.release(sha);
        throw e;
      });
    }
    const id = randomUUID();
    const submittedAt = Date.now();
    // Waiting before the item is visible: its answer may come at once. Nothing waits for a dispose:
    // it only ends at its deadline if no agent takes it.
    const result = request.op === 'dispose'
      ? (setTimeout(() => void this.end(id, device, 'timed out').catch(() => undefined), this.options.workTimeoutMs).unref(), Promise.resolve({}))
      : new Promise<WorkResult>((resolve, reject) => {
        this.waiting.set(id, { device, request, resolve, reject, timer: setTimeout(() => void this.timeout(id), this.options.workTimeoutMs) });
      });
    try {
      await this.redis.multi()
        .hset(this.k('work', id), { device, request: JSON.stringify(request), submittedAt, origin: this.id })
        .zadd(this.k('queue', device), submittedAt, id)
        .publish(this.k('wake'), device)
        .exec();
    } catch (e) {
      this.forget(id)?.reject(e as Error);
    }
    if (request.op === 'dispose') {
      this.releaseModel(sha);
      return result;
    }
    if (request.op === 'finish') return result.finally(() => this.releaseModel(sha));
    if (request.op === 'load') return result.catch((e) => {
      this.releaseModel(sha);
      throw e;
    });
    return result;
  }

  async report(device: string): Promise<AgentReport | null> {
    const r = await this.redis.hget(this.k('agent', device), 'report');
    return r ? (JSON.parse(r) as AgentReport) : null;
  }

  // ---- the side of agents (HTTP routes of the server the agent talks to) ----

  authenticate(device: string, token: string | null): string | null {
    if (!token) return 'missing Authorization: Bearer <token>';
    if (!this.options.tokens.verify(device, token)) return `the token is not valid for device "${device}"`;
    return null;
  }

  async register(device: string, report: AgentReport) {
    if (this.stopping) throw new TailorError('SERVICE_STOPPING', {});
    this.options.checkDevice?.(device);
    const previous = this.local.get(device);
    if (previous) this.endPolls(previous);
    const before = await this.report(device);
    if (before) noteReportChanges(this.options, device, before, report);
    const now = Date.now();
    const session = randomUUID();
    const clockSkewMs = report.clock - now;
    await this.redis.multi()
      .del(this.k('agent', device))
      .hset(this.k('agent', device), { session, server: this.id, report: JSON.stringify(report), registeredAt: now, lastSeen: now, clockSkewMs })
      .set(this.k('alive', device), session, 'PX', this.aliveMs)
      .sadd(this.k('devices'), device)
      .exec();
    this.local.set(device, { session, report, lost: false, lastSeen: now, wakers: new Set() });
    this.options.log?.log(`agent "${device}" registered: ${report.machine.cpu}, ${report.machine.cores} cores, ${report.backends.map((b) => `${b.name} (${b.runtime})`).join(', ')}`);
    this.noteSkew(device, clockSkewMs);
    // The same board again (a restarted agent, maybe on another server): what its old process held is gone with it.
    const requeued = await this.requeueWhere(device, (l) => l.leasedTo !== session);
    if (requeued) this.warn(`agent "${device}" re-registered: ${requeued} work item(s) it held are queued again`);
    await this.redis.publish(this.k('wake'), device);
    return { session, heartbeatMs: this.options.heartbeatMs, missedHeartbeats: this.options.missedHeartbeats, pollSeconds: 25 };
  }

  async heartbeat(device: string, session: string, clock: number, working: string | null): Promise<{ leased: number }> {
    const a = await this.agentOf(device, session);
    await this.touch(device, a);
    const clockSkewMs = clock - Date.now();
    await this.redis.hset(this.k('agent', device), 'clockSkewMs', clockSkewMs);
    this.noteSkew(device, clockSkewMs);
    const stale = Date.now() - 2 * this.options.heartbeatMs;
    const requeued = await this.requeueWhere(device, (l) => l.leasedTo === session && l.id !== working && l.leasedAt < stale);
    if (requeued) this.warn(`agent "${device}" does not hold ${requeued} work item(s) leased to it: queued again`);
    return { leased: (await this.leases(device)).filter((l) => l.leasedTo === session).length };
  }

  async poll(device: string, session: string, waitSeconds: number, signal?: AbortSignal): Promise<Work | null> {
    const a = await this.agentOf(device, session);
    await this.touch(device, a);
    const deadline = Date.now() + Math.min(waitSeconds, MAX_POLL_SECONDS) * 1000;
    for (;;) {
      if (a.replaced || this.local.get(device) !== a || this.stopping) return null;
      const work = await this.lease(device, a);
      if (work && signal?.aborted) {
        // Its connection dropped meanwhile: the agent would never see it.
        if (work.op !== 'dispose') await this.requeue(device, { id: work.id, lease: work.lease });
        return null;
      }
      if (work) return work;
      if (waitSeconds <= 0 || signal?.aborted || Date.now() >= deadline) return null;
      await this.nap(a, Math.min(RECHECK_MS, deadline - Date.now()), signal);
    }
  }

  async model(device: string, sha: string): Promise<Buffer> {
    const needed = (await this.leases(device)).some((l) => l.request.session.model === sha);
    const bytes = !needed ? null : this.models.has(sha) ? this.models.read(sha) : await this.redis.getBuffer(this.k('model', sha));
    if (!bytes) throw new TailorError('AGENT_UNKNOWN_WORK', { device, work: `model ${sha}` });
    return bytes;
  }

  async result(device: string, workId: string, body: ResultBody): Promise<void> {
    const w = await this.redis.hgetall(this.k('work', workId));
    if (w.device !== device) return this.unknown(device, workId);
    if (!w.lease || w.lease !== body.lease) {
      throw new TailorError('AGENT_NOT_LEASED', { device, work: workId, reason: w.lease ? 'it was leased again after this lease expired' : 'its lease expired and it is queued again' });
    }
    const a = this.local.get(device);
    if (a && a.session === w.leasedTo) await this.touch(device, a);
    const request = JSON.parse(w.request) as WorkRequest;
    const answer = async (reply: { result: WorkResult } | { failure: TailorError }, outcome: string) => {
      const payload = 'result' in reply ? { id: workId, result: reply.result } : { id: workId, failure: { code: reply.failure.code, params: reply.failure.params } };
      const ended = await this.end(workId, device, outcome, body.lease, JSON.stringify(payload));
      if (ended === -1) throw new TailorError('AGENT_NOT_LEASED', { device, work: workId, reason: 'it was leased again after this lease expired' });
      if (ended === 0) await this.unknown(device, workId);
    };
    if (body.error) {
      const reason = String(body.error.message ?? '').slice(0, 2000) || 'no reason given';
      return answer({ failure: new TailorError('AGENT_WORK_FAILED', { device, op: describeWork(request), reason }) }, 'failed');
    }
    const { lease: _lease, error: _error, ...result } = body;
    const problem = resultProblem(request, result);
    if (problem) {
      // A result that does not fit is never measured with: the measurement fails cleanly.
      const err = new TailorError('AGENT_INVALID_RESULT', { device, op: request.op, work: workId, reason: problem });
      await answer({ failure: err }, 'failed');
      throw err;
    }
    await answer({ result }, 'a result was accepted');
  }

  async list(): Promise<AgentView[]> {
    const views = await Promise.all((await this.redis.smembers(this.k('devices'))).map((d) => this.get(d)));
    return views.filter((v): v is AgentView => v !== null);
  }

  async get(device: string): Promise<AgentView | null> {
    const [h, alive, queued, leases] = await Promise.all([
      this.redis.hgetall(this.k('agent', device)), this.redis.get(this.k('alive', device)), this.redis.zcard(this.k('queue', device)), this.leases(device),
    ]);
    if (!h.session) return null;
    const report = JSON.parse(h.report) as AgentReport;
    return {
      id: device, status: alive === h.session ? 'online' : 'lost', registeredAt: new Date(Number(h.registeredAt)).toISOString(),
      lastHeartbeat: new Date(Number(h.lastSeen)).toISOString(), clockSkewMs: Number(h.clockSkewMs), machine: report.machine, backends: report.backends,
      queued, leased: leases.filter((l) => l.leasedTo === h.session).length,
    };
  }

  // ---- internals ----

  private async unknown(device: string, workId: string): Promise<never> {
    const ended = await this.redis.get(this.k('done', workId));
    const [endedDevice, outcome] = ended ? ended.split('\n') : [];
    if (endedDevice === device) throw new TailorError('AGENT_DUPLICATE_RESULT', { device, work: workId, outcome });
    throw new TailorError('AGENT_UNKNOWN_WORK', { device, work: workId });
  }

  private async agentOf(device: string, session: string): Promise<LocalAgent> {
    const a = this.local.get(device);
    if (!a) throw new TailorError('AGENT_NOT_REGISTERED', { device, session });
    if (a.session !== session || a.replaced) throw new TailorError('AGENT_SESSION_REPLACED', { device, session });
    const current = await this.redis.hget(this.k('agent', device), 'session');
    if (current === session) return a;
    if (!current) throw new TailorError('AGENT_NOT_REGISTERED', { device, session });
    this.drop(a);
    throw new TailorError('AGENT_SESSION_REPLACED', { device, session });
  }

  private async touch(device: string, a: LocalAgent): Promise<void> {
    a.lastSeen = Date.now();
    await this.redis.multi().set(this.k('alive', device), a.session, 'PX', this.aliveMs).hset(this.k('agent', device), 'lastSeen', a.lastSeen).exec();
    if (a.lost) {
      a.lost = false;
      this.options.log?.log(`agent "${device}" is back`);
    }
  }

  private noteSkew(device: string, skewMs: number): void {
    // Reported, never trusted: leases and deadlines run on the servers' clocks alone.
    if (Math.abs(skewMs) > 60_000) this.warn(`agent "${device}" clock is ${Math.round(skewMs / 1000)} s off the server's (ignored: leases use the server's clock)`);
  }

  private drop(a: LocalAgent): void {
    a.replaced = true;
    this.endPolls(a);
  }

  private endPolls(a: LocalAgent): void {
    for (const wake of [...a.wakers]) wake();
  }

  private wake(device: string): void {
    const a = this.local.get(device);
    if (a) for (const wake of [...a.wakers]) wake();
  }

  /** Until woken (work queued, polls ended), `ms` passed or the poll's connection dropped. */
  private nap(a: LocalAgent, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        a.wakers.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      a.wakers.add(done);
    });
  }

  /** The next work item for `a`; items of sessions opened on other hardware or runtime than `a` reports fail instead. */
  private async lease(device: string, a: LocalAgent): Promise<Work | null> {
    for (;;) {
      const lease = randomUUID();
      const r = (await this.redis.eval(LEASE, 2, this.k('queue', device), this.k('leases', device), this.k('work', ''), a.session, Date.now(), lease)) as [string, string] | null;
      if (!r) return null;
      const request = JSON.parse(r[1]) as WorkRequest;
      if (request.op === 'dispose') await this.end(r[0], device, 'a result was accepted');
      const changes = request.op === 'dispose' ? [] : boardChanges(request.session, a.report);
      if (!changes.length) return { ...request, id: r[0], lease };
      const failure = new TailorError('AGENT_FINGERPRINT_CHANGED', { device, op: describeWork(request), changes: describeChanges(changes) });
      await this.end(r[0], device, 'failed', lease, JSON.stringify({ id: r[0], failure: { code: failure.code, params: failure.params } }));
    }
  }

  private async leases(device: string): Promise<Lease[]> {
    const ids = await this.redis.smembers(this.k('leases', device));
    if (!ids.length) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hmget(this.k('work', id), 'lease', 'leasedTo', 'leasedAt', 'request');
    const rows = (await pipe.exec()) ?? [];
    return ids.flatMap((id, i) => {
      const [lease, leasedTo, leasedAt, request] = (rows[i]?.[1] ?? []) as (string | null)[];
      return lease && leasedTo && request ? [{ id, lease, leasedTo, leasedAt: Number(leasedAt), request: JSON.parse(request) as WorkRequest }] : [];
    });
  }

  private async requeue(device: string, l: Pick<Lease, 'id' | 'lease'>): Promise<number> {
    return (await this.redis.eval(REQUEUE, 3, this.k('work', l.id), this.k('queue', device), this.k('leases', device), l.id, l.lease)) as number;
  }

  private async requeueWhere(device: string, which: (l: Lease) => boolean): Promise<number> {
    let n = 0;
    for (const l of (await this.leases(device)).filter(which)) n += await this.requeue(device, l);
    if (n) await this.redis.publish(this.k('wake'), device);
    return n;
  }

  /** 1: ended now; 0: it had ended already; -1: `lease` is no longer its lease. */
  private async end(id: string, device: string, outcome: string, lease = '', reply = ''): Promise<number> {
    return (await this.redis.eval(END, 4, this.k('work', id), this.k('queue', device), this.k('leases', device), this.k('done', id),
      id, `${device}\n${outcome}`, lease, reply, this.k('replies', ''), DONE_TTL_S)) as number;
  }

  private forget(id: string): Waiting | undefined {
    const w = this.waiting.get(id);
    if (w) clearTimeout(w.timer);
    this.waiting.delete(id);
    return w;
  }

  /** Answers for this server's work, whichever server took the agent's result. */
  private async replyLoop(): Promise<void> {
    while (!this.closed) {
      let r: [string, string] | null;
      try {
        r = await this.blocking.blpop(this.k('replies', this.id), 1);
      } catch {
        if (!this.closed) await sleep(500);
        continue;
      }
      if (!r) continue;
      const answer = JSON.parse(r[1]) as { id: string; result?: WorkResult; failure?: Pick<TailorError, 'code' | 'params'> };
      const w = this.forget(answer.id);
      if (answer.failure) w?.reject(new TailorError(answer.failure.code, answer.failure.params));
      else w?.resolve(answer.result ?? {});
    }
  }

  private async timeout(id: string): Promise<void> {
    const w = this.waiting.get(id);
    if (!w) return;
    const [h, agent, alive] = await Promise.all([this.redis.hgetall(this.k('work', id)), this.redis.hget(this.k('agent', w.device), 'session'), this.redis.get(this.k('alive', w.device))])
      .catch(() => [{}, null, null] as [Record<string, string>, null, null]);
    const state = h.lease ? `leased to its agent ${Math.round((Date.now() - Number(h.leasedAt)) / 1000)} s ago, no result`
      : !agent ? 'no agent has connected' : !alive ? 'its agent is lost (no heartbeats)' : 'queued, not picked up';
    // A result that won the race is in the reply list already: it settles the item.
    if ((await this.end(id, w.device, 'timed out').catch(() => 1)) !== 1) return;
    this.forget(id);
    if (w.request.op === 'dispose') return;
    w.reject(new TailorError('AGENT_TIMEOUT', { device: w.device, op: describeWork(w.request), seconds: Math.round(this.options.workTimeoutMs / 1000), state }));
  }

  /** Lost agents (no heartbeat) and dead servers: the leases they held go back to the queue, from any server. */
  private async sweep(): Promise<void> {
    for (const device of await this.redis.smembers(this.k('devices'))) {
      const alive = await this.redis.get(this.k('alive', device));
      const requeued = await this.requeueWhere(device, (l) => l.leasedTo !== alive);
      const a = this.local.get(device);
      if (a?.replaced) continue;
      if (a && (await this.redis.hget(this.k('agent', device), 'session')) !== a.session) this.drop(a); // registered elsewhere since
      else if (a && !alive && !a.lost) {
        a.lost = true;
        this.warn(`agent "${device}" lost (no heartbeat for ${Math.round((Date.now() - a.lastSeen) / 1000)} s): ${requeued} work item(s) queued again`);
      } else if (requeued) this.warn(`agent "${device}": ${requeued} work item(s) of a lost agent queued again`);
    }
  }

  // Models by sha256 in Redis, counted by the sessions using them.
  private async shareModel(sha: string): Promise<void> {
    const keys = [this.k('model', sha), this.k('modelrefs', sha)];
    if (await this.redis.eval(MODEL_USE, 2, ...keys, MODEL_TTL_MS)) return;
    await this.redis.multi().set(keys[0], this.models.read(sha), 'PX', MODEL_TTL_MS).incr(keys[1]).pexpire(keys[1], MODEL_TTL_MS).exec();
  }

  private releaseModel(sha: string): void {
    this.models.release(sha);
    this.redis.eval(MODEL_RELEASE, 2, this.k('model', sha), this.k('modelrefs', sha), MODEL_GRACE_MS).catch((e: Error) => this.warn(`agent hub: ${e.message}`));
  }
}
