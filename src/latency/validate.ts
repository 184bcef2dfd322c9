import { sampleRankCorrelation } from 'simple-statistics';
import { ArchConfig, sampleArch } from '../core/arch';
import { REFERENCE_RUNS_FACTOR, VALIDATE_DEFAULTS } from '../core/defaults';
import { TailorError } from '../core/errors';
import { buildIR } from '../core/ir';
import { median } from '../core/latency';
import { netFromArch } from '../core/net';
import { Rng } from '../core/rng';
import { SearchSpace } from '../core/space';
import { exportModel } from '../export/model';
import { seededWeights } from '../export/weights';
import { DeviceBackend, LoadedModel, ModelFormat } from '../runtime/backend';
import { withMeasurementLock } from '../runtime/machine-lock';
import { measureInterleaved } from '../runtime/measure';
import { speedFactor } from '../profiling/reference';
import { LatencyPredictor } from './predictor';
import { referenceBaseline } from './table';

export interface ValidationRow {
  arch: ArchConfig;
  /** Table prediction at the device's current speed (tableMs x speedFactor). */
  predictedMs: number;
  measuredMs: number;
  errorPct: number;
  /** The table's own prediction, at the speed the table was measured at. */
  tableMs: number;
}

type Accuracy = Omit<ValidationReport, 'device' | 'space' | 'seed' | 'rows' | 'speedFactor' | 'uncalibrated'>;

export interface ValidationReport {
  device: string;
  space: string;
  seed: number;
  samples: number;
  within5: number;
  within10: number;
  mape: number;
  rmseMs: number;
  spearman: number;
  /**
   * Current speed of the device relative to when the table was made, from the reference
   * networks timed alongside the samples (1 = same speed; 1 when calibration is off).
   */
  speedFactor: number;
  /** The same figures comparing raw table predictions, without the drift factor. */
  uncalibrated: Accuracy;
  rows: ValidationRow[];
}

export interface ValidateOptions {
  samples: number;
  seed: number;
  resolutions?: number[];
  warmup: number;
  /** Round-robin passes over all sampled networks, and timed runs of each per pass. */
  passes: number;
  runsPerPass: number;
  /** Time the table's reference networks too and scale predictions by the observed drift (default on). */
  calibrate?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number; message: string }) => void;
}

export const DEFAULT_VALIDATE_OPTIONS = VALIDATE_DEFAULTS;

/** Accuracy figures over (predicted, measured) pairs; within5/within10 as nn-Meter reports them. */
export function summarizeValidation(rows: Pick<ValidationRow, 'predictedMs' | 'measuredMs'>[]): Accuracy {
  const n = rows.length;
  const rel = rows.map((r) => Math.abs(r.predictedMs / r.measuredMs - 1));
  return {
    samples: n,
    within5: rel.filter((e) => e <= 0.05).length / n,
    within10: rel.filter((e) => e <= 0.1).length / n,
    mape: (100 * rel.reduce((a, b) => a + b, 0)) / n,
    rmseMs: Math.sqrt(rows.reduce((s, r) => s + (r.predictedMs - r.measuredMs) ** 2, 0) / n),
    spearman: n > 2 ? sampleRankCorrelation(rows.map((r) => r.predictedMs), rows.map((r) => r.measuredMs)) : NaN,
  };
}

export interface MeasuredModel {
  /** Table prediction at the device's current speed (tableMs x speedFactor). */
  predictedMs: number;
  measuredMs: number;
  /** The table's own prediction, at the speed the table was measured at. */
  tableMs: number;
}

/** A model to measure, in the format the device's runtime loads, with its table prediction. */
export interface MeasureItem {
  bytes: (format: ModelFormat) => Uint8Array;
  tableMs: number;
}

/**
 * Measures whole models end to end on the device with the profiling protocol (round-robin
 * passes, the table's reference networks timed alongside for the drift factor) and pairs each
 * with its table prediction. Used by validate and by search --measure.
 */
