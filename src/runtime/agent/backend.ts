import { randomUUID } from 'node:crypto';
import { ErrorCode, TailorError } from '../../core/errors';
import type { Workspace } from '../../core/workspace';
import { BackendOptions, DeviceBackend, MeasureOptions, ModelFormat, NodeEvent, ProfiledModel } from '../backend';
import type { LiveFingerprint } from '../fingerprint';
import { AgentBroker, installedAgentHub } from './hub';
import { requestJson } from './http';
import { ModelStore } from './models';
import { AGENT_RUNTIMES, AgentFingerprint, AgentReport, AgentRuntime, SessionSpec, WorkOp, WorkRequest, WorkResult, agentFingerprint, runtimeFormat } from './protocol';
import { readAgentReport } from './reports';

/**
 * A remote board as a DeviceBackend: every load, measure and finish is a work item its agent pulls
 * from the service. The board's runtime (`options.runtime`: ort-cpu or tflite-wasm) sets the model format.
 */
export class AgentBackend implements DeviceBackend {
  readonly name = 'agent';
  readonly remote = true;
  readonly modelFormat: ModelFormat;

  /**
   * `board`: what the agent reported when the device was opened. Every session names it, and the hub
   * never hands its work to an agent reporting other hardware or runtime (a board swapped mid-job):
   * everything measured through this backend was measured on `board`.
   */
  constructor(
    private readonly broker: AgentBroker,
    readonly device: string,
    readonly runtime: AgentRuntime,
    readonly threads: number,
    private readonly board: AgentFingerprint,
  ) {
    this.modelFormat = runtimeFormat(runtime);
  }

  runtimeVersion(): string {
    return this.board.runtime;
  }

  async fingerprint(): Promise<AgentFingerprint> {
    return this.board;
  }

  load(model: Uint8Array) {
    return this.open(model, false);
  }

  loadProfiled(model: Uint8Array) {
    return this.open(model, true);
  }

  private async open(model: Uint8Array, profiled: boolean): Promise<ProfiledModel> {
    const { cpu, cores, runtime } = this.board;
    const session: SessionSpec = { id: randomUUID(), model: this.broker.models.put(model), runtime: this.runtime, threads: this.threads, profiled, board: { cpu, cores, runtime } };
    const run = (op: WorkOp) => this.broker.run(this.device, { ...op, session });
    await run({ op: 'load' });
    // A restarted agent loads the session again: its earlier profiled runs are gone.
    let lostRuns = false;
    let closed = false;
    return {
      measure: async ({ warmup, runs }: MeasureOptions) => {
        const r = await run({ op: 'measure', warmup, runs });
        if (r.fresh) lostRuns = true;
        return r.times!;
      },
      finish: async (): Promise<NodeEvent[][]> => {
        closed = true;
        const r = await run({ op: 'finish' });
        if ((r.fresh || lostRuns) && !r.events!.length) throw new TailorError('AGENT_SESSION_LOST', { device: this.device });
        return r.events!;
      },
      dispose: async () => {
        if (closed) return;
        closed = true;
        await run({ op: 'dispose' });
      },
    };
  }
}

function runtimeOf(device: string, options: BackendOptions): AgentRuntime {
  const runtime = options.runtime ?? 'ort-cpu';
  if (!AGENT_RUNTIMES.includes(runtime as AgentRuntime)) {
    throw new TailorError('INVALID_DEVICE_FILE', { file: `devices/${device}.json`, reason: `"options.runtime" must be one of ${AGENT_RUNTIMES.join(', ')}` });
  }
  return runtime as AgentRuntime;
}

/** The hub of this process (the service), or a client of the service's hub (its job workers); null elsewhere. */
function broker(): AgentBroker | null {
  return installedAgentHub() ?? RemoteBroker.fromEnv();
}

/** Refuses a remote board this process cannot reach: no hub here, and none published to it (AGENT_NO_HUB). */
export function checkAgentReachable(device: string): AgentBroker {
  const b = broker();
  if (!b) throw new TailorError('AGENT_NO_HUB', { device });
  return b;
}

