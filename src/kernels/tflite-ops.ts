import type { ModelAnalysis } from '../analysis/analyze';
import type { TfliteModel, TfliteOperator } from '../tflite/model';

/**
 * What the TFLite runtime (XNNPACK delegate) executes for a .tflite model, op by op, and the
 * features of each executed op for the op-level regressors. Pure: tested offline.
 *
 * XNNPACK fuses two kinds of ops into the op next to them (seen in tflite-wasm's profiles: the
 * fused op has no operator of its own):
 * - a PAD of the spatial dims, read only by a CONV_2D / DEPTHWISE_CONV_2D, becomes that
 *   convolution's padding, unless the convolution is SAME with a stride above 1 (XNNPACK keeps
 *   TF's SAME rule for those, and the PAD runs);
 * - a RELU / RELU6 / RELU_N1_TO_1 whose input only it reads, made by an op with an output clamp
 *   (convolutions, fully connected, add, mul, sub, div, pooling, another RELU), becomes that clamp.
 * Every other op of a kind below runs as one operator.
 */

/** The TFLite op kinds the predictor has a regressor kind for (float32 only): one regressor per kind. */
export const TFLITE_OP_KINDS = [
  'CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED', 'ADD', 'MUL', 'HARD_SWISH', 'LOGISTIC', 'RELU', 'RELU6',
  'MEAN', 'AVERAGE_POOL_2D', 'MAX_POOL_2D', 'RESHAPE', 'PAD', 'CONCATENATION', 'SOFTMAX',
] as const;
export type TfliteOpKind = (typeof TFLITE_OP_KINDS)[number];
const KINDS = new Set<string>(TFLITE_OP_KINDS);

/**
 * nn-Meter's features (input HW, Cin, Cout, kernel, stride, MACs, params) plus elements in and
 * out, the fused activation, a fused PAD, broadcasting and the input count. Unlike the ONNX
 * kernels', no model weight count: whole networks have more weights than any profiling graph, and
 * forests cannot extrapolate along it (with it, 5x5 depthwise convolutions of OFA subnets were
 * predicted 45% slow, the subnets +9 to +17%).
 */
export const TFLITE_FEATURE_NAMES = [
  'op', 'log2_in_elems', 'log2_out_elems', 'log2_macs', 'log2_params', 'log2_cin', 'log2_cout', 'log2_in_hw', 'log2_out_hw',
  'kernel', 'stride', 'act', 'padded', 'broadcast', 'inputs',
] as const;

const ACT_CODES: Record<string, number> = { NONE: 0, RELU: 1, RELU6: 2, RELU_N1_TO_1: 3, TANH: 4 };
/** Ops whose XNNPACK operator has an output clamp a following RELU / RELU6 folds into. */
const CLAMPED = new Set(['CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED', 'ADD', 'MUL', 'SUB', 'DIV', 'AVERAGE_POOL_2D', 'MAX_POOL_2D', 'TRANSPOSE_CONV', 'RELU', 'RELU6', 'RELU_N1_TO_1']);
const RELUS = new Set(['RELU', 'RELU6', 'RELU_N1_TO_1']);
const CONVS = new Set(['CONV_2D', 'DEPTHWISE_CONV_2D']);
const FLOAT_ACTIVATIONS = new Set(['float32']);

const volume = (s: readonly number[] | null | undefined) => (s ? s.reduce((a, b) => a * b, 1) : 0);
const lg = (v: number) => Math.log2(Math.max(v, 0) + 1);

export interface TfliteOpFeatures {
  x: number[];
  /** What latency scales with: MACs (+ outputs) for convolutions and FC, elements in + out for the rest. */
  work: number;
  macs: number;
}

export interface PlannedTfliteOp {
  index: number;
  /** The op's first output tensor (how profiles and breakdowns name it). */
  name: string;
  opcode: string;
  /** kernel: runs as an operator of its own; fused: folded into `into`; folded: removed at load; unsupported: no predictor kind. */
  status: 'kernel' | 'fused' | 'folded' | 'unsupported';
  into?: string;
  reason?: string;
  /** kernel ops only. */
  kind?: TfliteOpKind;
  features?: TfliteOpFeatures;
  /** The fused activation (its own option, or a RELU folded into it). */
  act?: string;
}

export interface TflitePlan {
  ops: PlannedTfliteOp[];
}

/**
 * The executed ops of a TFLite model: which ops run as operators (with their features), which
 * fold into a neighbour, and which have no predictor kind (an op kind never profiled, a quantized
 * op, unknown shapes). `analysis` is analyzeTflite's of the same model (shapes, params).
 */
