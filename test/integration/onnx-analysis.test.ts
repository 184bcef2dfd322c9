import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import type * as Ort from 'onnxruntime-node';
import { ModelAnalysis, analyzeOnnx } from '../../src/analysis/analyze';
import { maxArch, minArch, sampleArch } from '../../src/core/arch';
import { buildIR } from '../../src/core/ir';
import { netFromArch } from '../../src/core/net';
import { Rng } from '../../src/core/rng';
import { getSpace } from '../../src/core/space';
import { exportOnnx } from '../../src/export/onnx';
import { seededWeights } from '../../src/export/weights';
import { DT, Graph, float, floatTensor, floats, int64Tensor, tensorAttr } from '../onnx-graphs';

const ort = require('onnxruntime-node') as typeof Ort;

/**
 * Every intermediate tensor of each graph is a graph output; onnxruntime (1 thread, no graph
 * optimizations) runs the graph and reports the real shape of each, which the analysis must match.
 */

type Feed = { dims: number[]; type?: 'float32' | 'int64' };
const volume = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

async function ortShapes(bytes: Uint8Array, feeds: Record<string, Feed>): Promise<Map<string, number[]>> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
  try {
    const inputs: Record<string, Ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) {
      const n = volume(f.dims);
      inputs[name] = f.type === 'int64'
        ? new ort.Tensor('int64', new BigInt64Array(n), f.dims)
        : new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(i + 1)), f.dims);
    }
    const out = await session.run(inputs);
    return new Map(session.outputNames.map((n) => [n, [...out[n].dims]]));
  } finally {
    await session.release();
  }
}

function analysedShapes(a: ModelAnalysis): Map<string, number[] | null> {
  const shapes = new Map<string, number[] | null>();
  for (const n of a.nodes) n.outputs.forEach((o, k) => shapes.set(o, n.outputShapes[k]));
  return shapes;
}

async function matchesOrt(bytes: Uint8Array, feeds: Record<string, Feed>, inputShapes?: Record<string, number[]>): Promise<ModelAnalysis> {
  const analysis = analyzeOnnx(bytes, { inputShapes });
  assert.deepEqual(analysis.unsupported, []);
  assert.deepEqual(analysis.unresolved, []);
  const actual = await ortShapes(bytes, feeds);
  const ours = analysedShapes(analysis);
  for (const [name, dims] of actual) assert.deepEqual(ours.get(name), dims, `tensor "${name}": analysis ${JSON.stringify(ours.get(name))}, onnxruntime ${JSON.stringify(dims)}`);
  return analysis;
}

async function graphMatchesOrt(g: Graph, feeds: Record<string, Feed>, inputShapes?: Record<string, number[]>): Promise<ModelAnalysis> {
  g.exposeAll();
  const analysis = await matchesOrt(g.bytes(), feeds, inputShapes);
  assert.equal(analysis.outputs.length, g.nodeOutputs().length, 'every node output was compared');
  return analysis;
}

const I64 = DT.INT64;
const BOOL = DT.BOOL;

