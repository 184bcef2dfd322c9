import { onnx } from 'onnx-proto';
import { ADD, CMP, COS, DIV, EXP, LOG, MUL, POW, RESIZE_CUBIC, RESIZE_LINEAR, SIN, SQRT, TANH } from './mac-costs';
import { DataType, castValues, isIntegerType, tensorDataProblem, tensorDims, tensorValues, toNumber, volume } from './tensors';

export interface TensorInfo {
  dtype: number;
  shape: number[];
  /** Row-major values, kept only for small tensors known before run time (shapes, axes, scales). */
  value?: number[];
}

/** Larger tensors are never folded: shape arithmetic only ever needs a handful of values. */
export const MAX_FOLDED_ELEMENTS = 4096;

/** The model contradicts itself (e.g. channel counts that do not match): it is invalid. */
export class ShapeError extends Error {}
/** A value the op needs (target shape, scales, ...) is only known at run time. */
export class NotConstant extends Error {}

export class Attributes {
  private readonly byName = new Map<string, onnx.IAttributeProto>();

  constructor(list: onnx.IAttributeProto[] | null | undefined) {
    for (const a of list ?? []) if (a.name) this.byName.set(a.name, a);
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  int(name: string, fallback: number): number {
    const a = this.byName.get(name);
    return a ? toNumber(a.i) : fallback;
  }
  ints(name: string): number[] | undefined {
    const a = this.byName.get(name);
    return a ? (a.ints ?? []).map(toNumber) : undefined;
  }
  float(name: string, fallback: number): number {
    const a = this.byName.get(name);
    return a ? (a.f ?? fallback) : fallback;
  }
  floats(name: string): number[] | undefined {
    const a = this.byName.get(name);
    return a ? [...(a.floats ?? [])] : undefined;
  }
  string(name: string, fallback: string): string {
    const a = this.byName.get(name);
    return a?.s ? new TextDecoder().decode(a.s) : fallback;
  }
  tensor(name: string): onnx.ITensorProto | undefined {
    return this.byName.get(name)?.t ?? undefined;
  }
}

/** What an op's shape function sees: its inputs (undefined = omitted optional input), attributes and opset. */
export class OpContext {
  readonly attrs: Attributes;

  constructor(
    readonly node: onnx.INodeProto,
    readonly opset: number,
    private readonly inputs: (TensorInfo | undefined)[],
  ) {
    this.attrs = new Attributes(node.attribute);
  }
  get outputCount(): number {
    return this.node.output?.length ?? 0;
  }
  get inputCount(): number {
    return this.inputs.length;
  }
  has(i: number): boolean {
    return this.inputs[i] !== undefined;
  }
  input(i: number): TensorInfo {
    const t = this.inputs[i];
    if (!t) this.fail(`needs input ${i}`);
    return t;
  }
  optional(i: number): TensorInfo | undefined {
    return this.inputs[i];
  }
  /** Values of input i; undefined when the input is omitted or an empty tensor (ONNX's "not given"). */
  values(i: number, what: string): number[] | undefined {
    const t = this.inputs[i];
    if (!t || volume(t.shape) === 0) return undefined;
    if (!t.value) throw new NotConstant(`${what} (input ${i}) is only known at run time`);
    return t.value;
  }
  /** Values of a required input; an empty tensor is an empty list (e.g. the target shape of a scalar). */
  requiredValues(i: number, what: string): number[] {
    const t = this.inputs[i];
    if (!t) this.fail(`needs ${what} (input ${i})`);
    return volume(t.shape) === 0 ? [] : this.values(i, what)!;
  }
  fail(reason: string): never {
    throw new ShapeError(reason);
  }
}

export interface OpSpec {
  infer(ctx: OpContext): TensorInfo[];
  /** MACs of the node given its inferred outputs; ops without it cost nothing (data movement). */
  macs?(ctx: OpContext, outputs: TensorInfo[]): number;
  /** Input slots that configure the op (shapes, axes, scales, bounds): constants there are not weights. */
  settings?: number[];
}

// ---------------------------------------------------------------------------------------------
// shape helpers

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;

function axisIndex(ctx: OpContext, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) ctx.fail(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

function distinctAxes(ctx: OpContext, axes: number[], rank: number): number[] {
  const out = axes.map((a) => axisIndex(ctx, a, rank));
  if (new Set(out).size !== out.length) ctx.fail(`repeats an axis in [${axes.join(', ')}]`);
  return out;
}

/** numpy (multidirectional) broadcasting. */
function broadcast(ctx: OpContext, shapes: number[][]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === 1) continue;
      if (dim !== 1 && d !== dim) ctx.fail(`cannot broadcast shapes ${shapes.map(fmt).join(' and ')}`);
      dim = d;
    }
    out.push(dim);
  }
  return out;
}

function withValue(info: TensorInfo, value: number[] | undefined): TensorInfo {
  if (value && value.length === volume(info.shape) && value.length <= MAX_FOLDED_ELEMENTS) info.value = value;
  return info;
}

