import { PROFILE_DEFAULTS } from '../core/defaults';
import { median } from '../core/latency';
import { Workspace } from '../core/workspace';
import { OnnxGraph } from '../export/onnx-graph';
import { DeviceBackend, NodeEvent } from '../runtime/backend';
import { DeviceDescriptor } from '../runtime/devices';
import { Fingerprint } from '../runtime/fingerprint';
import { withMeasurementLock } from '../runtime/machine-lock';
import { attributeOptimized, eventKeys, OptimizedNode, readOptimizedGraph } from './attribute';
import { FEATURE_NAMES, kernelFeatures } from './features';
import { KERNEL_TYPES, KernelType, planKernels } from './fusion';
import { loadKernelGraph, outputBytes } from './graph';
import { KernelProfileFormat, runKernelProfile } from './profile-driver';
import { trainTypeModel } from './regressors';
import { KERNEL_SAMPLER_VERSION, sampleGraph } from './sampler';
import { KERNEL_MODEL_SCHEMA, KernelModelFile, KernelProfile, KernelSample, ProfiledGraph } from './store';

export interface KernelProfileOptions {
  seed: number;
  /** Number of sampled profiling graphs (each holds several kernels). */
  samples: number;
  /** Graphs timed together, round-robin, in one measurement window; the profile is saved after each. */
  batchSize: number;
  warmup: number;
  passes: number;
  wallRunsPerPass: number;
  profileRunsPerPass: number;
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number; message: string }) => void;
}

// 270 graphs: 27 of each of the ten family slots of the sampler (see sampler.ts)
export const KERNEL_PROFILE_DEFAULTS = {
  seed: 0, samples: 270, batchSize: 12, warmup: PROFILE_DEFAULTS.warmup, passes: PROFILE_DEFAULTS.passes,
  wallRunsPerPass: PROFILE_DEFAULTS.wallRunsPerPass, profileRunsPerPass: PROFILE_DEFAULTS.profileRunsPerPass,
} as const;

/** Graphs of the drift references: fixed for a seed, timed in every window. */
export const REFERENCE_INDICES = [1_000_000, 1_000_003, 1_000_004];

export interface KernelProfileResult<K extends string = KernelType> {
  profileFile: string;
  modelFile: string;
  profile: KernelProfile<K>;
  model: KernelModelFile<K>;
  measuredGraphs: number;
  skippedGraphs: number;
  seconds: number;
}

/** A one-kernel model: its wall time is the fixed per-inference cost (session call, input copy). */
export function overheadProbe(): Uint8Array {
  const g = new OnnxGraph(0, undefined, 'probe');
  const x = g.input('input', [1, 8, 4, 4]);
  g.output(g.globalAvgPool(x));
  return g.bytes();
}

/**
 * Two models that differ only in what they return: a 1 MiB tensor upsampled from a small input,
 * then averaged to a few values, returned alone or with the 1 MiB tensor. Their difference in
 * wall time is the cost of returning 1 MiB (onnxruntime-node hands every output back in fresh
 * memory), which no kernel's time holds.
 */
export function outputProbes(): [Uint8Array, Uint8Array] {
  const probe = (returnBig: boolean) => {
    const g = new OnnxGraph(0, undefined, 'output-probe');
    const big = g.resize(g.input('input', [1, 16, 8, 8]), 16, 'nearest');
    if (returnBig) g.output(big);
    g.output(g.globalAvgPool(big));
    return g.bytes();
  };
  return [probe(false), probe(true)];
}
export const OUTPUT_PROBE_MIB = (16 * 128 * 128 * 4) / 2 ** 20;

/**
 * The device's NCHWc block size, read off the graph the runtime builds for two probes: a 24- and
 * a 32-channel MaxPool run blocked only when the channels are a multiple of the block.
 */
export async function detectBlockSize(backend: DeviceBackend): Promise<number> {
  if (!backend.optimizedModel) return 0;
  for (const [channels, block] of [[24, 8], [32, 16]] as const) {
    const g = new OnnxGraph(0, undefined, 'block-probe');
    const x = g.input('input', [1, channels, 8, 8]);
    g.output(g.maxPool(x, 2, 2));
    const nodes = readOptimizedGraph(await backend.optimizedModel(g.bytes()));
    if (nodes.some((n) => n.domain === 'com.microsoft.nchwc' && n.opType === 'MaxPool')) return block;
  }
  return 0;
}

interface PreparedGraph {
  index: number;
  id: string;
  family: string;
  bytes: Uint8Array;
  outputBytes: number;
  kernels: { id: string; type: KernelType; x: number[]; work: number }[];
  /** Profiler event name -> planned kernel id. */
  byEvent: Map<string, string>;
  agreement: ProfiledGraph['agreement'];
}

