import * as fs from 'node:fs';
import * as path from 'node:path';
import { TailorError } from '../core/errors';
import { writeFileAtomic, writeJsonAtomic } from '../core/fs-atomic';
import { Latency } from '../core/latency';
import { Workspace } from '../core/workspace';
import type { Fingerprint } from '../runtime/fingerprint';
import { FEATURE_NAMES } from './features';
import { KERNEL_TYPES, KernelType } from './fusion';
import { TFLITE_FEATURE_NAMES, TFLITE_OP_KINDS } from './tflite-ops';

export const KERNEL_PROFILE_SCHEMA = 'tailor.kernel-profile/v2';
export const KERNEL_MODEL_SCHEMA = 'tailor.kernel-regressors/v1';

/**
 * The model format a kernel profile and its regressors are for: ONNX kernels (onnxruntime, kernel
 * types of fusion.ts) or TFLite ops (the TFLite runtime, op kinds of tflite-ops.ts). One store
 * format for both; files without the field are ONNX (written before TFLite had regressors).
 */
export type KernelFormat = 'onnx' | 'tflite';

/** The kernel types (ONNX) or op kinds (TFLite) regressors exist for, and the feature row layout, per format. */
export function formatSpec(format: KernelFormat): { types: readonly string[]; features: readonly string[] } {
  return format === 'tflite' ? { types: TFLITE_OP_KINDS, features: TFLITE_FEATURE_NAMES } : { types: KERNEL_TYPES, features: FEATURE_NAMES };
}

/** One kernel timed in context: its type, features and in-context time (ms; a training label at the profile's baseline speed). */
export interface KernelSample<K extends string = KernelType> {
  id: string;
  type: K;
  x: number[];
  work: number;
  ms: number;
}

export interface ProfiledGraph<K extends string = KernelType> {
  index: number;
  id: string;
  family: string;
  /** Batch (measurement window) the graph was timed in. */
  batch: number;
  wallMs: number;
  /** Bytes of the graph's outputs: their copy into JS memory is in wallMs, in no kernel. */
  outputBytes: number;
  /** ms: the median profiled time of the kernel's events (as measured); events: how many per run. */
  kernels: (KernelSample<K> & { events: number })[];
  /**
   * How well the pure plan matched what the runtime ran (null: the backend cannot show it). TFLite:
   * missedReorders = planned ops without an operator in the profile, extraReorders = operators of
   * ops the plan folds away.
   */
  agreement: { missedReorders: number; extraReorders: number; unattributedMs: number } | null;
}

/** latency-tables/<device>/kernels/profile.json: the measurements, saved after every batch (resumable). */
export interface KernelProfile<K extends string = KernelType> {
  schema: typeof KERNEL_PROFILE_SCHEMA;
  /** Absent: onnx. */
  format?: KernelFormat;
  device: { id: string; fingerprint: Fingerprint | null };
  backend: { name: string; version: string; threads: number };
  created: string;
  updated: string;
  /** sampler: version of the sampled graphs (ONNX; absent: 1, see KERNEL_SAMPLER_VERSION). */
  method: { seed: number; samples: number; batchSize: number; warmup: number; passes: number; wallRunsPerPass: number; profileRunsPerPass: number; sampler?: number };
  /** NCHWc block size of the device's kernels (0: no blocked layout), found by a probe. */
  blockSize: number;
  /** Fixed per-inference cost per batch window: a one-kernel probe model's wall time. */
  overheadMs: Latency[];
  /** Cost of returning model outputs per batch window, in ms per MiB (outputProbes). */
  outputMsPerMiB: number[];
  /** Reference graphs timed in every batch window (drift): ms per batch, one entry per reference. */
  reference: { graphs: string[]; msByBatch: number[][] };
  graphs: ProfiledGraph<K>[];
  complete: boolean;
}

export interface TypeModel {
  samples: number;
  /** Median of ms/work over the samples: the model when there are too few samples for a forest. */
  medianMsPerWork: number;
  /**
   * ml-random-forest RandomForestRegression.toJSON(), predicting log(ms/work), or several (trained
   * on disjoint parts of the samples, see MAX_TRAIN_SAMPLES); null below the sample minimum.
   */
  forest: unknown | unknown[] | null;
  /** In-sample MAPE of the predicted ms (how well the forest fits its own samples). */
  fitMapePct: number;
}

/** latency-tables/<device>/kernels/regressors.json: one random forest per kernel type. */
export interface KernelModelFile<K extends string = KernelType> {
  schema: typeof KERNEL_MODEL_SCHEMA;
  /** Absent: onnx. */
  format?: KernelFormat;
  device: { id: string; fingerprint: Fingerprint | null };
  backend: { name: string; version: string; threads: number };
  created: string;
  seed: number;
  blockSize: number;
  features: string[];
  target: 'log(ms/work)';
  /** Fixed per-inference cost at the profile's baseline speed. */
  overheadMs: number;
  /** Per-inference cost per MiB of model outputs (their copy into JS memory); absent in older files: 0. */
  outputMsPerMiB?: number;
  /** Baseline wall time of each reference graph (median over the profile's windows). */
  reference: { graphs: string[]; ms: number[] };
  models: Partial<Record<K, TypeModel>>;
}

export function kernelsDir(ws: Workspace, device: string): string {
  return path.join(ws.tablesDir, device, 'kernels');
}
export const profilePath = (ws: Workspace, device: string) => path.join(kernelsDir(ws, device), 'profile.json');
export const modelPath = (ws: Workspace, device: string) => path.join(kernelsDir(ws, device), 'regressors.json');

function corrupt(file: string, reason: string): never {
  throw new TailorError('CORRUPT_KERNELS', { file, reason });
}

