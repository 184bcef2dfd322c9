import { randomUUID } from 'node:crypto';
import { TailorError } from '../../core/errors';
import { describeChanges } from '../fingerprint';
import { ModelStore } from './models';
import { AgentReport, MAX_POLL_SECONDS, ResultBody, Work, WorkRequest, WorkResult, boardChanges, describeWork, reportChanges, resultProblem } from './protocol';
import { AgentTokens } from './tokens';

export interface AgentHubOptions {
  tokens: AgentTokens;
  /** Models of loaded sessions, by sha256 (shared with job workers of the same service). */
  models: ModelStore;
  /** Agents heartbeat this often... */
  heartbeatMs: number;
  /** ...and are lost (their work queued again) after this many missed heartbeats. */
  missedHeartbeats: number;
  /** Per work item, from submission: waiting for an agent included. Also how long opening the device waits for an agent. */
  workTimeoutMs: number;
  /** Throws when `device` is not an agent device (devices/<id>.json with backend "agent"). */
  checkDevice?: (device: string) => void;
  log?: { log(message: string): void; warn(message: string): void };
}

export const AGENT_HUB_DEFAULTS = { heartbeatMs: 5_000, missedHeartbeats: 3, workTimeoutMs: 300_000 };

/** Hub timings from the environment (tests shorten them); malformed values stop the service from starting. */
export function hubTimingsFromEnv(env: NodeJS.ProcessEnv = process.env): typeof AGENT_HUB_DEFAULTS {
  const read = (name: string, fallback: number, min: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new TailorError('AGENT_CONFIG', { setting: name, reason: `"${raw}" is not an integer >= ${min}` });
    return n;
  };
  return {
    heartbeatMs: read('TAILOR_AGENT_HEARTBEAT_MS', AGENT_HUB_DEFAULTS.heartbeatMs, 50),
    missedHeartbeats: read('TAILOR_AGENT_MISSED_HEARTBEATS', AGENT_HUB_DEFAULTS.missedHeartbeats, 1),
    workTimeoutMs: read('TAILOR_AGENT_WORK_TIMEOUT_MS', AGENT_HUB_DEFAULTS.workTimeoutMs, 100),
  };
}

/** How measurements reach an agent: the hub in the service's process, or a client of it in a job worker. */
export interface AgentBroker {
  readonly models: ModelStore;
  /** The agent's report once one is connected (waits up to the work timeout). */
  waitForAgent(device: string): Promise<AgentReport>;
  /** One work item on the device's agent; 'load' needs the model in `models`; 'dispose' does not wait. */
  run(device: string, request: WorkRequest): Promise<WorkResult>;
}

type MaybePromise<T> = T | Promise<T>;

/**
 * The hub as the service's routes use it: in memory (one server), or with its work in Redis
 * (RedisAgentHub: servers sharing TAILOR_QUEUE share their agents' work).
 */
export interface ServiceHub extends AgentBroker {
  readonly options: AgentHubOptions;
  start(): MaybePromise<void>;
  stop(): void;
  /** After stop: releases connections. */
  close?(): Promise<void>;
  report(device: string): MaybePromise<AgentReport | null>;
  authenticate(device: string, token: string | null): string | null;
  register(device: string, report: AgentReport): MaybePromise<{ session: string; heartbeatMs: number; missedHeartbeats: number; pollSeconds: number }>;
  heartbeat(device: string, session: string, clock: number, working: string | null): MaybePromise<{ leased: number }>;
  poll(device: string, session: string, waitSeconds: number, signal?: AbortSignal): Promise<Work | null>;
  model(device: string, sha: string): MaybePromise<Buffer>;
  result(device: string, workId: string, body: ResultBody): MaybePromise<void>;
  list(): MaybePromise<AgentView[]>;
  get(device: string): MaybePromise<AgentView | null>;
}

interface AgentState {
  device: string;
  session: string;
  status: 'online' | 'lost';
  report: AgentReport;
  registeredAt: number;
  lastSeen: number;
  clockSkewMs: number;
  polls: Set<(work: Work | null) => void>;
}