async function prepare(backend: DeviceBackend, index: number, seed: number, blockSize: number): Promise<PreparedGraph> {
  const s = sampleGraph(seed, index);
  const g = loadKernelGraph(s.bytes, { file: s.id });
  const plan = planKernels(g, { blockSize });
  const macs = new Map(g.nodes.map((n) => [n.name, n.macs ?? 0]));
  const kernels = plan.kernels.map((k) => ({ id: k.id, ...kernelFeatures(k, (n) => macs.get(n) ?? 0, g.analysis.params) }));
  let optimized: OptimizedNode[];
  let agreement: ProfiledGraph['agreement'] = null;
  if (backend.optimizedModel) {
    optimized = readOptimizedGraph(await backend.optimizedModel(s.bytes));
  } else {
    optimized = g.nodes.map((n) => ({ name: n.name, opType: n.opType, domain: '', inputs: n.inputs, outputs: n.outputs }));
  }
  const a = attributeOptimized(g, plan, optimized);
  if (backend.optimizedModel) agreement = { missedReorders: a.missedReorders.length, extraReorders: a.extraReorders.length, unattributedMs: 0 };
  return { index, id: s.id, family: s.family, bytes: s.bytes, outputBytes: outputBytes(g), kernels: kernels.map(({ id, type, x, work }) => ({ id, type, x, work })), byEvent: a.byNode, agreement };
}

/**
 * What the profiler saw of one graph's kernels: per planned kernel, the median over profiled runs
 * of its events' summed durations, and how many events it had (onnxruntime may run one planned
 * kernel as several). Labels are derived from these at training time (kernelLabels).
 */
export function kernelMeasurements(prepared: Pick<PreparedGraph, 'kernels' | 'byEvent'>, runs: NodeEvent[][]): { ms: Map<string, number>; events: Map<string, number>; unattributedMs: number } {
  const perRun = runs.map((run) => {
    const t = new Map<string, number>(prepared.kernels.map((k) => [k.id, 0]));
    const n = new Map<string, number>(prepared.kernels.map((k) => [k.id, 0]));
    let lost = 0;
    eventKeys(run, prepared.byEvent).forEach((key, i) => {
      const id = prepared.byEvent.get(key);
      if (id !== undefined && t.has(id)) {
        t.set(id, t.get(id)! + run[i].durMs);
        n.set(id, n.get(id)! + 1);
      } else lost += run[i].durMs;
    });
    return { t, n, lost };
  });
  return {
    ms: new Map(prepared.kernels.map((k) => [k.id, median(perRun.map((r) => r.t.get(k.id)!))])),
    events: new Map(prepared.kernels.map((k) => [k.id, median(perRun.map((r) => r.n.get(k.id)!))])),
    unattributedMs: median(perRun.map((r) => r.lost)),
  };
}

/** Per batch window: baseline / references-in-that-window (median over references), as the LUT profiler corrects drift. */
export function batchScales(p: Pick<KernelProfile<string>, 'reference'>): { scales: number[]; baseline: number[] } {
  const windows = p.reference.msByBatch;
  const baseline = p.reference.graphs.map((_, i) => median(windows.map((w) => w[i])));
  return { scales: windows.map((w) => median(w.map((ms, i) => baseline[i] / ms))), baseline };
}

/**
 * What a graph's wall time holds beside its kernels' profiled times, per executed kernel: the
 * executor's gap between kernels minus the profiler's own cost per kernel (about -1.5 us here: a
 * profiled kernel takes that much longer than it does unprofiled). Fitted over all graphs by
 * weighted least squares on wall - fixed cost - output cost - profiled kernel times = perEventMs x
 * events (weights 1/wall², graphs off by more than 3 MADs refitted without).
 */
export function fitPerEventMs(rows: { y: number; events: number; wall: number }[]): number {
  const solve = (rs: typeof rows) => {
    const w = rs.map((r) => 1 / r.wall ** 2);
    const den = rs.reduce((a, r, i) => a + w[i] * r.events ** 2, 0);
    return den > 0 ? rs.reduce((a, r, i) => a + w[i] * r.events * r.y, 0) / den : 0;
  };
  const first = solve(rows);
  const rel = rows.map((r) => (r.y - first * r.events) / r.wall);
  const mid = median(rel);
  const mad = median(rel.map((v) => Math.abs(v - mid)));
  return mad > 0 ? solve(rows.filter((_, i) => Math.abs(rel[i] - mid) <= 3 * 1.4826 * mad)) : first;
}

/**
 * Training labels from a profile: every kernel's in-context time at the profile's baseline speed.
 * A kernel's profiled time plus the fitted per-event difference, then per graph scaled so the
 * kernels add up to its unprofiled wall time minus the fixed and output costs: what remains of a
 * graph's mismatch (noise, a session slowed by its profiler) is shared in proportion, never as a
 * constant that would swamp its small kernels. Graphs whose kernels would need scaling by more
 * than 2x are left out (a measurement disturbed by another process).
 */
