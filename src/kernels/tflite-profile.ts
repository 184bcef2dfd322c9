import { analyzeTflite } from '../analysis/tflite';
import { TailorError } from '../core/errors';
import { median } from '../core/latency';
import { Workspace } from '../core/workspace';
import { DeviceBackend, NodeEvent } from '../runtime/backend';
import { DeviceDescriptor } from '../runtime/devices';
import { Fingerprint } from '../runtime/fingerprint';
import { withMeasurementLock } from '../runtime/machine-lock';
import { readTflite } from '../tflite/reader';
import { KernelProfileOptions, KernelProfileResult, batchScales, kernelLabels } from './profile';
import { KernelProfileFormat, runKernelProfile } from './profile-driver';
import { trainTypeModel } from './regressors';
import { TFLITE_FEATURE_NAMES, TFLITE_OP_KINDS, TfliteOpKind, planTfliteOps } from './tflite-ops';
import { sampleTfliteGraph, tfliteOverheadProbe } from './tflite-sampler';
import { KERNEL_MODEL_SCHEMA, KernelModelFile, KernelProfile, KernelSample } from './store';

/**
 * TFLite's profiler prints each op's mean over the runs so far to 1 us, and a measurement's mean is
 * the difference of two such summaries (parser.ts kernelMeans), whose rounding error grows as its
 * runs shrink: about 2 us with onnxruntime's 2 profiled runs per pass, under 1 us with 8.
 */
export const TFLITE_PROFILE_DEFAULTS = { seed: 0, samples: 200, batchSize: 10, warmup: 3, passes: 5, wallRunsPerPass: 4, profileRunsPerPass: 8 } as const;

/** Graphs of the drift references (an inverted-residual chain, a CNN chain, a whole network): fixed for a seed, timed in every window. */
export const TFLITE_REFERENCE_INDICES = [1_000_000, 1_000_001, 1_000_003];

/** What the tflite-wasm backend reports for an empty profiling summary (src/runtime/tflite-wasm/parser.ts). */
const EMPTY_SUMMARY = /^TFLite profile summary: no "Run Order" table/;

export function tfliteReferenceGraphs(seed: number): Uint8Array[] {
  return TFLITE_REFERENCE_INDICES.map((i) => sampleTfliteGraph(seed, i).bytes);
}

interface PreparedGraph {
  index: number;
  id: string;
  family: string;
  bytes: Uint8Array;
  kernels: { id: string; type: TfliteOpKind; x: number[]; work: number }[];
  /** Always 0: outputs are not copied per run, so they cost no wall time. */
  outputBytes: number;
  /** Op name (as the profile names operators) -> the kernel it runs in (itself, or the op a fused op folds into). */
  kernelOf: Map<string, string>;
  /** Ops the plan folds into a neighbour. */
  fused: Set<string>;
}

function prepare(seed: number, index: number): PreparedGraph {
  const s = sampleTfliteGraph(seed, index);
  const plan = planTfliteOps(readTflite(s.bytes, s.id), analyzeTflite(s.bytes, { file: s.id }));
  const kernels = plan.ops.filter((o) => o.status === 'kernel' && o.features).map((o) => ({ id: o.name, type: o.kind!, x: o.features!.x, work: o.features!.work }));
  const kernelOf = new Map<string, string>();
  const fused = new Set<string>();
  for (const o of plan.ops) {
    if (o.status === 'kernel') kernelOf.set(o.name, o.name);
    if (o.status === 'fused' && o.into) {
      kernelOf.set(o.name, o.into);
      fused.add(o.name);
    }
  }
  return { index, id: s.id, family: s.family, bytes: s.bytes, kernels, outputBytes: 0, kernelOf, fused };
}

/**
 * Per planned op: the median over profiled runs of the time of the operators named after it (an
 * op the plan fuses but the runtime ran counts with the op it was planned into), how many
 * operators it had per run, and how the plan agreed with what ran.
 */
export function tfliteOpMeasurements(prepared: Pick<PreparedGraph, 'kernels' | 'kernelOf' | 'fused'>, runs: NodeEvent[][]) {
  const perRun = runs.map((run) => {
    const t = new Map<string, number>(prepared.kernels.map((k) => [k.id, 0]));
    const n = new Map<string, number>(prepared.kernels.map((k) => [k.id, 0]));
    let lost = 0;
    let unfused = 0;
    for (const e of run) {
      const id = prepared.kernelOf.get(e.name);
      if (id !== undefined && t.has(id)) {
        t.set(id, t.get(id)! + e.durMs);
        n.set(id, n.get(id)! + 1);
        if (prepared.fused.has(e.name)) unfused++;
      } else lost += e.durMs;
    }
    return { t, n, lost, unfused };
  });
  const ms = new Map(prepared.kernels.map((k) => [k.id, median(perRun.map((r) => r.t.get(k.id)!))]));
  const events = new Map(prepared.kernels.map((k) => [k.id, median(perRun.map((r) => r.n.get(k.id)!))]));
  return {
    ms, events,
    agreement: {
      missedReorders: prepared.kernels.filter((k) => events.get(k.id) === 0).length,
      extraReorders: median(perRun.map((r) => r.unfused)),
      unattributedMs: median(perRun.map((r) => r.lost)),
    },
  };
}

