import { TailorError } from '../core/errors';
import type { TfliteModel, TfliteOperator, TfliteTensor, TfliteTensorType } from '../tflite/model';
import { readTflite } from '../tflite/reader';
import { AnalysisOptions, ModelAnalysis, NodeAnalysis, TensorSummary, checkInputShapeNames, resolveInputShape, unknownOpNodes } from './analyze';
import { ADD, CMP, DIV, EXP, LOG, MUL, RESIZE_LINEAR, SQRT, TANH } from './mac-costs';
import { MAX_FOLDED_ELEMENTS, NotConstant, ShapeError } from './ops';
import { volume } from './tensors';

/**
 * Params and MACs of TFLite models with the ONNX side's conventions (docs/model-analysis.md,
 * "TFLite"): the same counts for the same network, whatever format it was exported to.
 */

function invalid(file: string, reason: string): never {
  throw new TailorError('INVALID_TFLITE', { file, reason });
}

const ELEMENT_BITS: Partial<Record<TfliteTensorType, number>> = {
  float32: 32, float16: 16, int32: 32, uint8: 8, int64: 64, bool: 8, int16: 16, complex64: 64, int8: 8,
  float64: 64, complex128: 128, uint64: 64, uint32: 32, uint16: 16, int4: 4,
};

/** Constants of these types are weights wherever an op reads them as data (not as a setting). */
const WEIGHT_TYPES = new Set<TfliteTensorType>(['float32', 'float16', 'float64', 'int8', 'uint8', 'int16', 'int4']);
/** Quantized biases are int32 (int64 with int16 activations): weights in a bias slot only, shapes and axes elsewhere. */
const BIAS_TYPES = new Set<TfliteTensorType>(['int32', 'int64']);

/** A tensor as an op sees it; `value` only for small integer constants (shapes, axes, paddings). */
interface Operand {
  type: TfliteTensorType;
  shape: number[];
  value?: number[];
}

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** What an op's shape and MAC functions see: its operands (undefined = omitted optional input) and options. */
class OpView {
  constructor(
    readonly op: TfliteOperator,
    private readonly operands: (Operand | undefined)[],
  ) {}
  get inputCount(): number {
    return this.operands.length;
  }
  has(i: number): boolean {
    return this.operands[i] !== undefined;
  }
  input(i: number): Operand {
    const t = this.operands[i];
    if (!t) this.fail(`needs input ${i}`);
    return t;
  }
  shape(i: number): number[] {
    return this.input(i).shape;
  }
  option(name: string, fallback: number): number;
  option(name: string, fallback: boolean): boolean;
  option(name: string, fallback: string): string;
  option(name: string, fallback: number[]): number[];
  option(name: string, fallback: number | boolean | string | number[]): number | boolean | string | number[] {
    return this.op.options?.[name] ?? fallback;
  }
  values(i: number, what: string): number[] {
    const t = this.input(i);
    if (!t.value) throw new NotConstant(`${what} (input ${i}) is only known at run time`);
    return t.value;
  }
  fail(reason: string): never {
    throw new ShapeError(reason);
  }
}

interface TfliteOpSpec {
  /** Output shapes from the input shapes: used when the model has dynamic dims (otherwise the stored shapes are trusted). */
  infer(op: OpView): number[][];
  /** MACs without the fused activation (added for every op that has one); ops without it cost nothing. */
  macs?(op: OpView, outputs: number[][]): number;
  /** Input slots that configure the op (shapes, axes, paddings, sizes): constants there are not weights. */
  settings?: number[];
  /** The bias slot, where an integer constant (quantized bias) is a weight. */
  bias?: number;
}

// ---------------------------------------------------------------------------------------------
// shape helpers

function axisIndex(op: OpView, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) op.fail(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

function broadcast(op: OpView, shapes: number[][]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  return Array.from({ length: rank }, (_, i) => {
    let dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === 1) continue;
      if (dim !== 1 && d !== dim) op.fail(`cannot broadcast shapes ${shapes.map(fmt).join(' and ')}`);
      dim = d;
    }
    return dim;
  });
}

function rank4(op: OpView, i: number, what: string): number[] {
  const s = op.shape(i);
  if (s.length !== 4) op.fail(`needs a 4-D ${what} (input ${i}), got ${fmt(s)}`);
  return s;
}

