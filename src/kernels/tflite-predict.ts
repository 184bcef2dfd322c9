import { AnalysisOptions } from '../analysis/analyze';
import { isTfliteBytes } from '../analysis/model';
import { analyzeTfliteModel } from '../analysis/tflite';
import { TailorError } from '../core/errors';
import { readTflite } from '../tflite/reader';
import type { KernelRow, ModelPrediction, NodeRow } from './predict';
import { TypeRegressor } from './regressors';
import { KernelModelFile } from './store';
import { TfliteOpKind, planTfliteOps } from './tflite-ops';

/**
 * Predicts a .tflite model's latency on a device whose runtime loads TFLite, op by op (nn-Meter's
 * way, with ops timed in context): the plan of what XNNPACK runs (ops folded into a neighbour:
 * a PAD into its convolution, a RELU into the clamp of the op before), one forest prediction per
 * executed op, plus the fixed per-inference cost. Every op is listed; an op without a predictor
 * (an op kind never profiled, a quantized op, unknown shapes) is listed and counted, never
 * added as 0. The same result shape as the ONNX kernel predictor (ModelPrediction).
 */
export class TfliteOpPredictor {
  private readonly regressors = new Map<TfliteOpKind, TypeRegressor>();

  constructor(readonly file: KernelModelFile<string>) {}

  private regressor(kind: TfliteOpKind): TypeRegressor | null {
    const m = this.file.models[kind];
    if (!m) return null;
    if (!this.regressors.has(kind)) this.regressors.set(kind, new TypeRegressor(m));
    return this.regressors.get(kind)!;
  }

  predict(bytes: Uint8Array, options: AnalysisOptions = {}): ModelPrediction {
    const name = options.file ?? 'model';
    if (!isTfliteBytes(bytes)) {
      throw new TailorError('UNSUPPORTED_MODEL_FORMAT', {
        file: name, format: 'ONNX (not TFLite)',
        reason: `device "${this.file.device.id}" runs TFLite models (its regressors are TFLite op regressors); predict the model's .tflite export, or an onnxruntime device (e.g. local-cpu) for ONNX`,
      });
    }
    const model = readTflite(bytes, name);
    const analysis = analyzeTfliteModel(model, bytes.length, { ...options, file: name });
    const plan = planTfliteOps(model, analysis);
    const unsupported: ModelPrediction['unsupported'] = [];
    const breakdown: KernelRow[] = [];
    const rowsByKind = new Map<TfliteOpKind, { i: number; x: number[]; work: number }[]>();
    const rowOf = new Map<string, KernelRow>();
    for (const op of plan.ops) {
      if (op.status === 'unsupported') {
        unsupported.push({ node: op.name, opType: op.opcode, reason: op.reason ?? 'no predictor' });
        continue;
      }
      if (op.status !== 'kernel') continue;
      if (!this.regressor(op.kind!)) {
        unsupported.push({ node: op.name, opType: op.opcode, reason: `op kind ${op.kind} was never profiled on this device` });
        continue;
      }
      const row: KernelRow = { kernel: op.name, type: op.kind!, nodes: [op.name], nchwc: false, act: op.act && op.act !== 'NONE' ? op.act : null, macs: op.features!.macs, ms: NaN };
      rowOf.set(op.name, row);
      (rowsByKind.get(op.kind!) ?? rowsByKind.set(op.kind!, []).get(op.kind!)!).push({ i: breakdown.length, x: op.features!.x, work: op.features!.work });
      breakdown.push(row);
    }
    for (const [kind, rows] of rowsByKind) {
      const ms = this.regressor(kind)!.predictMs(rows);
      rows.forEach((r, j) => (breakdown[r.i].ms = ms[j]));
    }
    // fused ops: listed with the op they fold into (which may itself have no predictor)
    const unsupportedBy = new Map(unsupported.map((u) => [u.node, u.reason]));
    const nodes: NodeRow[] = plan.ops.map((op) => {
      const row = rowOf.get(op.status === 'fused' ? op.into! : op.name);
      if (op.status === 'kernel' && row) return { node: op.name, opType: op.opcode, status: 'kernel', kernel: row.kernel, ms: row.ms };
      if (op.status === 'fused') {
        if (row) {
          row.nodes.push(op.name);
          return { node: op.name, opType: op.opcode, status: 'fused', kernel: row.kernel, ms: 0, reason: op.reason };
        }
        unsupported.push({ node: op.name, opType: op.opcode, reason: `fused into "${op.into}", which has no predictor` });
        return { node: op.name, opType: op.opcode, status: 'unsupported', kernel: null, ms: null, reason: `fused into "${op.into}", which has no predictor` };
      }
      if (op.status === 'folded') return { node: op.name, opType: op.opcode, status: 'folded', kernel: null, ms: 0, reason: op.reason };
      return { node: op.name, opType: op.opcode, status: 'unsupported', kernel: null, ms: null, reason: unsupportedBy.get(op.name) ?? 'no predictor' };
    });
    const overheadMs = this.file.overheadMs;
    const latencyMs = overheadMs + breakdown.reduce((s, r) => s + r.ms, 0);
    const warnings: string[] = [];
    if (model.subgraphs.length > 1) warnings.push(`the model has ${model.subgraphs.length} subgraphs; only the main one is predicted.`);
    if (unsupported.length) {
      const ops = [...new Set(unsupported.map((u) => u.opType))].join(', ');
      warnings.push(`${unsupported.length} op(s) have no predictor (${ops}); latencyMs leaves them out.`);
    }
    return {
      device: this.file.device.id, model: name, latencyMs, overheadMs, kernels: breakdown.length, breakdown, nodes,
      unsupported, unsupportedCount: unsupported.length, warnings,
    };
  }
}