function rowMajorStrides(shape: number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** Maps a flat index of `outShape` to the flat index of a tensor of `shape` broadcast to it. */
function broadcastIndexer(shape: number[], outShape: number[]): (k: number) => number {
  const pad = outShape.length - shape.length;
  const strides = rowMajorStrides(shape).map((s, i) => (shape[i] === 1 ? 0 : s));
  return (k) => {
    let offset = 0;
    for (let i = outShape.length - 1; i >= 0; i--) {
      const c = k % outShape[i];
      k = (k - c) / outShape[i];
      if (i >= pad) offset += c * strides[i - pad];
    }
    return offset;
  };
}

/** Elementwise evaluation of small constant tensors (shape arithmetic of exported graphs). */
function foldElementwise(inputs: TensorInfo[], outShape: number[], fn: (...xs: number[]) => number): number[] | undefined {
  const n = volume(outShape);
  if (n > MAX_FOLDED_ELEMENTS || !inputs.every((t) => t.value)) return undefined;
  const index = inputs.map((t) => broadcastIndexer(t.shape, outShape));
  return Array.from({ length: n }, (_, k) => fn(...inputs.map((t, j) => t.value![index[j](k)])));
}

function same(ctx: OpContext): TensorInfo[] {
  const x = ctx.input(0);
  return [{ dtype: x.dtype, shape: [...x.shape] }];
}

const outputVolume = (outputs: TensorInfo[]) => volume(outputs[0].shape);

// ---------------------------------------------------------------------------------------------
// convolution and pooling windows

function windowAttrs(ctx: OpContext, spatial: number): { strides: number[]; dilations: number[]; pads: number[]; autoPad: string } {
  const strides = ctx.attrs.ints('strides') ?? Array(spatial).fill(1);
  const dilations = ctx.attrs.ints('dilations') ?? Array(spatial).fill(1);
  const pads = ctx.attrs.ints('pads') ?? Array(2 * spatial).fill(0);
  if (strides.length !== spatial || dilations.length !== spatial || pads.length !== 2 * spatial)
    ctx.fail(`strides/dilations/pads do not match ${spatial} spatial dims`);
  if (strides.some((s) => s < 1) || dilations.some((d) => d < 1)) ctx.fail('has a stride or dilation below 1');
  return { strides, dilations, pads, autoPad: ctx.attrs.string('auto_pad', 'NOTSET') };
}

/** Output size of a sliding window (Conv, pools), as ONNX defines it and onnxruntime computes it. */
function windowOutput(
  ctx: OpContext, size: number, kernel: number, stride: number, dilation: number,
  padBegin: number, padEnd: number, autoPad: string, ceilMode: boolean,
): number {
  const span = (kernel - 1) * dilation + 1;
  let out: number;
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    out = Math.ceil(size / stride);
  } else if (autoPad === 'NOTSET' || autoPad === 'VALID' || autoPad === '') {
    if (autoPad === 'VALID') padBegin = padEnd = 0;
    const steps = (size + padBegin + padEnd - span) / stride;
    out = (ceilMode ? Math.ceil(steps) : Math.floor(steps)) + 1;
    // With ceil_mode the last window must start inside the input or its left padding.
    if (ceilMode && (out - 1) * stride >= size + padBegin) out--;
  } else {
    ctx.fail(`has unknown auto_pad "${autoPad}"`);
  }
  if (out < 1) ctx.fail(`window (kernel ${kernel}, dilation ${dilation}) does not fit input size ${size} with pads ${padBegin}+${padEnd}`);
  return out;
}

function convLike(ctx: OpContext): { x: TensorInfo; w: TensorInfo; group: number; kernel: number[]; spatial: number } {
  const x = ctx.input(0);
  const w = ctx.input(1);
  if (x.shape.length < 3) ctx.fail(`needs an input of rank 3 or more (N, C, spatial...), got ${fmt(x.shape)}`);
  if (w.shape.length !== x.shape.length) ctx.fail(`weight ${fmt(w.shape)} and input ${fmt(x.shape)} have different ranks`);
  const spatial = x.shape.length - 2;
  const kernel = ctx.attrs.ints('kernel_shape') ?? w.shape.slice(2);
  if (kernel.length !== spatial || kernel.some((k, i) => k !== w.shape[2 + i]))
    ctx.fail(`kernel_shape [${kernel.join(', ')}] does not match weight ${fmt(w.shape)}`);
  const group = ctx.attrs.int('group', 1);
  if (group < 1) ctx.fail(`has group ${group}`);
  return { x, w, group, kernel, spatial };
}

/** onnx-tool: output elements x weight elements per output channel, plus one add per output for a bias. */
function convMacs(ctx: OpContext, outputs: TensorInfo[]): number {
  const out = outputVolume(outputs);
  return out * volume(ctx.input(1).shape.slice(1)) * MUL + (ctx.has(2) ? out * ADD : 0);
}

const conv: OpSpec = {
  infer(ctx: OpContext) {
    const { x, w, group, kernel, spatial } = convLike(ctx);
    if (x.shape[1] !== w.shape[1] * group)
      ctx.fail(`input has ${x.shape[1]} channels but weight ${fmt(w.shape)} with group ${group} expects ${w.shape[1] * group}`);
    if (w.shape[0] % group !== 0) ctx.fail(`weight ${fmt(w.shape)} has ${w.shape[0]} output channels, not divisible by group ${group}`);
    const b = ctx.optional(2);
    if (b && (b.shape.length !== 1 || b.shape[0] !== w.shape[0])) ctx.fail(`bias ${fmt(b.shape)} does not match ${w.shape[0]} output channels`);
    const { strides, dilations, pads, autoPad } = windowAttrs(ctx, spatial);
    const dims = kernel.map((k, i) => windowOutput(ctx, x.shape[2 + i], k, strides[i], dilations[i], pads[i], pads[i + spatial], autoPad, false));
    return [{ dtype: x.dtype, shape: [x.shape[0], w.shape[0], ...dims] }];
  },
  macs: convMacs,
};