function checkBias(op: OpView, slot: number, channels: number): void {
  if (!op.has(slot)) return;
  const b = op.shape(slot);
  if (volume(b) !== channels) op.fail(`bias ${fmt(b)} does not match ${channels} output channels`);
}

/** One add per output element for a bias, as onnx-tool charges Conv and Gemm biases. */
const biasAdds = (op: OpView, slot: number, outputs: number[][]) => (op.has(slot) ? volume(outputs[0]) * ADD : 0);

/** TFLite's SAME / VALID padding (TF's rule: SAME gives ceil(size / stride)). */
function windowOut(op: OpView, size: number, kernel: number, stride: number, dilation: number): number {
  if (stride < 1 || dilation < 1) op.fail(`has a stride or dilation below 1`);
  const padding = op.option('padding', 'SAME');
  const span = (kernel - 1) * dilation + 1;
  let out: number;
  if (padding === 'SAME') out = Math.ceil(size / stride);
  else if (padding === 'VALID') out = Math.floor((size - span) / stride) + 1;
  else op.fail(`has unknown padding "${padding}"`);
  if (out < 1) op.fail(`window (kernel ${kernel}, dilation ${dilation}) does not fit input size ${size}`);
  return out;
}

/** [N, H, W, C] -> [N, H', W'] for a kh x kw window with the op's strides and dilations. */
function slide(op: OpView, x: number[], kh: number, kw: number): number[] {
  return [
    x[0],
    windowOut(op, x[1], kh, op.option('strideH', 1), op.option('dilationHFactor', 1)),
    windowOut(op, x[2], kw, op.option('strideW', 1), op.option('dilationWFactor', 1)),
  ];
}

const same = (op: OpView) => [[...op.shape(0)]];
const outputVolume = (outputs: number[][]) => volume(outputs[0]);

// ---------------------------------------------------------------------------------------------
// ops

const conv2d: TfliteOpSpec = {
  infer(op) {
    const x = rank4(op, 0, 'input');
    const w = rank4(op, 1, 'filter'); // [out, kh, kw, in / groups]
    if (x[3] % w[3] !== 0 || w[0] % (x[3] / w[3]) !== 0)
      op.fail(`input has ${x[3]} channels, which filter ${fmt(w)} cannot split into groups`);
    checkBias(op, 2, w[0]);
    return [[...slide(op, x, w[1], w[2]), w[0]]];
  },
  // as Conv: output elements x weight elements per output channel (in / groups x kh x kw)
  macs: (op, outputs) => outputVolume(outputs) * volume(op.shape(1).slice(1)) * MUL + biasAdds(op, 2, outputs),
  bias: 2,
};

const depthwiseConv2d: TfliteOpSpec = {
  infer(op) {
    const x = rank4(op, 0, 'input');
    const w = rank4(op, 1, 'filter'); // [1, kh, kw, in x multiplier]
    if (w[0] !== 1 || w[3] % x[3] !== 0) op.fail(`filter ${fmt(w)} does not fit an input of ${x[3]} channels`);
    checkBias(op, 2, w[3]);
    return [[...slide(op, x, w[1], w[2]), w[3]]];
  },
  // as Conv with group = channels: output elements x kh x kw
  macs: (op, outputs) => outputVolume(outputs) * op.shape(1)[1] * op.shape(1)[2] * MUL + biasAdds(op, 2, outputs),
  bias: 2,
};

const transposeConv: TfliteOpSpec = {
  // inputs: output shape, filter [out, kh, kw, in], input, bias
  infer(op) {
    const w = rank4(op, 1, 'filter');
    const x = rank4(op, 2, 'input');
    const out = op.values(0, 'output shape');
    if (out.length !== 4 || out[3] !== w[0] || x[3] !== w[3]) op.fail(`output shape ${fmt(out)}, filter ${fmt(w)} and input ${fmt(x)} do not fit`);
    checkBias(op, 3, w[0]);
    return [out];
  },
  // onnx-tool's ConvTranspose: output elements x (out channels x kh x kw)
  macs: (op, outputs) => outputVolume(outputs) * volume(op.shape(1).slice(0, 3)) * MUL + biasAdds(op, 3, outputs),
  settings: [0],
  bias: 3,
};