interface WorkRecord {
  id: string;
  device: string;
  request: WorkRequest;
  submittedAt: number;
  lease: string | null;
  leasedTo: string | null;
  leasedAt: number;
  timer: NodeJS.Timeout;
  settle?: { resolve(r: WorkResult): void; reject(e: Error): void };
}

export interface AgentView {
  id: string;
  status: 'online' | 'lost';
  registeredAt: string;
  lastHeartbeat: string;
  clockSkewMs: number;
  machine: AgentReport['machine'];
  backends: AgentReport['backends'];
  queued: number;
  leased: number;
}

/** Completed work ids remembered for duplicate detection. */
const FINISHED_MEMORY = 10_000;
const SHUTDOWN_GRACE_MS = 200;

/**
 * The service's work broker for remote boards: per device, a FIFO of work items that the board's
 * agent pulls by long polling. A leased item stays leased while the agent heartbeats; an agent that
 * stops is lost after `missedHeartbeats` and its items go back to the front of the queue, where a
 * reconnecting agent picks them up. Every item has a deadline: nothing waits forever.
 */
export class AgentHub implements ServiceHub {
  readonly models: ModelStore;
  private readonly agents = new Map<string, AgentState>();
  private readonly queues = new Map<string, WorkRecord[]>();
  private readonly work = new Map<string, WorkRecord>();
  private readonly finished = new Map<string, { device: string; outcome: string }>();
  /** Waiting for an agent: called on each arrival, and failed when the hub stops. */
  private readonly arrivals = new Map<() => void, (e: Error) => void>();
  private sweeper: NodeJS.Timeout | null = null;
  private stopping = false;
  private stopped = false;

  constructor(readonly options: AgentHubOptions) {
    this.models = options.models;
  }