const convTranspose: OpSpec = {
  infer(ctx: OpContext) {
    const { x, w, group, kernel, spatial } = convLike(ctx);
    // ConvTranspose weights are (C_in, C_out / group, k...).
    if (x.shape[1] !== w.shape[0]) ctx.fail(`input has ${x.shape[1]} channels but weight ${fmt(w.shape)} expects ${w.shape[0]}`);
    if (x.shape[1] % group !== 0) ctx.fail(`input has ${x.shape[1]} channels, not divisible by group ${group}`);
    const outChannels = w.shape[1] * group;
    const b = ctx.optional(2);
    if (b && (b.shape.length !== 1 || b.shape[0] !== outChannels)) ctx.fail(`bias ${fmt(b.shape)} does not match ${outChannels} output channels`);
    const { strides, dilations, pads, autoPad } = windowAttrs(ctx, spatial);
    const outputPadding = ctx.attrs.ints('output_padding') ?? Array(spatial).fill(0);
    let outputShape = ctx.attrs.ints('output_shape');
    if (outputShape && outputShape.length === spatial + 2) outputShape = outputShape.slice(2);
    if (outputShape && outputShape.length !== spatial) ctx.fail(`output_shape [${outputShape.join(', ')}] does not match ${spatial} spatial dims`);
    const dims = kernel.map((k, i) => {
      if (outputShape) return outputShape[i];
      const size = x.shape[2 + i];
      const unpadded = strides[i] * (size - 1) + outputPadding[i] + (k - 1) * dilations[i] + 1;
      // SAME pads down to size x stride, but never pads negatively (onnxruntime's rule)
      if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.min(size * strides[i], unpadded);
      const [begin, end] = autoPad === 'VALID' ? [0, 0] : [pads[i], pads[i + spatial]];
      const out = unpadded - begin - end;
      if (out < 1) ctx.fail(`gives output size ${out} on spatial axis ${i}`);
      return out;
    });
    return [{ dtype: x.dtype, shape: [x.shape[0], outChannels, ...dims] }];
  },
  macs: convMacs,
};

function pool(kind: 'max' | 'average'): OpSpec {
  return {
    infer(ctx: OpContext) {
      const x = ctx.input(0);
      const kernel = ctx.attrs.ints('kernel_shape');
      if (!kernel) ctx.fail('needs kernel_shape');
      if (x.shape.length !== kernel.length + 2) ctx.fail(`kernel_shape [${kernel.join(', ')}] does not fit input ${fmt(x.shape)}`);
      const spatial = kernel.length;
      const { strides, dilations, pads, autoPad } = windowAttrs(ctx, spatial);
      const ceilMode = ctx.attrs.int('ceil_mode', 0) === 1;
      const dims = kernel.map((k, i) => windowOutput(ctx, x.shape[2 + i], k, strides[i], dilations[i], pads[i], pads[i + spatial], autoPad, ceilMode));
      const shape = [x.shape[0], x.shape[1], ...dims];
      const outputs: TensorInfo[] = [{ dtype: x.dtype, shape }];
      if (kind === 'max' && ctx.outputCount > 1) outputs.push({ dtype: DataType.INT64, shape: [...shape] });
      return outputs;
    },
    // one compare (max) or add (average) per kernel element per output
    macs: (ctx, outputs) => outputVolume(outputs) * volume(ctx.attrs.ints('kernel_shape')!) * (kind === 'max' ? CMP : ADD),
  };
}

function globalPool(kind: 'max' | 'average'): OpSpec {
  return {
    infer(ctx: OpContext) {
      const x = ctx.input(0);
      if (x.shape.length < 3) ctx.fail(`needs an input of rank 3 or more, got ${fmt(x.shape)}`);
      return [{ dtype: x.dtype, shape: [x.shape[0], x.shape[1], ...x.shape.slice(2).map(() => 1)] }];
    },
    macs: (ctx, outputs) =>
      kind === 'average' ? volume(ctx.input(0).shape) * ADD + outputVolume(outputs) * DIV : volume(ctx.input(0).shape) * CMP,
  };
}

// ---------------------------------------------------------------------------------------------
// matrix products