const fullyConnected: TfliteOpSpec = {
  infer(op) {
    const x = op.shape(0);
    const w = op.shape(1); // [units, K]
    if (w.length !== 2) op.fail(`needs 2-D weights, got ${fmt(w)}`);
    const [units, k] = w;
    if (volume(x) % k !== 0) op.fail(`input ${fmt(x)} does not split into rows of ${k}`);
    checkBias(op, 2, units);
    if (op.option('keepNumDims', false)) {
      if (x[x.length - 1] !== k) op.fail(`keepNumDims needs the input's last dim ${fmt(x)} to be ${k}`);
      return [[...x.slice(0, -1), units]];
    }
    return [[volume(x) / k, units]];
  },
  // as Gemm: output elements x K, plus the bias adds
  macs: (op, outputs) => outputVolume(outputs) * op.shape(1)[1] * MUL + biasAdds(op, 2, outputs),
  bias: 2,
};

function matmulShapes(op: OpView): { shape: number[]; k: number } {
  const a = op.shape(0);
  const b = op.shape(1);
  if (a.length < 2 || b.length < 2) op.fail(`needs operands of rank 2 or more, got ${fmt(a)} and ${fmt(b)}`);
  const [m, k] = op.option('adjX', false) ? [a[a.length - 1], a[a.length - 2]] : [a[a.length - 2], a[a.length - 1]];
  const [kb, n] = op.option('adjY', false) ? [b[b.length - 1], b[b.length - 2]] : [b[b.length - 2], b[b.length - 1]];
  if (k !== kb) op.fail(`cannot multiply ${fmt(a)} by ${fmt(b)}`);
  return { shape: [...broadcast(op, [a.slice(0, -2), b.slice(0, -2)]), m, n], k };
}

const batchMatmul: TfliteOpSpec = {
  infer: (op) => [matmulShapes(op).shape],
  // as MatMul: output elements x the shared dimension K
  macs: (op, outputs) => outputVolume(outputs) * matmulShapes(op).k * MUL,
};

const pool2d: TfliteOpSpec = {
  infer(op) {
    const x = rank4(op, 0, 'input');
    return [[...slide(op, x, op.option('filterHeight', 1), op.option('filterWidth', 1)), x[3]]];
  },
  // as MaxPool / AveragePool: one compare or add per kernel element per output
  macs: (op, outputs) => outputVolume(outputs) * op.option('filterHeight', 1) * op.option('filterWidth', 1) * ADD,
};

function reducedAxes(op: OpView): Set<number> {
  const rank = op.shape(0).length;
  const axes = op.values(1, 'axes').map((a) => axisIndex(op, a, rank));
  return new Set(axes);
}

function reduce(cost: number, globalPool = false): TfliteOpSpec {
  return {
    infer(op) {
      const x = op.shape(0);
      const axes = reducedAxes(op);
      return [op.option('keepDims', false) ? x.map((d, i) => (axes.has(i) ? 1 : d)) : x.filter((_, i) => !axes.has(i))];
    },
    macs(op, outputs) {
      const x = op.shape(0);
      // MEAN over H and W of NHWC is how TFLite spells GlobalAveragePool: counted as that (one add per
      // input, one div per output); other reductions as ReduceMean/ReduceSum/ReduceMax (one op per input).
      const spatial = globalPool && x.length === 4 && op.input(1).value !== undefined && [...reducedAxes(op)].sort().join() === '1,2';
      return volume(x) * cost + (spatial ? outputVolume(outputs) * DIV : 0);
    },
    settings: [1],
  };
}

function unary(cost: number): TfliteOpSpec {
  return { infer: same, macs: (_op, outputs) => outputVolume(outputs) * cost };
}

/** Broadcasting binary ops: onnx-tool charges the cost once per output element (two inputs). */
function binary(cost: number): TfliteOpSpec {
  return { infer: (op) => [broadcast(op, [op.shape(0), op.shape(1)])], macs: (_op, outputs) => outputVolume(outputs) * cost };
}