export function planTfliteOps(model: TfliteModel, analysis: ModelAnalysis): TflitePlan {
  const graph = model.subgraphs[0];
  const ops = graph.operators;
  const tensors = graph.tensors;
  const constant = (t: number) => t >= 0 && tensors[t].buffer !== 0 && model.buffers[tensors[t].buffer]?.length > 0;
  // shapes as analysed (dynamic dims resolved), else as stored
  const shapes = new Map<number, number[] | null>();
  analysis.inputs.forEach((inp, i) => shapes.set(graph.inputs[i], inp.shape));
  ops.forEach((op, k) => op.outputs.forEach((o, j) => shapes.set(o, analysis.nodes[k]?.outputShapes[j] ?? null)));
  const shapeOf = (t: number): number[] | null => (shapes.has(t) ? shapes.get(t)! : tensors[t]?.shape ?? null);
  const consumers = new Map<number, number[]>();
  ops.forEach((op, k) => op.inputs.forEach((t) => t >= 0 && (consumers.get(t) ?? consumers.set(t, []).get(t)!).push(k)));
  const graphOutputs = new Set(graph.outputs);
  const nameOf = (k: number) => analysis.nodes[k]?.name ?? `${ops[k].opcode}_${k}`;
  const onlyConsumer = (t: number) => (!graphOutputs.has(t) && consumers.get(t)?.length === 1 ? consumers.get(t)![0] : -1);

  const planned: PlannedTfliteOp[] = ops.map((op, k) => ({ index: k, name: nameOf(k), opcode: op.opcode, status: 'kernel' }));
  const padInto = new Map<number, number>(); // conv -> pad
  const reluInto = new Map<number, number>(); // producer -> relu
  ops.forEach((op, k) => {
    if (op.opcode === 'PAD' && constant(op.inputs[1])) {
      const c = onlyConsumer(op.outputs[0]);
      const pads = padsOf(model, op);
      const explicit = c >= 0 && (ops[c].options?.padding === 'VALID' || (Number(ops[c].options?.strideH ?? 1) === 1 && Number(ops[c].options?.strideW ?? 1) === 1));
      if (explicit && CONVS.has(ops[c].opcode) && ops[c].inputs[0] === op.outputs[0] && pads && pads[0] === 0 && pads[1] === 0 && pads[6] === 0 && pads[7] === 0) {
        planned[k] = { ...planned[k], status: 'fused', into: nameOf(c), reason: 'XNNPACK folds it into the convolution\'s padding' };
        padInto.set(c, k);
      }
    }
    if (RELUS.has(op.opcode)) {
      const input = op.inputs[0];
      const producer = ops.findIndex((p) => p.outputs.includes(input));
      if (producer >= 0 && CLAMPED.has(ops[producer].opcode) && onlyConsumer(input) === k) {
        // a clamp after a fused clamp ends in the same operator
        const into = planned[producer].status === 'fused' ? planned[producer].into! : nameOf(producer);
        planned[k] = { ...planned[k], status: 'fused', into, reason: 'XNNPACK folds it into the output clamp of the op before' };
        reluInto.set(producer, k);
      }
    }
  });

  for (const p of planned) {
    if (p.status !== 'kernel') continue;
    const op = ops[p.index];
    const node = analysis.nodes[p.index];
    if (op.opcode === 'DEQUANTIZE' && constant(op.inputs[0])) {
      Object.assign(p, { status: 'folded', reason: 'a constant dequantized once at load (float16 / int8 weights)' });
      continue;
    }
    const activations = [...op.inputs.filter((t) => t >= 0 && !constant(t)), ...op.outputs];
    const quantized = activations.find((t) => !FLOAT_ACTIVATIONS.has(tensors[t].type));
    if (quantized !== undefined) {
      Object.assign(p, { status: 'unsupported', reason: `${tensors[quantized].type} tensor "${tensors[quantized].name}": only float32 ops are profiled (quantized ops have no predictor)` });
      continue;
    }
    if (!KINDS.has(op.opcode)) {
      Object.assign(p, { status: 'unsupported', reason: `no regressor kind for ${op.opcode} (kinds: ${TFLITE_OP_KINDS.join(', ')})` });
      continue;
    }
    const inShapes = op.inputs.map((t) => (t >= 0 ? shapeOf(t) : null));
    const outShape = shapeOf(op.outputs[0]);
    if (!outShape || !inShapes[0] || node?.note) {
      Object.assign(p, { status: 'unsupported', reason: `unknown shapes${node?.note ? ` (${node.note})` : ''}` });
      continue;
    }
    const relu = reluInto.get(p.index);
    const act = relu !== undefined ? ops[relu].opcode : String(op.options?.fusedActivationFunction ?? 'NONE');
    p.kind = op.opcode as TfliteOpKind;
    p.act = act;
    p.features = opFeatures(op, inShapes, outShape, (t) => constant(t), act, padInto.has(p.index) ? padsOf(model, ops[padInto.get(p.index)!]) : null);
  }
  return { ops: planned };
}