export async function measureAgainstTable(
  predictor: LatencyPredictor,
  space: SearchSpace,
  backend: DeviceBackend,
  items: MeasureItem[],
  options: Omit<ValidateOptions, 'samples' | 'seed' | 'resolutions'>,
): Promise<{ rows: MeasuredModel[]; speedFactor: number }> {
  const table = predictor.table;
  const baseline = options.calibrate === false ? null : referenceBaseline(table);
  const reference = baseline ? table.reference : undefined;
  const extras = (reference?.archs ?? []).map((a) => exportModel(backend.modelFormat, buildIR(netFromArch(space, a)), { weights: seededWeights(table.method.seed ?? 0) }));
  const models: LoadedModel[] = [];
  let measured: number[][];
  try {
    for (const [i, bytes] of [...extras, ...items.map((it) => it.bytes(backend.modelFormat))].entries()) {
      options.onProgress?.({ done: 0, total: options.passes, message: `loading network ${i + 1}/${extras.length + items.length}` });
      models.push(await backend.load(bytes));
    }
    // The same protocol as profiling: references get REFERENCE_RUNS_FACTOR x the runs of a network.
    const runsPerPass = models.map((_, i) => (i < extras.length ? REFERENCE_RUNS_FACTOR : 1) * options.runsPerPass);
    measured = await withMeasurementLock(
      backend,
      () => measureInterleaved(models, {
        warmup: options.warmup, passes: options.passes, runsPerPass, signal: options.signal,
        onPass: (pass, passes) => options.onProgress?.({ done: pass, total: passes, message: `pass ${pass}/${passes}` }),
      }),
      () => options.onProgress?.({ done: 0, total: options.passes, message: 'waiting for another measurement on this machine' }),
    );
  } finally {
    for (const m of models) await m.dispose();
  }
  const factor = baseline ? speedFactor(baseline, measured.slice(0, extras.length).map(median)) : 1;
  const rows = items.map((it, i) => ({ predictedMs: it.tableMs * factor, measuredMs: median(measured[extras.length + i]), tableMs: it.tableMs }));
  return { rows, speedFactor: factor };
}

/** Samples subnets, measures each whole network end to end on the device and compares with the table's prediction. */
export async function validateTable(
  predictor: LatencyPredictor,
  space: SearchSpace,
  backend: DeviceBackend,
  options: ValidateOptions,
): Promise<ValidationReport> {
  const table = predictor.table;
  const resolutions = options.resolutions ?? table.resolutions.filter((r) => space.resolutions.includes(r));
  const absent = resolutions.filter((r) => !table.resolutions.includes(r));
  if (absent.length) {
    throw new TailorError('RESOLUTION_NOT_IN_TABLE', { resolution: absent.join(', '), device: table.device.id, space: space.id, available: table.resolutions.join(', ') });
  }
  if (resolutions.length === 0) {
    throw new TailorError('RESOLUTION_NOT_IN_TABLE', { resolution: 'none of the space', device: table.device.id, space: space.id, available: table.resolutions.join(', ') || 'none' });
  }
  if (!Number.isInteger(options.samples) || options.samples < 1) throw new TailorError('INVALID_OPTION', { option: '--samples', reason: 'must be a positive integer' });
  const rng = new Rng(options.seed);
  const archs = Array.from({ length: options.samples }, () => sampleArch(space, rng, resolutions));
  const nets = archs.map((arch) => netFromArch(space, arch));
  const predicted = nets.map((net) => predictor.predictNet(net).latencyMs); // fails early on missing keys
  const items = nets.map((net, i) => ({ bytes: (format: ModelFormat) => exportModel(format, buildIR(net), { weights: seededWeights(options.seed + i) }), tableMs: predicted[i] }));
  const { rows: measured, speedFactor: factor } = await measureAgainstTable(predictor, space, backend, items, options);
  const rows: ValidationRow[] = archs.map((arch, i) => ({ arch, ...measured[i], errorPct: 100 * (measured[i].predictedMs / measured[i].measuredMs - 1) }));
  const uncalibrated = summarizeValidation(rows.map((r) => ({ predictedMs: r.tableMs, measuredMs: r.measuredMs })));
  return { device: table.device.id, space: space.id, seed: options.seed, ...summarizeValidation(rows), speedFactor: factor, uncalibrated, rows };
}
