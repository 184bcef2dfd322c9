import * as fs from 'node:fs';
import { ModelAnalysis } from '../analysis/analyze';
import { analyzeModel } from '../analysis/model';
import { VALIDATE_DEFAULTS } from '../core/defaults';
import { TailorError } from '../core/errors';
import { median } from '../core/latency';
import type { KernelPredictor } from '../kernels/predict';
import type { LatencyService } from '../latency/latency.service';
import type { LoadedModel } from '../runtime/backend';
import type { DeviceService } from '../runtime/device.service';
import { deviceModelFormat } from '../runtime/devices';
import { withMeasurementLock } from '../runtime/machine-lock';
import { measureInterleaved } from '../runtime/measure';
import { Budget, Limit, Limits } from './config';
import { ExportedArch, exportedArch } from './exported-arch';
import { TFLITE_BACKEND, TFLITE_NO_PREDICTION, readModel, runtimeBytes } from './model';
import { BudgetResult, Check, GateReport, JsonBudgetReport, LatencySource, METRIC_FIELD, Metric, Metrics, applyBaseline } from './report';

/** What the gate needs of the lookup tables: a prediction for one of Tailor's own subnets, null when the device has no table covering it. */
export interface TableLatency {
  /** `strict`: refuse a table measured on other hardware or runtime (FINGERPRINT_MISMATCH) instead of warning. */
  predictArch(device: string, exported: ExportedArch, strict?: boolean): Promise<{ ms: number; warnings: string[] } | null>;
}

/** The latency tables as the gate uses them; a missing table, resolution or key means "ask the kernel regressors". */
export function tableLatency(latency: Pick<LatencyService, 'predict'>): TableLatency {
  return {
    async predictArch(device, exported, strict) {
      try {
        const p = await latency.predict({ device, strict, arch: { source: 'model metadata', arch: exported.arch, space: exported.space, net: exported.net } });
        return { ms: p.latencyMs, warnings: p.warnings };
      } catch (e) {
        if (e instanceof TailorError && ['TABLE_NOT_FOUND', 'RESOLUTION_NOT_IN_TABLE', 'MISSING_KEYS'].includes(e.code)) return null;
        throw e;
      }
    },
  };
}

/** What the gate needs of the kernel regressors (src/kernels KernelsService), loaded only for latency limits. */
export interface KernelPredictors {
  predictor(device: string): Pick<KernelPredictor, 'predict'>;
  /** Warnings for regressors measured on other hardware or runtime; FINGERPRINT_MISMATCH with `strict`. */
  checkMeasuredOn(device: string, strict?: boolean): Promise<string[]>;
}

/**
 * Whole-model timing for `measure: true`: the validation protocol (warm-up, then round-robin
 * passes over every measured model of the device, several timed runs each, median).
 */
export interface GateMeasureOptions {
  warmup: number;
  passes: number;
  runsPerPass: number;
}

export const GATE_MEASURE_DEFAULTS: GateMeasureOptions = { warmup: VALIDATE_DEFAULTS.warmup, passes: 10, runsPerPass: VALIDATE_DEFAULTS.runsPerPass };

