import { GraphNode, volume } from './graph';
import { KernelType, PlannedKernel } from './fusion';

/**
 * nn-Meter's kernel features (input HW, Cin, Cout, kernel, stride, FLOPs/MACs, params) plus what
 * matters on onnxruntime's CPU provider: output size, elements moved, groups, the layout the
 * kernel runs in (NCHWc or not), the fused activation and residual add, and the op within its
 * type. One vector layout for every kernel type; fields a type does not use are constant.
 * Matrix products put M (rows) in the spatial slots, K in Cin, N in Cout and the batch in groups.
 */
export const FEATURE_NAMES = [
  'op', 'log2_in_elems', 'log2_out_elems', 'log2_macs', 'log2_params', 'log2_cin', 'log2_cout',
  'log2_in_hw', 'log2_out_hw', 'kernel', 'stride', 'log2_groups', 'nchwc', 'act', 'fused_add', 'rank',
  'log2_model_params',
] as const;

const OP_CODES: Record<string, number> = {
  Conv: 0, MaxPool: 1, AveragePool: 2, GlobalAveragePool: 3, GlobalMaxPool: 4, Add: 5, Sub: 6, Mul: 7, Div: 8,
  Relu: 10, Sigmoid: 11, Tanh: 12, HardSigmoid: 13, HardSwish: 14, LeakyRelu: 15, Clip: 16, Erf: 17, Gelu: 18, Silu: 19,
  Exp: 20, Sqrt: 21, Pow: 22, Max: 23, Min: 24, Where: 25, Cast: 26,
  Reshape: 30, Flatten: 31, Squeeze: 32, Unsqueeze: 33, Concat: 34, Resize: 35, Upsample: 36, Transpose: 37,
  Softmax: 40, LogSoftmax: 41, BatchNormalization: 42, LayerNormalization: 43, InstanceNormalization: 44,
  ReduceMean: 45, ReduceSum: 46, ReduceMax: 47, Slice: 50, Split: 51, Pad: 52, Gather: 53, Expand: 54, Tile: 55,
  Gemm: 60, MatMul: 61, ReorderInput: 70, ReorderOutput: 71,
};
const RESIZE_MODES: Record<string, number> = { nearest: 1, linear: 2, cubic: 3 };
const ACT_CODES: Record<string, number> = { Relu: 1, Clip: 2, Sigmoid: 3, Tanh: 4, HardSigmoid: 5, LeakyRelu: 6, HardSwish: 7, Gelu: 8, Silu: 9 };

const lg = (v: number) => Math.log2(Math.max(v, 0) + 1);
const PAD_MODES: Record<string, number> = { constant: 1, reflect: 2, edge: 3, wrap: 4 };

/**
 * Data movement (Slice, Split, Pad, Gather, Expand, Tile): the elements it reads and writes (a
 * Slice or Gather reads only what it copies; a Split writes every output), the axis it works on
 * (the innermost one it changes: copies along the last axes move short runs) and its parts
 * (Split outputs, Gather indices, Pad mode; how many times smaller a Slice's output is, how many
 * times larger an Expand's or Tile's). Returns the work: elements read + written.
 */
function memoryFeatures(n: GraphNode, set: (name: (typeof FEATURE_NAMES)[number], v: number) => void): number {
  const inS = n.inShapes[0] ?? [];
  const outS = n.outShapes[0] ?? [];
  const written = n.outShapes.reduce((s, sh) => s + volume(sh), 0);
  const read = n.opType === 'Slice' || n.opType === 'Gather' ? written : volume(inS);
  const rank = inS.length;
  const norm = (a: number) => (a < 0 ? a + rank : a);
  let axis = 0;
  let parts = 1;
  switch (n.opType) {
    case 'Split':
      axis = norm(n.attrs.int('axis', 0));
      parts = n.outputs.filter(Boolean).length;
      break;
    case 'Gather':
      axis = norm(n.attrs.int('axis', 0));
      parts = volume(n.inShapes[1] ?? []);
      break;
    case 'Pad':
      axis = Math.max(0, ...outS.map((d, i) => (d !== inS[i] ? i : 0)));
      parts = PAD_MODES[n.attrs.string('mode', 'constant')] ?? 0;
      break;
    default: // Slice, Expand, Tile: the innermost axis whose size changes
      axis = Math.max(0, ...outS.map((d, i) => (d !== inS[i] ? i : 0)));
      parts = n.opType === 'Slice' ? volume(inS) / Math.max(written, 1) : written / Math.max(volume(inS), 1);
  }
  set('log2_in_elems', lg(volume(inS)));
  set('log2_out_elems', lg(written));
  set('kernel', axis);
  set('stride', parts);
  return read + written + 1;
}

export interface KernelFeatures {
  type: KernelType;
  x: number[];
  /** What latency scales with: MACs for compute kernels, elements touched for the rest. */
  work: number;
  macs: number;
}

/**
 * Elements in + out (a memory-bound kernel's traffic); MACs for convolutions and matrix products.
 * `modelParams` (the model's weight count) is context: a kernel of a model whose weights overflow
 * the caches runs slower than the same kernel in a small one.
 */