/** PAD's paddings ([[before, after] per dim] flattened), when constant int32. */
function padsOf(model: TfliteModel, op: TfliteOperator): number[] | null {
  const t = model.subgraphs[0].tensors[op.inputs[1]];
  const data = t && model.buffers[t.buffer];
  if (!t || t.type !== 'int32' || !data || data.length !== 32) return null;
  return Array.from(new Int32Array(data.slice().buffer));
}

/** The feature row of one executed op (shapes NHWC; FC rows x K). */
export function opFeatures(
  op: TfliteOperator, inShapes: (number[] | null)[], outShape: number[], isConstant: (t: number) => boolean,
  act: string, fusedPads: number[] | null,
): TfliteOpFeatures {
  const x = new Array<number>(TFLITE_FEATURE_NAMES.length).fill(0);
  const set = (name: (typeof TFLITE_FEATURE_NAMES)[number], v: number) => (x[TFLITE_FEATURE_NAMES.indexOf(name)] = v);
  const data = op.inputs.map((t, i) => (t >= 0 && !isConstant(t) ? inShapes[i] : null)).filter((s): s is number[] => !!s);
  const inS = inShapes[0]!;
  const inElems = data.reduce((s, sh) => s + volume(sh), 0);
  const outElems = volume(outShape);
  const weights = op.opcode === 'CONV_2D' || op.opcode === 'DEPTHWISE_CONV_2D' || op.opcode === 'FULLY_CONNECTED' ? volume(inShapes[1]) : 0;
  set('op', TFLITE_OP_KINDS.indexOf(op.opcode as TfliteOpKind));
  set('log2_in_elems', lg(inElems));
  set('log2_out_elems', lg(outElems));
  set('log2_params', lg(weights));
  set('act', ACT_CODES[act] ?? 9);
  set('inputs', data.length);
  const spatial = (s: number[]) => (s.length === 4 ? s[1] * s[2] : 1);
  const channels = (s: number[]) => s[s.length - 1] ?? 1;
  set('log2_cin', lg(channels(inS)));
  set('log2_cout', lg(channels(outShape)));
  set('log2_in_hw', lg(spatial(inS)));
  set('log2_out_hw', lg(spatial(outShape)));
  let macs = 0;
  let work = inElems + outElems + 1;
  const o = op.options ?? {};
  if (op.opcode === 'CONV_2D' || op.opcode === 'DEPTHWISE_CONV_2D') {
    const f = inShapes[1] ?? [1, 1, 1, 1]; // [out, kh, kw, in] / [1, kh, kw, out]
    const k = f[1];
    macs = op.opcode === 'CONV_2D' ? outElems * f[1] * f[2] * f[3] : outElems * f[1] * f[2];
    set('kernel', k);
    set('stride', Number(o.strideH ?? 1));
    set('padded', fusedPads ? 1 : 0);
    work = macs + outElems + 1;
  } else if (op.opcode === 'FULLY_CONNECTED') {
    const w = inShapes[1] ?? [1, 1]; // [units, K]
    const rows = Math.max(1, Math.round(volume(inS) / w[1]));
    macs = rows * w[0] * w[1];
    set('log2_cin', lg(w[1]));
    set('log2_cout', lg(w[0]));
    set('log2_in_hw', lg(rows));
    set('log2_out_hw', lg(rows));
    work = macs + outElems + 1;
  } else if (op.opcode === 'AVERAGE_POOL_2D' || op.opcode === 'MAX_POOL_2D') {
    set('kernel', Number(o.filterHeight ?? 1));
    set('stride', Number(o.strideH ?? 1));
    work = outElems * Number(o.filterHeight ?? 1) * Number(o.filterWidth ?? 1) + inElems + 1;
  } else if (op.opcode === 'ADD' || op.opcode === 'MUL') {
    // a broadcast (SE gate, scalar) or a constant operand runs another XNNPACK path than equal shapes
    const other = op.inputs[1];
    set('broadcast', isConstant(other) ? 2 : volume(inShapes[1]) !== outElems ? 1 : 0);
  } else if (op.opcode === 'CONCATENATION') {
    set('kernel', Number(o.axis ?? 0) < 0 ? Number(o.axis) + outShape.length : Number(o.axis ?? 0));
  } else if (op.opcode === 'PAD') {
    set('kernel', volume(outShape) / Math.max(volume(inS), 1));
  }
  set('log2_macs', lg(macs));
  return { x, work, macs };
}