export interface GateRunOptions {
  /** The config file the budgets came from (shown in reports). */
  config?: string | null;
  baseline?: { file: string; report: JsonBudgetReport[] };
  measure?: Partial<GateMeasureOptions>;
  /** Every budget strict (`tailor gate --strict`), besides those the config makes strict. */
  strict?: boolean;
  /** Tables or regressors measured on other hardware or runtime (also kept in the budget's notes). */
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

/** How a budget allows ops the analysis does not know (named in UNKNOWN_OP): the same field in a config and over HTTP. */
export const ALLOW_UNKNOWN_OPS_FIELD = 'set "allowUnknownOps": true in the budget (its MACs cannot then have a limit)';

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

function list<T>(items: T[], show: (t: T) => string, max = 5): string {
  return items.slice(0, max).map(show).join('; ') + (items.length > max ? `; and ${items.length - max} more` : '');
}

interface Figures {
  budget: Budget;
  bytes: Uint8Array;
  sizeBytes: number;
  analysis: ModelAnalysis;
  analysisSeconds: number;
  predicted: Map<string, { ms: number; seconds: number }>;
  measured: Map<string, { ms: number; seconds: number }>;
  notes: string[];
}

/**
 * Checks models (ONNX or TFLite) against their budgets: size, params and MACs from the model
 * analysis, latency per device from the lookup tables or the kernel regressors (predicted; ONNX
 * kernels on onnxruntime devices, TFLite ops on devices whose runtime loads TFLite), and with
 * `measure: true` also timed on the attached device (measured). A figure the gate cannot compute
 * in full (unknown ops, nodes without a predictor) is an input error, never a silent pass.
 */
export class GateService {
  constructor(
    private readonly devices: DeviceService,
    /** Called only when a budget has a latency limit: the CLI imports the regressors lazily. */
    private readonly kernels: () => KernelPredictors | Promise<KernelPredictors>,
    /** Lookup tables, for models Tailor exported (they carry their arch): exact where the device has a table. */
    private readonly tables?: TableLatency,
  ) {}

  async run(budgets: Budget[], options: GateRunOptions = {}): Promise<GateReport> {
    const figures: Figures[] = [];
    for (const budget of budgets) {
      options.signal?.throwIfAborted();
      options.onProgress?.(`analysing ${budget.model.display}`);
      figures.push(await this.staticFigures(budget, options));
    }
    await this.measure(figures, { ...GATE_MEASURE_DEFAULTS, ...options.measure }, options);
    return gateReport(figures.map(checkBudget), options);
  }

  private async staticFigures(budget: Budget, options: GateRunOptions): Promise<Figures> {
    const display = budget.model.display;
    const t0 = process.hrtime.bigint();
    const bytes = readModel(budget.model);
    const analysis = analyze(budget, bytes);
    const sizeBytes = analysis.sizeBytes; // the model file and its external data files
    const analysisSeconds = seconds(t0);
    if (budget.limits.macs) {
      const missing = [
        ...analysis.unsupported.flatMap((u) => u.nodes.map((n) => `node "${n}" (${u.opType}): unsupported op`)),
        ...analysis.unresolved.map((u) => `node "${u.node}": ${u.reason}`),
      ];
      if (missing.length) {
        throw new TailorError('INCOMPLETE_FIGURE', { budget: budget.name, metric: 'MACs', file: display, reason: `${missing.length} node(s) have no MAC count (${list(missing, (m) => m)})` });
      }
    }
    const predicted = new Map<string, { ms: number; seconds: number }>();
    const notes: string[] = [];
    const strict = Boolean(options.strict || budget.strict);
    const warn = (device: string, warnings: string[]) => {
      for (const w of warnings) options.onWarning?.(`${device}: ${w}`);
      notes.push(...warnings.map((w) => `${device}: ${w}`));
    };
    const uncounted = analysis.nodes.filter((n) => n.macs === null).length;
    if (uncounted) notes.push(`MACs leave out ${uncounted} of ${analysis.nodes.length} node(s) whose shapes are unknown (${analysis.unknownNodes.map((u) => `node "${u.node}" (${u.opType})`).join(', ') || 'run-time shapes'}); a "macs" limit would refuse this model`);
    const viaKernels: string[] = [];
    if (budget.limits.latency) {
      const exported = this.tables ? exportedArch(bytes, analysis) : null;
      for (const device of Object.keys(budget.limits.latency)) {
        const t1 = process.hrtime.bigint();
        const p = exported ? await this.tables!.predictArch(device, exported, strict) : null;
        if (!p) {
          viaKernels.push(device);
          continue;
        }
        predicted.set(device, { ms: p.ms, seconds: seconds(t1) });
        notes.push(`${device}: latency predicted from its lookup table for ${exported!.space.id} (the model carries the arch it was exported from)`);
        warn(device, p.warnings);
      }
    }
    // A TFLite model without a table is predicted op by op on devices whose runtime loads TFLite and that have op regressors.
    const viaOps = analysis.format === 'tflite' ? await this.withTfliteRegressors(viaKernels) : [];
    this.checkRunnable(budget, analysis, new Set([...predicted.keys(), ...viaOps]));
    const predictable = analysis.format === 'tflite' ? viaOps : viaKernels;
    if (predictable.length) {
      const kernels = await this.kernels();
      for (const device of predictable) {
        const t1 = process.hrtime.bigint();
        warn(device, await kernels.checkMeasuredOn(device, strict));
        const p = kernels.predictor(device).predict(bytes, { file: display, path: budget.model.file, inputShapes: budget.inputShapes, allowUnknownOps: budget.allowUnknownOps });
        if (p.unsupportedCount > 0) {
          throw new TailorError('INCOMPLETE_FIGURE', {
            budget: budget.name, metric: `latency on "${device}"`, file: display,
            reason: `${p.unsupportedCount} node(s) have no kernel predictor (${list(p.unsupported, (u) => `node "${u.node}" (${u.opType}): ${u.reason}`)})`,
          });
        }
        notes.push(...p.warnings.map((w) => `${device}: ${w}`));
        predicted.set(device, { ms: p.latencyMs, seconds: seconds(t1) });
      }
    }
    return { budget, bytes, sizeBytes, analysis, analysisSeconds, predicted, measured: new Map(), notes };
  }

