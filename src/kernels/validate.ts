import * as fs from 'node:fs';
import * as path from 'node:path';
import { REFERENCE_RUNS_FACTOR, VALIDATE_DEFAULTS } from '../core/defaults';
import { dynamicInputNames } from '../analysis/model';
import { TailorError } from '../core/errors';
import { runtimeBytes } from '../gate/model';
import { median } from '../core/latency';
import { summarizeValidation } from '../latency/validate';
import { DeviceBackend, LoadedModel } from '../runtime/backend';
import { withMeasurementLock } from '../runtime/machine-lock';
import { measureInterleaved } from '../runtime/measure';
import { speedFactor } from '../profiling/reference';
import type { ModelPrediction } from './predict';
import { referenceGraphs } from './profile';
import type { KernelModelFile } from './store';
import { tfliteReferenceGraphs } from './tflite-profile';

/**
 * A row of `validate --space` (src/latency/validate.ts ValidationRow) for a model file: `arch` is
 * null (a model file has none), `model` and `unsupportedNodes` are added.
 */
export interface ModelValidationRow {
  arch: null;
  /** Kernel-model prediction at the device's current speed (tableMs x speedFactor). */
  predictedMs: number;
  measuredMs: number;
  /** The regressors' own prediction, at the speed the kernel profile was measured at. */
  tableMs: number;
  errorPct: number;
  model: string;
  unsupportedNodes: number;
}

type Accuracy = ReturnType<typeof summarizeValidation>;

/**
 * The JSON of `validate --models`: the keys of `validate --space` (ValidationReport and its
 * warnings) in the same order, `space` and `seed` null (no space, no sampling), plus `models` (the directory).
 */
export interface ModelValidationReport extends Accuracy {
  device: string;
  space: null;
  seed: null;
  speedFactor: number;
  uncalibrated: Accuracy;
  rows: ModelValidationRow[];
  /** Regressors measured on other hardware or runtime (refused instead with strict). */
  warnings: string[];
  models: string;
}

export interface ModelValidateOptions {
  warmup: number;
  passes: number;
  runsPerPass: number;
  calibrate?: boolean;
  /** Sizes of dynamic inputs: each applies to the models whose input of that name is dynamic. */
  inputShapes?: Record<string, number[]>;
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number; message: string }) => void;
}

export const MODEL_VALIDATE_DEFAULTS = { warmup: VALIDATE_DEFAULTS.warmup, passes: 10, runsPerPass: VALIDATE_DEFAULTS.runsPerPass } as const;

/** The model files of a directory in the format the regressors read (.onnx or .tflite), sorted. */
export function listModels(dir: string, format: 'onnx' | 'tflite' = 'onnx'): string[] {
  const stat = fs.statSync(dir, { throwIfNoEntry: false });
  if (!stat?.isDirectory()) throw new TailorError('INVALID_OPTION', { option: '--models', reason: `${dir} is not a directory` });
  const ext = `.${format}`;
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(ext)).sort().map((f) => path.join(dir, f));
  if (!files.length) throw new TailorError('INVALID_OPTION', { option: '--models', reason: `${dir} holds no ${ext} file (the device's regressors read ${format === 'tflite' ? 'TFLite' : 'ONNX'} models)` });
  return files;
}

/** What validation needs of a predictor: ONNX kernel regressors or TFLite op regressors. */
export interface ValidatedPredictor {
  file: Pick<KernelModelFile<string>, 'format' | 'seed' | 'reference' | 'device'>;
  predict(bytes: Uint8Array, options: { file?: string; path?: string; inputShapes?: Record<string, number[]>; allowUnknownOpsHint?: string }): ModelPrediction;
}

/**
 * UNKNOWN_OP's way out for a model of the directory: validation compares whole-model predictions
 * with whole-model timings, which a partial analysis cannot give, so it has no --allow-unknown-ops.
 */
export const VALIDATE_UNKNOWN_OPS_HINT = 'predict it on its own (tailor predict --model <file> --allow-unknown-ops); validation compares whole models, so move it out of the directory to validate the others';

