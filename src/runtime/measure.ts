import { DeviceBackend, LoadedModel, NodeEvent, ProfiledModel } from './backend';

export interface InterleaveOptions {
  /** Untimed runs of each model before the first pass. */
  warmup: number;
  passes: number;
  /** Timed runs per pass, after one untimed run: one count for all models or one per model. */
  runsPerPass: number | number[];
  signal?: AbortSignal;
  onPass?: (pass: number, passes: number) => void;
}

/**
 * Times several loaded models round-robin, so slow drifts of a shared machine (other tenants,
 * clock changes) spread over all models instead of biasing whichever ran in a bad moment.
 * Returns every timed run of each model, in ms.
 */
export async function measureInterleaved<M extends LoadedModel>(models: M[], options: InterleaveOptions): Promise<number[][]> {
  const samples = models.map(() => [] as number[]);
  for (const m of models) {
    options.signal?.throwIfAborted();
    await m.measure({ warmup: options.warmup, runs: 0 });
  }
  for (let pass = 0; pass < options.passes; pass++) {
    options.signal?.throwIfAborted();
    for (let i = 0; i < models.length; i++) {
      const runs = typeof options.runsPerPass === 'number' ? options.runsPerPass : options.runsPerPass[i];
      samples[i].push(...(await models[i].measure({ warmup: 1, runs })));
    }
    options.onPass?.(pass + 1, options.passes);
  }
  return samples;
}

export interface ProfiledRoundRobinOptions {
  warmup: number;
  passes: number;
  wallRunsPerPass: number;
  profileRunsPerPass: number;
  /** Timed runs of each extra per pass, as a multiple of wallRunsPerPass (extras are cheap). */
  extraRunsFactor: number;
  signal?: AbortSignal;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Times each model unprofiled (wall time) and profiled (per-kernel events), plus plain-only
 * extras (overhead probes, speed references), all round-robin. `models` are built on demand,
 * yielding between them: building is synchronous work, and the service must stay responsive.
 * Every loaded model is disposed, also on abort.
 */
export async function measureProfiledRoundRobin(
  backend: DeviceBackend,
  models: (() => Uint8Array)[],
  extras: Uint8Array[],
  o: ProfiledRoundRobinOptions,
  onPass: (pass: number) => void,
): Promise<{ extraWall: number[][]; wall: number[][]; events: NodeEvent[][][] }> {
  const open = new Set<LoadedModel>();
  const load = async <M extends LoadedModel>(m: Promise<M>) => {
    const loaded = await m;
    open.add(loaded);
    return loaded;
  };
  try {
    const order: LoadedModel[] = [];
    const runsPerPass: number[] = [];
    for (const bytes of extras) {
      order.push(await load(backend.load(bytes)));
      runsPerPass.push(o.extraRunsFactor * o.wallRunsPerPass);
    }
    const profiled: ProfiledModel[] = [];
    for (const build of models) {
      o.signal?.throwIfAborted();
      const bytes = build();
      const prof = await load(backend.loadProfiled(bytes));
      profiled.push(prof);
      order.push(await load(backend.load(bytes)), prof);
      runsPerPass.push(o.wallRunsPerPass, o.profileRunsPerPass);
      await yieldToEventLoop();
    }
    const samples = await measureInterleaved(order, { warmup: o.warmup, passes: o.passes, runsPerPass, signal: o.signal, onPass });
    const events: NodeEvent[][][] = [];
    for (const p of profiled) {
      open.delete(p);
      events.push(await p.finish());
    }
    return { extraWall: samples.slice(0, extras.length), wall: models.map((_, i) => samples[extras.length + 2 * i]), events };
  } finally {
    for (const m of open) await m.dispose().catch(() => undefined);
  }
}
