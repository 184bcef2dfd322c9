import { AnalysisOptions } from '../analysis/analyze';
import { isTfliteBytes } from '../analysis/model';
import { TailorError } from '../core/errors';
import { kernelFeatures } from './features';
import { KernelType, planKernels } from './fusion';
import { loadKernelGraph, outputBytes } from './graph';
import { TypeRegressor } from './regressors';
import { KernelModelFile } from './store';

export interface KernelRow {
  /** The kernel: its main node's name, or ReorderInput:/ReorderOutput:<tensor>. */
  kernel: string;
  /** ONNX: the kernel type (fusion.ts); TFLite: the op kind (tflite-ops.ts). */
  type: KernelType | string;
  /** Original nodes the kernel executes (fused groups list several; reorders none). */
  nodes: string[];
  nchwc: boolean;
  act: string | null;
  macs: number;
  ms: number;
}

export interface NodeRow {
  node: string;
  opType: string;
  /** kernel: the node leads a kernel; fused: part of another node's kernel; folded: removed at load; unsupported: no predictor. */
  status: 'kernel' | 'fused' | 'folded' | 'unsupported';
  kernel: string | null;
  /** The kernel's ms on its leading node, 0 on fused and folded nodes, null when unsupported. */
  ms: number | null;
  reason?: string;
}

export interface ModelPrediction {
  device: string;
  model: string;
  latencyMs: number;
  overheadMs: number;
  kernels: number;
  breakdown: KernelRow[];
  nodes: NodeRow[];
  /** Nodes with no predictor (op not modelled, kernel type never profiled, unknown shapes): not in latencyMs. */
  unsupported: { node: string; opType: string; reason: string }[];
  unsupportedCount: number;
  warnings: string[];
}

/**
 * Predicts a model's latency from the kernel regressors: the pure plan of what onnxruntime runs
 * (fused groups, NCHWc reorders, folded nodes), one forest prediction per kernel, plus the fixed
 * per-inference cost. Every node is accounted for; nodes without a predictor are listed and
 * counted, never added as 0.
 */
export class KernelPredictor {
  private readonly regressors = new Map<KernelType, TypeRegressor>();

  constructor(readonly file: KernelModelFile) {}

  private regressor(type: KernelType): TypeRegressor | null {
    const m = this.file.models[type];
    if (!m) return null;
    if (!this.regressors.has(type)) this.regressors.set(type, new TypeRegressor(m));
    return this.regressors.get(type)!;
  }

  predict(bytes: Uint8Array, options: AnalysisOptions = {}): ModelPrediction {
    if (isTfliteBytes(bytes)) {
      throw new TailorError('UNSUPPORTED_MODEL_FORMAT', {
        file: options.file ?? 'model', format: 'TFLite',
        reason: `device "${this.file.device.id}" runs ONNX models (its regressors are onnxruntime kernel regressors); predict the model's ONNX form, or use a device whose runtime loads TFLite (e.g. local-tflite)`,
      });
    }
    const g = loadKernelGraph(bytes, options);
    const plan = planKernels(g, { blockSize: this.file.blockSize });
    const macs = new Map(g.nodes.map((n) => [n.name, n.macs ?? 0]));
    const opTypeOf = new Map(g.nodes.map((n) => [n.name, n.opType]));
    const unsupported = [...plan.unsupported];
    const breakdown: KernelRow[] = [];
    const rowsByType = new Map<KernelType, { i: number; x: number[]; work: number }[]>();
    for (const k of plan.kernels) {
      const f = kernelFeatures(k, (n) => macs.get(n) ?? 0, g.analysis.params);
      if (!this.file.models[k.type]) {
        for (const n of k.nodes) unsupported.push({ node: n, opType: opTypeOf.get(n) ?? '', reason: `kernel type "${k.type}" was never profiled on this device` });
        if (!k.nodes.length) unsupported.push({ node: k.id, opType: 'Reorder', reason: 'reorders were never profiled on this device' });
        continue;
      }
      const i = breakdown.length;
      breakdown.push({ kernel: k.id, type: k.type, nodes: k.nodes, nchwc: k.nchwc, act: k.act, macs: f.macs, ms: NaN });
      (rowsByType.get(k.type) ?? rowsByType.set(k.type, []).get(k.type)!).push({ i, x: f.x, work: f.work });
    }
    for (const [type, rows] of rowsByType) {
      const ms = this.regressor(type)!.predictMs(rows);
      rows.forEach((r, j) => (breakdown[r.i].ms = ms[j]));
    }
    const kernelOf = new Map<string, KernelRow>();
    for (const row of breakdown) for (const n of row.nodes) kernelOf.set(n, row);
    const foldedBy = new Map(plan.folded.map((f) => [f.node, f.reason]));
    const unsupportedBy = new Map(unsupported.map((u) => [u.node, u.reason]));
    const nodes: NodeRow[] = g.nodes.map((n) => {
      const row = kernelOf.get(n.name);
      if (row) return { node: n.name, opType: n.opType, status: row.nodes[0] === n.name ? 'kernel' : 'fused', kernel: row.kernel, ms: row.nodes[0] === n.name ? row.ms : 0 };
      if (foldedBy.has(n.name)) return { node: n.name, opType: n.opType, status: 'folded', kernel: null, ms: 0, reason: foldedBy.get(n.name) };
      return { node: n.name, opType: n.opType, status: 'unsupported', kernel: null, ms: null, reason: unsupportedBy.get(n.name) ?? 'no predictor' };
    });
    const overheadMs = this.file.overheadMs + (this.file.outputMsPerMiB ?? 0) * (outputBytes(g) / 2 ** 20);
    const latencyMs = overheadMs + breakdown.reduce((s, r) => s + r.ms, 0);
    const warnings: string[] = [];
    if (unsupported.length) {
      const ops = [...new Set(unsupported.map((u) => u.opType))].join(', ');
      warnings.push(`${unsupported.length} node(s) have no predictor (${ops}); latencyMs leaves them out.`);
    }
    return {
      device: this.file.device.id, model: g.file, latencyMs, overheadMs, kernels: breakdown.length, breakdown, nodes,
      unsupported, unsupportedCount: unsupported.length, warnings,
    };
  }
}
