import { TailorError } from '../../core/errors';
import { BackendOptions, DeviceBackend, LoadedModel, MeasureOptions, NodeEvent, ProfiledModel } from '../backend';
import { readTflite } from '../../tflite/reader';
import { nameKernels } from './attribute';
import { SummarySnapshot, kernelMeans, parseProfilingSummary } from './parser';
import { TfliteRunner, fillDeterministicInputs, inspectTfliteModel } from './runtime';
import { tfliteVersion } from './version';

export { runTflite } from './runtime';

/** Runs one profiled measurement can take: the runtime's profiler keeps every event, in a buffer sized up front. */
export const MAX_PROFILED_RUNS = 256;

/** Untimed runs of a fresh runner before its profile window: the first run packs the weights. */
const FRESH_RUNNER_WARMUP = 2;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Infer() is synchronous: yield once per call so a service stays responsive between measurements. */
async function timeRuns(infer: () => void, { warmup, runs }: MeasureOptions, beforeTimed?: () => void): Promise<number[]> {
  await yieldToEventLoop();
  for (let i = 0; i < warmup; i++) infer();
  if (runs > 0) beforeTimed?.();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    infer();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times;
}

async function openRunner(model: Uint8Array, threads: number, profileEntries?: number): Promise<TfliteRunner> {
  const runner = await TfliteRunner.create(model, { threads, profileEntries });
  try {
    fillDeterministicInputs(runner);
    return runner;
  } catch (e) {
    runner.dispose();
    throw e;
  }
}

/** The TFLite runtime with XNNPACK, compiled to WebAssembly (SIMD; the threaded build when threads > 1), on this machine. */
export class TfliteWasmBackend implements DeviceBackend {
  readonly name = 'tflite-wasm';
  readonly modelFormat = 'tflite';
  readonly threads: number;

  constructor(options: BackendOptions) {
    this.threads = options.threads ?? 1;
    if (!Number.isInteger(this.threads) || this.threads < 1) throw new TailorError('INVALID_OPTION', { option: 'threads', reason: `${this.threads} is not a positive integer` });
  }

  runtimeVersion(): string {
    return tfliteVersion();
  }

  async load(model: Uint8Array): Promise<LoadedModel> {
    const runner = await openRunner(model, this.threads);
    return {
      measure: (options) => timeRuns(() => runner.infer(), options),
      dispose: async () => runner.dispose(),
    };
  }

  /**
   * Each measure() call profiles on a runner of its own, made for the call and deleted after it:
   * the runtime keeps profiles only for the few most recently created runners (older ones return
   * an empty summary once more are loaded), and a fresh runner also keeps the averaging window
   * exact (the summary's means are printed to 1 µs and accumulate over every summary taken).
   * A call's kernel means leave out the runner's first runs (weight packing, cold caches); finish()
   * returns them as one representative run per timed run of that call, so medians over runs are
   * medians over calls, as with runtimes that report every run.
   */
  async loadProfiled(model: Uint8Array): Promise<ProfiledModel> {
    // Events per run: one per XNNPACK operator and per interpreter node, at most one each per model op.
    const eventsPerRun = 2 * inspectTfliteModel(model).operators + 2;
    const timedRuns: NodeEvent[][] = [];
    const threads = this.threads;
    return {
      async measure(options) {
        const warmup = Math.max(options.warmup, FRESH_RUNNER_WARMUP);
        if (warmup + options.runs > MAX_PROFILED_RUNS) {
          throw new TailorError('TFLITE_RUNTIME', { action: 'profile the model', reason: `one profiled measurement takes at most ${MAX_PROFILED_RUNS} runs (the profiler keeps every event)` });
        }
        const runner = await openRunner(model, threads, eventsPerRun * (warmup + options.runs + 1));
        try {
          let runs = 0;
          let before: SummarySnapshot | null = null;
          const snapshot = (): SummarySnapshot => ({ summary: parseProfilingSummary(runner.profilingSummary()), runs });
          const times = await timeRuns(() => {
            runner.infer();
            runs++;
          }, { warmup, runs: options.runs }, () => (before = snapshot()));
          if (options.runs > 0) {
            if (runner.profileOverflowed()) throw new TailorError('TFLITE_RUNTIME', { action: 'profile the model', reason: 'the profiler buffer overflowed, kernel times would be incomplete' });
            const run = kernelMeans(before, snapshot());
            for (let i = 0; i < options.runs; i++) timedRuns.push(run);
          }
          return times;
        } finally {
          runner.dispose();
        }
      },
      async finish(): Promise<NodeEvent[][]> {
        if (!timedRuns.length) return [];
        // Named after the ops' output tensors, so kernels attribute to pieces as onnxruntime's do.
        const graph = readTflite(model);
        const named = new Map<NodeEvent[], NodeEvent[]>();
        return timedRuns.map((run) => named.get(run) ?? named.set(run, nameKernels(graph, run)).get(run)!);
      },
      dispose: async () => undefined,
    };
  }
}