  /** Devices (of `devices`) whose runtime loads TFLite and that have regressors: TFLite op regressors (tailor profile --kernels). */
  private async withTfliteRegressors(devices: string[]): Promise<string[]> {
    const { modelPath } = await import('../kernels/store.js');
    return devices.filter((d) => deviceModelFormat(this.devices.get(d)) === 'tflite' && fs.existsSync(modelPath(this.devices.ws, d)));
  }

  /**
   * A TFLite model's latency comes from a lookup table (exported subnets), from the TFLite op
   * regressors of a device whose runtime loads TFLite, or from measuring on such a device
   * (tflite-wasm, adb-tflite, an agent running tflite-wasm), which in turn runs nothing else.
   * `predictable`: devices with a predicted figure for this model (table or op regressors).
   */
  private checkRunnable(budget: Budget, analysis: ModelAnalysis, fromTables: Set<string>): void {
    const tflite = analysis.format === 'tflite';
    for (const device of Object.keys(budget.limits.latency ?? {})) {
      const descriptor = this.devices.get(device);
      const backend = descriptor.backend;
      const runsTflite = deviceModelFormat(descriptor) === 'tflite';
      const fail = (reason: string): never => {
        throw new TailorError('INCOMPLETE_FIGURE', { budget: budget.name, metric: `latency on "${device}"`, file: budget.model.display, reason });
      };
      if (tflite && !budget.measure && !fromTables.has(device)) fail(`${TFLITE_NO_PREDICTION}; set "measure": true with a device whose backend is ${TFLITE_BACKEND} (e.g. local-tflite) to gate measured latency`);
      if (tflite && !runsTflite && (budget.measure || !fromTables.has(device))) fail(`device "${device}" (backend ${backend}) cannot run TFLite models, and ${TFLITE_NO_PREDICTION}; measure on a device whose backend is ${TFLITE_BACKEND} (e.g. local-tflite)`);
      if (!tflite && budget.measure && runsTflite) fail(`device "${device}" (backend ${backend}) runs TFLite models only; measure this ONNX model on an onnxruntime device, or gate its TFLite export`);
    }
  }