const concatenation: TfliteOpSpec = {
  infer(op) {
    const inputs = Array.from({ length: op.inputCount }, (_, i) => op.shape(i));
    if (!inputs.length) op.fail('needs inputs');
    const rank = inputs[0].length;
    const axis = axisIndex(op, op.option('axis', 0), rank);
    if (inputs.some((s) => s.length !== rank || s.some((d, i) => i !== axis && d !== inputs[0][i])))
      op.fail(`cannot concatenate ${inputs.map(fmt).join(', ')} on axis ${axis}`);
    return [inputs[0].map((d, i) => (i === axis ? inputs.reduce((s, t) => s + t[axis], 0) : d))];
  },
};

const reshape: TfliteOpSpec = {
  infer(op) {
    const x = op.shape(0);
    // the shape input wins over the (older) newShape option
    const target = op.has(1) ? op.values(1, 'target shape') : op.option('newShape', []);
    const total = volume(x);
    const shape = [...target];
    const inferred = shape.filter((d) => d === -1).length;
    if (inferred > 1 || shape.some((d) => d < -1)) op.fail(`has an invalid target shape ${fmt(target)}`);
    if (inferred) {
      const known = volume(shape.filter((d) => d !== -1));
      if (known === 0 || total % known !== 0) op.fail(`cannot reshape ${fmt(x)} (${total} elements) to ${fmt(target)}`);
      shape[shape.indexOf(-1)] = total / known;
    }
    if (volume(shape) !== total) op.fail(`cannot reshape ${fmt(x)} (${total} elements) to ${fmt(target)}`);
    return [shape];
  },
  settings: [1],
};

const transpose: TfliteOpSpec = {
  infer(op) {
    const x = op.shape(0);
    const perm = op.values(1, 'permutation').map((p) => axisIndex(op, p, x.length));
    if (perm.length !== x.length || new Set(perm).size !== perm.length) op.fail(`permutation ${fmt(perm)} does not fit ${fmt(x)}`);
    return [perm.map((p) => x[p])];
  },
  settings: [1],
};

const squeeze: TfliteOpSpec = {
  infer(op) {
    const x = op.shape(0);
    const dims = op.option('squeezeDims', []);
    if (!dims.length) return [x.filter((d) => d !== 1)];
    const drop = new Set(dims.map((a) => axisIndex(op, a, x.length)));
    for (const a of drop) if (x[a] !== 1) op.fail(`cannot squeeze axis ${a} of ${fmt(x)}`);
    return [x.filter((_, i) => !drop.has(i))];
  },
};

const expandDims: TfliteOpSpec = {
  infer(op) {
    const x = op.shape(0);
    const axis = axisIndex(op, op.values(1, 'axis')[0], x.length + 1);
    return [[...x.slice(0, axis), 1, ...x.slice(axis)]];
  },
  settings: [1],
};

const pad: TfliteOpSpec = {
  infer(op) {
    const x = op.shape(0);
    const p = op.values(1, 'paddings');
    if (p.length !== 2 * x.length) op.fail(`has ${p.length / 2} padding pairs for rank ${x.length}`);
    const shape = x.map((d, i) => d + p[2 * i] + p[2 * i + 1]);
    if (shape.some((d) => d < 0)) op.fail(`paddings ${fmt(p)} crop ${fmt(x)} below zero`);
    return [shape];
  },
  settings: [1, 2],
};

const bit = (mask: number, i: number) => ((mask >> i) & 1) === 1;

const stridedSlice: TfliteOpSpec = {
  infer(op) {
    const x = op.shape(0);
    const [begin, end, strides] = [op.values(1, 'begin'), op.values(2, 'end'), op.values(3, 'strides')];
    if (begin.length !== end.length || begin.length !== strides.length || begin.length > x.length) op.fail('has begin, end and strides of different lengths');
    if (op.option('ellipsisMask', 0) || op.option('newAxisMask', 0)) throw new NotConstant('output shape uses ellipsis or new-axis masks, which the analysis does not follow');
    const [beginMask, endMask, shrink] = [op.option('beginMask', 0), op.option('endMask', 0), op.option('shrinkAxisMask', 0)];
    const shape: number[] = [];
    x.forEach((dim, i) => {
      if (i >= begin.length) return shape.push(dim);
      const st = strides[i];
      if (st === 0) op.fail('has a zero stride');
      const norm = (v: number) => (v < 0 ? v + dim : v);
      if (bit(shrink, i)) {
        if (norm(begin[i]) < 0 || norm(begin[i]) >= dim) op.fail(`index ${begin[i]} is out of range for size ${dim}`);
        return; // the axis is removed
      }
      const clamp = (v: number) => (st > 0 ? Math.min(Math.max(v, 0), dim) : Math.min(Math.max(v, -1), dim - 1));
      const b = bit(beginMask, i) ? (st > 0 ? 0 : dim - 1) : clamp(norm(begin[i]));
      const endValue = op.option('offset', false) ? begin[i] + end[i] : end[i];
      const e = bit(endMask, i) ? (st > 0 ? dim : -1) : clamp(norm(endValue));
      shape.push(Math.max(0, Math.ceil((e - b) / st)));
    });
    return [shape];
  },
  settings: [1, 2, 3],
};

