import { onnx } from 'onnx-proto';
import { Rng, deriveSeed } from '../core/rng';
import { ONNX_OPSET } from './onnx';

/**
 * A small, general ONNX graph builder (onnx-proto, like src/export/onnx.ts) for graphs the IR
 * does not describe: kernel-profiling chains (written the way exporters write them: BN unfolded,
 * data movement as separate nodes) and the zoo models of the kernel benchmark with ops the IR has
 * no node for (U-Net, ShuffleNet, CIFAR ResNet, transformer-style nets). Weights are seeded per
 * tensor name, so the same graph built with the same seed gives byte-identical files. Shapes are
 * tracked (NCHW or any rank), so builders can size what comes next.
 */

const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };
export const f = (v: number) => ({ float: v });
export const fs = (v: number[]) => ({ floats: v });

function attribute(name: string, v: AttrValue): onnx.IAttributeProto {
  if (typeof v === 'number') return { name, type: AT.INT, i: v };
  if (typeof v === 'string') return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AT.INTS, ints: v };
  if ('float' in v) return { name, type: AT.FLOAT, f: v.float };
  return { name, type: AT.FLOATS, floats: v.floats };
}

export type ActKind = 'relu' | 'relu6' | 'hswish' | 'hsigmoid' | 'sigmoid' | 'tanh' | 'leaky_relu' | 'gelu' | 'silu';

export interface T {
  name: string;
  shape: number[];
}

export class OnnxGraph {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private count = 0;

  constructor(readonly seed: number, readonly opset = ONNX_OPSET, readonly graphName = 'tailor') {}

  /** A fresh unique name with this prefix. */
  uid(prefix: string): string {
    let name = prefix;
    while (this.names.has(name)) name = `${prefix}_${++this.count}`;
    this.names.add(name);
    return name;
  }

  input(name: string, shape: number[]): T {
    this.names.add(name);
    this.inputs.push(valueInfo(name, shape));
    return { name, shape };
  }

  output(t: T): void {
    this.outputs.push(valueInfo(t.name, t.shape));
  }

  /** He-normal (std = gain / sqrt(fanIn)) seeded by the tensor's name. */
  weight(prefix: string, dims: number[], fanIn: number, gain = Math.sqrt(2)): string {
    const n = dims.reduce((a, b) => a * b, 1);
    return this.floatInit(prefix, dims, normal(this.seed, prefix, n, gain / Math.sqrt(Math.max(fanIn, 1))));
  }

