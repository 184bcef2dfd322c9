import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import { ModelAnalysis, NodeAnalysis, analyzeOnnx, analyzeOnnxFile, parseInputShapes } from '../../src/analysis/analyze';
import { maxArch, minArch, sampleArch } from '../../src/core/arch';
import { countModel, countNode } from '../../src/core/counters';
import { TailorError } from '../../src/core/errors';
import { allNodes, buildIR, hasBias } from '../../src/core/ir';
import { netFromArch } from '../../src/core/net';
import { Rng } from '../../src/core/rng';
import { getSpace } from '../../src/core/space';
import { exportOnnx } from '../../src/export/onnx';
import { seededWeights } from '../../src/export/weights';
import { tensorDataProblem, tensorValues } from '../../src/analysis/tensors';
import { REPO, cli, tempDir } from '../helpers';
import { writeExternalModel } from '../gate-fixtures';
import { DT, Graph, float, floatTensor, int64Tensor, tensorAttr } from '../onnx-graphs';

const volume = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

function byName(a: ModelAnalysis): Map<string, NodeAnalysis> {
  return new Map(a.nodes.map((n) => [n.name, n]));
}

function rejects(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TailorError, `expected a TailorError, got ${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

describe('ONNX analysis: params and MACs by hand (onnx-tool conventions)', () => {
  it('Conv, depthwise Conv, ConvTranspose, pools, Gemm, MatMul; each weight counted once', () => {
    const g = new Graph(13).input('x', [1, 3, 32, 32]);
    g.init(floatTensor('w', [16, 3, 3, 3]), floatTensor('b', [16]), floatTensor('dww', [16, 1, 3, 3]), floatTensor('wt', [16, 8, 2, 2]));
    g.init(floatTensor('fcw', [10, 8]), floatTensor('fcb', [10]), floatTensor('m', [10, 4]), floatTensor('unused', [100]));
    g.op('Conv', ['x', 'w', 'b'], { pads: [1, 1, 1, 1], strides: [2, 2] }, { name: 'conv' });
    g.op('Conv', ['conv', 'dww'], { pads: [1, 1, 1, 1], group: 16 }, { name: 'dw' });
    g.op('Relu', ['dw'], {}, { name: 'relu' });
    g.op('MaxPool', ['relu'], { kernel_shape: [2, 2], strides: [2, 2] }, { name: 'pool' });
    g.op('ConvTranspose', ['pool', 'wt'], { strides: [2, 2] }, { name: 'up' });
    g.op('GlobalAveragePool', ['up'], {}, { name: 'gap' });
    g.op('Flatten', ['gap'], {}, { name: 'flat' });
    g.op('Gemm', ['flat', 'fcw', 'fcb'], { transB: 1 }, { name: 'fc' });
    g.op('MatMul', ['fc', 'm'], {}, { name: 'mm1' });
    g.op('MatMul', ['fc', 'm'], {}, { name: 'mm2' }); // shares its weight with mm1
    g.output('mm2');
    const bytes = g.bytes();
    const a = analyzeOnnx(bytes);
    const n = byName(a);
    // conv: 16x16x16 outputs x (3 x 3 x 3) + one bias add per output
    assert.deepEqual(n.get('conv')!.outputShapes, [[1, 16, 16, 16]]);
    assert.deepEqual([n.get('conv')!.params, n.get('conv')!.macs], [16 * 27 + 16, 4096 * 27 + 4096]);
    // depthwise: each output reads one channel's 3 x 3 window
    assert.deepEqual([n.get('dw')!.params, n.get('dw')!.macs], [16 * 9, 4096 * 9]);
    assert.equal(n.get('relu')!.macs, 4096);
    // pool: one compare per kernel element per output
    assert.deepEqual(n.get('pool')!.outputShapes, [[1, 16, 8, 8]]);
    assert.equal(n.get('pool')!.macs, 1024 * 4);
    // ConvTranspose as onnx-tool: output elements x weight elements per input channel (8 x 2 x 2)
    assert.deepEqual(n.get('up')!.outputShapes, [[1, 8, 16, 16]]);
    assert.deepEqual([n.get('up')!.params, n.get('up')!.macs], [16 * 8 * 4, 2048 * 32]);
    // global average: one add per input element, one division (4) per output
    assert.equal(n.get('gap')!.macs, 2048 + 8 * 4);
    assert.equal(n.get('flat')!.macs, 0);
    assert.deepEqual([n.get('fc')!.params, n.get('fc')!.macs], [80 + 10, 10 * 8 + 10]);
    assert.deepEqual([n.get('mm1')!.params, n.get('mm1')!.macs], [40, 40]);
    assert.deepEqual([n.get('mm2')!.params, n.get('mm2')!.macs], [0, 40]);
    const params = 448 + 144 + 512 + 90 + 40; // "unused" is read by no node
    assert.equal(a.params, params);
    assert.equal(a.fp32Bytes, params * 4);
    assert.equal(a.sizeBytes, bytes.length);
    assert.equal(a.macs, a.nodes.reduce((s, x) => s + x.macs!, 0));
    assert.deepEqual(a.outputs, [{ name: 'mm2', dtype: 'float32', shape: [1, 4] }]);
  });

  it('elementwise, normalization, reduction and resize unit costs; settings are not weights', () => {
    const g = new Graph(17).input('x', [2, 4, 6, 6]);
    g.init(floatTensor('s', [4]), floatTensor('b', [4]), floatTensor('m', [4]), floatTensor('v', [4], [1, 1, 1, 1]));
    g.init(floatTensor('lo', [], [0]), floatTensor('hi', [], [6]), floatTensor('two', [], [2]), floatTensor('bias', [4, 1, 1]));
    g.init(floatTensor('scales', [4], [1, 1, 2, 2]), int64Tensor('axes', [2, 3]), floatTensor('ln_s', [6]), floatTensor('ln_b', [6]));
    const cost = (op: string, inputs: string[], attrs = {}) => g.op(op, inputs, attrs, { name: op });
    cost('BatchNormalization', ['x', 's', 'b', 'm', 'v']);
    cost('Sigmoid', ['x']);
    cost('Tanh', ['x']);
    cost('HardSwish', ['x']);
    cost('Clip', ['x', 'lo', 'hi']);
    cost('Div', ['x', 'two']);
    cost('Softmax', ['x']);
    cost('Add', ['x', 'bias']);
    cost('Max', ['x', 'x', 'x']);
    cost('Erf', ['x']);
    cost('ReduceMean', ['x'], { axes: [2, 3] });
    cost('Resize', ['x', '', 'scales'], { mode: 'linear' });
    g.op('Resize', ['x', '', 'scales'], {}, { name: 'nearest' });
    cost('LayerNormalization', ['x', 'ln_s', 'ln_b']);
    cost('Unsqueeze', ['x', 'axes']);
    const n = byName(analyzeOnnx(g.bytes()));
    const elements = 2 * 4 * 6 * 6;
    const same = [2, 4, 6, 6];
    const expected: Record<string, [number[], number, number]> = {
      BatchNormalization: [same, 16, elements * (1 + 24 + 4 + 1 + 1)], // add, sqrt, div, add, mul
      Sigmoid: [same, 0, elements * 32], // exp
      Tanh: [same, 0, elements * 2 * 38], // onnx-tool: twice (exp + 2 adds + div)
      HardSwish: [same, 0, elements * 5], // 2 mul + add + 2 compares
      Clip: [same, 0, elements * 2], // bounds are settings, not weights
      Div: [same, 1, elements * 4],
      Softmax: [same, 0, elements * 36], // exp + div
      Add: [same, 4, elements], // [4, 1, 1] broadcast over [2, 4, 6, 6]
      Max: [same, 0, elements * 2], // one op per input beyond the first
      Erf: [same, 0, 0],
      ReduceMean: [[2, 4, 1, 1], 0, elements], // keepdims defaults to 1
      Resize: [[2, 4, 12, 12], 0, 2 * 4 * 12 * 12 * 4], // scales 1, 1, 2, 2; 4 per output element (linear)
      nearest: [[2, 4, 12, 12], 0, 0],
      LayerNormalization: [same, 12, elements * 7 + 2 * 4 * 6 * 29], // 3 mul + 4 add per element; add + sqrt + div per row
      Unsqueeze: [[2, 4, 1, 1, 6, 6], 0, 0], // int64 axes are settings; new dims at output axes 2 and 3
    };
    for (const [name, [shape, params, macs]] of Object.entries(expected)) assert.deepEqual([n.get(name)!.outputShapes, n.get(name)!.params, n.get(name)!.macs], [[shape], params, macs], name);
  });

  it('grouped Conv, AveragePool, GlobalMaxPool, Mul, Sub, HardSigmoid', () => {
    const g = new Graph(13).input('x', [1, 8, 10, 10]);
    g.init(floatTensor('gw', [12, 4, 3, 3]), floatTensor('gb', [12]), floatTensor('scale', [8, 1, 1]), floatTensor('shift', [8, 1, 1]));
    g.op('Conv', ['x', 'gw', 'gb'], { pads: [1, 1, 1, 1], group: 2 }, { name: 'grouped' });
    g.op('AveragePool', ['x'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, { name: 'avg' });
    g.op('GlobalMaxPool', ['x'], {}, { name: 'gmax' });
    g.op('Mul', ['x', 'scale'], {}, { name: 'mul' });
    g.op('Sub', ['x', 'shift'], {}, { name: 'sub' });
    g.op('HardSigmoid', ['x'], { alpha: float(0.2) }, { name: 'hsig' });
    const n = byName(analyzeOnnx(g.bytes()));
    const expected: Record<string, [number[], number, number]> = {
      // 2 groups of 4 input channels: each of the 12 x 10 x 10 outputs reads 4 x 3 x 3 weights, plus its bias add
      grouped: [[1, 12, 10, 10], 12 * 4 * 9 + 12, 1200 * 36 + 1200],
      // (10 + 1 + 1 - 3) / 2 + 1 = 5: 200 outputs x 9 window elements
      avg: [[1, 8, 5, 5], 0, 200 * 9],
      // one compare per input element
      gmax: [[1, 8, 1, 1], 0, 800],
      mul: [[1, 8, 10, 10], 8, 800],
      sub: [[1, 8, 10, 10], 8, 800],
      // mul + add + 2 compares per element
      hsig: [[1, 8, 10, 10], 0, 800 * 4],
    };
    for (const [name, [shape, params, macs]] of Object.entries(expected)) assert.deepEqual([n.get(name)!.outputShapes, n.get(name)!.params, n.get(name)!.macs], [[shape], params, macs], name);
  });

  it('counts float Constant outputs as weights and integer ones not; typed and raw initializers alike', () => {
    for (const encoding of ['raw', 'typed'] as const) {
      const g = new Graph(13).input('x', [2, 3, 4]);
      g.init(floatTensor('w', [4, 5], undefined, encoding), int64Tensor('shape', [0, -1], [2], encoding));
      const scale = g.op('Constant', [], { value: tensorAttr(floatTensor('k', [5], [1, 2, 3, 4, 5], encoding)) }, { name: 'k' });
      const target = g.op('Constant', [], { value: tensorAttr(int64Tensor('t', [6, 5], [2], encoding)) }, { name: 't', type: DT.INT64 });
      const mm = g.op('MatMul', ['x', 'w'], {}, { name: 'mm' });
      const y = g.op('Reshape', [g.op('Mul', [mm, scale], {}, { name: 'mul' }), target], {}, { name: 'r1' });
      g.op('Reshape', [y, 'shape'], {}, { name: 'r2' });
      const a = analyzeOnnx(g.bytes());
      const n = byName(a);
      assert.deepEqual(n.get('r1')!.outputShapes, [[6, 5]], encoding);
      assert.deepEqual(n.get('r2')!.outputShapes, [[6, 5]], encoding);
      assert.deepEqual([n.get('mm')!.params, n.get('mul')!.params, n.get('r1')!.params, n.get('r2')!.params], [20, 5, 0, 0], encoding);
      assert.equal(a.params, 25);
    }
  });
});

describe('ONNX analysis: shapes of the data-movement ops by hand', () => {
  const shapes = (a: ModelAnalysis) => Object.fromEntries(a.nodes.map((n) => [n.name, n.outputShapes]));

  it('Concat, Split, Slice, Pad, Transpose, Squeeze, Flatten (settings as inputs, opset 13)', () => {
    const g = new Graph(13).input('x', [1, 8, 10, 10]).input('y', [1, 12, 10, 10]).input('p', [1, 8, 1, 1]);
    g.init(int64Tensor('sizes', [3, 5]), int64Tensor('starts', [1, -3]), int64Tensor('ends', [9, 1000]), int64Tensor('axes', [2, 3]), int64Tensor('steps', [2, 1]));
    g.init(int64Tensor('pads', [0, 0, 1, 2, 0, 0, 3, 4]), int64Tensor('sq', [2, 3]));
    g.op('Concat', ['x', 'y'], { axis: 1 }, { name: 'concat' });
    g.op('Split', ['x', 'sizes'], { axis: 1 }, { name: 'split', outputs: 2 });
    g.op('Slice', ['x', 'starts', 'ends', 'axes', 'steps'], {}, { name: 'slice' });
    g.op('Pad', ['x', 'pads'], {}, { name: 'pad' });
    g.op('Transpose', ['x'], { perm: [0, 2, 3, 1] }, { name: 'transpose' });
    g.op('Squeeze', ['p', 'sq'], {}, { name: 'squeeze' });
    g.op('Flatten', ['x'], {}, { name: 'flatten' });
    g.op('Flatten', ['x'], { axis: 2 }, { name: 'flatten2' });
    const a = analyzeOnnx(g.bytes());
    assert.deepEqual(shapes(a), {
      concat: [[1, 20, 10, 10]], // 8 + 12 channels
      split: [[1, 3, 10, 10], [1, 5, 10, 10]], // sizes 3 and 5 along axis 1
      slice: [[1, 8, 4, 3]], // H: 1, 3, 5, 7 (step 2 before 9); W: -3 -> 7 up to the clamped end 10
      pad: [[1, 8, 14, 16]], // H + 1 + 3, W + 2 + 4
      transpose: [[1, 10, 10, 8]],
      squeeze: [[1, 8]],
      flatten: [[1, 800]], // axis 1: 1 x (8 x 10 x 10)
      flatten2: [[8, 100]], // axis 2: (1 x 8) x (10 x 10)
    });
    assert.equal(a.macs, 0, 'data movement costs no MACs');
    assert.equal(a.params, 0, 'sizes, bounds, pads and axes are settings');
  });

  it('the attribute forms of opset 7-10 (Slice, Pad, Split, Squeeze)', () => {
    const g = new Graph(9).input('x', [1, 8, 10, 10]).input('v', [1, 8]);
    g.op('Slice', ['x'], { starts: [1, 2], ends: [9, -1], axes: [2, 3] }, { name: 'slice' });
    g.op('Pad', ['x'], { pads: [0, 0, 1, 1, 0, 0, 2, 3] }, { name: 'pad' });
    g.op('Split', ['x'], { axis: 1, split: [2, 6] }, { name: 'split', outputs: 2 });
    g.op('Split', ['x'], { axis: 2 }, { name: 'halves', outputs: 2 });
    g.op('Squeeze', ['v'], { axes: [0] }, { name: 'squeeze' });
    assert.deepEqual(shapes(analyzeOnnx(g.bytes())), {
      slice: [[1, 8, 8, 7]], // H 1..9; W 2 up to -1 = 9
      pad: [[1, 8, 13, 14]], // H + 1 + 2, W + 1 + 3
      split: [[1, 2, 10, 10], [1, 6, 10, 10]],
      halves: [[1, 8, 5, 10], [1, 8, 5, 10]], // no sizes: equal parts
      squeeze: [[8]],
    });
  });
});

describe('ONNX tensors', () => {
  it('decodes raw and typed data of the numeric types', () => {
    const raw = (dataType: number, dims: number[], bytes: number[]) => ({ dataType, dims, rawData: Uint8Array.from(bytes) });
    // float16 1, -2, 0.5 = 0x3c00, 0xc000, 0x3800 (little-endian)
    assert.deepEqual(tensorValues(raw(DT.FLOAT16, [3], [0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38])), [1, -2, 0.5]);
    assert.deepEqual(tensorValues({ dataType: DT.FLOAT16, dims: [2], int32Data: [0x3c00, 0x4200] }), [1, 3]);
    // bfloat16 is the upper half of a float32: 1.5 = 0x3fc0
    assert.deepEqual(tensorValues(raw(DT.BFLOAT16, [1], [0xc0, 0x3f])), [1.5]);
    assert.deepEqual(tensorValues(raw(DT.INT8, [2], [0xff, 0x02])), [-1, 2]);
    assert.deepEqual(tensorValues(raw(DT.INT64, [1], [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), [-2]);
    assert.deepEqual(tensorValues({ dataType: DT.DOUBLE, dims: [2], doubleData: [0.25, 1e300] }), [0.25, 1e300]);
    assert.deepEqual(tensorValues({ dataType: DT.FLOAT, dims: [], floatData: [0.1] }), [Math.fround(0.1)]);
    assert.equal(tensorDataProblem({ dataType: DT.INT64, dims: [3], int64Data: [1, 2] }), 'holds 2 values but its dims [3] need 3');
    assert.equal(tensorDataProblem({ dataType: DT.FLOAT, dims: [2], dataLocation: onnx.TensorProto.DataLocation.EXTERNAL }), undefined);
  });
});

describe('ONNX analysis: dynamic inputs', () => {
  const dynamic = () => {
    const g = new Graph(13).input('x', ['N', 3, 'H', 'W']).input('unused', ['B', 'T']);
    g.init(floatTensor('w', [4, 3, 3, 3]));
    g.op('Conv', ['x', 'w'], { pads: [1, 1, 1, 1] }, { name: 'conv' });
    g.output('conv');
    return g.bytes();
  };

  it('names the input and tells how to pass its shape', () => {
    rejects(() => analyzeOnnx(dynamic(), { file: 'net.onnx' }), 'MISSING_INPUT_SHAPE',
      /Input "x" of net\.onnx has a dynamic shape \(Nx3xHxW\); pass its size with --input-shape x:<N>x3x<H>x<W>/);
    const noDims = new Graph(13).input('y', [null, 3]).input('z', undefined);
    noDims.op('Add', ['y', 'z']);
    rejects(() => analyzeOnnx(noDims.bytes()), 'MISSING_INPUT_SHAPE', /Input "y" .*\(\?x3\).*y:<dim0>x3/);
    rejects(() => analyzeOnnx(noDims.bytes(), { inputShapes: { y: [2, 3] } }), 'MISSING_INPUT_SHAPE', /Input "z" .*\(unknown rank\)/);
  });

  it('uses the override, and refuses one that contradicts the model', () => {
    const a = analyzeOnnx(dynamic(), { inputShapes: { x: [2, 3, 10, 12] } });
    assert.deepEqual(a.inputs, [{ name: 'x', dtype: 'float32', shape: [2, 3, 10, 12] }, { name: 'unused', dtype: 'float32', shape: null }]);
    assert.deepEqual(a.nodes[0].outputShapes, [[2, 4, 10, 12]]);
    assert.equal(a.nodes[0].macs, 2 * 4 * 10 * 12 * 27);
    rejects(() => analyzeOnnx(dynamic(), { inputShapes: { x: [2, 3, 10] } }), 'INVALID_INPUT_SHAPE', /"x:2x3x10".*has rank 4 \(Nx3xHxW\), not 3/);
    rejects(() => analyzeOnnx(dynamic(), { inputShapes: { x: [2, 4, 10, 12] } }), 'INVALID_INPUT_SHAPE', /fixed size 3 at axis 1/);
    rejects(() => analyzeOnnx(dynamic(), { inputShapes: { x: [2, 3, 10, 12], images: [1] } }), 'INVALID_INPUT_SHAPE', /no input "images" \(inputs: x, unused\)/);
    rejects(() => analyzeOnnx(dynamic(), { inputShapes: { x: [2, 3, 0, 12] } }), 'INVALID_INPUT_SHAPE', /positive integers/);
  });

  it('parses --input-shape values', () => {
    assert.deepEqual(parseInputShapes(['x:1x3x224x224', 'input:0:2x5']), { x: [1, 3, 224, 224], 'input:0': [2, 5] });
    for (const bad of ['x', ':1x3', 'x:1x0', 'x:1,3', 'x:ax3', 'x:'])
      rejects(() => parseInputShapes([bad]), 'INVALID_INPUT_SHAPE', new RegExp(`"${bad}"`));
    rejects(() => parseInputShapes(['x:1', 'x:2']), 'INVALID_INPUT_SHAPE', /given twice/);
  });
});

describe('ONNX analysis: unsupported ops and run-time values', () => {
  it('refuses a model with unknown ops by default, naming the nodes and op types', () => {
    const g = new Graph(13).input('x', [1, 8, 4, 4]);
    g.op('Relu', [g.op('DepthToSpace', ['x'], { blocksize: 2 }, { name: 'd2s' })], {}, { name: 'relu' });
    g.op('Foo', ['x'], {}, { name: 'custom', domain: 'com.example' });
    rejects(() => analyzeOnnx(g.bytes(), { file: 'net.onnx' }), 'UNKNOWN_OP',
      /^net\.onnx has 2 node\(s\) of ops the analysis cannot infer shapes for or count: node "d2s" \(DepthToSpace\), node "custom" \(com\.example\.Foo\)\. .*partial.*pass --allow-unknown-ops\.$/);
    rejects(() => analyzeOnnx(g.bytes(), { allowUnknownOpsHint: 'send "allowUnknownOps": true' }), 'UNKNOWN_OP', /send "allowUnknownOps": true\.$/);
  });

  it('with allowUnknownOps, stops shape propagation only for what depends on an unsupported op', () => {
    const g = new Graph(13).input('x', [1, 8, 4, 4]).input('target', [2], DT.INT64);
    g.init(floatTensor('w', [8, 8, 1, 1]));
    const d2s = g.op('DepthToSpace', ['x'], { blocksize: 2 }, { name: 'd2s' });
    g.op('Relu', [g.op('Sigmoid', [d2s], {}, { name: 'sig' })], {}, { name: 'after' });
    g.op('Foo', ['x'], {}, { name: 'custom', domain: 'com.example' });
    const conv = g.op('Conv', ['x', 'w'], {}, { name: 'conv' });
    g.op('Relu', [g.op('Reshape', [conv, 'target'], {}, { name: 'flex' })], {}, { name: 'flex_relu' });
    g.output('after').output('conv').output('flex_relu');
    const a = analyzeOnnx(g.bytes(), { allowUnknownOps: true });
    assert.equal(a.partial, true);
    assert.deepEqual(a.unknownNodes, [{ node: 'd2s', opType: 'DepthToSpace' }, { node: 'custom', opType: 'com.example.Foo' }]);
    assert.deepEqual(a.unsupported, [{ opType: 'DepthToSpace', nodes: ['d2s'] }, { opType: 'com.example.Foo', nodes: ['custom'] }]);
    const n = byName(a);
    assert.deepEqual([n.get('d2s')!.outputShapes, n.get('d2s')!.macs, n.get('d2s')!.note], [[null], null, 'unsupported op DepthToSpace']);
    for (const name of ['sig', 'after']) {
      assert.deepEqual([n.get(name)!.outputShapes, n.get(name)!.macs], [[null], null]);
      assert.match(n.get(name)!.note!, /depends on unsupported DepthToSpace node "d2s"/);
    }
    // the other branch is untouched
    assert.deepEqual([n.get('conv')!.outputShapes, n.get('conv')!.macs, n.get('conv')!.params], [[[1, 8, 4, 4]], 128 * 8, 64]);
    // a Reshape target fed at run time is reported, not guessed
    assert.equal(n.get('flex')!.note, 'target shape (input 1) is only known at run time');
    assert.match(n.get('flex_relu')!.note!, /depends on node "flex" \(Reshape\), whose target shape/);
    assert.deepEqual(a.unresolved.map((u) => u.node), ['sig', 'after', 'flex', 'flex_relu']);
    assert.deepEqual(a.outputs.map((o) => o.shape), [null, [1, 8, 4, 4], null]);
    assert.equal(a.macs, 128 * 8);
    // a run-time setting alone makes the analysis partial too, with no unknown op
    const flex = new Graph(13).input('x', [1, 8]).input('target', [2], DT.INT64);
    flex.op('Reshape', ['x', 'target'], {}, { name: 'flex' });
    const b = analyzeOnnx(flex.bytes());
    assert.deepEqual([b.partial, b.unknownNodes], [true, []]);
    assert.deepEqual([analyzeOnnx(new Graph(13).input('x', [2]).bytes()).partial], [false]);
  });
});

describe('ONNX analysis: graph order', () => {
  it('analyses nodes listed out of dependency order, and reports them in file order', () => {
    const g = new Graph(13).input('x', [1, 4]);
    g.init(floatTensor('w', [4, 2]));
    g.op('Relu', ['mm'], {}, { name: 'relu' });
    g.op('MatMul', ['x', 'w'], {}, { name: 'mm' });
    const a = analyzeOnnx(g.bytes());
    assert.deepEqual(a.nodes.map((n) => [n.name, n.outputShapes[0], n.params]), [['relu', [1, 2], 0], ['mm', [1, 2], 8]]);
  });
});

describe('ONNX analysis: invalid models', () => {
  const model = () => {
    const g = new Graph(17).input('x', [1, 3, 16, 16]);
    g.init(floatTensor('w', [32, 3, 3, 3]), floatTensor('w2', [16, 32, 3, 3]));
    g.op('Conv', [g.op('Conv', ['x', 'w'], { pads: [1, 1, 1, 1] }), 'w2']);
    return g;
  };

  it('truncated, empty and non-ONNX files', () => {
    const bytes = model().bytes();
    for (let cut = 0.05; cut < 1; cut += 0.05)
      rejects(() => analyzeOnnx(bytes.subarray(0, Math.floor(bytes.length * cut)), { file: 'net.onnx' }), 'INVALID_ONNX', /^net\.onnx is not a valid ONNX model: /);
    rejects(() => analyzeOnnx(bytes.subarray(0, bytes.length - 100)), 'INVALID_ONNX', /cannot be decoded .*truncated or not ONNX/);
    rejects(() => analyzeOnnx(new Uint8Array(0)), 'INVALID_ONNX', /the file is empty/);
    rejects(() => analyzeOnnx(new TextEncoder().encode('{"space": "ofa-mbv3-w1.0", "ks": [3, 5, 7]}\n')), 'INVALID_ONNX', /not a valid ONNX model/);
    const rng = new Rng(5);
    rejects(() => analyzeOnnx(Uint8Array.from({ length: 4096 }, () => Math.floor(rng.float() * 256))), 'INVALID_ONNX', /not a valid ONNX model/);
    rejects(() => analyzeOnnxFile(path.join(REPO, 'test', 'missing.onnx')), 'INVALID_ONNX', /missing\.onnx is not a valid ONNX model: no such file/);
  });

  it('inconsistent graphs name the node and the reason', () => {
    const badChannels = model();
    badChannels.init(floatTensor('w3', [8, 4, 1, 1]));
    badChannels.op('Conv', ['x', 'w3'], {}, { name: 'bad' });
    rejects(() => analyzeOnnx(badChannels.bytes()), 'INVALID_ONNX', /node "bad" \(Conv\): input has 3 channels but weight \[8, 4, 1, 1\] with group 1 expects 4/);
    const dangling = model();
    dangling.op('Relu', ['nowhere'], {}, { name: 'r' });
    rejects(() => analyzeOnnx(dangling.bytes()), 'INVALID_ONNX', /node "r" \(Relu\) reads "nowhere", which no node, input or initializer provides/);
    const shortData = model();
    shortData.init({ name: 'short', dims: [2, 3], dataType: DT.FLOAT, rawData: new Uint8Array(8) });
    rejects(() => analyzeOnnx(shortData.bytes()), 'INVALID_ONNX', /initializer "short" holds 2 values but its dims \[2, 3\] need 6/);
    const cycle = new Graph(13).input('x', [2]);
    cycle.op('Add', ['x', 'b'], {}, { outputs: ['a'] });
    cycle.op('Relu', ['a'], {}, { outputs: ['b'] });
    rejects(() => analyzeOnnx(cycle.bytes()), 'INVALID_ONNX', /cycle/);
    const twice = new Graph(13).input('x', [2]);
    twice.op('Relu', ['x'], {}, { outputs: ['y'] });
    twice.op('Relu', ['x'], {}, { outputs: ['y'] });
    rejects(() => analyzeOnnx(twice.bytes()), 'INVALID_ONNX', /tensor "y" is defined more than once/);
    const reshape = new Graph(13).input('x', [2, 3]);
    reshape.init(int64Tensor('t', [4, -1]));
    reshape.op('Reshape', ['x', 't'], {}, { name: 'r' });
    rejects(() => analyzeOnnx(reshape.bytes()), 'INVALID_ONNX', /node "r" \(Reshape\): cannot reshape \[2, 3\] \(6 elements\) to \[4, -1\]/);
  });

  it('refuses opsets before 7 and models without the default domain', () => {
    const old = new Graph(6).input('x', [2]);
    old.op('Relu', ['x']);
    rejects(() => analyzeOnnx(old.bytes(), { file: 'old.onnx' }), 'UNSUPPORTED_OPSET', /old\.onnx uses ONNX opset 6; model analysis supports opset 7 and later/);
    const m = new Graph(13).input('x', [2]).model();
    m.opsetImport = [{ domain: 'com.example', version: 1 }];
    rejects(() => analyzeOnnx(onnx.ModelProto.encode(onnx.ModelProto.create(m)).finish()), 'INVALID_ONNX', /imports no opset of the default ONNX domain/);
  });
});

describe("ONNX analysis of Tailor's own exported subnets agrees with src/core/counters.ts", () => {
  const w10 = getSpace('ofa-mbv3-w1.0');
  const w12 = getSpace('ofa-mbv3-w1.2');
  const archs = [
    { space: w10, arch: maxArch(w10, 224) },
    { space: w10, arch: minArch(w10, 128) },
    { space: w10, arch: { ...sampleArch(w10, new Rng(3)), r: 176 } },
    { space: w12, arch: { ...sampleArch(w12, new Rng(4)), r: 160 } },
  ];

  it('params, fp32 size, and conv/linear MACs without the bias adds', () => {
    for (const { space, arch } of archs) {
      const ir = buildIR(netFromArch(space, arch));
      const totals = countModel(ir);
      const a = analyzeOnnx(exportOnnx(ir, { weights: seededWeights(2) }));
      const n = byName(a);
      // counters.ts leaves biases out of params but keeps them in sizeBytes; the analysis counts
      // every weight tensor a node reads, biases included (onnx-tool): it equals sizeBytes / 4.
      assert.equal(a.params, totals.sizeBytes / 4);
      assert.equal(a.fp32Bytes, totals.sizeBytes);
      let macs = 0;
      for (const node of allNodes(ir)) {
        if (node.op !== 'conv' && node.op !== 'linear') continue;
        const got = n.get(node.name)!;
        const outElements = volume(got.outputShapes[0]!);
        const c = countNode(node);
        // onnx-tool adds one MAC per output for a bias; OFA's counter does not
        const biasAdds = node.op === 'linear' || hasBias(node) ? outElements : 0;
        assert.equal(got.macs! - biasAdds, c.macs, node.name);
        assert.equal(got.params, c.storedValues, node.name);
        assert.deepEqual(got.outputShapes[0], node.op === 'linear' ? [1, node.outFeatures] : [1, ...node.outShape], node.name);
        macs += c.macs;
      }
      assert.equal(macs, totals.macs);
      // activations, residual adds, SE gating and pooling cost something under onnx-tool's convention
      assert.ok(a.macs > totals.macs);
    }
  });
});

describe('tailor inspect --model', () => {
  const dir = tempDir();
  const exported = path.join(dir, 'net.onnx');
  const dynamicFile = path.join(dir, 'dynamic.onnx');
  fs.writeFileSync(exported, exportOnnx(buildIR(netFromArch(getSpace('ofa-mbv3-w1.0'), minArch(getSpace('ofa-mbv3-w1.0'), 160))), { weights: seededWeights(1) }));
  const g = new Graph(13).input('x', ['N', 3, 'H', 'W']);
  g.init(floatTensor('w', [4, 3, 3, 3]));
  g.op('DepthToSpace', [g.op('Conv', ['x', 'w'], {}, { name: 'conv' })], { blocksize: 2 }, { name: 'd2s' });
  g.output('d2s');
  fs.writeFileSync(dynamicFile, g.bytes());
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prints a summary and JSON', () => {
    const json = cli(['inspect', '--model', exported, '--json']);
    assert.equal(json.status, 0, json.stderr);
    const out = JSON.parse(json.stdout);
    const direct = analyzeOnnxFile(exported);
    assert.deepEqual(Object.keys(out).slice(0, 1), ['file']);
    for (const key of ['inputs', 'outputs', 'params', 'macs', 'sizeBytes', 'fp32Bytes', 'nodes', 'unsupported'] as const) assert.deepEqual(out[key], direct[key], key);
    assert.deepEqual(Object.keys(out.nodes[0]), ['name', 'opType', 'inputs', 'outputs', 'outputShapes', 'params', 'macs']);
    assert.equal(out.sizeBytes, fs.statSync(exported).size);
    const text = cli(['inspect', '--model', exported]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /inputs +input {2}float32 {2}1x3x160x160/);
    assert.match(text.stdout, new RegExp(`params +${direct.params} `));
    assert.match(text.stdout, new RegExp(`MACs +${direct.macs} `));
    assert.match(text.stdout, /top nodes by MACs\n(.*\n){2}blocks\./);
    const partial = cli(['inspect', '--model', dynamicFile, '--input-shape', 'x:1x3x8x8', '--allow-unknown-ops']);
    assert.equal(partial.status, 0, partial.stderr);
    assert.match(partial.stdout, /MACs +3888 \(3\.9 K\) \(partial: 1 node\(s\) not counted, see below\)/);
    assert.match(partial.stdout, /unsupported ops: DepthToSpace \(1: d2s\)/);
    const partialJson = JSON.parse(cli(['inspect', '--model', dynamicFile, '--input-shape', 'x:1x3x8x8', '--allow-unknown-ops', '--json']).stdout);
    assert.deepEqual([partialJson.partial, partialJson.unknownNodes], [true, [{ node: 'd2s', opType: 'DepthToSpace' }]]);
    assert.equal(out.partial, false);
  });

  it('reads weights from external data files beside the model; a missing one is named', () => {
    const ext = writeExternalModel(dir, 'ext');
    const json = cli(['inspect', '--model', ext.model, '--json']);
    assert.equal(json.status, 0, json.stderr);
    const a = JSON.parse(json.stdout);
    assert.equal(a.sizeBytes, fs.statSync(ext.model).size + fs.statSync(ext.data).size, 'size covers the external data');
    assert.deepEqual(a.externalData, [{ location: 'ext.data', bytes: fs.statSync(ext.data).size }]);
    assert.equal(a.params, 314);
    assert.match(cli(['inspect', '--model', ext.model]).stdout, /files .* \(model .*, external data ext\.data .*\)/);
    fs.truncateSync(ext.data, 100);
    const short = cli(['inspect', '--model', ext.model]);
    assert.equal(short.status, 2, short.stderr);
    assert.match(short.stderr, /ext\.onnx is not a valid ONNX model: tensor "conv\.w" reads bytes 0-864 of the external data file "ext\.data", which has 100/);
    fs.rmSync(ext.data);
    const missing = cli(['inspect', '--model', ext.model]);
    assert.equal(missing.status, 2, missing.stderr);
    assert.match(missing.stderr, /ext\.onnx is not a valid ONNX model: tensor "conv\.w" is stored in the external data file "ext\.data", which is missing \(looked for .*ext\.data\)/);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('ext')), ['ext.onnx'], 'nothing written beside the model');
  });

  it('exits 2 with a specific message on bad input', () => {
    const notOnnx = path.join(dir, 'arch.json');
    fs.writeFileSync(notOnnx, '{"ks": [3]}');
    const truncated = path.join(dir, 'truncated.onnx');
    fs.writeFileSync(truncated, fs.readFileSync(exported).subarray(0, 100_000));
    const cases: [string[], RegExp][] = [
      [['inspect', '--model', truncated], /truncated\.onnx is not a valid ONNX model: it cannot be decoded/],
      [['inspect', '--model', notOnnx], /arch\.json is not a valid ONNX model/],
      [['inspect', '--model', path.join(dir, 'nope.onnx')], /no such file/],
      [['inspect', '--model', dynamicFile], /Input "x" .* pass its size with --input-shape x:<N>x3x<H>x<W>/],
      [['inspect', '--model', dynamicFile, '--input-shape', 'x:1x3x8x8'], /dynamic\.onnx has 1 node\(s\) of ops the analysis cannot infer shapes for or count: node "d2s" \(DepthToSpace\)\. .*pass --allow-unknown-ops/],
      [['inspect', '--arch', 'max', '--space', 'ofa-mbv3-w1.0', '--allow-unknown-ops'], /--allow-unknown-ops.*--model only/],
      [['inspect', '--model', dynamicFile, '--input-shape', 'x:1x3x8'], /Invalid --input-shape "x:1x3x8": input "x" has rank 4/],
      [['inspect', '--model', dynamicFile, '--input-shape', 'x=1x3x8x8'], /Invalid --input-shape "x=1x3x8x8"/],
      [['inspect', '--model', exported, '--arch', 'max'], /either --arch or --model/],
      [['inspect'], /--arch <arch> or --model <file\.onnx>/],
      [['inspect', '--arch', 'max', '--space', 'ofa-mbv3-w1.0', '--input-shape', 'x:1'], /--input-shape.*--model only/],
    ];
    for (const [args, message] of cases) {
      const r = cli(args);
      assert.equal(r.status, 2, `${args.join(' ')} -> ${r.status} ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  it('does not load onnxruntime', () => {
    // Reports at exit whether onnxruntime-node was loaded; `devices` (which loads it) is the control.
    const probe = path.join(dir, 'probe.js');
    fs.writeFileSync(probe, "process.on('exit', () => process.stderr.write(Object.keys(require.cache).some((k) => k.includes('onnxruntime')) ? 'ORT LOADED\\n' : 'ORT NOT LOADED\\n'));\n");
    const run = (args: string[]) => spawnSync(process.execPath, ['-r', probe, path.join(REPO, '.test-build', 'src', 'cli.js'), ...args], { encoding: 'utf8' });
    const inspect = run(['inspect', '--model', exported, '--json']);
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.match(inspect.stderr, /ORT NOT LOADED/);
    assert.match(run(['devices', '--json']).stderr, /ORT LOADED/);
  });
});