export function kernelFeatures(k: PlannedKernel, nodeMacs: (name: string) => number, modelParams = 0): KernelFeatures {
  const x = new Array<number>(FEATURE_NAMES.length).fill(0);
  const set = (name: (typeof FEATURE_NAMES)[number], v: number) => (x[FEATURE_NAMES.indexOf(name)] = v);
  // context: how much the whole model streams through the caches per inference (its weights)
  set('log2_model_params', lg(modelParams));
  if (k.type === 'reorder') {
    const s = k.shape ?? [];
    const el = volume(s);
    set('op', OP_CODES[k.direction === 'in' ? 'ReorderInput' : 'ReorderOutput']);
    set('log2_in_elems', lg(el));
    set('log2_out_elems', lg(el));
    set('log2_cin', lg(s[1] ?? 1));
    set('log2_cout', lg(s[1] ?? 1));
    set('log2_in_hw', lg(volume(s.slice(2))));
    set('log2_out_hw', lg(volume(s.slice(2))));
    set('nchwc', 1);
    set('rank', s.length);
    return { type: k.type, x, work: 2 * el + 1, macs: 0 };
  }
  const n = k.main!;
  const inS = n.inShapes[0] ?? [];
  const outS = n.outShapes[0] ?? [];
  // The main node's own MACs, without a bias add: fused BN, bias and activation nodes are bookkeeping
  // of the exporter (BN folded or not must not change a convolution's features).
  const biased = (n.opType === 'Conv' && !!n.inputs[2]) || (n.opType === 'Gemm' && !!n.inputs[2]);
  const macs = Math.max(nodeMacs(n.name) - (biased ? volume(n.outShapes[0]) : 0), 0);
  const inElems = n.inShapes.reduce((s, sh, i) => s + (sh && n.inputs[i] ? volume(sh) : 0), 0);
  const outElems = volume(outS);
  const params = ['Conv', 'Gemm', 'MatMul'].includes(n.opType) && n.inShapes[1] ? volume(n.inShapes[1]) : n.params;
  set('op', OP_CODES[k.act === 'Gelu' || k.act === 'Silu' ? k.act : n.opType] ?? 99);
  set('log2_in_elems', lg(inElems));
  set('log2_out_elems', lg(outElems));
  set('log2_macs', lg(macs));
  set('log2_params', lg(params));
  set('nchwc', k.nchwc ? 1 : 0);
  set('act', k.act ? (ACT_CODES[k.act] ?? 10) : 0);
  set('fused_add', k.fusedAdd ? 1 : 0);
  set('rank', inS.length);
  let work = inElems + outElems + 1;
  if (k.type === 'conv' || k.type === 'dwconv' || k.type === 'pool') {
    const kernel = n.attrs.ints('kernel_shape') ?? (n.inShapes[1]?.slice(2) ?? [1]);
    set('log2_cin', lg(inS[1] ?? 1));
    set('log2_cout', lg(outS[1] ?? 1));
    set('log2_in_hw', lg(volume(inS.slice(2))));
    set('log2_out_hw', lg(volume(outS.slice(2))));
    set('kernel', kernel[0] ?? 1);
    set('stride', (n.attrs.ints('strides') ?? [1])[0]);
    set('log2_groups', lg(n.attrs.int('group', 1)));
    if (k.type !== 'pool') work = macs + outElems + 1;
  } else if (k.type === 'fc' || k.type === 'matmul') {
    const a = n.inShapes[0] ?? [1, 1];
    const b = n.inShapes[1] ?? [1, 1];
    const kdim = a[a.length - 1];
    const ndim = n.opType === 'Gemm' && n.attrs.int('transB', 0) ? b[0] : b[b.length - 1];
    const rows = k.type === 'fc' ? volume(a.slice(0, -1)) : a[a.length - 2] ?? 1;
    const batch = k.type === 'fc' ? 1 : volume(outS.slice(0, -2));
    set('log2_cin', lg(kdim));
    set('log2_cout', lg(ndim));
    set('log2_in_hw', lg(rows));
    set('log2_out_hw', lg(rows));
    set('log2_groups', lg(batch));
    work = macs + outElems + 1;
  } else {
    // element-wise, data movement, normalization: channels and spatial size of the (first) input
    set('log2_cin', lg(inS.length >= 2 ? inS[1] : 1));
    set('log2_cout', lg(outS.length >= 2 ? outS[1] : 1));
    set('log2_in_hw', lg(volume(inS.slice(2))));
    set('log2_out_hw', lg(volume(outS.slice(2))));
    if (k.type === 'eltwise') set('kernel', n.inShapes.filter((s) => s && volume(s) !== outElems).length); // broadcast inputs
    if (k.type === 'transpose' || k.type === 'softmax' || k.type === 'reduce' || k.type === 'concat') {
      const axis = k.type === 'transpose' ? (n.attrs.ints('perm') ?? []).findIndex((p, i) => p !== i) : n.attrs.int('axis', -1);
      set('kernel', axis);
      set('stride', k.type === 'concat' ? n.inputs.length : 0);
    }
    if (k.type === 'resize') {
      set('stride', outElems / Math.max(volume(inS), 1));
      set('kernel', RESIZE_MODES[n.attrs.string('mode', 'nearest')] ?? 0); // linear reads 4x what nearest does
    }
    if (k.type === 'act' && k.nodes.length > 1) work *= 1.5; // fused multi-op activations (GELU, SiLU) read more
    // onnxruntime runs Reshape, Flatten, Squeeze and Unsqueeze in place (the output aliases the
    // input): a fixed cost per kernel, whatever the size
    if (k.type === 'reshape') work = 1;
    if (k.type === 'memory') work = memoryFeatures(n, set);
  }
  return { type: k.type, x, work, macs };
}