const gemm: OpSpec = {
  infer(ctx: OpContext) {
    const a = ctx.input(0);
    const b = ctx.input(1);
    if (a.shape.length !== 2 || b.shape.length !== 2) ctx.fail(`needs 2-D inputs, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
    const [m, k] = ctx.attrs.int('transA', 0) ? [a.shape[1], a.shape[0]] : a.shape;
    const [kb, n] = ctx.attrs.int('transB', 0) ? [b.shape[1], b.shape[0]] : b.shape;
    if (k !== kb) ctx.fail(`cannot multiply ${fmt(a.shape)} by ${fmt(b.shape)} (transA ${ctx.attrs.int('transA', 0)}, transB ${ctx.attrs.int('transB', 0)})`);
    const c = ctx.optional(2);
    if (c && (c.shape.length > 2 || broadcast(ctx, [c.shape, [m, n]]).join() !== [m, n].join()))
      ctx.fail(`C ${fmt(c.shape)} does not broadcast to [${m}, ${n}]`);
    return [{ dtype: a.dtype, shape: [m, n] }];
  },
  macs(ctx, outputs) {
    const b = ctx.input(1).shape;
    const k = ctx.attrs.int('transB', 0) ? b[1] : b[0];
    return outputVolume(outputs) * k * MUL + (ctx.has(2) ? outputVolume(outputs) * ADD : 0);
  },
};

/** numpy matmul: 1-D operands get a dimension added and removed, batch dims broadcast. */
function matmulShapes(ctx: OpContext): { shape: number[]; k: number } {
  const a = ctx.input(0).shape;
  const b = ctx.input(1).shape;
  if (a.length === 0 || b.length === 0) ctx.fail('does not take scalars');
  const a2 = a.length === 1 ? [1, a[0]] : a;
  const b2 = b.length === 1 ? [b[0], 1] : b;
  const k = a2[a2.length - 1];
  if (b2[b2.length - 2] !== k) ctx.fail(`cannot multiply ${fmt(a)} by ${fmt(b)}`);
  const batch = broadcast(ctx, [a2.slice(0, -2), b2.slice(0, -2)]);
  const shape = [...batch, ...(a.length === 1 ? [] : [a2[a2.length - 2]]), ...(b.length === 1 ? [] : [b2[b2.length - 1]])];
  return { shape, k };
}

const matmul: OpSpec = {
  infer: (ctx) => [{ dtype: ctx.input(0).dtype, shape: matmulShapes(ctx).shape }],
  // onnx-tool: output elements x the shared dimension K
  macs: (ctx, outputs) => outputVolume(outputs) * matmulShapes(ctx).k * MUL,
};

// ---------------------------------------------------------------------------------------------
// normalization

const batchNormalization: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    if (x.shape.length < 2) ctx.fail(`needs an input of rank 2 or more, got ${fmt(x.shape)}`);
    const c = x.shape[1];
    // opset 7-8 with spatial=0 normalizes per element: its parameters are C x D1 x ... instead of C
    const perChannel = ctx.opset >= 9 || ctx.attrs.int('spatial', 1) === 1;
    for (let i = 1; i <= 4; i++) {
      const p = ctx.input(i);
      if (perChannel && volume(p.shape) !== c) ctx.fail(`input ${i} ${fmt(p.shape)} does not have ${c} channel values`);
    }
    // extra outputs (training mode) are per-channel statistics
    return [{ dtype: x.dtype, shape: [...x.shape] }, ...Array.from({ length: ctx.outputCount - 1 }, () => ({ dtype: x.dtype, shape: [c] }))];
  },
  // onnx-tool: (x - mean) / sqrt(var + eps) * scale + bias per element
  macs: (_ctx, outputs) => outputVolume(outputs) * (ADD + SQRT + DIV + ADD + MUL),
};

const instanceNormalization: OpSpec = {
  infer: same,
  macs: (_ctx, outputs) => outputVolume(outputs) * (ADD + MUL + ADD + DIV) * 2,
};

const layerNormalization: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const axis = axisIndex(ctx, ctx.attrs.int('axis', -1), x.shape.length);
    const stats = [...x.shape.slice(0, axis), ...x.shape.slice(axis).map(() => 1)];
    return [{ dtype: x.dtype, shape: [...x.shape] }, ...Array.from({ length: ctx.outputCount - 1 }, () => ({ dtype: DataType.FLOAT, shape: [...stats] }))];
  },
  // onnx-tool: 3 mul + 4 add per element, one sqrt + div + add per normalized group
  macs(ctx, outputs) {
    const x = ctx.input(0).shape;
    const axis = axisIndex(ctx, ctx.attrs.int('axis', -1), x.length);
    return outputVolume(outputs) * (3 * MUL + 4 * ADD) + volume(x.slice(0, axis)) * (ADD + SQRT + DIV);
  },
};

// ---------------------------------------------------------------------------------------------
// elementwise

function unary(cost: number, fold?: (x: number) => number): OpSpec {
  return {
    infer(ctx: OpContext) {
      const x = ctx.input(0);
      return [withValue({ dtype: x.dtype, shape: [...x.shape] }, fold && x.value ? x.value.map(fold) : undefined)];
    },
    macs: (_ctx, outputs) => outputVolume(outputs) * cost,
  };
}

/**
 * Broadcasting ops. onnx-tool charges `cost` per output element for each input beyond the
 * first (Add, Sub, Mul, Div, Max, Min, Sum); `perInput: false` charges it once.
 */
function broadcasting(
  cost: number,
  opts: { fold?: (...xs: number[]) => number; dtype?: number; dtypeOfInput?: number; perInput?: boolean; extra?: number } = {},
): OpSpec {
  return {
    infer(ctx: OpContext) {
      const inputs = Array.from({ length: ctx.inputCount }, (_, i) => ctx.input(i));
      if (!inputs.length) ctx.fail('needs inputs');
      const shape = broadcast(ctx, inputs.map((t) => t.shape));
      const dtype = opts.dtype ?? inputs[opts.dtypeOfInput ?? 0].dtype;
      let value = opts.fold ? foldElementwise(inputs, shape, opts.fold) : undefined;
      if (value && isIntegerType(dtype)) value = value.map(Math.trunc);
      return [withValue({ dtype, shape }, value)];
    },
    macs: (ctx, outputs) => outputVolume(outputs) * (cost * (opts.perInput === false ? 1 : Math.max(1, ctx.inputCount - 1)) + (opts.extra ?? 0)),
  };
}

const clip: OpSpec = { ...unary(2 * CMP), settings: [1, 2] };

const gelu: OpSpec = {
  infer: same,
  // 0.5 x (1 + erf(x / sqrt 2)) with erf free (as onnx-tool's Erf); the tanh form adds x^3 and tanh
  macs: (ctx, outputs) =>
    outputVolume(outputs) * (ctx.attrs.string('approximate', 'none') === 'tanh' ? 6 * MUL + 2 * ADD + TANH : DIV + ADD + 2 * MUL),
};

const softmax: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    axisIndex(ctx, ctx.attrs.int('axis', ctx.opset >= 13 ? -1 : 1), Math.max(1, x.shape.length));
    return same(ctx);
  },
  macs: (ctx, outputs) => outputVolume(outputs) * (EXP + DIV + (ctx.node.opType === 'LogSoftmax' ? LOG : 0)),
};

const dropout: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const out: TensorInfo[] = [withValue({ dtype: x.dtype, shape: [...x.shape] }, x.value)];
    if (ctx.outputCount > 1) out.push({ dtype: DataType.BOOL, shape: [...x.shape] });
    return out;
  },
  settings: [1, 2],
};

const identity: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    return [withValue({ dtype: x.dtype, shape: [...x.shape] }, x.value)];
  },
};

const cast: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    if (!ctx.attrs.has('to')) ctx.fail('needs the "to" attribute');
    const dtype = ctx.attrs.int('to', 0);
    return [withValue({ dtype, shape: [...x.shape] }, x.value ? castValues(x.value, dtype) : undefined)];
  },
};

// ---------------------------------------------------------------------------------------------
// reductions

function reduce(cost: number, axesBecameInputAt: number): OpSpec {
  return {
    infer(ctx: OpContext) {
      const x = ctx.input(0);
      const keepdims = ctx.attrs.int('keepdims', 1) === 1;
      const axesAreInput = ctx.opset >= axesBecameInputAt;
      let axes = axesAreInput ? ctx.values(1, 'axes') : ctx.attrs.ints('axes');
      if (!axes || axes.length === 0) {
        if (axesAreInput && ctx.attrs.int('noop_with_empty_axes', 0) === 1) return same(ctx);
        axes = x.shape.map((_, i) => i);
      }
      const reduced = new Set(distinctAxes(ctx, axes, x.shape.length));
      const shape = keepdims ? x.shape.map((d, i) => (reduced.has(i) ? 1 : d)) : x.shape.filter((_, i) => !reduced.has(i));
      return [{ dtype: x.dtype, shape }];
    },
    // onnx-tool: one op per input element
    macs: (ctx) => volume(ctx.input(0).shape) * cost,
    settings: [1],
  };
}

const argReduce: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const axis = axisIndex(ctx, ctx.attrs.int('axis', 0), x.shape.length);
    const shape = ctx.attrs.int('keepdims', 1) === 1 ? x.shape.map((d, i) => (i === axis ? 1 : d)) : x.shape.filter((_, i) => i !== axis);
    return [{ dtype: DataType.INT64, shape }];
  },
};

// ---------------------------------------------------------------------------------------------
// shape manipulation

const reshape: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const target = ctx.requiredValues(1, 'target shape');
    const allowZero = ctx.opset >= 14 && ctx.attrs.int('allowzero', 0) === 1;
    const shape = target.map((d, i) => {
      if (d !== 0 || allowZero) return d;
      if (i >= x.shape.length) ctx.fail(`copies dim ${i} (0 in the target ${fmt(target)}) from input ${fmt(x.shape)}, which has no such dim`);
      return x.shape[i];
    });
    const inferred = shape.filter((d) => d === -1).length;
    if (inferred > 1 || shape.some((d) => d < -1)) ctx.fail(`has an invalid target shape ${fmt(target)}`);
    const total = volume(x.shape);
    if (inferred) {
      const known = volume(shape.filter((d) => d !== -1));
      if (known === 0 || total % known !== 0) ctx.fail(`cannot reshape ${fmt(x.shape)} (${total} elements) to ${fmt(target)}`);
      shape[shape.indexOf(-1)] = total / known;
    }
    if (volume(shape) !== total) ctx.fail(`cannot reshape ${fmt(x.shape)} (${total} elements) to ${fmt(target)}`);
    return [withValue({ dtype: x.dtype, shape }, x.value)];
  },
  settings: [1],
};

const flatten: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const rank = x.shape.length;
    const raw = ctx.attrs.int('axis', 1);
    const axis = raw < 0 ? raw + rank : raw;
    if (axis < 0 || axis > rank) ctx.fail(`axis ${raw} is out of range for rank ${rank}`);
    return [withValue({ dtype: x.dtype, shape: [volume(x.shape.slice(0, axis)), volume(x.shape.slice(axis))] }, x.value)];
  },
};

const transpose: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const rank = x.shape.length;
    const perm = ctx.attrs.ints('perm') ?? x.shape.map((_, i) => rank - 1 - i);
    if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) ctx.fail(`perm [${perm.join(', ')}] is not a permutation of ${rank} axes`);
    return [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }];
  },
};

const squeeze: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const axes = ctx.opset >= 13 ? ctx.values(1, 'axes') : ctx.attrs.ints('axes');
    let shape: number[];
    if (axes && axes.length) {
      const drop = new Set(distinctAxes(ctx, axes, x.shape.length));
      for (const a of drop) if (x.shape[a] !== 1) ctx.fail(`cannot squeeze axis ${a} of ${fmt(x.shape)} (size ${x.shape[a]})`);
      shape = x.shape.filter((_, i) => !drop.has(i));
    } else {
      shape = x.shape.filter((d) => d !== 1);
    }
    return [withValue({ dtype: x.dtype, shape }, x.value)];
  },
  settings: [1],
};

const unsqueeze: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const axes = ctx.opset >= 13 ? ctx.values(1, 'axes') : ctx.attrs.ints('axes');
    if (!axes || !axes.length) ctx.fail('needs axes');
    const rank = x.shape.length + axes.length;
    const added = new Set(distinctAxes(ctx, axes, rank));
    const shape: number[] = [];
    let next = 0;
    for (let i = 0; i < rank; i++) shape.push(added.has(i) ? 1 : x.shape[next++]);
    return [withValue({ dtype: x.dtype, shape }, x.value)];
  },
  settings: [1],
};

const concat: OpSpec = {
  infer(ctx: OpContext) {
    const inputs = Array.from({ length: ctx.inputCount }, (_, i) => ctx.input(i));
    if (!inputs.length) ctx.fail('needs inputs');
    const rank = inputs[0].shape.length;
    if (!ctx.attrs.has('axis')) ctx.fail('needs the "axis" attribute');
    const axis = axisIndex(ctx, ctx.attrs.int('axis', 0), rank);
    for (const t of inputs)
      if (t.shape.length !== rank || t.shape.some((d, i) => i !== axis && d !== inputs[0].shape[i]))
        ctx.fail(`cannot concatenate ${inputs.map((i) => fmt(i.shape)).join(', ')} on axis ${axis}`);
    const shape = [...inputs[0].shape];
    shape[axis] = inputs.reduce((s, t) => s + t.shape[axis], 0);
    let value: number[] | undefined;
    if (inputs.every((t) => t.value) && volume(shape) <= MAX_FOLDED_ELEMENTS) {
      value = [];
      const outer = volume(shape.slice(0, axis));
      for (let o = 0; o < outer; o++)
        for (const t of inputs) {
          const chunk = volume(t.shape.slice(axis));
          value.push(...t.value!.slice(o * chunk, (o + 1) * chunk));
        }
    }
    return [withValue({ dtype: inputs[0].dtype, shape }, value)];
  },
};

const split: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const axis = axisIndex(ctx, ctx.attrs.int('axis', 0), x.shape.length);
    const dim = x.shape[axis];
    const count = ctx.outputCount;
    let sizes = ctx.opset >= 13 ? ctx.values(1, 'split sizes') : ctx.attrs.ints('split');
    if (!sizes || !sizes.length) {
      if (ctx.opset >= 18 && ctx.attrs.has('num_outputs')) {
        // opset 18: equal chunks of ceil(dim / n), the last one smaller
        const n = ctx.attrs.int('num_outputs', count);
        const chunk = Math.ceil(dim / n);
        sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
      } else {
        if (dim % count !== 0) ctx.fail(`cannot split size ${dim} into ${count} equal parts`);
        sizes = Array(count).fill(dim / count);
      }
    }
    if (sizes.length !== count) ctx.fail(`has ${sizes.length} split sizes for ${count} outputs`);
    if (sizes.reduce((a, b) => a + b, 0) !== dim || sizes.some((s) => s < 0)) ctx.fail(`split sizes [${sizes.join(', ')}] do not add up to ${dim}`);
    let start = 0;
    return sizes.map((s) => {
      const shape = x.shape.map((d, i) => (i === axis ? s : d));
      const value = x.value && x.shape.length === 1 ? x.value.slice(start, start + s) : undefined;
      start += s;
      return withValue({ dtype: x.dtype, shape }, value);
    });
  },
  settings: [1],
};

const slice: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const rank = x.shape.length;
    let starts: number[] | undefined, ends: number[] | undefined, axes: number[] | undefined, steps: number[] | undefined;
    if (ctx.opset < 10) {
      [starts, ends, axes] = [ctx.attrs.ints('starts'), ctx.attrs.ints('ends'), ctx.attrs.ints('axes')];
    } else {
      [starts, ends] = [ctx.requiredValues(1, 'starts'), ctx.requiredValues(2, 'ends')];
      [axes, steps] = [ctx.values(3, 'axes'), ctx.values(4, 'steps')];
    }
    if (!starts || !ends || starts.length !== ends.length) ctx.fail('needs starts and ends of the same length');
    axes = distinctAxes(ctx, axes ?? starts.map((_, i) => i), rank);
    steps = steps ?? starts.map(() => 1);
    if (axes.length !== starts.length || steps.length !== starts.length) ctx.fail('has starts, ends, axes and steps of different lengths');
    const first = x.shape.map(() => 0);
    const step = x.shape.map(() => 1);
    const shape = [...x.shape];
    axes.forEach((a, j) => {
      const dim = x.shape[a];
      const st = steps![j];
      if (st === 0) ctx.fail('has a zero step');
      let s = starts![j] < 0 ? starts![j] + dim : starts![j];
      let e = ends![j] < 0 ? ends![j] + dim : ends![j];
      // clamping as the ONNX spec defines it (int64 max/min bounds mean "to the end")
      if (st > 0) [s, e] = [Math.min(Math.max(s, 0), dim), Math.min(Math.max(e, 0), dim)];
      else [s, e] = [Math.min(Math.max(s, 0), dim - 1), Math.min(Math.max(e, -1), dim - 1)];
      shape[a] = Math.max(0, Math.ceil((e - s) / st));
      first[a] = s;
      step[a] = st;
    });
    let value: number[] | undefined;
    if (x.value && volume(shape) <= MAX_FOLDED_ELEMENTS) {
      const inStrides = rowMajorStrides(x.shape);
      value = Array.from({ length: volume(shape) }, (_, k) => {
        let offset = 0;
        for (let i = rank - 1; i >= 0; i--) {
          const c = k % shape[i];
          k = (k - c) / shape[i];
          offset += (first[i] + c * step[i]) * inStrides[i];
        }
        return x.value![offset];
      });
    }
    return [withValue({ dtype: x.dtype, shape }, value)];
  },
  settings: [1, 2, 3, 4],
};

const pad: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const rank = x.shape.length;
    const pads = ctx.opset >= 11 ? (ctx.values(1, 'pads') ?? []) : (ctx.attrs.ints('pads') ?? []);
    const axes = ctx.opset >= 18 ? ctx.values(3, 'axes') : undefined;
    const padded = axes ? distinctAxes(ctx, axes, rank) : x.shape.map((_, i) => i);
    if (pads.length !== 2 * padded.length) ctx.fail(`has ${pads.length} pads for ${padded.length} axes`);
    const shape = [...x.shape];
    padded.forEach((a, j) => {
      shape[a] += pads[j] + pads[j + padded.length];
      if (shape[a] < 0) ctx.fail(`pads [${pads.join(', ')}] crop axis ${a} of ${fmt(x.shape)} below zero`);
    });
    return [{ dtype: x.dtype, shape }];
  },
  settings: [1, 2, 3],
};

function interpolationMacs(ctx: OpContext, outputs: TensorInfo[]): number {
  const mode = ctx.attrs.string('mode', 'nearest');
  const perElement = mode === 'linear' || mode === 'bilinear' ? RESIZE_LINEAR : mode === 'cubic' ? RESIZE_CUBIC : 0;
  return outputVolume(outputs) * perElement;
}

/** floor(size x scale) in float32, as onnxruntime computes it. */
const scaled = (size: number, scale: number) => Math.floor(Math.fround(Math.fround(size) * Math.fround(scale)));

const resize: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const rank = x.shape.length;
    // opset 10: (X, scales); 11+: (X, roi, scales, sizes)
    const scales = ctx.opset < 11 ? ctx.values(1, 'scales') : ctx.values(2, 'scales');
    const sizes = ctx.opset < 11 ? undefined : ctx.values(3, 'sizes');
    const axesAttr = ctx.opset >= 18 ? ctx.attrs.ints('axes') : undefined;
    const axes = axesAttr ? distinctAxes(ctx, axesAttr, rank) : x.shape.map((_, i) => i);
    const shape = [...x.shape];
    if (sizes) {
      if (sizes.length !== axes.length) ctx.fail(`has ${sizes.length} sizes for ${axes.length} axes`);
      const policy = ctx.attrs.string('keep_aspect_ratio_policy', 'stretch');
      if (policy === 'stretch') {
        axes.forEach((a, j) => (shape[a] = sizes[j]));
      } else {
        const ratios = axes.map((a, j) => sizes[j] / x.shape[a]);
        const scale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
        axes.forEach((a) => (shape[a] = Math.round(scale * x.shape[a])));
      }
    } else if (scales) {
      if (scales.length !== axes.length) ctx.fail(`has ${scales.length} scales for ${axes.length} axes`);
      axes.forEach((a, j) => (shape[a] = scaled(x.shape[a], scales[j])));
    } else {
      ctx.fail('needs scales or sizes');
    }
    return [{ dtype: x.dtype, shape }];
  },
  macs: interpolationMacs,
  settings: [1, 2, 3],
};

const upsample: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    // opset 7-8: scales attribute; 9: scales input
    const scales = ctx.opset >= 9 ? ctx.requiredValues(1, 'scales') : ctx.attrs.floats('scales');
    if (!scales || scales.length !== x.shape.length) ctx.fail(`needs ${x.shape.length} scales`);
    return [{ dtype: x.dtype, shape: x.shape.map((d, i) => scaled(d, scales[i])) }];
  },
  macs: interpolationMacs,
  settings: [1],
};

const shapeOp: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const rank = x.shape.length;
    const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + rank : a, 0), rank);
    // start/end exist from opset 15
    const dims = x.shape.slice(clampAxis(ctx.attrs.int('start', 0)), clampAxis(ctx.attrs.int('end', rank)));
    return [{ dtype: DataType.INT64, shape: [dims.length], value: dims }];
  },
};

const sizeOp: OpSpec = {
  infer: (ctx) => [{ dtype: DataType.INT64, shape: [], value: [volume(ctx.input(0).shape)] }],
};

const gather: OpSpec = {
  infer(ctx: OpContext) {
    const data = ctx.input(0);
    const indices = ctx.input(1);
    const axis = axisIndex(ctx, ctx.attrs.int('axis', 0), data.shape.length);
    const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
    let value: number[] | undefined;
    if (data.value && indices.value && volume(shape) <= MAX_FOLDED_ELEMENTS) {
      const dim = data.shape[axis];
      const inner = volume(data.shape.slice(axis + 1));
      value = [];
      for (let o = 0; o < volume(data.shape.slice(0, axis)); o++)
        for (const raw of indices.value) {
          const i = raw < 0 ? raw + dim : raw;
          if (i < 0 || i >= dim) ctx.fail(`index ${raw} is out of range for size ${dim}`);
          value.push(...data.value.slice((o * dim + i) * inner, (o * dim + i + 1) * inner));
        }
    }
    return [withValue({ dtype: data.dtype, shape }, value)];
  },
  settings: [1],
};

const constant: OpSpec = {
  infer(ctx: OpContext) {
    const a = ctx.attrs;
    const t = a.tensor('value');
    if (t) {
      const problem = tensorDataProblem(t);
      if (problem) ctx.fail(`value ${problem}`);
      const shape = tensorDims(t);
      return [withValue({ dtype: t.dataType ?? 0, shape }, volume(shape) <= MAX_FOLDED_ELEMENTS ? tensorValues(t) : undefined)];
    }
    if (a.has('value_float')) return [{ dtype: DataType.FLOAT, shape: [], value: [Math.fround(a.float('value_float', 0))] }];
    if (a.has('value_floats')) return [withValue({ dtype: DataType.FLOAT, shape: [a.floats('value_floats')!.length] }, a.floats('value_floats')!.map(Math.fround))];
    if (a.has('value_int')) return [{ dtype: DataType.INT64, shape: [], value: [a.int('value_int', 0)] }];
    if (a.has('value_ints')) return [withValue({ dtype: DataType.INT64, shape: [a.ints('value_ints')!.length] }, a.ints('value_ints'))];
    if (a.has('value_string')) return [{ dtype: DataType.STRING, shape: [] }];
    if (a.has('value_strings')) return [{ dtype: DataType.STRING, shape: [ctx.node.attribute!.find((x) => x.name === 'value_strings')!.strings!.length] }];
    const sparse = ctx.node.attribute?.find((x) => x.name === 'sparse_value')?.sparseTensor;
    if (sparse) return [{ dtype: sparse.values?.dataType ?? DataType.FLOAT, shape: (sparse.dims ?? []).map(toNumber) }];
    ctx.fail('has no value attribute');
  },
};

const expand: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const target = ctx.requiredValues(1, 'target shape');
    const shape = broadcast(ctx, [x.shape, target]);
    return [withValue({ dtype: x.dtype, shape }, foldElementwise([x], shape, (v) => v))];
  },
  settings: [1],
};

const constantOfShape: OpSpec = {
  infer(ctx: OpContext) {
    const shapeInput = ctx.input(0);
    const shape = volume(shapeInput.shape) === 0 ? [] : ctx.requiredValues(0, 'shape');
    const t = ctx.attrs.tensor('value');
    const dtype = t?.dataType ?? DataType.FLOAT;
    const fill = (t && tensorValues(t)?.[0]) ?? 0;
    return [withValue({ dtype, shape }, volume(shape) <= MAX_FOLDED_ELEMENTS ? Array(volume(shape)).fill(fill) : undefined)];
  },
  settings: [0],
};

const range: OpSpec = {
  infer(ctx: OpContext) {
    const [start, limit, delta] = [0, 1, 2].map((i) => ctx.requiredValues(i, ['start', 'limit', 'delta'][i])[0]);
    if (delta === 0) ctx.fail('has delta 0');
    const n = Math.max(Math.ceil((limit - start) / delta), 0);
    const value = n <= MAX_FOLDED_ELEMENTS ? Array.from({ length: n }, (_, i) => start + i * delta) : undefined;
    return [withValue({ dtype: ctx.input(0).dtype, shape: [n] }, value)];
  },
  settings: [0, 1, 2],
};

const tile: OpSpec = {
  infer(ctx: OpContext) {
    const x = ctx.input(0);
    const repeats = ctx.requiredValues(1, 'repeats');
    if (repeats.length !== x.shape.length) ctx.fail(`has ${repeats.length} repeats for rank ${x.shape.length}`);
    return [{ dtype: x.dtype, shape: x.shape.map((d, i) => d * repeats[i]) }];
  },
  settings: [1],
};

const BOOL = DataType.BOOL;
const binaryFold = {
  Add: (a: number, b: number) => a + b,
  Sub: (a: number, b: number) => a - b,
  Mul: (a: number, b: number) => a * b,
  Div: (a: number, b: number) => a / b, // integer results are truncated toward zero afterwards
  Max: (...xs: number[]) => Math.max(...xs),
  Min: (...xs: number[]) => Math.min(...xs),
  Equal: (a: number, b: number) => (a === b ? 1 : 0),
  Less: (a: number, b: number) => (a < b ? 1 : 0),
  Greater: (a: number, b: number) => (a > b ? 1 : 0),
};

/** Every op Tailor can infer shapes for, by ONNX op type (default domain). */
export const OPS: Record<string, OpSpec> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  Gemm: gemm,
  MatMul: matmul,
  MaxPool: pool('max'),
  AveragePool: pool('average'),
  GlobalAveragePool: globalPool('average'),
  GlobalMaxPool: globalPool('max'),
  BatchNormalization: batchNormalization,
  InstanceNormalization: instanceNormalization,
  LayerNormalization: layerNormalization,

  Relu: unary(CMP),
  LeakyRelu: unary(MUL + CMP),
  Sigmoid: unary(EXP),
  Tanh: unary(2 * TANH), // onnx-tool charges tanh twice per element
  HardSigmoid: unary(MUL + ADD + 2 * CMP),
  HardSwish: unary(2 * MUL + ADD + 2 * CMP),
  Elu: unary(CMP + EXP + ADD + MUL),
  Selu: unary(CMP + EXP + ADD + 2 * MUL),
  Softplus: unary(EXP + ADD + LOG),
  Softsign: unary(CMP + ADD + DIV),
  Erf: unary(0), // onnx-tool treats Erf as free
  Gelu: gelu,
  Clip: clip,
  Exp: unary(EXP),
  Log: unary(LOG),
  Sqrt: unary(SQRT),
  Reciprocal: unary(DIV),
  Neg: unary(CMP, (v) => -v),
  Abs: unary(CMP, Math.abs),
  Floor: unary(CMP, Math.floor),
  Ceil: unary(ADD, Math.ceil),
  Sin: unary(SIN),
  Cos: unary(COS),
  Not: unary(CMP, (v) => (v ? 0 : 1)),
  Softmax: softmax,
  LogSoftmax: softmax,

  Add: broadcasting(ADD, { fold: binaryFold.Add }),
  Sub: broadcasting(ADD, { fold: binaryFold.Sub }),
  Mul: broadcasting(MUL, { fold: binaryFold.Mul }),
  Div: broadcasting(DIV, { fold: binaryFold.Div }),
  Pow: broadcasting(POW, { perInput: false }),
  Max: broadcasting(ADD, { fold: binaryFold.Max }),
  Min: broadcasting(CMP, { fold: binaryFold.Min }),
  Sum: broadcasting(ADD),
  Mean: broadcasting(ADD, { extra: DIV }),
  PRelu: broadcasting(CMP + MUL, { perInput: false }),
  Equal: broadcasting(CMP, { fold: binaryFold.Equal, dtype: BOOL, perInput: false }),
  Less: broadcasting(CMP, { fold: binaryFold.Less, dtype: BOOL, perInput: false }),
  Greater: broadcasting(CMP, { fold: binaryFold.Greater, dtype: BOOL, perInput: false }),
  And: broadcasting(CMP, { dtype: BOOL, perInput: false }),
  Or: broadcasting(CMP, { dtype: BOOL, perInput: false }),
  Where: broadcasting(0, { fold: (c, a, b) => (c ? a : b), dtypeOfInput: 1 }),

  ReduceMean: reduce(ADD, 18),
  ReduceSum: reduce(ADD, 13),
  ReduceMax: reduce(CMP, 18),
  ReduceMin: reduce(CMP, 18),
  ArgMax: argReduce,
  ArgMin: argReduce,

  Reshape: reshape,
  Flatten: flatten,
  Transpose: transpose,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Concat: concat,
  Split: split,
  Slice: slice,
  Pad: pad,
  Resize: resize,
  Upsample: upsample,
  Expand: expand,
  Tile: tile,
  Shape: shapeOp,
  Size: sizeOp,
  Gather: gather,
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Range: range,
  Identity: identity,
  Dropout: dropout,
  Cast: cast,
};