function parseJson(file: string, text: string): any {
  try {
    return JSON.parse(text);
  } catch (e) {
    corrupt(file, `not valid JSON (${(e as Error).message})`);
  }
}

const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

function formatOf(file: string, raw: any): KernelFormat {
  const format = raw?.format ?? 'onnx';
  if (format !== 'onnx' && format !== 'tflite') corrupt(file, `format is ${JSON.stringify(raw.format)}, expected "onnx" or "tflite"`);
  return format;
}

export function parseKernelProfile<K extends string = KernelType>(file: string, text: string): KernelProfile<K> {
  const raw = parseJson(file, text);
  if (raw?.schema !== KERNEL_PROFILE_SCHEMA) corrupt(file, `schema is ${JSON.stringify(raw?.schema)}, expected "${KERNEL_PROFILE_SCHEMA}" (made by another Tailor version? re-run with --force to start over)`);
  const { types, features } = formatSpec(formatOf(file, raw));
  if (typeof raw.device?.id !== 'string') corrupt(file, 'device.id is missing');
  if (typeof raw.backend?.name !== 'string' || !Number.isInteger(raw.backend?.threads)) corrupt(file, 'backend must be { name, version, threads }');
  if (!Number.isInteger(raw.method?.seed) || !Number.isInteger(raw.method?.samples)) corrupt(file, 'method.seed and method.samples must be integers');
  if (!Number.isInteger(raw.blockSize)) corrupt(file, 'blockSize must be an integer');
  if (!Array.isArray(raw.graphs)) corrupt(file, 'graphs must be an array');
  if (!Array.isArray(raw.overheadMs) || !Array.isArray(raw.reference?.msByBatch) || !Array.isArray(raw.outputMsPerMiB) || !raw.outputMsPerMiB.every(finite)) corrupt(file, 'overheadMs, outputMsPerMiB and reference.msByBatch must be arrays');
  raw.graphs.forEach((gr: any, i: number) => {
    if (!Number.isInteger(gr?.index) || !finite(gr?.wallMs) || !finite(gr?.outputBytes) || !Array.isArray(gr?.kernels)) corrupt(file, `graphs[${i}] must be { index, wallMs, outputBytes, kernels, ... }`);
    gr.kernels.forEach((k: any, j: number) => {
      if (!types.includes(k?.type) || !Array.isArray(k?.x) || k.x.length !== features.length || !k.x.every(finite) || !finite(k.ms) || !finite(k.work) || !finite(k.events)) {
        corrupt(file, `graphs[${i}].kernels[${j}] must be { id, type, x: [${features.length} numbers], work, ms, events }`);
      }
    });
  });
  return raw as KernelProfile<K>;
}

export function parseKernelModel<K extends string = KernelType>(file: string, text: string): KernelModelFile<K> {
  const raw = parseJson(file, text);
  if (raw?.schema !== KERNEL_MODEL_SCHEMA) corrupt(file, `schema is ${JSON.stringify(raw?.schema)}, expected "${KERNEL_MODEL_SCHEMA}"`);
  const { types, features } = formatSpec(formatOf(file, raw));
  if (typeof raw.device?.id !== 'string') corrupt(file, 'device.id is missing');
  if (!Number.isInteger(raw.blockSize) || !finite(raw.overheadMs)) corrupt(file, 'blockSize and overheadMs must be numbers');
  if (raw.outputMsPerMiB !== undefined && !finite(raw.outputMsPerMiB)) corrupt(file, 'outputMsPerMiB must be a number');
  if (!Array.isArray(raw.features) || raw.features.join() !== features.join()) corrupt(file, `features must be [${features.join(', ')}] (made by another Tailor version?)`);
  if (raw.target !== 'log(ms/work)') corrupt(file, `target is ${JSON.stringify(raw.target)}, expected "log(ms/work)" (made by another Tailor version? re-run tailor profile --kernels)`);
  if (typeof raw.models !== 'object' || raw.models === null) corrupt(file, 'models is missing');
  for (const [type, m] of Object.entries<any>(raw.models)) {
    if (!types.includes(type)) corrupt(file, `unknown kernel type "${type}"`);
    if (!Number.isInteger(m?.samples) || !finite(m?.medianMsPerWork)) corrupt(file, `models.${type} must have samples and medianMsPerWork`);
    const isForest = (f: any) => typeof f === 'object' && f?.name === 'RFRegression' && Array.isArray(f?.baseModel?.estimators);
    if (m.forest !== null && !(Array.isArray(m.forest) ? m.forest.length > 0 && m.forest.every(isForest) : isForest(m.forest))) {
      corrupt(file, `models.${type}.forest is not a random forest (RFRegression JSON, or a list of them)`);
    }
  }
  return raw as KernelModelFile<K>;
}

export function readKernelProfile<K extends string = KernelType>(file: string): KernelProfile<K> {
  return parseKernelProfile<K>(file, fs.readFileSync(file, 'utf8'));
}

/** The device's regressors, ONNX kernels or TFLite ops (see `format`). */
export function loadKernelModelFile(ws: Workspace, device: string): { file: string; model: KernelModelFile<string> } {
  const file = modelPath(ws, device);
  if (!fs.existsSync(file)) throw new TailorError('KERNELS_NOT_FOUND', { device, file });
  return { file, model: parseKernelModel<string>(file, fs.readFileSync(file, 'utf8')) };
}

export function saveKernelProfile<K extends string>(ws: Workspace, p: KernelProfile<K>): string {
  const file = profilePath(ws, p.device.id);
  writeJsonAtomic(file, p);
  return file;
}

export function saveKernelModel<K extends string>(ws: Workspace, m: KernelModelFile<K>): string {
  const file = modelPath(ws, m.device.id);
  // compact: forests are large and only read by programs
  writeFileAtomic(file, JSON.stringify(m) + '\n');
  return file;
}