describe('ONNX analysis: shapes agree with onnxruntime', () => {
  it('Conv: bias, grouped, depthwise, dilated, asymmetric pads, SAME_UPPER/SAME_LOWER/VALID, 1-D (opset 11)', async () => {
    const g = new Graph(11).input('x', [1, 4, 15, 17]).input('x1d', [1, 3, 20]);
    g.init(floatTensor('w1', [8, 4, 3, 3]), floatTensor('b1', [8]), floatTensor('w2', [8, 4, 3, 3]), floatTensor('w3', [8, 1, 5, 5]));
    g.init(floatTensor('w4', [6, 8, 2, 3]), floatTensor('w5', [6, 6, 1, 2]), floatTensor('w6', [5, 3, 4]));
    const c1 = g.op('Conv', ['x', 'w1', 'b1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] });
    const c2 = g.op('Conv', [c1, 'w2'], { group: 2, dilations: [2, 2], pads: [2, 1, 0, 3] });
    const c3 = g.op('Conv', [c2, 'w3'], { group: 8, auto_pad: 'SAME_UPPER', strides: [2, 2] });
    const c4 = g.op('Conv', [c3, 'w4'], { auto_pad: 'SAME_LOWER', strides: [3, 2] });
    g.op('Conv', [c4, 'w5'], { auto_pad: 'VALID' });
    g.op('Conv', ['x1d', 'w6'], { strides: [3], pads: [1, 2] });
    await graphMatchesOrt(g, { x: { dims: [1, 4, 15, 17] }, x1d: { dims: [1, 3, 20] } });
  });

  it('ConvTranspose: output_padding, output_shape, groups, SAME_UPPER, dilations, 1-D (opset 17)', async () => {
    const g = new Graph(17).input('x', [1, 4, 5, 7]).input('x1d', [1, 3, 20]);
    g.init(floatTensor('w1', [4, 3, 3, 3]), floatTensor('b1', [3]), floatTensor('w2', [3, 2, 4, 4]), floatTensor('w3', [6, 2, 3, 3]));
    g.init(floatTensor('w4', [2, 1, 2, 2]), floatTensor('w5', [3, 2, 5]), floatTensor('w6', [3, 2, 1, 1]));
    const t1 = g.op('ConvTranspose', ['x', 'w1', 'b1'], { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] });
    const t2 = g.op('ConvTranspose', [t1, 'w2'], { group: 3, strides: [2, 2], output_shape: [21, 29] });
    const t3 = g.op('ConvTranspose', [t2, 'w3'], { auto_pad: 'SAME_UPPER', strides: [2, 2] });
    g.op('ConvTranspose', [t3, 'w4'], { dilations: [2, 2] });
    // SAME with a kernel smaller than the stride cannot pad negatively: 2 x 9 + 1, not 2 x 10
    g.op('ConvTranspose', [t1, 'w6'], { auto_pad: 'SAME_LOWER', strides: [2, 2] });
    g.op('ConvTranspose', ['x1d', 'w5'], { strides: [3], pads: [1, 1], output_padding: [2] });
    await graphMatchesOrt(g, { x: { dims: [1, 4, 5, 7] }, x1d: { dims: [1, 3, 20] } });
  });

  it('pooling: pads, ceil_mode, dilations, SAME_UPPER, VALID, indices, global pools, 1-D (opset 12)', async () => {
    const g = new Graph(12).input('x', [1, 3, 11, 10]).input('x5', [1, 2, 5, 5]).input('x1d', [1, 3, 20]);
    g.op('MaxPool', ['x'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
    g.op('MaxPool', ['x'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 });
    // the last ceil_mode window would start in the right padding: it is dropped
    g.op('MaxPool', ['x5'], { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 });
    g.op('AveragePool', ['x'], { kernel_shape: [3, 2], strides: [2, 1], pads: [0, 1, 1, 0], ceil_mode: 1, count_include_pad: 1 });
    g.op('AveragePool', ['x'], { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' });
    g.op('AveragePool', ['x'], { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'VALID', ceil_mode: 1 });
    g.op('MaxPool', ['x'], { kernel_shape: [2, 2], dilations: [2, 2] }, { outputs: 2, types: [DT.FLOAT, I64] });
    g.op('MaxPool', ['x1d'], { kernel_shape: [4], strides: [3] });
    g.op('GlobalAveragePool', ['x']);
    g.op('GlobalMaxPool', ['x1d']);
    await graphMatchesOrt(g, { x: { dims: [1, 3, 11, 10] }, x5: { dims: [1, 2, 5, 5] }, x1d: { dims: [1, 3, 20] } });
  });

  it('BatchNormalization, InstanceNormalization and activations (opset 14)', async () => {
    const g = new Graph(14).input('x', [2, 3, 5, 5]);
    g.init(floatTensor('s', [3]), floatTensor('b', [3]), floatTensor('m', [3]), floatTensor('v', [3], [1, 2, 3]));
    g.init(floatTensor('lo', [], [0]), floatTensor('hi', [], [6]));
    let t = g.op('BatchNormalization', ['x', 's', 'b', 'm', 'v'], { epsilon: float(1e-3) });
    for (const [op, attrs] of [
      ['Relu', {}], ['LeakyRelu', { alpha: float(0.1) }], ['Sigmoid', {}], ['Tanh', {}], ['HardSigmoid', { alpha: float(0.2), beta: float(0.5) }],
      ['HardSwish', {}], ['Elu', { alpha: float(1) }], ['Selu', {}], ['Softplus', {}], ['Softsign', {}], ['Sqrt', {}], ['Exp', {}], ['Erf', {}],
      ['Softmax', { axis: 1 }], ['LogSoftmax', { axis: -1 }], ['Reciprocal', {}], ['Neg', {}], ['Floor', {}], ['Ceil', {}], ['Abs', {}],
      ['Sin', {}], ['Cos', {}], ['Log', {}],
    ] as const)
      t = g.op(op, [t], attrs);
    g.op('Clip', [t, 'lo', 'hi']);
    g.op('InstanceNormalization', ['x', 's', 'b']);
    await graphMatchesOrt(g, { x: { dims: [2, 3, 5, 5] } });
  });

  it('broadcasting elementwise ops and comparisons (opset 13)', async () => {
    const g = new Graph(13).input('a', [2, 3, 4, 5]);
    g.init(floatTensor('b', [3, 1, 5]), floatTensor('c', [5]), floatTensor('s', [], [2]), floatTensor('slope', [3, 1, 1]));
    const add = g.op('Add', ['a', 'b']);
    const mul = g.op('Mul', [add, 'c']);
    const sub = g.op('Sub', ['s', mul]);
    const div = g.op('Div', [sub, 'b']);
    g.op('Pow', [div, 's']);
    g.op('Max', ['a', 'b', 'c']);
    g.op('Min', ['a', 'c']);
    g.op('Sum', ['a', 'b', 'c']);
    g.op('Mean', ['b', 'c']);
    g.op('PRelu', ['a', 'slope']);
    const gt = g.op('Greater', ['a', 'b'], {}, { type: BOOL });
    const eq = g.op('Equal', ['b', 'c'], {}, { type: BOOL });
    g.op('Less', ['c', 's'], {}, { type: BOOL });
    g.op('Not', [gt], {}, { type: BOOL });
    g.op('And', [gt, eq], {}, { type: BOOL });
    g.op('Where', [gt, 'a', 'c']);
    await graphMatchesOrt(g, { a: { dims: [2, 3, 4, 5] } });
  });

  it('Gemm and MatMul: transposes, optional C, batched, broadcast and 1-D operands (opset 13)', async () => {
    const g = new Graph(13).input('x', [4, 6]).input('xt', [6, 4]).input('a4', [2, 3, 4, 5]).input('a41', [2, 1, 4, 5]).input('a3', [2, 4, 5]).input('v', [5]);
    g.init(floatTensor('w', [5, 6]), floatTensor('bias', [5]), floatTensor('w2', [6, 3]), floatTensor('c2', [1, 3]), floatTensor('w3', [6, 2]));
    g.init(floatTensor('m', [5, 6]), floatTensor('m3', [3, 5, 6]));
    g.op('Gemm', ['x', 'w', 'bias'], { transB: 1, alpha: float(0.5) });
    g.op('Gemm', ['xt', 'w2', 'c2'], { transA: 1 });
    g.op('Gemm', ['x', 'w3']);
    g.op('MatMul', ['a4', 'm']);
    g.op('MatMul', ['a41', 'm3']);
    g.op('MatMul', ['v', 'm']);
    g.op('MatMul', ['a3', 'v']);
    g.op('MatMul', ['v', 'v']);
    await graphMatchesOrt(g, { x: { dims: [4, 6] }, xt: { dims: [6, 4] }, a4: { dims: [2, 3, 4, 5] }, a41: { dims: [2, 1, 4, 5] }, a3: { dims: [2, 4, 5] }, v: { dims: [5] } });
  });

  it('shape ops in their attribute forms and Shape->Gather->Concat->Reshape chains (opset 11)', async () => {
    const g = new Graph(11).input('x', [2, 6, 4, 3]);
    g.init(int64Tensor('starts', [1, -3]), int64Tensor('ends', [1000, -1]), int64Tensor('axes', [1, 2]), int64Tensor('steps', [2, 1]));
    g.init(int64Tensor('pads', [0, 0, 1, 2, 0, 0, 3, 0]), int64Tensor('pads1', [0, 0, 1, 1, 0, 0, 1, 1]), floatTensor('padv', [], [0.5]));
    g.init(floatTensor('hi', [], [1]), floatTensor('roi', [0], []), floatTensor('noscales', [0], []), int64Tensor('sizes', [2, 6, 7, 9], [4], 'raw'));
    g.init(floatTensor('scales', [4], [1, 1, 1.5, 2.5]), int64Tensor('target', [0, -1, 6]), int64Tensor('flat', [1, 2, 1, 72]));
    g.init(int64Tensor('zero', [0], []), int64Tensor('minus1', [-1]), int64Tensor('twelve', [12]), int64Tensor('s0', [0]), int64Tensor('s2', [2]));
    g.init(int64Tensor('idx', [0, 1, 1, 0], [2, 2]));
    g.op('Split', ['x'], { axis: 1, split: [1, 2, 3] }, { outputs: ['p0', 'p1', 'p2'] });
    g.op('Concat', ['p0', 'p1', 'p2'], { axis: 1 });
    g.op('Slice', ['x', 'starts', 'ends', 'axes', 'steps']);
    const us = g.op('Unsqueeze', ['x'], { axes: [0, 5] });
    g.op('Squeeze', [us], { axes: [0, -1] });
    g.op('Squeeze', [g.op('Reshape', ['x', 'flat'])]);
    g.op('ReduceMean', ['x'], { axes: [1, 2], keepdims: 0 });
    g.op('ReduceMean', ['x'], { axes: [-1] });
    g.op('Pad', ['x', 'pads', 'padv']);
    g.op('Pad', ['x', 'pads1'], { mode: 'reflect' });
    g.op('Clip', ['x', '', 'hi']);
    g.op('Resize', ['x', 'roi', 'noscales', 'sizes']);
    g.op('Resize', ['x', 'roi', 'scales'], { mode: 'linear' });
    g.op('Flatten', ['x'], { axis: 2 });
    g.op('Flatten', ['x'], { axis: 0 });
    g.op('Flatten', ['x'], { axis: -1 });
    g.op('Transpose', ['x'], { perm: [0, 3, 1, 2] });
    g.op('Transpose', ['x']);
    g.op('Reshape', ['x', 'target']);
    const shape = g.op('Shape', ['x'], {}, { type: I64 });
    const first = g.op('Gather', [shape, 'zero'], {}, { type: I64 });
    const batch = g.op('Unsqueeze', [first], { axes: [0] }, { type: I64 });
    g.op('Reshape', ['x', g.op('Concat', [batch, 'minus1'], { axis: 0 }, { type: I64 })]);
    const lead = g.op('Slice', [shape, 's0', 's2'], {}, { type: I64 });
    g.op('Reshape', ['x', g.op('Concat', [lead, 'twelve'], { axis: 0 }, { type: I64 })]);
    const asFloat = g.op('Cast', [shape], { to: DT.FLOAT });
    g.op('Reshape', ['x', g.op('Cast', [asFloat], { to: I64 }, { type: I64 })]);
    g.op('Dropout', ['x'], { ratio: float(0.5) });
    g.op('Identity', ['x']);
    const constant = g.op('Constant', [], { value: tensorAttr(int64Tensor('c', [3, -1])) }, { type: I64 });
    g.op('Reshape', ['x', constant]);
    g.op('Gather', ['x', 'idx'], { axis: 1 });
    await graphMatchesOrt(g, { x: { dims: [2, 6, 4, 3] } });
  });

  it('shape ops in their input forms, folded shape arithmetic, Expand/Range/Tile/ConstantOfShape (opset 13)', async () => {
    const g = new Graph(13).input('x', [2, 6, 4, 3]);
    g.init(int64Tensor('split', [4, 2]), int64Tensor('one', [1]), int64Tensor('axis2', [2]), floatTensor('scales', [4], [1, 1, 2, 2]));
    g.init(int64Tensor('sizes', [2, 6, 5, 5]), int64Tensor('neg1', [-1]), int64Tensor('int64min', [-(2 ** 63)], [1], 'raw'), int64Tensor('stepm2', [-2]));
    g.init(int64Tensor('hw', [2, 3]), int64Tensor('minus1', [-1]), floatTensor('a3', [3, 1]), int64Tensor('eshape', [2, 3, 4]));
    g.init(int64Tensor('idx1', [1], []), int64Tensor('zero', [0], []), int64Tensor('step', [1], []), int64Tensor('reps', [1, 2, 1, 1]));
    g.init(int64Tensor('twoone', [2, 1]), int64Tensor('twothree', [2, 3]));
    g.op('Split', ['x', 'split'], { axis: 1 }, { outputs: 2 });
    g.op('Split', ['x'], { axis: 2 }, { outputs: 2 });
    g.op('Squeeze', [g.op('Unsqueeze', ['x', 'one']), 'one']);
    g.op('ReduceSum', ['x', 'axis2']);
    g.op('ReduceSum', ['x']);
    g.op('ReduceMean', ['x'], { axes: [0], keepdims: 0 });
    g.op('Resize', ['x', '', 'scales']);
    g.op('Resize', ['x', '', '', 'sizes'], { mode: 'cubic' });
    g.op('Slice', ['x', 'neg1', 'int64min', 'axis2', 'stepm2']);
    const shape = g.op('Shape', ['x'], {}, { type: I64 });
    const hw = g.op('Gather', [shape, 'hw'], {}, { type: I64 });
    g.op('Reshape', ['x', g.op('Concat', ['minus1', hw], { axis: 0 }, { type: I64 })]);
    g.op('Reshape', ['x', g.op('Concat', ['minus1', g.op('Mul', [hw, 'twoone'], {}, { type: I64 })], { axis: 0 }, { type: I64 })]);
    g.op('Reshape', ['x', g.op('Concat', ['minus1', g.op('Div', [hw, 'twothree'], {}, { type: I64 })], { axis: 0 }, { type: I64 })]);
    g.op('Expand', ['a3', 'eshape']);
    g.op('ConstantOfShape', [shape], { value: tensorAttr(floatTensor('fill', [1], [1])) });
    const channels = g.op('Gather', [shape, 'idx1'], {}, { type: I64 });
    g.op('Range', ['zero', channels, 'step'], {}, { type: I64 });
    g.op('Tile', ['x', 'reps']);
    g.op('ArgMax', ['x'], { axis: 1, keepdims: 0 }, { type: I64 });
    await graphMatchesOrt(g, { x: { dims: [2, 6, 4, 3] } });
  });

  it('opset 18+ forms: Split num_outputs, Reduce axes input, Pad/Resize axes, keep_aspect_ratio, LayerNormalization, Gelu, Shape start/end (opset 20)', async () => {
    const g = new Graph(20).input('x', [2, 6, 4, 3]).input('x7', [1, 7]);
    g.init(int64Tensor('last', [-1]), int64Tensor('axes12', [1, 2]), int64Tensor('pads', [1, 1, 2, 2]), int64Tensor('axes23', [2, 3]));
    g.init(floatTensor('scales', [2], [2, 3]), int64Tensor('sizes', [8, 8]), floatTensor('sc', [3]), floatTensor('bi', [3]), floatTensor('sc2', [4, 3]));
    g.op('Split', ['x7'], { axis: 1, num_outputs: 3 }, { outputs: 3 });
    g.op('ReduceMean', ['x', 'last'], { keepdims: 0 });
    g.op('ReduceMean', ['x']);
    g.op('ReduceMax', ['x', 'axes12']);
    g.op('Pad', ['x', 'pads', '', 'axes23']);
    g.op('Resize', ['x', '', 'scales'], { axes: [2, 3] });
    g.op('Resize', ['x', '', '', 'sizes'], { axes: [2, 3], keep_aspect_ratio_policy: 'not_larger' });
    g.op('LayerNormalization', ['x', 'sc', 'bi'], { axis: -1 }, { outputs: 3 });
    g.op('LayerNormalization', ['x', 'sc2'], { axis: 2 });
    g.op('Gelu', ['x'], { approximate: 'tanh' });
    g.op('Gelu', ['x']);
    g.op('Shape', ['x'], { start: 1, end: -1 }, { type: I64 });
    await graphMatchesOrt(g, { x: { dims: [2, 6, 4, 3] }, x7: { dims: [1, 7] } });
  });

  it('opset 7 forms: Upsample/Pad/Clip/Slice/Squeeze attributes, initializers listed as inputs (IR 3)', async () => {
    const g = new Graph(7).input('x', [1, 3, 8, 8]);
    g.init(floatTensor('s', [3]), floatTensor('b', [3]), floatTensor('m', [3]), floatTensor('v', [3], [1, 1, 1]));
    g.init(int64Tensor('flat', [1, -1]), floatTensor('w', [10, 192]), floatTensor('c', [10]), floatTensor('mm', [192, 4]));
    g.op('Upsample', ['x'], { scales: floats([1, 1, 2, 2]) });
    g.op('Pad', ['x'], { pads: [0, 0, 1, 1, 0, 0, 1, 1], value: float(0) });
    g.op('Clip', ['x'], { min: float(-1), max: float(1) });
    g.op('BatchNormalization', ['x', 's', 'b', 'm', 'v']);
    g.op('MaxPool', ['x'], { kernel_shape: [2, 2], strides: [2, 2] });
    g.op('AveragePool', ['x'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad: 1 });
    g.op('Slice', ['x'], { starts: [1], ends: [3], axes: [1] });
    g.op('Squeeze', [g.op('Unsqueeze', ['x'], { axes: [0] })], { axes: [0] });
    const flat = g.op('Reshape', ['x', 'flat']);
    g.op('Softmax', [g.op('Gemm', [flat, 'w', 'c'], { transB: 1 })]);
    g.op('MatMul', [flat, 'mm']);
    g.op('Concat', ['x', 'x'], { axis: 1 });
    g.op('Split', ['x'], { axis: 1, split: [1, 2] }, { outputs: 2 });
    g.op('ReduceMean', ['x'], { axes: [2, 3] });
    g.op('Flatten', ['x']);
    g.op('Sum', ['x', 'x', 'x']);
    g.op('Dropout', ['x'], { ratio: float(0.1) });
    g.op('Transpose', ['x'], { perm: [0, 2, 3, 1] });
    const a = await graphMatchesOrt(g, { x: { dims: [1, 3, 8, 8] } });
    // initializers listed as graph inputs are still weights (the int64 reshape target is not)
    assert.equal(a.params, 4 * 3 + 10 * 192 + 10 + 192 * 4);
    assert.deepEqual(a.inputs.map((i) => i.name), ['x']);
  });

  it('opset 9 Upsample with a scales input, opset 10 Resize and Slice inputs', async () => {
    const g9 = new Graph(9).input('x', [1, 2, 3, 4]);
    g9.init(floatTensor('scales', [4], [1, 1, 2, 1.5]));
    g9.op('Upsample', ['x', 'scales'], { mode: 'linear' });
    g9.op('Slice', ['x'], { starts: [0, 1], ends: [1, 1000], axes: [2, 3] });
    await graphMatchesOrt(g9, { x: { dims: [1, 2, 3, 4] } });

    const g10 = new Graph(10).input('x', [1, 2, 3, 4]);
    g10.init(floatTensor('scales', [4], [1, 1, 1.7, 0.5]), int64Tensor('starts', [1]), int64Tensor('ends', [-1]));
    g10.op('Resize', ['x', 'scales']);
    g10.op('Slice', ['x', 'starts', 'ends']);
    g10.op('MaxPool', ['x'], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 });
    await graphMatchesOrt(g10, { x: { dims: [1, 2, 3, 4] } });
  });

  it('a small transformer: embeddings, Range positions, attention with folded head reshapes, Erf GELU (opset 17)', async () => {
    const g = new Graph(17).input('ids', [2, 7], I64);
    g.init(floatTensor('emb', [50, 16]), floatTensor('pos', [32, 16]), floatTensor('g', [16]), floatTensor('beta', [16]));
    g.init(floatTensor('wqkv', [16, 48]), floatTensor('bqkv', [48]), int64Tensor('split', [16, 16, 16]), floatTensor('wo', [16, 16]), floatTensor('bo', [16]));
    g.init(int64Tensor('one', [1], []), int64Tensor('zero', [0], []), int64Tensor('s0', [0]), int64Tensor('s2', [2]), int64Tensor('heads', [4, 4]));
    g.init(floatTensor('wc', [3, 16]), floatTensor('bc', [3]));
    const tokens = g.op('Gather', ['emb', 'ids']);
    const seqLen = g.op('Gather', [g.op('Shape', ['ids'], {}, { type: I64 }), 'one'], {}, { type: I64 });
    const positions = g.op('Gather', ['pos', g.op('Range', ['zero', seqLen, 'one'], {}, { type: I64 })]);
    const x = g.op('Add', [tokens, positions]);
    const ln = g.op('LayerNormalization', [x, 'g', 'beta'], { axis: -1 });
    const qkv = g.op('Add', [g.op('MatMul', [ln, 'wqkv']), 'bqkv']);
    g.op('Split', [qkv, 'split'], { axis: -1 }, { outputs: ['q', 'k', 'v'] });
    const heads = (t: string, perm: number[]) => {
      const lead = g.op('Slice', [g.op('Shape', [t], {}, { type: I64 }), 's0', 's2'], {}, { type: I64 });
      return g.op('Transpose', [g.op('Reshape', [t, g.op('Concat', [lead, 'heads'], { axis: 0 }, { type: I64 })])], { perm });
    };
    const scores = g.op('MatMul', [heads('q', [0, 2, 1, 3]), heads('k', [0, 2, 3, 1])]);
    const scale = g.op('Constant', [], { value_float: float(2) });
    const attn = g.op('Softmax', [g.op('Div', [scores, scale])], { axis: -1 });
    const context = g.op('Transpose', [g.op('MatMul', [attn, heads('v', [0, 2, 1, 3])])], { perm: [0, 2, 1, 3] });
    const merged = g.op('Reshape', [context, g.op('Constant', [], { value_ints: [0, 0, -1] }, { type: I64 })]);
    const out = g.op('Add', [g.op('Add', [g.op('MatMul', [merged, 'wo']), 'bo']), x]);
    const sqrt2 = g.op('Constant', [], { value: tensorAttr(floatTensor('sqrt2', [], [Math.SQRT2])) });
    const oneF = g.op('Constant', [], { value_float: float(1) });
    const half = g.op('Constant', [], { value_float: float(0.5) });
    const gelu = g.op('Mul', [g.op('Mul', [out, g.op('Add', [g.op('Erf', [g.op('Div', [out, sqrt2])]), oneF])]), half]);
    const pooled = g.op('ReduceMean', [gelu], { axes: [1], keepdims: 0 });
    g.op('Tanh', [g.op('Gemm', [pooled, 'wc', 'bc'], { transB: 1 })]);
    const a = await graphMatchesOrt(g, { ids: { dims: [2, 7], type: 'int64' } });
    // embeddings and projections are weights; Range/Slice bounds and head shapes are not
    assert.equal(a.params, 50 * 16 + 32 * 16 + 16 + 16 + 16 * 48 + 48 + 16 * 16 + 16 + 3 * 16 + 3 + 4 /* float Constants */);
  });

  it('dynamic input dims, given with inputShapes, match what onnxruntime runs', async () => {
    const g = new Graph(13).input('x', ['batch', 3, 'h', 'w']);
    g.init(floatTensor('w', [8, 3, 3, 3]), floatTensor('fc', [5, 8]));
    const pooled = g.op('GlobalAveragePool', [g.op('Relu', [g.op('Conv', ['x', 'w'], { strides: [2, 2], pads: [1, 1, 1, 1] })])]);
    g.op('Gemm', [g.op('Flatten', [pooled]), 'fc'], { transB: 1 });
    await graphMatchesOrt(g, { x: { dims: [2, 3, 20, 24] } }, { x: [2, 3, 20, 24] });
  });

  it("the project's exported subnets: every tensor's shape", async () => {
    const w10 = getSpace('ofa-mbv3-w1.0');
    for (const arch of [{ ...sampleArch(w10, new Rng(7)), r: 160 }, minArch(w10, 132), maxArch(w10, 128)]) {
      const model = onnx.ModelProto.decode(exportOnnx(buildIR(netFromArch(w10, arch)), { weights: seededWeights(1) }));
      const declared = new Set(model.graph!.output!.map((o) => o.name));
      for (const node of model.graph!.node!)
        for (const o of node.output!) if (!declared.has(o)) model.graph!.output!.push({ name: o, type: { tensorType: { elemType: DT.FLOAT } } });
      const bytes = onnx.ModelProto.encode(model).finish();
      const analysis = await matchesOrt(bytes, { input: { dims: [1, 3, arch.r as number, arch.r as number] } });
      assert.equal(analysis.outputs.length, model.graph!.node!.length);
    }
  });
});