/**
 * Measures every model of a directory (.onnx, or .tflite for TFLite op regressors) end to end
 * (round-robin passes, the same protocol as `validate --space`, with the kernel profile's drift
 * references beside them) and compares with the regressors' predictions.
 */
export async function validateModels(predictor: ValidatedPredictor, dir: string, backend: DeviceBackend, o: ModelValidateOptions, warnings: string[] = []): Promise<ModelValidationReport> {
  const format = predictor.file.format ?? 'onnx';
  const files = listModels(dir, format);
  // As `validate --space` does with missing table keys: a model that cannot be predicted stops the run before any measuring (its error names it).
  const shapes = modelInputShapes(files, o.inputShapes ?? {});
  const predictions = files.map((f, i) => predictor.predict(fs.readFileSync(f), { file: f, path: f, inputShapes: shapes[i], allowUnknownOpsHint: VALIDATE_UNKNOWN_OPS_HINT }));
  const calibrate = o.calibrate !== false;
  const extras = calibrate ? (format === 'tflite' ? tfliteReferenceGraphs(predictor.file.seed) : referenceGraphs(predictor.file.seed)) : [];
  const models: LoadedModel[] = [];
  let measured: number[][];
  try {
    // Each model read from its path: external data inlined from the files beside it, dynamic inputs pinned to the shapes predicted.
    const load = [...extras.map((bytes) => () => bytes), ...files.map((f, i) => () => runtimeBytes(fs.readFileSync(f), { display: f, file: f }, shapes[i]))];
    for (const [i, bytes] of load.entries()) {
      o.onProgress?.({ done: 0, total: o.passes, message: `loading model ${i + 1}/${load.length}` });
      models.push(await backend.load(bytes()));
    }
    const runsPerPass = models.map((_, i) => (i < extras.length ? REFERENCE_RUNS_FACTOR : 1) * o.runsPerPass);
    measured = await withMeasurementLock(
      backend,
      () => measureInterleaved(models, {
        warmup: o.warmup, passes: o.passes, runsPerPass, signal: o.signal,
        onPass: (pass, passes) => o.onProgress?.({ done: pass, total: passes, message: `pass ${pass}/${passes}` }),
      }),
      () => o.onProgress?.({ done: 0, total: o.passes, message: 'waiting for another measurement on this machine' }),
    );
  } finally {
    for (const m of models) await m.dispose();
  }
  const factor = calibrate ? speedFactor(predictor.file.reference.ms, measured.slice(0, extras.length).map(median)) : 1;
  const rows: ModelValidationRow[] = files.map((f, i) => {
    const measuredMs = median(measured[extras.length + i]);
    const tableMs = predictions[i].latencyMs;
    const predictedMs = tableMs * factor;
    return { arch: null, predictedMs, measuredMs, tableMs, errorPct: 100 * (predictedMs / measuredMs - 1), model: path.basename(f), unsupportedNodes: predictions[i].unsupportedCount };
  });
  const uncalibrated = summarizeValidation(rows.map((r) => ({ predictedMs: r.tableMs, measuredMs: r.measuredMs })));
  return { device: predictor.file.device.id, space: null, seed: null, ...summarizeValidation(rows), speedFactor: factor, uncalibrated, rows, warnings, models: dir };
}

/**
 * The --input-shape overrides of each model: those naming one of its dynamic inputs (a directory
 * mixes models; a fixed input keeps its size). One that sizes no model's input is refused.
 */
function modelInputShapes(files: string[], overrides: Record<string, number[]>): Record<string, number[]>[] {
  if (!Object.keys(overrides).length) return files.map(() => ({}));
  const dynamic = files.map((f) => new Set(dynamicInputNames(fs.readFileSync(f), f)));
  for (const [name, dims] of Object.entries(overrides)) {
    if (!dynamic.some((d) => d.has(name))) {
      throw new TailorError('INVALID_INPUT_SHAPE', { value: `${name}:${dims.join('x')}`, reason: `no model of the directory has a dynamic input "${name}"` });
    }
  }
  return dynamic.map((d) => Object.fromEntries(Object.entries(overrides).filter(([name]) => d.has(name))));
}