/**
 * The profile prints means to 1 us: an op that ran faster reads 0 (a RESHAPE's copy, a sigmoid of
 * a 1x1 SE map). Floored at a fraction of that step instead of dropped, so tiny ops keep tiny
 * labels (dropping them would leave only the ones rounded up) and every planned kind is trained.
 */
export const TFLITE_MIN_OP_MS = 0.0002;

/** One random forest per TFLite op kind on a profile's in-context labels (drift-corrected to its baseline speed). */
export function trainTfliteModel(p: KernelProfile<TfliteOpKind>): KernelModelFile<TfliteOpKind> {
  const { baseline } = batchScales(p);
  const floored = { ...p, graphs: p.graphs.map((g) => ({ ...g, kernels: g.kernels.map((k) => ({ ...k, ms: Math.max(k.ms, TFLITE_MIN_OP_MS) })) })) };
  const { samples, overheadMs } = kernelLabels(floored);
  const byKind = new Map<TfliteOpKind, KernelSample<TfliteOpKind>[]>();
  for (const k of samples) (byKind.get(k.type) ?? byKind.set(k.type, []).get(k.type)!).push(k);
  const models: KernelModelFile<TfliteOpKind>['models'] = {};
  for (const kind of TFLITE_OP_KINDS) {
    const typed = byKind.get(kind);
    if (typed?.length) models[kind] = trainTypeModel(kind, typed, p.method.seed);
  }
  return {
    schema: KERNEL_MODEL_SCHEMA, format: 'tflite', device: p.device, backend: p.backend, created: new Date().toISOString(), seed: p.method.seed,
    blockSize: 0, features: [...TFLITE_FEATURE_NAMES], target: 'log(ms/work)', overheadMs, outputMsPerMiB: 0,
    reference: { graphs: p.reference.graphs, ms: baseline }, models,
  };
}

/**
 * `tailor profile --kernels` on a device whose runtime loads TFLite: sampled TFLite graphs timed
 * in context (round-robin windows, each with and without the runtime's profiler, beside the
 * fixed-cost probe and drift references), each profiled operator attributed to the op it ran,
 * saved after every window (an interrupted run resumes), then one random forest per op kind.
 * The same files and store format as the ONNX kernel regressors, with `format: "tflite"`.
 */
export function profileTfliteOps(ws: Workspace, device: DeviceDescriptor, backend: DeviceBackend, fingerprint: Fingerprint, o: KernelProfileOptions): Promise<KernelProfileResult<TfliteOpKind>> {
  const tflite: KernelProfileFormat<TfliteOpKind, PreparedGraph> = {
    format: 'tflite',
    checkBackend: () => {
      if (backend.modelFormat !== 'tflite') throw new TailorError('INVALID_OPTION', { option: '--kernels', reason: `device "${device.id}" runs ${backend.modelFormat} models, not TFLite` });
    },
    checkExisting: (profile, file) => {
      if ((profile.format ?? 'onnx') !== 'tflite') {
        throw new TailorError('INVALID_OPTION', { option: '--kernels', reason: `${file} is an ONNX kernel profile (the device's backend changed?); pass --force to start a TFLite one` });
      }
    },
    blockSize: async () => 0,
    referenceIds: (seed) => TFLITE_REFERENCE_INDICES.map((i) => sampleTfliteGraph(seed, i).id),
    extras: (seed) => [tfliteOverheadProbe(), ...tfliteReferenceGraphs(seed)],
    preparing: 'building',
    prepare: (index) => prepare(o.seed, index),
    measure: async (run, onWait, note) => {
      const measureWindow = () => withMeasurementLock(backend, run, onWait);
      try {
        return await measureWindow();
      } catch (e) {
        // The wasm runtime now and then returns an empty profiling summary for a fresh runner (seen
        // after several runners were made and deleted; not reproducible by size): the window is
        // measured once more, from scratch. Anything else, or a second failure, ends the run
        // (the windows saved so far are kept).
        if (!EMPTY_SUMMARY.test((e as Error).message ?? '')) throw e;
        note('the runtime returned an empty profile; measuring the window again');
        return measureWindow();
      }
    },
    // the TFLite runtime hands outputs back in place (no copy per run): no output cost
    splitExtras: ([overhead, ...references]) => ({ overhead, outputMsPerMiB: 0, references }),
    measureKernels: (gr, runs) => {
      const m = tfliteOpMeasurements(gr, runs);
      return { ms: m.ms, events: m.events, agreement: { ...m.agreement, unattributedMs: Math.round(m.agreement.unattributedMs * 1e6) / 1e6 } };
    },
    train: trainTfliteModel,
    trainedPer: 'op kind',
  };
  return runKernelProfile(ws, device, backend, fingerprint, o, tflite);
}