const slice: TfliteOpSpec = {
  infer(op) {
    const x = op.shape(0);
    const [begin, size] = [op.values(1, 'begin'), op.values(2, 'size')];
    if (begin.length !== x.length || size.length !== x.length) op.fail(`begin ${fmt(begin)} and size ${fmt(size)} do not fit ${fmt(x)}`);
    return [x.map((d, i) => {
      const s = size[i] === -1 ? d - begin[i] : size[i];
      if (begin[i] < 0 || s < 0 || begin[i] + s > d) op.fail(`slice ${begin[i]}+${size[i]} does not fit size ${d}`);
      return s;
    })];
  },
  settings: [1, 2],
};

function splitShapes(op: OpView, x: number[], axis: number, sizes: number[]): number[][] {
  if (sizes.length !== op.op.outputs.length) op.fail(`has ${sizes.length} parts for ${op.op.outputs.length} outputs`);
  const open = sizes.indexOf(-1);
  if (open >= 0) sizes = sizes.map((s, i) => (i === open ? x[axis] - sizes.reduce((a, b) => a + b, 0) - 1 : s));
  if (sizes.some((s) => s < 0) || sizes.reduce((a, b) => a + b, 0) !== x[axis]) op.fail(`parts ${fmt(sizes)} do not add up to ${x[axis]}`);
  return sizes.map((s) => x.map((d, i) => (i === axis ? s : d)));
}

const split: TfliteOpSpec = {
  // inputs: axis, tensor
  infer(op) {
    const x = op.shape(1);
    const axis = axisIndex(op, op.values(0, 'axis')[0], x.length);
    const n = op.op.outputs.length;
    if (x[axis] % n !== 0) op.fail(`cannot split size ${x[axis]} into ${n} equal parts`);
    return splitShapes(op, x, axis, Array(n).fill(x[axis] / n));
  },
  settings: [0],
};

const splitV: TfliteOpSpec = {
  // inputs: tensor, sizes, axis
  infer(op) {
    const x = op.shape(0);
    return splitShapes(op, x, axisIndex(op, op.values(2, 'axis')[0], x.length), op.values(1, 'split sizes'));
  },
  settings: [1, 2],
};

function resize(perElement: number): TfliteOpSpec {
  return {
    infer(op) {
      const x = rank4(op, 0, 'input');
      const size = op.values(1, 'size');
      if (size.length !== 2) op.fail(`needs 2 sizes, got ${fmt(size)}`);
      return [[x[0], size[0], size[1], x[3]]];
    },
    macs: (_op, outputs) => outputVolume(outputs) * perElement,
    settings: [1],
  };
}

const gather: TfliteOpSpec = {
  infer(op) {
    const data = op.shape(0);
    const indices = op.shape(1);
    const axis = axisIndex(op, op.option('axis', 0), data.length);
    const batchDims = op.option('batchDims', 0);
    if (batchDims !== 0) throw new NotConstant(`output shape with batchDims ${batchDims} is not followed by the analysis`);
    return [[...data.slice(0, axis), ...indices, ...data.slice(axis + 1)]];
  },
  settings: [1],
};

