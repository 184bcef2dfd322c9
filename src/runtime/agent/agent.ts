import * as path from 'node:path';
import { TailorError, isTailorError } from '../../core/errors';
import { PACKAGE_ROOT } from '../../core/workspace';
import { DeviceBackend, LoadedModel, ProfiledModel, backendRegistration } from '../registry';
import { localFingerprint } from '../fingerprint';
import { ortVersion } from '../ort-cpu/version';
import { tfliteVersion } from '../tflite-wasm/version';
import { ModelStore } from './models';
import { AGENT_MAX_BODY_BYTES, AgentReport, AgentRuntime, ResultBody, SessionSpec, Work, WorkResult, describeWork } from './protocol';

export interface AgentRunOptions {
  /** The service's base URL, e.g. http://tailor:3000 */
  server: string;
  device: string;
  token: string;
  /** Models by sha256 (kept across restarts: each is downloaded once). */
  cacheDir: string;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** What to report (default: this machine, read with systeminformation). */
  describe?: () => Promise<Omit<AgentReport, 'clock'>>;
  /** Long-poll length asked of the server. */
  pollSeconds?: number;
}

/** This machine and the runtimes it can run (their versions are read without loading them). */
export async function describeThisMachine(): Promise<Omit<AgentReport, 'clock'>> {
  const backends: AgentReport['backends'] = [];
  for (const [name, version] of [['ort-cpu', ortVersion], ['tflite-wasm', tfliteVersion]] as const) {
    try {
      backends.push({ name, runtime: version() });
    } catch {
      // not installed here
    }
  }
  const f = await localFingerprint(backends[0]?.runtime ?? 'none');
  const si = (await import('systeminformation')).default;
  const cpu = await si.cpu();
  const machine: AgentReport['machine'] = { cpu: f.cpu, cores: f.cores, physicalCores: f.physicalCores, flags: f.flags, memoryGb: f.memoryGb, os: f.os, arch: f.arch, node: process.versions.node };
  if (cpu.speed > 0) machine.speedGhz = cpu.speed;
  if (cpu.governor) machine.governor = cpu.governor;
  return { machine, backends, version: require(path.join(PACKAGE_ROOT, 'package.json')).version };
}

/** Runs work items on this board's backends; sessions live until finished or disposed. */
export class BoardWorker {
  private readonly sessions = new Map<string, LoadedModel | ProfiledModel>();
  private readonly backends = new Map<string, Promise<DeviceBackend>>();

  constructor(
    private readonly device: string,
    private readonly models: ModelStore,
    private readonly download: (sha: string) => Promise<Uint8Array>,
  ) {}

  async execute(w: Work): Promise<WorkResult> {
    const id = w.session.id;
    if (w.op === 'dispose') {
      const m = this.sessions.get(id);
      this.sessions.delete(id);
      await m?.dispose();
      return {};
    }
    let m = this.sessions.get(id);
    const fresh = !m;
    m ??= await this.open(w.session);
    switch (w.op) {
      case 'load':
        return { fresh };
      case 'measure':
        return { times: await m.measure({ warmup: w.warmup, runs: w.runs }), fresh };
      case 'finish': {
        this.sessions.delete(id);
        if (!('finish' in m)) throw new Error('finish of a model loaded without the profiler');
        return { events: await m.finish(), fresh };
      }
    }
  }

  async close(): Promise<void> {
    for (const m of this.sessions.values()) await m.dispose().catch(() => undefined);
    this.sessions.clear();
  }

  private async open(s: SessionSpec): Promise<LoadedModel | ProfiledModel> {
    let bytes: Uint8Array;
    if (this.models.has(s.model)) bytes = this.models.read(s.model);
    else {
      bytes = await this.download(s.model);
      this.models.put(bytes, s.model); // verifies the hash: a corrupted download is never run
    }
    const backend = await this.backend(s.runtime, s.threads);
    const m = s.profiled ? await backend.loadProfiled(bytes) : await backend.load(bytes);
    this.sessions.set(s.id, m);
    return m;
  }

  private backend(runtime: AgentRuntime, threads: number): Promise<DeviceBackend> {
    const key = `${runtime}/${threads}`;
    if (!this.backends.has(key)) {
      const created = backendRegistration(this.device, runtime).create({ threads });
      created.catch(() => this.backends.delete(key));
      this.backends.set(key, created);
    }
    return this.backends.get(key)!;
  }
}

/** The server wants a new registration (it restarted, or forgot this session). */
class Reregister extends Error {}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * The board's side: registers the device, heartbeats, long-polls work, runs it on the local backend
 * and posts results, until `signal` aborts. Network errors are retried with backoff; a refused token,
 * a device the server does not know as an agent, or another agent taking over the id end it (TailorError).
 */