export function kernelLabels<K extends string = KernelType>(p: KernelProfile<K>): { samples: KernelSample<K>[]; overheadMs: number; outputMsPerMiB: number; perEventMs: number; skippedGraphs: number } {
  const { scales } = batchScales(p);
  const scaleOf = (gr: ProfiledGraph<K>) => scales[gr.batch] ?? 1;
  const perBatch = (v: number[]) => median(v.map((x, i) => x * (scales[i] ?? 1)));
  const overheadMs = perBatch(p.overheadMs.map((o) => o.p50 ?? o.mean));
  const outputMsPerMiB = Math.max(perBatch(p.outputMsPerMiB), 0);
  const fixedOf = (gr: ProfiledGraph<K>) => overheadMs + outputMsPerMiB * (gr.outputBytes / 2 ** 20);
  const perEventMs = fitPerEventMs(p.graphs.map((gr) => {
    const s = scaleOf(gr);
    return { y: gr.wallMs * s - fixedOf(gr) - s * gr.kernels.reduce((a, k) => a + k.ms, 0), events: gr.kernels.reduce((a, k) => a + k.events, 0), wall: gr.wallMs * s };
  }));
  const samples: KernelSample<K>[] = [];
  let skippedGraphs = 0;
  for (const gr of p.graphs) {
    const s = scaleOf(gr);
    const t = gr.kernels.map((k) => (k.ms > 0 ? Math.max(k.ms * s + perEventMs * k.events, 0.2 * k.ms * s) : 0));
    const f = (gr.wallMs * s - fixedOf(gr)) / t.reduce((a, b) => a + b, 0);
    if (!(f >= 0.5 && f <= 2)) {
      skippedGraphs++;
      continue;
    }
    gr.kernels.forEach((k, i) => t[i] > 0 && k.work > 0 && samples.push({ id: k.id, type: k.type, x: k.x, work: k.work, ms: t[i] * f }));
  }
  return { samples, overheadMs, outputMsPerMiB, perEventMs, skippedGraphs };
}

/** Trains one forest per kernel type on a (complete) profile; drift-corrected to the profile's baseline speed. */
export function trainKernelModel(p: KernelProfile): KernelModelFile {
  const { baseline } = batchScales(p);
  const { samples, overheadMs, outputMsPerMiB } = kernelLabels(p);
  const byType = new Map<KernelType, KernelSample[]>();
  for (const k of samples) (byType.get(k.type) ?? byType.set(k.type, []).get(k.type)!).push(k);
  const models: KernelModelFile['models'] = {};
  for (const type of KERNEL_TYPES) {
    const typed = byType.get(type);
    if (typed?.length) models[type] = trainTypeModel(type, typed, p.method.seed);
  }
  return {
    schema: KERNEL_MODEL_SCHEMA, device: p.device, backend: p.backend, created: new Date().toISOString(), seed: p.method.seed,
    blockSize: p.blockSize, features: [...FEATURE_NAMES], target: 'log(ms/work)', overheadMs, outputMsPerMiB,
    reference: { graphs: p.reference.graphs, ms: baseline }, models,
  };
}

export function referenceGraphs(seed: number): Uint8Array[] {
  return REFERENCE_INDICES.map((i) => sampleGraph(seed, i).bytes);
}

/**
 * `tailor profile --kernels`: times sampled kernel-profiling graphs on the device in context
 * (round-robin windows of `batchSize` graphs, each with and without the runtime's profiler, plus
 * the fixed-cost probe and drift references), attributes every executed kernel to the planned
 * kernel it belongs to, saves after every window (an interrupted run resumes), then trains one
 * random forest per kernel type and saves it beside the measurements.
 */
export function profileKernels(ws: Workspace, device: DeviceDescriptor, backend: DeviceBackend, fingerprint: Fingerprint, o: KernelProfileOptions): Promise<KernelProfileResult> {
  const onnx: KernelProfileFormat<KernelType, PreparedGraph> = {
    blockSize: () => detectBlockSize(backend),
    samplerVersion: KERNEL_SAMPLER_VERSION,
    referenceIds: (seed) => REFERENCE_INDICES.map((i) => sampleGraph(seed, i).id),
    extras: (seed) => [overheadProbe(), ...outputProbes(), ...referenceGraphs(seed)],
    preparing: 'building and loading',
    prepare: (index, p) => prepare(backend, index, o.seed, p.blockSize),
    measure: (run, onWait) => withMeasurementLock(backend, run, onWait),
    splitExtras: ([overhead, withoutOutput, withOutput, ...references]) => ({
      overhead, references, outputMsPerMiB: Math.round(((median(withOutput) - median(withoutOutput)) / OUTPUT_PROBE_MIB) * 1e6) / 1e6,
    }),
    measureKernels: (gr, runs) => {
      const { ms, events, unattributedMs } = kernelMeasurements(gr, runs);
      return { ms, events, agreement: gr.agreement ? { ...gr.agreement, unattributedMs } : null };
    },
    train: trainKernelModel,
    trainedPer: 'kernel type',
  };
  return runKernelProfile(ws, device, backend, fingerprint, o, onnx);
}