/** Costs as the ONNX op that computes the same (named in a comment where the names differ). */
const TFLITE_OPS: Record<string, TfliteOpSpec> = {
  CONV_2D: conv2d,
  DEPTHWISE_CONV_2D: depthwiseConv2d,
  TRANSPOSE_CONV: transposeConv,
  FULLY_CONNECTED: fullyConnected,
  BATCH_MATMUL: batchMatmul,
  AVERAGE_POOL_2D: pool2d,
  MAX_POOL_2D: pool2d,
  MEAN: reduce(ADD, true),
  SUM: reduce(ADD),
  REDUCE_MAX: reduce(CMP),
  REDUCE_MIN: reduce(CMP),

  ADD: binary(ADD),
  SUB: binary(ADD),
  MUL: binary(MUL),
  DIV: binary(DIV),
  MAXIMUM: binary(CMP),
  MINIMUM: binary(CMP),
  PRELU: binary(CMP + MUL),

  RELU: unary(CMP),
  RELU6: unary(2 * CMP), // Clip(0, 6)
  RELU_N1_TO_1: unary(2 * CMP), // Clip(-1, 1)
  LEAKY_RELU: unary(MUL + CMP),
  LOGISTIC: unary(EXP), // Sigmoid
  TANH: unary(2 * TANH), // onnx-tool charges tanh twice per element
  HARD_SWISH: unary(2 * MUL + ADD + 2 * CMP),
  ELU: unary(CMP + EXP + ADD + MUL),
  EXP: unary(EXP),
  LOG: unary(LOG),
  SQRT: unary(SQRT),
  RSQRT: unary(SQRT + DIV), // Sqrt then Reciprocal
  ABS: unary(CMP),
  NEG: unary(CMP),
  GELU: { infer: same, macs: (op, outputs) => outputVolume(outputs) * (op.option('approximate', false) ? 6 * MUL + 2 * ADD + TANH : DIV + ADD + 2 * MUL) },
  SOFTMAX: unary(EXP + DIV),
  LOG_SOFTMAX: unary(EXP + DIV + LOG),
  // QUANTIZE / DEQUANTIZE / CAST convert element types: free, as Cast on the ONNX side
  QUANTIZE: unary(0),
  DEQUANTIZE: unary(0),
  CAST: unary(0),

  CONCATENATION: concatenation,
  RESHAPE: reshape,
  TRANSPOSE: transpose,
  SQUEEZE: squeeze,
  EXPAND_DIMS: expandDims,
  PAD: pad,
  PADV2: pad,
  MIRROR_PAD: pad,
  STRIDED_SLICE: stridedSlice,
  SLICE: slice,
  SPLIT: split,
  SPLIT_V: splitV,
  RESIZE_BILINEAR: resize(RESIZE_LINEAR),
  RESIZE_NEAREST_NEIGHBOR: resize(0),
  GATHER: gather,
};

/** A fused activation costs what the separate ONNX node costs (Relu, Clip, Tanh). */
const ACTIVATION_COST: Record<string, number> = { NONE: 0, RELU: CMP, RELU_N1_TO_1: 2 * CMP, RELU6: 2 * CMP, TANH: 2 * TANH, SIGN_BIT: CMP };

function activationMacs(op: OpView, outputs: number[][]): number {
  const act = op.option('fusedActivationFunction', 'NONE');
  const cost = ACTIVATION_COST[act];
  if (cost === undefined) op.fail(`has unknown fused activation "${act}"`);
  return outputVolume(outputs) * cost;
}

function readInts(data: Uint8Array, type: TfliteTensorType, count: number): number[] | undefined {
  if (type !== 'int32' && type !== 'int64') return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return Array.from({ length: count }, (_, i) => (type === 'int32' ? view.getInt32(i * 4, true) : Number(view.getBigInt64(i * 8, true))));
}