  floatInit(prefix: string, dims: number[], data: Float32Array | number[]): string {
    const name = this.uid(prefix);
    const arr = data instanceof Float32Array ? data : Float32Array.from(data);
    this.initializers.push({ name, dims, dataType: DT.FLOAT, rawData: new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength) });
    return name;
  }

  int64Init(prefix: string, values: number[]): string {
    const name = this.uid(prefix);
    this.initializers.push({ name, dims: [values.length], dataType: DT.INT64, int64Data: values });
    return name;
  }

  /** Adds a node with one output named after the node; returns the output with the given shape. */
  op(opType: string, inputs: string[], shape: number[], attrs: Record<string, AttrValue> = {}, name?: string, domain?: string): T {
    const n = this.uid(name ?? opType.toLowerCase());
    this.nodes.push({
      name: n, opType, input: inputs, output: [n], ...(domain ? { domain } : {}),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return { name: n, shape };
  }

  // ---- layers -------------------------------------------------------------------------------

  conv(x: T, o: { cout: number; k: number; stride?: number; groups?: number; bias?: boolean; pad?: number; dilation?: number; name?: string }): T {
    const [n, cin, h, w] = x.shape;
    const stride = o.stride ?? 1;
    const groups = o.groups ?? 1;
    const dilation = o.dilation ?? 1;
    const pad = o.pad ?? Math.floor(((o.k - 1) * dilation) / 2);
    const span = (o.k - 1) * dilation + 1;
    const oh = Math.floor((h + 2 * pad - span) / stride) + 1;
    const ow = Math.floor((w + 2 * pad - span) / stride) + 1;
    const name = this.uid(o.name ?? 'conv');
    const wName = this.weight(`${name}.weight`, [o.cout, cin / groups, o.k, o.k], (cin / groups) * o.k * o.k);
    const inputs = [x.name, wName];
    if (o.bias !== false) inputs.push(this.floatInit(`${name}.bias`, [o.cout], normal(this.seed, `${name}.bias`, o.cout, 0.01)));
    this.names.delete(name);
    return this.op('Conv', inputs, [n, o.cout, oh, ow], {
      kernel_shape: [o.k, o.k], strides: [stride, stride], pads: [pad, pad, pad, pad], dilations: [dilation, dilation], group: groups,
    }, name);
  }

  batchNorm(x: T, name?: string): T {
    const c = x.shape[1];
    const n = this.uid(name ?? 'bn');
    const scale = this.floatInit(`${n}.scale`, [c], normal(this.seed, `${n}.scale`, c, 0.1).map((v) => 1 + v));
    const bias = this.floatInit(`${n}.bias`, [c], normal(this.seed, `${n}.bias`, c, 0.1));
    const mean = this.floatInit(`${n}.mean`, [c], normal(this.seed, `${n}.mean`, c, 0.1));
    const variance = this.floatInit(`${n}.var`, [c], normal(this.seed, `${n}.var`, c, 0.1).map((v) => 1 + Math.abs(v)));
    this.names.delete(n);
    return this.op('BatchNormalization', [x.name, scale, bias, mean, variance], x.shape, { epsilon: f(1e-5) }, n);
  }

  act(x: T, kind: ActKind, name?: string): T {
    switch (kind) {
      case 'relu': return this.op('Relu', [x.name], x.shape, {}, name);
      case 'relu6': {
        const lo = this.floatInit('clip.min', [], [0]);
        const hi = this.floatInit('clip.max', [], [6]);
        return this.op('Clip', [x.name, lo, hi], x.shape, {}, name);
      }
      case 'hswish': return this.op('HardSwish', [x.name], x.shape, {}, name);
      case 'hsigmoid': return this.op('HardSigmoid', [x.name], x.shape, { alpha: f(1 / 6), beta: f(0.5) }, name);
      case 'sigmoid': return this.op('Sigmoid', [x.name], x.shape, {}, name);
      case 'tanh': return this.op('Tanh', [x.name], x.shape, {}, name);
      case 'leaky_relu': return this.op('LeakyRelu', [x.name], x.shape, { alpha: f(0.1) }, name);
      case 'silu': {
        const s = this.op('Sigmoid', [x.name], x.shape, {}, name);
        return this.op('Mul', [x.name, s.name], x.shape);
      }
      case 'gelu': {
        // x * 0.5 * (1 + erf(x / sqrt(2))): the form exporters write before opset 20
        const sqrt2 = this.floatInit('gelu.sqrt2', [], [Math.SQRT2]);
        const one = this.floatInit('gelu.one', [], [1]);
        const half = this.floatInit('gelu.half', [], [0.5]);
        const d = this.op('Div', [x.name, sqrt2], x.shape, {}, name);
        const e = this.op('Erf', [d.name], x.shape);
        const a = this.op('Add', [e.name, one], x.shape);
        const m = this.op('Mul', [x.name, a.name], x.shape);
        return this.op('Mul', [m.name, half], x.shape);
      }
    }
  }

  /** Conv (+ BN) (+ activation), the way exporters write it (BN unfolded: onnxruntime folds it). */
  convBnAct(x: T, o: Parameters<OnnxGraph['conv']>[1] & { bn?: boolean; act?: ActKind | null }): T {
    const bn = o.bn ?? true;
    let y = this.conv(x, { ...o, bias: o.bias ?? !bn });
    if (bn) y = this.batchNorm(y);
    return o.act ? this.act(y, o.act) : y;
  }

  maxPool(x: T, k: number, stride: number, pad = 0): T {
    const [n, c, h, w] = x.shape;
    const out = (s: number) => Math.floor((s + 2 * pad - k) / stride) + 1;
    return this.op('MaxPool', [x.name], [n, c, out(h), out(w)], { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad] });
  }

  avgPool(x: T, k: number, stride: number, pad = 0): T {
    const [n, c, h, w] = x.shape;
    const out = (s: number) => Math.floor((s + 2 * pad - k) / stride) + 1;
    return this.op('AveragePool', [x.name], [n, c, out(h), out(w)], { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad] });
  }

  globalAvgPool(x: T): T {
    return this.op('GlobalAveragePool', [x.name], [x.shape[0], x.shape[1], 1, 1]);
  }

  globalMaxPool(x: T): T {
    return this.op('GlobalMaxPool', [x.name], [x.shape[0], x.shape[1], 1, 1]);
  }

  add(a: T, b: T): T {
    return this.op('Add', [a.name, b.name], broadcastShape(a.shape, b.shape));
  }

  mul(a: T, b: T): T {
    return this.op('Mul', [a.name, b.name], broadcastShape(a.shape, b.shape));
  }

  /** SE block as OFA/MobileNetV3 writes it: GAP, 1x1 reduce + ReLU, 1x1 expand + h_sigmoid, channel gate. */
  se(x: T, reduction = 4): T {
    const c = x.shape[1];
    const mid = Math.max(8, Math.round(c / reduction / 8) * 8);
    const p = this.globalAvgPool(x);
    const r = this.act(this.conv(p, { cout: mid, k: 1 }), 'relu');
    const e = this.act(this.conv(r, { cout: c, k: 1 }), 'hsigmoid');
    return this.mul(x, e);
  }

  concat(xs: T[], axis = 1): T {
    const shape = [...xs[0].shape];
    const a = axis < 0 ? axis + shape.length : axis;
    shape[a] = xs.reduce((s, x) => s + x.shape[a], 0);
    return this.op('Concat', xs.map((x) => x.name), shape, { axis });
  }

  /** Resize of the spatial dims by an integer factor (opset 11+ form with scales). */
  resize(x: T, scale: number, mode: 'nearest' | 'linear' = 'nearest'): T {
    const roi = this.floatInit('resize.roi', [0], []);
    const scales = this.floatInit('resize.scales', [4], [1, 1, scale, scale]);
    const [n, c, h, w] = x.shape;
    const attrs: Record<string, AttrValue> = mode === 'nearest'
      ? { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }
      : { mode: 'linear', coordinate_transformation_mode: 'half_pixel' };
    return this.op('Resize', [x.name, roi, scales], [n, c, Math.floor(h * scale), Math.floor(w * scale)], attrs);
  }

  transpose(x: T, perm: number[]): T {
    return this.op('Transpose', [x.name], perm.map((p) => x.shape[p]), { perm });
  }

  reshape(x: T, shape: number[]): T {
    const s = this.int64Init('shape', shape);
    return this.op('Reshape', [x.name, s], shape);
  }

  /** Split on `axis` into parts of the given sizes (opset 13+: sizes as an input); one node, several outputs. */
  split(x: T, sizes: number[], axis = 1): T[] {
    const a = axis < 0 ? axis + x.shape.length : axis;
    const s = this.int64Init('split', sizes);
    const n = this.uid('split');
    const outs = sizes.map((size, i) => ({ name: i === 0 ? n : this.uid(`${n}.${i}`), shape: x.shape.map((d, j) => (j === a ? size : d)) }));
    this.nodes.push({ name: n, opType: 'Split', input: [x.name, s], output: outs.map((o) => o.name), attribute: [attribute('axis', axis)] });
    return outs;
  }

  /** x[starts:ends:steps] on the given axes, positive steps (opset 10+ form: everything as inputs). */
  slice(x: T, starts: number[], ends: number[], axes: number[], steps?: number[]): T {
    const shape = [...x.shape];
    axes.forEach((axis, j) => {
      const a = axis < 0 ? axis + shape.length : axis;
      const dim = x.shape[a];
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
      shape[a] = Math.max(0, Math.ceil((clamp(ends[j]) - clamp(starts[j])) / (steps?.[j] ?? 1)));
    });
    const inputs = [x.name, this.int64Init('starts', starts), this.int64Init('ends', ends), this.int64Init('axes', axes)];
    if (steps) inputs.push(this.int64Init('steps', steps));
    return this.op('Slice', inputs, shape);
  }

  /** Pad with ONNX's pads order (all begins, then all ends); constant (zeros), reflect or edge. */
  pad(x: T, pads: number[], mode: 'constant' | 'reflect' | 'edge' = 'constant'): T {
    const r = x.shape.length;
    const shape = x.shape.map((d, i) => d + pads[i] + pads[i + r]);
    return this.op('Pad', [x.name, this.int64Init('pads', pads)], shape, { mode });
  }

  /** Gather on `axis`: a scalar index drops the axis, a list keeps it with that many entries. */
  gather(x: T, indices: number | number[], axis: number): T {
    const a = axis < 0 ? axis + x.shape.length : axis;
    const list = Array.isArray(indices);
    const name = this.uid('indices');
    const values = list ? indices : [indices];
    this.initializers.push({ name, dims: list ? [values.length] : [], dataType: DT.INT64, int64Data: values });
    const shape = [...x.shape.slice(0, a), ...(list ? [values.length] : []), ...x.shape.slice(a + 1)];
    return this.op('Gather', [x.name, name], shape, { axis });
  }

  /** Broadcast to `shape` (Expand). */
  expand(x: T, shape: number[]): T {
    return this.op('Expand', [x.name, this.int64Init('shape', shape)], broadcastShape(x.shape, shape));
  }

  tile(x: T, repeats: number[]): T {
    return this.op('Tile', [x.name, this.int64Init('repeats', repeats)], x.shape.map((d, i) => d * repeats[i]));
  }

  /** ShuffleNet's channel shuffle as exporters write it: Reshape to groups, swap, Reshape back. */
  channelShuffle(x: T, groups: number): T {
    const [n, c, h, w] = x.shape;
    const grouped = this.reshape(x, [n, groups, c / groups, h, w]);
    return this.reshape(this.transpose(grouped, [0, 2, 1, 3, 4]), [n, c, h, w]);
  }

  flatten(x: T): T {
    return this.op('Flatten', [x.name], [x.shape[0], x.shape.slice(1).reduce((a, b) => a * b, 1)], { axis: 1 });
  }

  /** Fully connected layer on a 2-D input, as exporters write it: Gemm with transB. */
  gemm(x: T, outFeatures: number): T {
    const [m, k] = x.shape;
    const name = this.uid('fc');
    const w = this.weight(`${name}.weight`, [outFeatures, k], k);
    const b = this.floatInit(`${name}.bias`, [outFeatures], normal(this.seed, `${name}.bias`, outFeatures, 0.01));
    this.names.delete(name);
    return this.op('Gemm', [x.name, w, b], [m, outFeatures], { transB: 1 }, name);
  }

  /** x [..., K] x W [K, N] (+ bias): a transformer-style linear layer on a 3-D activation. */
  linear(x: T, outFeatures: number, bias = true): T {
    const k = x.shape[x.shape.length - 1];
    const name = this.uid('linear');
    const w = this.weight(`${name}.weight`, [k, outFeatures], k, 1);
    this.names.delete(name);
    const y = this.op('MatMul', [x.name, w], [...x.shape.slice(0, -1), outFeatures], {}, name);
    if (!bias) return y;
    const b = this.floatInit(`${name}.bias`, [outFeatures], normal(this.seed, `${name}.bias`, outFeatures, 0.01));
    return this.op('Add', [y.name, b], y.shape);
  }

  matmul(a: T, b: T): T {
    const shape = [...broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), a.shape[a.shape.length - 2], b.shape[b.shape.length - 1]];
    return this.op('MatMul', [a.name, b.name], shape);
  }

  softmax(x: T, axis = -1): T {
    return this.op('Softmax', [x.name], x.shape, { axis });
  }

  layerNorm(x: T): T {
    const d = x.shape[x.shape.length - 1];
    const name = this.uid('ln');
    const scale = this.floatInit(`${name}.scale`, [d], normal(this.seed, `${name}.scale`, d, 0.1).map((v) => 1 + v));
    const bias = this.floatInit(`${name}.bias`, [d], normal(this.seed, `${name}.bias`, d, 0.1));
    this.names.delete(name);
    return this.op('LayerNormalization', [x.name, scale, bias], x.shape, { axis: -1, epsilon: f(1e-5) }, name);
  }

  scalar(x: T, opType: 'Mul' | 'Add' | 'Div' | 'Sub', value: number): T {
    const c = this.floatInit('const', [], [value]);
    return this.op(opType, [x.name, c], x.shape);
  }

  bytes(metadata: Record<string, string> = {}): Uint8Array {
    const model: onnx.IModelProto = {
      irVersion: 8,
      producerName: 'tailor',
      opsetImport: [{ domain: '', version: this.opset }],
      metadataProps: Object.entries({ weights: `random (seed ${this.seed})`, ...metadata }).map(([key, value]) => ({ key, value })),
      graph: { name: this.graphName, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}

function valueInfo(name: string, dims: number[]): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: DT.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}

function normal(seed: number, name: string, n: number, std: number): Float32Array {
  const rng = new Rng(deriveSeed(seed, name));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
  return out;
}

export function broadcastShape(a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    out.push(x === 1 ? y : x);
  }
  return out;
}
