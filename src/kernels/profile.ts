import * as fs from 'node:fs';
import { PROFILE_DEFAULTS, REFERENCE_RUNS_FACTOR } from '../core/defaults';
import { TailorError } from '../core/errors';
import { median, summarize } from '../core/latency';
import { Workspace } from '../core/workspace';
import { OnnxGraph } from '../export/onnx-graph';
import { withTableLock } from '../latency/table';
import { DeviceBackend, NodeEvent } from '../runtime/backend';
import { DeviceDescriptor } from '../runtime/devices';
import { Fingerprint, describeFingerprint } from '../runtime/fingerprint';
import { withMachineLock } from '../runtime/machine-lock';
import { measureProfiledRoundRobin } from '../runtime/measure';
import { attributeOptimized, eventKeys, OptimizedNode, readOptimizedGraph } from './attribute';
import { FEATURE_NAMES, kernelFeatures } from './features';
import { KERNEL_TYPES, KernelType, planKernels } from './fusion';
import { loadKernelGraph, outputBytes } from './graph';
import { trainTypeModel } from './regressors';
import { sampleGraph } from './sampler';
import {
  KERNEL_MODEL_SCHEMA, KERNEL_PROFILE_SCHEMA, KernelModelFile, KernelProfile, KernelSample, ProfiledGraph,
  profilePath, readKernelProfile, saveKernelModel, saveKernelProfile,
} from './store';

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

export const KERNEL_PROFILE_DEFAULTS = {
  seed: 0, samples: 240, batchSize: 12, warmup: PROFILE_DEFAULTS.warmup, passes: PROFILE_DEFAULTS.passes,
  wallRunsPerPass: PROFILE_DEFAULTS.wallRunsPerPass, profileRunsPerPass: PROFILE_DEFAULTS.profileRunsPerPass,
} as const;

/** Graphs of the drift references: fixed for a seed, timed in every window. */
export const REFERENCE_INDICES = [1_000_000, 1_000_003, 1_000_004];