/** Shapes, params and MACs of every operator of subgraph 0 of a TFLite model (the one the interpreter runs). */
export function analyzeTfliteModel(model: TfliteModel, sizeBytes: number, options: AnalysisOptions = {}): ModelAnalysis {
  const file = options.file ?? 'model';
  const graph = model.subgraphs[0];
  if (!graph) invalid(file, 'it has no subgraph');
  const { tensors, operators } = graph;
  const tensorAt = (i: number, where: string): TfliteTensor => {
    if (!Number.isInteger(i) || i < 0 || i >= tensors.length) invalid(file, `${where} refers to tensor ${i}, but the subgraph has ${tensors.length} tensors`);
    return tensors[i];
  };
  const label = (i: number) => `tensor ${i} "${tensors[i].name}"`;
  const storedShape = (t: TfliteTensor) => (t.shapeSignature && t.shapeSignature.length === t.shape.length ? t.shapeSignature : t.shape);
  const isStatic = (t: TfliteTensor) => storedShape(t).every((d) => d >= 0);

  // Activations are tensors some operator writes, graph inputs and variables; tensors with data are constants.
  const written = new Set<number>();
  operators.forEach((op, k) =>
    op.outputs.forEach((o) => {
      tensorAt(o, `operator ${k} (${op.opcode})`);
      if (written.has(o) || graph.inputs.includes(o)) invalid(file, `${label(o)} is written more than once`);
      written.add(o);
    }),
  );
  const known = new Map<number, Operand>();
  /** Tensor index -> why its shape is unknown. */
  const unknown = new Map<number, string>();
  const constants = new Set<number>();
  tensors.forEach((t, i) => {
    if (!Number.isInteger(t.buffer) || t.buffer < 0 || t.buffer >= model.buffers.length) invalid(file, `${label(i)} refers to buffer ${t.buffer}, but the model has ${model.buffers.length}`);
    const data = model.buffers[t.buffer];
    const elements = volume(t.shape);
    if (t.isVariable) {
      known.set(i, { type: t.type, shape: [...t.shape] }); // state, not weights
      return;
    }
    // an empty tensor has an empty buffer too: a constant when nothing writes it
    if (t.buffer === 0 || (data.length === 0 && (elements !== 0 || written.has(i) || graph.inputs.includes(i)))) return;
    const bits = ELEMENT_BITS[t.type];
    if (bits !== undefined && data.length !== Math.ceil((elements * bits) / 8))
      invalid(file, `constant ${label(i)} holds ${data.length} bytes, but its shape ${fmt(t.shape)} of ${t.type} needs ${Math.ceil((elements * bits) / 8)}`);
    constants.add(i);
    known.set(i, { type: t.type, shape: [...t.shape], value: elements <= MAX_FOLDED_ELEMENTS ? readInts(data, t.type, elements) : undefined });
  });

  const overrides = options.inputShapes ?? {};
  checkInputShapeNames(overrides, graph.inputs.map((i) => tensorAt(i, 'the subgraph inputs').name));
  const read = new Set([...operators.flatMap((op) => op.inputs), ...graph.outputs]);
  const inputs: TensorSummary[] = graph.inputs.map((i) => {
    const t = tensors[i];
    const declared = storedShape(t).map((d) => (d >= 0 ? d : null));
    // an input nothing reads needs no shape
    if (!read.has(i) && !overrides[t.name] && !isStatic(t)) return { name: t.name, dtype: t.type, shape: null };
    const shape = resolveInputShape(file, t.name, declared, overrides[t.name]);
    known.set(i, { type: t.type, shape });
    return { name: t.name, dtype: t.type, shape };
  });
  // Stored shapes are trusted unless some dim is dynamic: then every shape is inferred from the inputs.
  const dynamic = tensors.some((t) => !isStatic(t));

  const counted = new Set<number>();
  const weightBuffers = new Set<number>();
  const weightBytes = { total: 0, byType: {} as Record<string, number> };
  const unsupported = new Map<string, string[]>();
  const unresolved: { node: string; reason: string }[] = [];
  const nodes: NodeAnalysis[] = operators.map((op, k) => {
    const spec = TFLITE_OPS[op.opcode];
    const name = (op.outputs.length && tensors[op.outputs[0]].name) || `${op.opcode}_${k}`;
    const where = `operator ${k} "${name}" (${op.opcode})`;

    // Each weight counts once, at the first operator that reads it as data.
    let params = 0;
    op.inputs.forEach((input, slot) => {
      if (input < 0 || !constants.has(input) || counted.has(input) || spec?.settings?.includes(slot)) return;
      const t = tensors[input];
      if (!WEIGHT_TYPES.has(t.type) && !(spec?.bias === slot && BIAS_TYPES.has(t.type))) return;
      counted.add(input);
      params += volume(t.shape);
      if (weightBuffers.has(t.buffer)) return; // tensors sharing a buffer store it once
      weightBuffers.add(t.buffer);
      weightBytes.total += model.buffers[t.buffer].length;
      weightBytes.byType[t.type] = (weightBytes.byType[t.type] ?? 0) + model.buffers[t.buffer].length;
    });

    let blockedBy: string | undefined;
    const operands = op.inputs.map((input) => {
      if (input === -1) return undefined; // omitted optional input
      tensorAt(input, where);
      const t = known.get(input);
      if (t) return t;
      const cause = unknown.get(input);
      if (cause === undefined) invalid(file, `${where} reads ${label(input)}, which no earlier operator, input or constant provides`);
      blockedBy ??= cause;
      return undefined;
    });
    const stored = op.outputs.map((o) => (!dynamic || isStatic(tensors[o]) ? [...tensors[o].shape] : undefined));
    const allStored = stored.every((s) => s !== undefined) ? (stored as number[][]) : undefined;

    let shapes: (number[] | undefined)[] = stored;
    let macs: number | null = null;
    let note: string | undefined;
    let cause: string | undefined;
    if (!spec) {
      unsupported.set(op.opcode, [...(unsupported.get(op.opcode) ?? []), name]);
      note = `unsupported op ${op.opcode}`;
      cause = `unsupported ${op.opcode} operator "${name}"`;
    } else if (blockedBy) {
      note = `depends on ${blockedBy}`;
      cause = blockedBy;
    } else {
      const view = new OpView(op, operands);
      try {
        let outputs = allStored;
        if (dynamic) {
          try {
            outputs = spec.infer(view);
            outputs.forEach((s, j) => {
              const declared = storedShape(tensors[op.outputs[j]]);
              if (s.length !== declared.length || declared.some((d, i) => d >= 0 && d !== s[i]))
                view.fail(`output ${j} has shape ${fmt(s)}, but the model declares ${fmt(declared)}`);
            });
          } catch (e) {
            if (!(e instanceof NotConstant) || !allStored) throw e;
          }
        }
        shapes = outputs!;
        macs = (spec.macs?.(view, outputs!) ?? 0) + activationMacs(view, outputs!);
      } catch (e) {
        if (e instanceof ShapeError) invalid(file, `${where}: ${e.message}`);
        if (!(e instanceof NotConstant)) throw e;
        note = e.message;
        cause = `${where}, whose ${e.message}`;
      }
    }
    if (note && spec) unresolved.push({ node: name, reason: note });

    op.outputs.forEach((o, j) => {
      const shape = shapes[j];
      if (shape) known.set(o, { type: tensors[o].type, shape });
      else unknown.set(o, cause ?? `${where}, which gives no output ${j}`);
    });
    return {
      name, opType: op.opcode,
      inputs: op.inputs.map((i) => (i < 0 ? '' : tensors[i].name)), outputs: op.outputs.map((o) => tensors[o].name),
      outputShapes: op.outputs.map((o) => known.get(o)?.shape ?? null),
      params, macs, ...(note ? { note } : {}),
    };
  });

  const unknownNodes = unknownOpNodes(file, unsupported, nodes.map((n) => n.name), options);
  const params = nodes.reduce((s, n) => s + n.params, 0);
  return {
    file, format: 'tflite', opset: model.version, producer: model.description,
    inputs,
    outputs: graph.outputs.map((o) => ({ name: tensorAt(o, 'the subgraph outputs').name, dtype: tensors[o].type, shape: known.get(o)?.shape ?? null })),
    params,
    macs: nodes.reduce((s, n) => s + (n.macs ?? 0), 0),
    sizeBytes,
    fp32Bytes: params * 4,
    weightBytes,
    nodes,
    unsupported: [...unsupported].map(([opType, names]) => ({ opType, nodes: names })),
    unresolved,
    partial: nodes.some((n) => n.macs === null),
    unknownNodes,
  };
}

/** Shapes, params and MACs of a .tflite file's bytes (see docs/model-analysis.md, "TFLite"). */
export function analyzeTflite(bytes: Uint8Array, options: AnalysisOptions = {}): ModelAnalysis {
  const file = options.file ?? 'model';
  if (bytes.length === 0) invalid(file, 'the file is empty');
  return analyzeTfliteModel(readTflite(bytes, file), bytes.length, options);
}