export async function runAgent(o: AgentRunOptions): Promise<void> {
  const base = o.server.replace(/\/+$/, '');
  const dev = encodeURIComponent(o.device);
  const auth = { authorization: `Bearer ${o.token}` };

  async function call(method: string, route: string, body?: unknown, signal?: AbortSignal): Promise<{ status: number; json: any; res: Response }> {
    const res = await fetch(base + route, {
      method,
      headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    const json = res.status === 204 ? null : await res.json().catch(() => null);
    if (res.status === 401 || res.status === 403) {
      throw new TailorError('AGENT_REFUSED', { server: base, device: o.device, status: res.status, message: json?.message ?? res.statusText });
    }
    return { status: res.status, json, res };
  }

  const models = new ModelStore(o.cacheDir);
  const worker = new BoardWorker(o.device, models, async (sha) => {
    const res = await fetch(`${base}/agents/models/${sha}`, { headers: auth, signal: o.signal });
    if (!res.ok) throw new Error(`model ${sha.slice(0, 12)} could not be downloaded (HTTP ${res.status})`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    o.log(`downloaded model ${sha.slice(0, 12)} (${bytes.length} bytes)`);
    return bytes;
  });
  const describe = o.describe ?? describeThisMachine;
  const report = await describe();
  let backoffMs = 0;

  try {
    while (!o.signal?.aborted) {
      try {
        const r = await call('POST', '/agents/register', { deviceId: o.device, ...report, clock: Date.now() }, o.signal);
        if (r.status === 409 || r.status === 404 || r.status === 400) throw new TailorError('AGENT_NOT_CONFIGURED', { device: o.device, reason: `the server says: ${r.json?.message ?? r.status}` });
        if (r.status !== 201 && r.status !== 200) throw new Error(`registration answered HTTP ${r.status}: ${r.json?.message ?? ''}`);
        backoffMs = 0;
        o.log(`registered as "${o.device}" at ${base} with ${report.backends.map((b) => `${b.name} (${b.runtime})`).join(', ')}; heartbeat every ${r.json.heartbeatMs} ms`);
        await serve(r.json.session, r.json.heartbeatMs);
      } catch (e) {
        if (isTailorError(e) || o.signal?.aborted) throw e;
        if (e instanceof Reregister) {
          o.log(`the server asks for a new registration: ${e.message}`);
          continue;
        }
        backoffMs = Math.min(30_000, backoffMs ? backoffMs * 2 : 500);
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        o.log(`server unreachable or failing (${(e as Error).message}${cause ? `: ${cause.code ?? cause.message}` : ''}); retrying in ${(backoffMs / 1000).toFixed(1)} s`);
        await sleep(backoffMs, o.signal);
      }
    }
  } catch (e) {
    if (!o.signal?.aborted) throw e;
  } finally {
    await worker.close();
  }

  /** Polls and runs work for one registration; returns only by throwing (or when stopped). */
  async function serve(session: string, heartbeatMs: number): Promise<void> {
    let working: string | null = null;
    let problem: Error | null = null;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const beat = async () => {
      try {
        const r = await call('POST', `/agents/${dev}/heartbeat`, { session, clock: Date.now(), working });
        if (r.status === 404) problem = new Reregister(r.json?.message ?? 'unknown session');
        else if (r.status === 409) problem = new TailorError('AGENT_SESSION_REPLACED', { device: o.device, session });
      } catch (e) {
        if (isTailorError(e)) problem = e;
        // network errors: the next heartbeat tries again; the poll loop sees the outage itself
      }
      if (problem) stop.abort();
    };
    const timer = setInterval(() => void beat(), heartbeatMs);
    try {
      while (!stop.signal.aborted) {
        const wait = o.pollSeconds ?? 25;
        let r: Awaited<ReturnType<typeof call>>;
        try {
          r = await call('GET', `/agents/${dev}/work?session=${session}&wait=${wait}`, undefined, stop.signal);
        } catch (e) {
          if (stop.signal.aborted) break;
          throw e;
        }
        if (r.status === 404) throw new Reregister(r.json?.message ?? 'unknown session');
        if (r.status === 409) throw new TailorError('AGENT_SESSION_REPLACED', { device: o.device, session });
        if (r.status === 204) continue;
        if (r.status !== 200) throw new Error(`work poll answered HTTP ${r.status}: ${r.json?.message ?? ''}`);
        const work = r.json as Work;
        working = work.id;
        try {
          await post(work, await runOne(work));
        } finally {
          working = null;
        }
      }
      if (problem) throw problem;
    } finally {
      clearInterval(timer);
      o.signal?.removeEventListener('abort', onAbort);
    }
  }

  async function runOne(work: Work): Promise<ResultBody> {
    const t0 = Date.now();
    try {
      const result = await worker.execute(work);
      const extra = result.times ? `: median ${median(result.times).toFixed(3)} ms` : result.events ? `: ${result.events.length} profiled run(s)` : '';
      o.log(`${describeWork(work)}${result.fresh && work.op !== 'load' ? ' (session loaded again)' : ''}${extra} [${Date.now() - t0} ms]`);
      return { lease: work.lease, ...result };
    } catch (e) {
      const message = (e as Error)?.message ?? String(e);
      o.log(`${describeWork(work)} failed: ${message}`);
      return { lease: work.lease, error: { message: message.slice(0, 2000) } };
    }
  }

  /** Posts a result; network errors are retried a few times (the server re-queues the work if it never arrives). */
  async function post(work: Work, body: ResultBody): Promise<void> {
    if (work.op === 'dispose') return; // nothing waits for it
    if (Buffer.byteLength(JSON.stringify(body)) > AGENT_MAX_BODY_BYTES) {
      body = { lease: work.lease, error: { message: `the result is larger than the server's limit of ${AGENT_MAX_BODY_BYTES} bytes` } };
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await call('POST', `/agents/${dev}/results/${work.id}`, body);
        if (r.status === 413 && !body.error) {
          // Too large for this server after all: the work fails with a reason instead of running again and again.
          body = { lease: work.lease, error: { message: `the result is larger than the server accepts (${r.json?.message ?? 'HTTP 413'})` } };
          continue;
        }
        if (r.status >= 400) o.log(`result of ${work.id} not accepted (HTTP ${r.status}): ${r.json?.message ?? ''}`);
        return;
      } catch (e) {
        if (isTailorError(e) || attempt >= 5 || o.signal?.aborted) throw e;
        await sleep(500 * attempt, o.signal);
      }
    }
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