export interface KernelProfileResult {
  profileFile: string;
  modelFile: string;
  profile: KernelProfile;
  model: KernelModelFile;
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

function measureBatch(backend: DeviceBackend, graphs: PreparedGraph[], extras: Uint8Array[], o: KernelProfileOptions, onPass: (p: number) => void) {
  return measureProfiledRoundRobin(backend, graphs.map((gr) => () => gr.bytes), extras, { ...o, extraRunsFactor: REFERENCE_RUNS_FACTOR }, onPass);
}

/** Per batch window: baseline / references-in-that-window (median over references), as the LUT profiler corrects drift. */
export function batchScales(p: Pick<KernelProfile, 'reference'>): { scales: number[]; baseline: number[] } {
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
export function kernelLabels(p: KernelProfile): { samples: KernelSample[]; overheadMs: number; outputMsPerMiB: number; perEventMs: number; skippedGraphs: number } {
  const { scales } = batchScales(p);
  const scaleOf = (gr: ProfiledGraph) => scales[gr.batch] ?? 1;
  const perBatch = (v: number[]) => median(v.map((x, i) => x * (scales[i] ?? 1)));
  const overheadMs = perBatch(p.overheadMs.map((o) => o.p50 ?? o.mean));
  const outputMsPerMiB = Math.max(perBatch(p.outputMsPerMiB), 0);
  const fixedOf = (gr: ProfiledGraph) => overheadMs + outputMsPerMiB * (gr.outputBytes / 2 ** 20);
  const perEventMs = fitPerEventMs(p.graphs.map((gr) => {
    const s = scaleOf(gr);
    return { y: gr.wallMs * s - fixedOf(gr) - s * gr.kernels.reduce((a, k) => a + k.ms, 0), events: gr.kernels.reduce((a, k) => a + k.events, 0), wall: gr.wallMs * s };
  }));
  const samples: KernelSample[] = [];
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
export async function profileKernels(ws: Workspace, device: DeviceDescriptor, backend: DeviceBackend, fingerprint: Fingerprint, o: KernelProfileOptions): Promise<KernelProfileResult> {
  if (!Number.isInteger(o.samples) || o.samples < 1) throw new TailorError('INVALID_OPTION', { option: '--samples', reason: 'must be a positive integer' });
  const file = profilePath(ws, device.id);
  const started = Date.now();
  return withTableLock(file, async () => {
    // --force starts over without reading the old file (it may be damaged); it is kept as .bak
    if (o.force && fs.existsSync(file)) fs.renameSync(file, `${file}.bak-${Date.now()}`);
    let profile: KernelProfile | null = fs.existsSync(file) ? readKernelProfile(file) : null;
    if (profile && !o.force) {
      if (profile.device.fingerprint?.hash !== fingerprint.hash || profile.backend.threads !== backend.threads) {
        const recorded = profile.device.fingerprint ? describeFingerprint(profile.device.fingerprint) : 'none';
        throw new TailorError('FINGERPRINT_MISMATCH', { file, table: `${recorded}, ${profile.backend.threads} thread(s)`, current: `${describeFingerprint(fingerprint)}, ${backend.threads} thread(s)` });
      }
      if (profile.method.seed !== o.seed) {
        throw new TailorError('INVALID_OPTION', { option: '--seed', reason: `${file} was measured with seed ${profile.method.seed}; pass --seed ${profile.method.seed} to extend it, or --force to start over` });
      }
    }
    const now = new Date().toISOString();
    if (!profile) {
      const blockSize = await detectBlockSize(backend);
      profile = {
        schema: KERNEL_PROFILE_SCHEMA, device: { id: device.id, fingerprint },
        backend: { name: backend.name, version: backend.runtimeVersion(), threads: backend.threads }, created: now, updated: now,
        method: { seed: o.seed, samples: o.samples, batchSize: o.batchSize, warmup: o.warmup, passes: o.passes, wallRunsPerPass: o.wallRunsPerPass, profileRunsPerPass: o.profileRunsPerPass },
        blockSize, overheadMs: [], outputMsPerMiB: [], reference: { graphs: REFERENCE_INDICES.map((i) => sampleGraph(o.seed, i).id), msByBatch: [] }, graphs: [], complete: false,
      };
    }
    const p = profile;
    p.method.samples = Math.max(p.method.samples, o.samples);
    const have = new Set(p.graphs.map((gr) => gr.index));
    const todo = Array.from({ length: o.samples }, (_, i) => i).filter((i) => !have.has(i));
    const batches: number[][] = [];
    for (let i = 0; i < todo.length; i += o.batchSize) batches.push(todo.slice(i, i + o.batchSize));
    const total = batches.length * (o.passes + 1) + 1;
    let done = 0;
    const extras = [overheadProbe(), ...outputProbes(), ...referenceGraphs(o.seed)];
    for (const batch of batches) {
      o.signal?.throwIfAborted();
      o.onProgress?.({ done, total, message: `graphs ${batch[0] + 1}-${batch[batch.length - 1] + 1}/${o.samples}: building and loading` });
      const prepared: PreparedGraph[] = [];
      for (const i of batch) prepared.push(await prepare(backend, i, o.seed, p.blockSize));
      done++;
      const { wall, events, extraWall } = await withMachineLock(
        () => measureBatch(backend, prepared, extras, o, (pass) => o.onProgress?.({ done: done + pass - 1, total, message: `graphs ${batch[0] + 1}-${batch[batch.length - 1] + 1}/${o.samples}: pass ${pass}/${o.passes}` })),
        () => o.onProgress?.({ done, total, message: 'waiting for another measurement on this machine' }),
      );
      done += o.passes;
      const [overhead, withoutOutput, withOutput, ...refs] = extraWall;
      const batchIndex = p.overheadMs.length;
      p.overheadMs.push(summarize(overhead));
      p.outputMsPerMiB.push(Math.round(((median(withOutput) - median(withoutOutput)) / OUTPUT_PROBE_MIB) * 1e6) / 1e6);
      p.reference.msByBatch.push(refs.map((r) => Math.round(median(r) * 1e6) / 1e6));
      prepared.forEach((gr, i) => {
        const { ms, events: n, unattributedMs } = kernelMeasurements(gr, events[i]);
        p.graphs.push({
          index: gr.index, id: gr.id, family: gr.family, batch: batchIndex, wallMs: median(wall[i]), outputBytes: gr.outputBytes,
          kernels: gr.kernels.map((k) => ({ ...k, ms: Math.round(ms.get(k.id)! * 1e6) / 1e6, events: n.get(k.id)! })),
          agreement: gr.agreement ? { ...gr.agreement, unattributedMs } : null,
        });
      });
      p.graphs.sort((a, b) => a.index - b.index);
      p.updated = new Date().toISOString();
      saveKernelProfile(ws, p);
    }
    o.onProgress?.({ done, total, message: 'training one random forest per kernel type' });
    p.complete = p.graphs.length >= p.method.samples;
    saveKernelProfile(ws, p);
    const model = trainKernelModel(p);
    const modelFile = saveKernelModel(ws, model);
    o.onProgress?.({ done: total, total, message: 'done' });
    return { profileFile: file, modelFile, profile: p, model, measuredGraphs: todo.length, skippedGraphs: o.samples - todo.length, seconds: (Date.now() - started) / 1000 };
  });
}
