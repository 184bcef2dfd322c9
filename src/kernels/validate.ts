import * as fs from 'node:fs';
import * as path from 'node:path';
import { REFERENCE_RUNS_FACTOR, VALIDATE_DEFAULTS } from '../core/defaults';
import { TailorError } from '../core/errors';
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

export interface ModelValidationRow {
  model: string;
  /** Kernel-model prediction at the device's current speed (tableMs x speedFactor). */
  predictedMs: number;
  measuredMs: number;
  errorPct: number;
  /** The regressors' own prediction, at the speed the kernel profile was measured at. */
  tableMs: number;
  unsupportedNodes: number;
}

type Accuracy = ReturnType<typeof summarizeValidation>;

/** The JSON of `validate --models`: the same figures as `validate --space`, rows per model file. */
export interface ModelValidationReport extends Accuracy {
  device: string;
  models: string;
  speedFactor: number;
  uncalibrated: Accuracy;
  rows: ModelValidationRow[];
}

export interface ModelValidateOptions {
  warmup: number;
  passes: number;
  runsPerPass: number;
  calibrate?: boolean;
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
  predict(bytes: Uint8Array, options: { file?: string; inputShapes?: Record<string, number[]> }): ModelPrediction;
}

/**
 * Measures every model of a directory (.onnx, or .tflite for TFLite op regressors) end to end
 * (round-robin passes, the same protocol as `validate --space`, with the kernel profile's drift
 * references beside them) and compares with the regressors' predictions.
 */
export async function validateModels(predictor: ValidatedPredictor, dir: string, backend: DeviceBackend, o: ModelValidateOptions): Promise<ModelValidationReport> {
  const format = predictor.file.format ?? 'onnx';
  const files = listModels(dir, format);
  const predictions = files.map((f) => predictor.predict(fs.readFileSync(f), { file: f, inputShapes: o.inputShapes }));
  const calibrate = o.calibrate !== false;
  const extras = calibrate ? (format === 'tflite' ? tfliteReferenceGraphs(predictor.file.seed) : referenceGraphs(predictor.file.seed)) : [];
  const models: LoadedModel[] = [];
  let measured: number[][];
  try {
    for (const [i, bytes] of [...extras, ...files.map((f) => fs.readFileSync(f))].entries()) {
      o.onProgress?.({ done: 0, total: o.passes, message: `loading model ${i + 1}/${extras.length + files.length}` });
      models.push(await backend.load(bytes));
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
    return { model: path.basename(f), predictedMs, measuredMs, errorPct: 100 * (predictedMs / measuredMs - 1), tableMs, unsupportedNodes: predictions[i].unsupportedCount };
  });
  const uncalibrated = summarizeValidation(rows.map((r) => ({ predictedMs: r.tableMs, measuredMs: r.measuredMs })));
  return { device: predictor.file.device.id, models: dir, ...summarizeValidation(rows), speedFactor: factor, uncalibrated, rows };
}