  /** measure: true budgets, per device: every model of the device timed round-robin under the machine-wide lock. */
  private async measure(figures: Figures[], protocol: GateMeasureOptions, options: GateRunOptions): Promise<void> {
    const byDevice = new Map<string, Figures[]>();
    for (const f of figures) {
      if (!f.budget.measure) continue;
      for (const device of Object.keys(f.budget.limits.latency ?? {})) (byDevice.get(device) ?? byDevice.set(device, []).get(device)!).push(f);
    }
    for (const [device, items] of byDevice) {
      const descriptor = this.devices.get(device);
      // Loads the device runtime (onnxruntime) only here: gates that do not measure never load it.
      const backend = await this.devices.open(descriptor, 'measure models for the gate');
      const models: LoadedModel[] = [];
      let times: number[][];
      const t0 = process.hrtime.bigint();
      try {
        for (const f of items) {
          options.onProgress?.(`loading ${f.budget.model.display} on ${device}`);
          models.push(await backend.load(runtimeBytes(f.bytes, f.budget.model, f.budget.inputShapes)));
        }
        times = await withMeasurementLock(
          backend,
          () => measureInterleaved(models, {
            warmup: protocol.warmup, passes: protocol.passes, runsPerPass: protocol.runsPerPass, signal: options.signal,
            onPass: (pass, passes) => options.onProgress?.(`measuring on ${device}: pass ${pass}/${passes}`),
          }),
          () => options.onProgress?.('waiting for another measurement on this machine'),
        );
      } finally {
        for (const m of models) await m.dispose();
      }
      const took = seconds(t0) / items.length;
      items.forEach((f, i) => f.measured.set(device, { ms: median(times[i]), seconds: took }));
    }
  }
}

/** The ONNX or TFLite analysis; a dynamic input is named with the budget field that sizes it (not the CLI flag). */
function analyze(budget: Budget, bytes: Uint8Array): ModelAnalysis {
  try {
    return analyzeModel(bytes, { file: budget.model.display, path: budget.model.file, inputShapes: budget.inputShapes, allowUnknownOps: budget.allowUnknownOps, allowUnknownOpsHint: ALLOW_UNKNOWN_OPS_FIELD });
  } catch (e) {
    if (e instanceof TailorError && e.code === 'INVALID_INPUT_SHAPE') {
      throw new TailorError('INVALID_GATE_CONFIG', { source: `(budget "${budget.name}", model ${budget.model.display})`, reason: `inputShape "${e.params.value}": ${e.params.reason}` });
    }
    if (!(e instanceof TailorError) || e.code !== 'MISSING_INPUT_SHAPE') throw e;
    const { input, shape, example } = e.params;
    throw new TailorError('INCOMPLETE_FIGURE', {
      budget: budget.name, metric: 'the figures', file: budget.model.display,
      reason: `input "${input}" has a dynamic shape (${shape}); give its size in the budget: "inputShape": "${input}:${example}"`,
    });
  }
}

function check(metric: Metric, value: number, limit: Limit, secs: number, device?: string, source?: LatencySource): Check {
  return {
    id: metric === 'latency' ? `latency:${device}:${source}` : metric,
    metric, ...(device ? { device, source } : {}), value, limit, passed: value <= limit.value, seconds: secs,
  };
}

/** The checks of a budget, in report order: size, params, MACs, then per device its predicted and measured latency (each figure there is). */
function budgetChecks(limits: Limits, metrics: Metrics, secondsOf: (metric: Metric, device?: string, source?: LatencySource) => number): Check[] {
  const checks: Check[] = [];
  if (limits.size) checks.push(check('size', metrics.sizeBytes, limits.size, secondsOf('size')));
  if (limits.params) checks.push(check('params', metrics.params, limits.params, secondsOf('params')));
  if (limits.macs) checks.push(check('macs', metrics.macs, limits.macs, secondsOf('macs')));
  for (const [device, limit] of Object.entries(limits.latency ?? {})) {
    for (const source of ['predicted', 'measured'] as const) {
      const ms = metrics.latencyMs[device]?.[source];
      if (ms !== undefined) checks.push(check('latency', ms, limit, secondsOf('latency', device, source), device, source));
    }
  }
  return checks;
}

function checkBudget(f: Figures): BudgetResult {
  const metrics: Metrics = { sizeBytes: f.sizeBytes, params: f.analysis.params, macs: f.analysis.macs, latencyMs: {} };
  for (const device of Object.keys(f.budget.limits.latency ?? {})) {
    // a TFLite model has only the measured figure
    const p = f.predicted.get(device);
    const m = f.measured.get(device);
    metrics.latencyMs[device] = { ...(p ? { predicted: p.ms } : {}), ...(m ? { measured: m.ms } : {}) };
  }
  const checks = budgetChecks(f.budget.limits, metrics, (metric, device, source) => (metric !== 'latency' ? f.analysisSeconds : (source === 'predicted' ? f.predicted : f.measured).get(device!)!.seconds));
  const partial = f.analysis.partial ? { partial: true as const, unknownNodes: f.analysis.unknownNodes } : {};
  return { name: f.budget.name, model: f.budget.model.display, passed: checks.every((c) => c.passed), metrics, ...partial, checks, notes: f.notes };
}

/**
 * A budget's result from the JSON report of another gate (a service's POST /gate): the checks of
 * this budget's limits against the figures there, as a local run makes them. A limit without its
 * figure there (as locally: INCOMPLETE_FIGURE), or a verdict that differs from the service's own,
 * is an error: a budget is never passed on checks that did not run. `seconds`: the request's
 * time, spread over the checks.
 */
export function resultFromReport(budget: Budget, entry: JsonBudgetReport, remote: { server: string; notes: string[]; seconds: number }): BudgetResult {
  const missing = missingFigures(budget, entry.metrics);
  if (missing.length) {
    throw new TailorError('INCOMPLETE_FIGURE', {
      budget: budget.name, metric: missing.map((m) => m.metric).join(', '), file: budget.model.display,
      reason: `the report of the Tailor service at ${remote.server} has no ${missing.map((m) => m.field).join(', ')}`,
    });
  }
  const checks = budgetChecks(budget.limits, entry.metrics, () => 0);
  for (const c of checks) c.seconds = remote.seconds / checks.length;
  const passed = checks.every((c) => c.passed);
  if (passed !== entry.passed) {
    const failed = checks.filter((c) => !c.passed).map((c) => c.id);
    throw new TailorError('REMOTE_REQUEST_FAILED', {
      request: `POST /gate (budget "${budget.name}")`, server: remote.server, status: 200,
      message: `its verdict (${entry.passed ? 'pass' : 'fail'}) disagrees with its figures against the budget's limits (${failed.length ? `over: ${failed.join(', ')}` : 'all within'})`,
    });
  }
  const partial = entry.partial ? { partial: true as const, unknownNodes: entry.unknownNodes ?? [] } : {};
  return { name: budget.name, model: budget.model.display, passed, metrics: entry.metrics, ...partial, checks, notes: remote.notes };
}

/** The figures a budget's limits need that `metrics` lacks: each latency device needs one, and with `measure: true` the measured one. */
function missingFigures(budget: Budget, metrics: Partial<Metrics> | undefined): { metric: string; field: string }[] {
  const missing: { metric: string; field: string }[] = [];
  const number = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  for (const metric of ['size', 'params', 'macs'] as const) {
    if (budget.limits[metric] && !number(metrics?.[METRIC_FIELD[metric]])) missing.push({ metric: metric === 'macs' ? 'MACs' : metric, field: `metrics.${METRIC_FIELD[metric]}` });
  }
  for (const device of Object.keys(budget.limits.latency ?? {})) {
    const figures = metrics?.latencyMs?.[device];
    const absent = budget.measure ? !number(figures?.measured) : !number(figures?.predicted) && !number(figures?.measured);
    if (absent) missing.push({ metric: `latency on "${device}"`, field: `metrics.latencyMs.${device}${budget.measure ? '.measured' : ''}` });
  }
  return missing;
}

/** The report of budget results: the baseline's figures added to each check. */
export function gateReport(results: BudgetResult[], options: Pick<GateRunOptions, 'config' | 'baseline'>): GateReport {
  if (options.baseline) applyBaseline(results, options.baseline.report);
  return { config: options.config ?? null, baseline: options.baseline?.file ?? null, results, passed: results.every((r) => r.passed) };
}