/** Opens the device once its agent is connected (waiting for one up to the work timeout). */
export async function createAgentBackend(options: BackendOptions): Promise<AgentBackend> {
  const device = String(options.deviceId);
  const runtime = runtimeOf(device, options);
  const b = checkAgentReachable(device);
  const report = await b.waitForAgent(device);
  const board = agentFingerprint(report, runtime);
  if (!board) {
    throw new TailorError('AGENT_NOT_CONFIGURED', { device, reason: `its agent has no ${runtime} runtime (it has: ${report.backends.map((x) => x.name).join(', ') || 'none'})` });
  }
  return new AgentBackend(b, device, runtime, options.threads ?? 1, board);
}

/**
 * What the board's agent reported last, as a fingerprint for the device's runtime, with the time:
 * from the service's hub (in the service), else from the workspace's record of it (any process of
 * the workspace, e.g. the CLI), else from the hub a job worker reaches; null when none reported.
 */
export async function remoteDeviceFingerprint(device: string, options: BackendOptions, ws?: Workspace): Promise<LiveFingerprint | null> {
  const runtime = runtimeOf(device, options);
  const hub = installedAgentHub();
  const view = hub ? await hub.get(device) : null;
  if (view) return withTime(agentFingerprint(view, runtime), view.registeredAt);
  const recorded = ws ? readAgentReport(ws, device) : null;
  if (recorded) return withTime(agentFingerprint(recorded.report, runtime), recorded.reportedAt);
  const report = hub ? null : await RemoteBroker.fromEnv()?.report(device).catch(() => null);
  return report ? agentFingerprint(report, runtime) : null;
}

const withTime = (f: AgentFingerprint | null, reportedAt: string): LiveFingerprint | null => (f ? { ...f, reportedAt } : null);

/** Published by the service for its job workers (inherited environment): where its hub answers. */
export const HUB_ENV = { url: 'TAILOR_AGENT_HUB_URL', key: 'TAILOR_AGENT_HUB_KEY', models: 'TAILOR_AGENT_HUB_MODELS' } as const;
export const HUB_KEY_HEADER = 'x-tailor-hub-key';

/**
 * A job worker's way to the service's hub: models go into the shared content-addressed store
 * directly, work goes over the service's internal routes (authenticated by the key it published).
 */
export class RemoteBroker implements AgentBroker {
  constructor(
    private readonly url: string,
    private readonly key: string,
    readonly models: ModelStore,
  ) {}

  static fromEnv(env: NodeJS.ProcessEnv = process.env): RemoteBroker | null {
    const url = env[HUB_ENV.url];
    const key = env[HUB_ENV.key];
    const models = env[HUB_ENV.models];
    return url && key && models ? new RemoteBroker(url, key, new ModelStore(models)) : null;
  }

  /** The internal routes answer { result } or { failure: { code, params } }: the worker throws the service's own error. */
  private async call<T>(method: string, route: string, body?: unknown): Promise<T> {
    type Answer = { result?: T; failure?: { code: ErrorCode; params: Record<string, string | number> }; message?: string };
    let answer: Answer;
    try {
      // node:http, not fetch: work waits for the board up to the hub's deadline, longer than fetch's header timeout.
      answer = await requestJson<Answer>(method, this.url + route, { [HUB_KEY_HEADER]: this.key }, body);
    } catch (e) {
      throw new TailorError('SERVER_UNREACHABLE', { server: this.url, reason: (e as Error).message });
    }
    if (answer.failure) throw new TailorError(answer.failure.code, answer.failure.params);
    if (!answer || !('result' in answer)) throw new TailorError('SERVER_UNREACHABLE', { server: this.url, reason: answer?.message ?? 'unexpected answer' });
    return answer.result as T;
  }

  waitForAgent(device: string): Promise<AgentReport> {
    return this.call('GET', `/agents/${encodeURIComponent(device)}/internal/report?wait=1`);
  }

  report(device: string): Promise<AgentReport | null> {
    return this.call('GET', `/agents/${encodeURIComponent(device)}/internal/report?wait=0`);
  }

  run(device: string, request: WorkRequest): Promise<WorkResult> {
    return this.call('POST', `/agents/${encodeURIComponent(device)}/internal/run`, request);
  }
}