  start(): void {
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(25, Math.floor(this.options.heartbeatMs / 2)));
    this.sweeper.unref();
  }

  /** Stops taking work; pending items fail shortly after (running jobs are interrupted first). */
  stop(): void {
    this.stopping = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const a of this.agents.values()) this.endPolls(a);
    setTimeout(() => {
      this.stopped = true;
      for (const rec of [...this.work.values()]) this.fail(rec, new TailorError('SERVICE_STOPPING', {}));
      for (const fail of [...this.arrivals.values()]) fail(new TailorError('SERVICE_STOPPING', {}));
    }, SHUTDOWN_GRACE_MS);
  }

  // ---- the side of measurements (AgentBackend) ----

  async waitForAgent(device: string): Promise<AgentReport> {
    const online = () => (this.agents.get(device)?.status === 'online' ? this.agents.get(device)!.report : null);
    if (online()) return online()!;
    return new Promise((resolve, reject) => {
      const onArrival = () => {
        const report = online();
        if (!report) return;
        done();
        resolve(report);
      };
      const fail = (e: Error) => {
        done();
        reject(e);
      };
      const timer = setTimeout(() => fail(new TailorError('AGENT_UNAVAILABLE', { device, seconds: Math.round(this.options.workTimeoutMs / 1000) })), this.options.workTimeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.arrivals.delete(onArrival);
      };
      this.arrivals.set(onArrival, fail);
    });
  }

  run(device: string, request: WorkRequest): Promise<WorkResult> {
    const { session } = request;
    if (this.stopped) return request.op === 'dispose' ? Promise.resolve({}) : Promise.reject(new TailorError('SERVICE_STOPPING', {}));
    if (request.op === 'load') {
      if (!this.models.has(session.model)) return Promise.reject(new Error(`model ${session.model} is not in the agent model store`));
      this.models.acquire(session.model);
    }
    const rec: WorkRecord = {
      id: randomUUID(), device, request, submittedAt: Date.now(), lease: null, leasedTo: null, leasedAt: 0,
      timer: setTimeout(() => this.timeout(rec), this.options.workTimeoutMs),
    };
    this.work.set(rec.id, rec);
    if (request.op === 'dispose') {
      // Nothing waits for a dispose: the model is released now; a new agent process has nothing to dispose.
      this.models.release(session.model);
      this.enqueue(rec);
      return Promise.resolve({});
    }
    const result = new Promise<WorkResult>((resolve, reject) => {
      rec.settle = { resolve, reject };
      this.enqueue(rec);
    });
    if (request.op === 'finish') return result.finally(() => this.models.release(session.model));
    if (request.op === 'load') return result.catch((e) => {
      this.models.release(session.model);
      throw e;
    });
    return result;
  }

  /** What the device's agent reported last (online or not); null if none connected since the service started. */
  report(device: string): AgentReport | null {
    return this.agents.get(device)?.report ?? null;
  }

  // ---- the side of agents (HTTP routes) ----

  authenticate(device: string, token: string | null): string | null {
    if (!token) return 'missing Authorization: Bearer <token>';
    if (!this.options.tokens.verify(device, token)) return `the token is not valid for device "${device}"`;
    return null;
  }

  register(device: string, report: AgentReport): { session: string; heartbeatMs: number; missedHeartbeats: number; pollSeconds: number } {
    if (this.stopping) throw new TailorError('SERVICE_STOPPING', {});
    this.options.checkDevice?.(device);
    const previous = this.agents.get(device);
    if (previous) {
      // The same board again (a restarted agent): what the old process held is gone with it.
      this.endPolls(previous);
      const requeued = this.requeueLeases(previous);
      if (requeued) this.options.log?.warn(`agent "${device}" re-registered: ${requeued} work item(s) it held are queued again`);
      noteReportChanges(this.options, device, previous.report, report);
    }
    const now = Date.now();
    const state: AgentState = {
      device, session: randomUUID(), status: 'online', report, registeredAt: now, lastSeen: now, clockSkewMs: report.clock - now, polls: new Set(),
    };
    this.agents.set(device, state);
    this.options.log?.log(`agent "${device}" registered: ${report.machine.cpu}, ${report.machine.cores} cores, ${report.backends.map((b) => `${b.name} (${b.runtime})`).join(', ')}`);
    this.noteSkew(state);
    for (const arrive of [...this.arrivals.keys()]) arrive();
    this.dispatch(device);
    return { session: state.session, heartbeatMs: this.options.heartbeatMs, missedHeartbeats: this.options.missedHeartbeats, pollSeconds: 25 };
  }

  /**
   * `working`: the item the agent holds (running it or posting its result). Items leased to it a while
   * ago that it does not hold never reached it (a poll answered as its connection dropped): queued again.
   */
  heartbeat(device: string, session: string, clock: number, working: string | null): { leased: number } {
    const a = this.agentOf(device, session);
    this.touch(a);
    a.clockSkewMs = clock - Date.now();
    this.noteSkew(a);
    const stale = Date.now() - 2 * this.options.heartbeatMs;
    for (const rec of this.leasesOf(a)) {
      if (rec.id !== working && rec.leasedAt < stale) {
        this.options.log?.warn(`agent "${device}" does not hold work ${rec.id} leased to it: queued again`);
        this.requeue(rec);
      }
    }
    return { leased: this.leasesOf(a).length };
  }

  /** The next work item for the agent, waiting up to `waitSeconds`; null when none came. */
  poll(device: string, session: string, waitSeconds: number, signal?: AbortSignal): Promise<Work | null> {
    const a = this.agentOf(device, session);
    this.touch(a);
    const queued = this.next(a);
    if (queued) return Promise.resolve(queued);
    if (this.stopping || waitSeconds <= 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      const answer = (work: Work | null) => {
        clearTimeout(timer);
        a.polls.delete(answer);
        signal?.removeEventListener('abort', gone);
        resolve(work);
      };
      const gone = () => answer(null);
      const timer = setTimeout(gone, Math.min(waitSeconds, MAX_POLL_SECONDS) * 1000);
      signal?.addEventListener('abort', gone, { once: true });
      a.polls.add(answer);
    });
  }

  /** The model bytes of a session leased to `device` (agents fetch only what their work needs). */
  model(device: string, sha: string): Buffer {
    const needed = [...this.work.values()].some((r) => r.device === device && r.lease && r.request.session.model === sha);
    if (!needed || !this.models.has(sha)) throw new TailorError('AGENT_UNKNOWN_WORK', { device, work: `model ${sha}` });
    return this.models.read(sha);
  }

  result(device: string, workId: string, body: ResultBody): void {
    const rec = this.work.get(workId);
    if (!rec || rec.device !== device) {
      const ended = this.finished.get(workId);
      if (ended?.device === device) throw new TailorError('AGENT_DUPLICATE_RESULT', { device, work: workId, outcome: ended.outcome });
      throw new TailorError('AGENT_UNKNOWN_WORK', { device, work: workId });
    }
    if (!rec.lease || rec.lease !== body.lease) {
      throw new TailorError('AGENT_NOT_LEASED', { device, work: workId, reason: rec.lease ? 'it was leased again after this lease expired' : 'its lease expired and it is queued again' });
    }
    const a = this.agents.get(device);
    if (a && a.session === rec.leasedTo) this.touch(a);
    if (body.error) {
      const reason = String(body.error.message ?? '').slice(0, 2000) || 'no reason given';
      return this.fail(rec, new TailorError('AGENT_WORK_FAILED', { device, op: describeWork(rec.request), reason }));
    }
    const { lease: _lease, error: _error, ...result } = body;
    const problem = resultProblem(rec.request, result);
    if (problem) {
      // A result that does not fit is never measured with: the measurement fails cleanly.
      const err = new TailorError('AGENT_INVALID_RESULT', { device, op: rec.request.op, work: workId, reason: problem });
      this.fail(rec, err);
      throw err;
    }
    this.complete(rec);
    rec.settle?.resolve(result);
  }

  list(): AgentView[] {
    return [...this.agents.values()].map((a) => this.view(a));
  }

  get(device: string): AgentView | null {
    const a = this.agents.get(device);
    return a ? this.view(a) : null;
  }

  // ---- internals ----

  private view(a: AgentState): AgentView {
    return {
      id: a.device, status: a.status, registeredAt: new Date(a.registeredAt).toISOString(), lastHeartbeat: new Date(a.lastSeen).toISOString(),
      clockSkewMs: a.clockSkewMs, machine: a.report.machine, backends: a.report.backends,
      queued: this.queues.get(a.device)?.length ?? 0, leased: this.leasesOf(a).length,
    };
  }

  private agentOf(device: string, session: string): AgentState {
    const a = this.agents.get(device);
    if (!a) throw new TailorError('AGENT_NOT_REGISTERED', { device, session });
    if (a.session !== session) throw new TailorError('AGENT_SESSION_REPLACED', { device, session });
    return a;
  }

  private touch(a: AgentState): void {
    a.lastSeen = Date.now();
    if (a.status === 'lost') {
      a.status = 'online';
      this.options.log?.log(`agent "${a.device}" is back`);
      for (const arrive of [...this.arrivals.keys()]) arrive();
      queueMicrotask(() => this.dispatch(a.device)); // to polls it left open while lost
    }
  }

  private noteSkew(a: AgentState): void {
    // Reported, never trusted: leases and deadlines run on this server's clock alone.
    if (Math.abs(a.clockSkewMs) > 60_000) this.options.log?.warn(`agent "${a.device}" clock is ${Math.round(a.clockSkewMs / 1000)} s off the server's (ignored: leases use the server's clock)`);
  }

  private leasesOf(a: AgentState): WorkRecord[] {
    return [...this.work.values()].filter((r) => r.device === a.device && r.leasedTo === a.session);
  }

  private enqueue(rec: WorkRecord): void {
    const q = this.queues.get(rec.device) ?? this.queues.set(rec.device, []).get(rec.device)!;
    // Submission order, also for items queued again.
    let i = q.length;
    while (i > 0 && q[i - 1].submittedAt > rec.submittedAt) i--;
    q.splice(i, 0, rec);
    this.dispatch(rec.device);
  }

  private dispatch(device: string): void {
    const a = this.agents.get(device);
    while (a && a.status === 'online' && a.polls.size) {
      const work = this.next(a);
      if (!work) return;
      const answer = a.polls.values().next().value!;
      answer(work);
    }
  }

  /** Leases the device's next work item to `a`; items of sessions opened on other hardware or runtime than `a` reports fail instead. */
  private next(a: AgentState): Work | null {
    const q = this.queues.get(a.device);
    while (q?.length) {
      const rec = q.shift()!;
      const changes = rec.request.op === 'dispose' ? [] : boardChanges(rec.request.session, a.report);
      if (!changes.length) return this.lease(rec, a);
      this.fail(rec, new TailorError('AGENT_FINGERPRINT_CHANGED', { device: a.device, op: describeWork(rec.request), changes: describeChanges(changes) }));
    }
    return null;
  }

  private lease(rec: WorkRecord, a: AgentState): Work {
    rec.lease = randomUUID();
    rec.leasedTo = a.session;
    rec.leasedAt = Date.now();
    const work: Work = { ...rec.request, id: rec.id, lease: rec.lease };
    if (rec.request.op === 'dispose') this.complete(rec);
    return work;
  }

  private requeue(rec: WorkRecord): void {
    rec.lease = null;
    rec.leasedTo = null;
    this.enqueue(rec);
  }

  private requeueLeases(a: AgentState): number {
    const leases = this.leasesOf(a);
    for (const rec of leases) this.requeue(rec);
    return leases.length;
  }

  private endPolls(a: AgentState): void {
    for (const answer of [...a.polls]) answer(null);
  }

  private sweep(): void {
    const limit = this.options.heartbeatMs * this.options.missedHeartbeats;
    for (const a of this.agents.values()) {
      if (a.status !== 'online' || Date.now() - a.lastSeen <= limit) continue;
      a.status = 'lost';
      const requeued = this.requeueLeases(a);
      this.options.log?.warn(`agent "${a.device}" lost (no heartbeat for ${Math.round((Date.now() - a.lastSeen) / 1000)} s): ${requeued} work item(s) queued again`);
    }
  }

  private remove(rec: WorkRecord): void {
    clearTimeout(rec.timer);
    this.work.delete(rec.id);
    const q = this.queues.get(rec.device);
    const i = q?.indexOf(rec) ?? -1;
    if (i >= 0) q!.splice(i, 1);
  }

  private complete(rec: WorkRecord, outcome = 'a result was accepted'): void {
    this.remove(rec);
    this.finished.set(rec.id, { device: rec.device, outcome });
    if (this.finished.size > FINISHED_MEMORY) this.finished.delete(this.finished.keys().next().value!);
  }

  private fail(rec: WorkRecord, e: Error): void {
    this.complete(rec, e instanceof TailorError && e.code === 'AGENT_TIMEOUT' ? 'timed out' : 'failed');
    rec.settle?.reject(e);
  }

  private timeout(rec: WorkRecord): void {
    const a = this.agents.get(rec.device);
    const state = rec.lease ? `leased to its agent ${Math.round((Date.now() - rec.leasedAt) / 1000)} s ago, no result`
      : !a ? 'no agent has connected' : a.status === 'lost' ? 'its agent is lost (no heartbeats)' : 'queued, not picked up';
    if (rec.request.op === 'dispose') return this.complete(rec);
    this.fail(rec, new TailorError('AGENT_TIMEOUT', { device: rec.device, op: describeWork(rec.request), seconds: Math.round(this.options.workTimeoutMs / 1000), state }));
  }
}

/** Logs what changed when a board registers again with another report; its pending work then fails (`next`) instead of mixing machines. */
export function noteReportChanges(options: Pick<AgentHubOptions, 'log'>, device: string, before: AgentReport, after: AgentReport): void {
  const changes = reportChanges(before, after);
  if (changes.length) options.log?.warn(`agent "${device}" registered again reporting other hardware or runtime: ${describeChanges(changes)}; work of sessions opened on the old report fails`);
}

// The service installs its hub here; AgentBackend finds it (or a client of it, in job workers).
let installed: ServiceHub | null = null;

export function installAgentHub(hub: ServiceHub | null): void {
  installed = hub;
}

export function installedAgentHub(): ServiceHub | null {
  return installed;
}
