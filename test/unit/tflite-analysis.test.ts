import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { ModelAnalysis, NodeAnalysis, analyzeOnnx } from '../../src/analysis/analyze';
import { analyzeModel, analyzeModelFile } from '../../src/analysis/model';
import { analyzeTflite, analyzeTfliteModel } from '../../src/analysis/tflite';
import { maxArch, minArch, sampleArch } from '../../src/core/arch';
import { TailorError } from '../../src/core/errors';
import { allNodes, buildIR, hasBias } from '../../src/core/ir';
import { netFromArch } from '../../src/core/net';
import { Rng } from '../../src/core/rng';
import { getSpace } from '../../src/core/space';
import { exportOnnx } from '../../src/export/onnx';
import { exportTflite } from '../../src/export/tflite';
import { seededWeights } from '../../src/export/weights';
import { TfliteModel, TfliteOperator, TfliteOptions, TfliteQuantization, TfliteTensor, TfliteTensorType } from '../../src/tflite/model';
import { readTflite } from '../../src/tflite/reader';
import { writeTflite } from '../../src/tflite/writer';
import { cli, tempDir } from '../helpers';

const volume = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
const BYTES: Partial<Record<TfliteTensorType, number>> = { float32: 4, float16: 2, int32: 4, int64: 8, int16: 2, int8: 1, uint8: 1 };

function rejects(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TailorError, `expected a TailorError, got ${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

const byName = (a: ModelAnalysis) => new Map<string, NodeAnalysis>(a.nodes.map((n) => [n.name, n]));

/** A TfliteModel by hand: tensors by name, constants filled with arbitrary bytes of the right size. */
class Builder {
  readonly tensors: TfliteTensor[] = [];
  readonly buffers: Uint8Array[] = [new Uint8Array(0)];
  readonly operators: TfliteOperator[] = [];

  tensor(name: string, shape: number[], type: TfliteTensorType = 'float32', extra: Partial<TfliteTensor> = {}): number {
    this.tensors.push({ name, shape, type, buffer: 0, ...extra });
    return this.tensors.length - 1;
  }
  constant(name: string, shape: number[], type: TfliteTensorType = 'float32', quantization?: TfliteQuantization): number {
    const data = Uint8Array.from({ length: volume(shape) * BYTES[type]! }, (_, i) => (i * 37) % 251);
    this.buffers.push(data);
    return this.tensor(name, shape, type, { buffer: this.buffers.length - 1, ...(quantization ? { quantization } : {}) });
  }
  ints(name: string, values: number[], shape = [values.length]): number {
    this.buffers.push(new Uint8Array(Int32Array.from(values).buffer));
    return this.tensor(name, shape, 'int32', { buffer: this.buffers.length - 1 });
  }
  /** An operator writing a new activation tensor called `output`. */
  op(opcode: string, inputs: number[], output: string, shape: number[], options: TfliteOptions | null = null, type: TfliteTensorType = 'float32'): number {
    const out = this.tensor(output, shape, type);
    this.operators.push({ opcode, version: 1, inputs, outputs: [out], options });
    return out;
  }
  model(inputs: number[], outputs: number[]): TfliteModel {
    return { version: 3, description: 'hand-built', subgraphs: [{ name: 'main', tensors: this.tensors, inputs, outputs, operators: this.operators }], buffers: this.buffers, metadata: {} };
  }
}

const conv = (stride: number, padding: string, act = 'NONE'): TfliteOptions => ({ padding, strideW: stride, strideH: stride, dilationWFactor: 1, dilationHFactor: 1, fusedActivationFunction: act });
const pool = (k: number, stride: number, padding = 'VALID'): TfliteOptions => ({ padding, strideW: stride, strideH: stride, filterWidth: k, filterHeight: k, fusedActivationFunction: 'NONE' });
const none = { fusedActivationFunction: 'NONE' };

/**
 * Float net: every counted op once, with its MACs worked out from the shapes (onnx-tool's unit
 * costs: mul = add = compare = 1, div = 4, exp = 32, tanh = 38 counted twice).
 */
function floatNet(): { model: TfliteModel; macs: Record<string, number>; params: Record<string, number> } {
  const b = new Builder();
  const x = b.tensor('x', [1, 32, 32, 3]);
  const c1 = b.op('CONV_2D', [x, b.constant('c1.w', [16, 3, 3, 3]), b.constant('c1.b', [16])], 'c1', [1, 16, 16, 16], conv(2, 'SAME', 'RELU6'));
  const dw = b.op('DEPTHWISE_CONV_2D', [c1, b.constant('dw.w', [1, 3, 3, 16]), b.constant('dw.b', [16])], 'dw', [1, 16, 16, 16], { ...conv(1, 'SAME', 'RELU'), depthMultiplier: 1 });
  const mp = b.op('MAX_POOL_2D', [dw], 'mp', [1, 8, 8, 16], pool(2, 2));
  const up = b.op('TRANSPOSE_CONV', [b.ints('up.shape', [1, 16, 16, 8]), b.constant('up.w', [8, 2, 2, 16]), mp, -1], 'up', [1, 16, 16, 8], null); // the output shape input says it all
  const ap = b.op('AVERAGE_POOL_2D', [up], 'ap', [1, 8, 8, 8], pool(3, 2, 'SAME'));
  const hs = b.op('HARD_SWISH', [ap], 'hs', [1, 8, 8, 8]);
  const gap = b.op('MEAN', [hs, b.ints('gap.axes', [1, 2])], 'gap', [1, 1, 1, 8], { keepDims: true });
  const add = b.op('ADD', [gap, b.constant('add.c', [8])], 'add', [1, 1, 1, 8], none);
  const sig = b.op('LOGISTIC', [add], 'sig', [1, 1, 1, 8]);
  const gate = b.op('MUL', [hs, sig], 'gate', [1, 8, 8, 8], none);
  const flat = b.op('RESHAPE', [gate, b.ints('flat.shape', [-1, 512])], 'flat', [1, 512], { newShape: [-1, 512] });
  const fc = b.op('FULLY_CONNECTED', [flat, b.constant('fc.w', [10, 512]), b.constant('fc.b', [10])], 'fc', [1, 10], { ...none, weightsFormat: 'DEFAULT', keepNumDims: false, asymmetricQuantizeInputs: false });
  const mm = b.op('BATCH_MATMUL', [fc, b.constant('mm.w', [10, 4])], 'mm', [1, 4], { adjX: false, adjY: false });
  const th = b.op('TANH', [mm], 'th', [1, 4]);
  const sub = b.op('SUB', [th, mm], 'sub', [1, 4], none);
  const div = b.op('DIV', [sub, b.constant('div.c', [])], 'div', [1, 4], none);
  const red = b.op('MEAN', [div, b.ints('red.axes', [1])], 'red', [1], { keepDims: false });
  const sm = b.op('SOFTMAX', [div], 'sm', [1, 4], { beta: 1 });
  return {
    model: b.model([x], [sm, red]),
    macs: {
      c1: 16 * 16 * 16 * 27 + 16 * 16 * 16 + 16 * 16 * 16 * 2, // conv + bias + RELU6 (Clip: 2 compares)
      dw: 16 * 16 * 16 * 9 + 16 * 16 * 16 + 16 * 16 * 16, // depthwise: out x kh x kw, + bias + RELU
      mp: 8 * 8 * 16 * 4,
      up: 16 * 16 * 8 * (8 * 2 * 2), // onnx-tool's ConvTranspose: out x (C_out x kh x kw), no bias
      ap: 8 * 8 * 8 * 9,
      hs: 8 * 8 * 8 * 5,
      gap: 8 * 8 * 8 + 8 * 4, // MEAN over H, W = GlobalAveragePool: an add per input, a div per output
      add: 8,
      sig: 8 * 32,
      gate: 512,
      flat: 0,
      fc: 10 * 512 + 10,
      mm: 4 * 10,
      th: 4 * 76,
      sub: 4,
      div: 4 * 4,
      red: 4, // another MEAN: ReduceMean's one add per input
      sm: 4 * 36,
    },
    params: { c1: 16 * 27 + 16, dw: 9 * 16 + 16, up: 8 * 4 * 16, add: 8, fc: 5120 + 10, mm: 40, div: 1 },
  };
}

/** Every tensor's batch dim dynamic (shape_signature -1), as TF writes a model with an unknown batch. */
function dynamicBatch(model: TfliteModel): TfliteModel {
  const g = model.subgraphs[0];
  const tensors = g.tensors.map((t) => (t.buffer === 0 && t.shape.length > 0 ? { ...t, shapeSignature: [-1, ...t.shape.slice(1)] } : t));
  return { ...model, subgraphs: [{ ...g, tensors }] };
}

describe('TFLite analysis: params and MACs by hand (the ONNX side\'s conventions)', () => {
  it('counts every op of a float net as its ONNX counterpart, weights once at their first reader', () => {
    const { model, macs, params } = floatNet();
    const bytes = writeTflite(model);
    const a = analyzeTflite(bytes, { file: 'net.tflite' });
    assert.equal(a.format, 'tflite');
    assert.equal(a.opset, 3);
    assert.equal(a.producer, 'hand-built');
    assert.deepEqual(a.inputs, [{ name: 'x', dtype: 'float32', shape: [1, 32, 32, 3] }]);
    assert.deepEqual(a.outputs, [{ name: 'sm', dtype: 'float32', shape: [1, 4] }, { name: 'red', dtype: 'float32', shape: [1] }]);
    const n = byName(a);
    for (const [name, m] of Object.entries(macs)) assert.equal(n.get(name)!.macs, m, name);
    for (const node of a.nodes) assert.equal(node.params, params[node.name] ?? 0, node.name);
    const total = Object.values(params).reduce((s, p) => s + p, 0);
    assert.equal(a.params, total, 'shapes, axes and the output shape are settings, not weights');
    assert.equal(a.macs, Object.values(macs).reduce((s, m) => s + m, 0));
    assert.equal(a.sizeBytes, bytes.length);
    assert.equal(a.fp32Bytes, total * 4);
    assert.deepEqual(a.weightBytes, { total: total * 4, byType: { float32: total * 4 } });
    assert.deepEqual(n.get('c1')!.inputs, ['x', 'c1.w', 'c1.b']);
    assert.deepEqual(n.get('up')!.inputs, ['up.shape', 'up.w', 'mp', ''], 'an omitted bias is an empty name');
    assert.deepEqual(a.unsupported, []);
    assert.deepEqual(a.unresolved, []);
  });

  it('infers every shape from --input-shape when the batch is dynamic, and checks them against the model', () => {
    const { model } = floatNet();
    const fixed = analyzeTfliteModel(model, 0);
    const dynamic = writeTflite(dynamicBatch(model));
    rejects(() => analyzeTflite(dynamic, { file: 'net.tflite' }), 'MISSING_INPUT_SHAPE', /Input "x" of net\.tflite has a dynamic shape \(\?x32x32x3\); pass its size with --input-shape x:<dim0>x32x32x3/);
    // batch 1: the shapes the converter stored, recomputed
    const one = analyzeTflite(dynamic, { inputShapes: { x: [1, 32, 32, 3] } });
    assert.deepEqual(one.nodes.map((n) => n.outputShapes), fixed.nodes.map((n) => n.outputShapes));
    assert.equal(one.macs, fixed.macs);
    // batch 3: every op scales with the batch, weights do not (TRANSPOSE_CONV's output shape is a constant: set for batch 3)
    const batch3 = dynamicBatch(model);
    batch3.buffers[batch3.subgraphs[0].tensors.find((t) => t.name === 'up.shape')!.buffer] = new Uint8Array(Int32Array.of(3, 16, 16, 8).buffer);
    const three = analyzeTflite(writeTflite(batch3), { inputShapes: { x: [3, 32, 32, 3] } });
    assert.deepEqual(three.nodes.find((n) => n.name === 'fc')!.outputShapes, [[3, 10]]);
    assert.equal(three.macs, 3 * fixed.macs);
    assert.equal(three.params, fixed.params);
    rejects(() => analyzeTflite(dynamic, { inputShapes: { x: [3, 32, 32] } }), 'INVALID_INPUT_SHAPE', /input "x" has rank 4 \(\?x32x32x3\), not 3/);
    rejects(() => analyzeTflite(dynamic, { inputShapes: { x: [3, 16, 32, 3] } }), 'INVALID_INPUT_SHAPE', /fixed size 32 at axis 1/);
    rejects(() => analyzeTflite(dynamic, { inputShapes: { x: [1, 32, 32, 3], image: [1] } }), 'INVALID_INPUT_SHAPE', /no input "image" \(inputs: x\)/);
    // a shape the model declares that the ops do not give is a broken model
    const wrong = dynamicBatch(model);
    wrong.subgraphs[0].tensors.find((t) => t.name === 'mp')!.shapeSignature = [-1, 9, 8, 16];
    rejects(() => analyzeTflite(writeTflite(wrong), { inputShapes: { x: [1, 32, 32, 3] } }), 'INVALID_TFLITE', /operator 2 "mp" \(MAX_POOL_2D\): output 0 has shape \[1, 8, 8, 16\], but the model declares \[-1, 9, 8, 16\]/);
  });

  it('follows the shape ops: pad, slices, splits, concat, transpose, squeeze, resizes, gather, quantize', () => {
    const b = new Builder();
    const x = b.tensor('x', [1, 6, 6, 4], 'float32', { shapeSignature: [-1, 6, 6, 4] });
    const sig = (t: number, s: number[]) => (b.tensors[t].shapeSignature = s);
    const padded = b.op('PAD', [x, b.ints('p', [0, 0, 1, 1, 1, 1, 0, 0], [4, 2])], 'padded', [1, 8, 8, 4]);
    const sliced = b.op('STRIDED_SLICE', [padded, b.ints('sb', [0, 0, 0, 1]), b.ints('se', [0, 8, 8, 3]), b.ints('ss', [1, 2, 2, 1])], 'sliced', [1, 4, 4, 2], { beginMask: 1, endMask: 1, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0, offset: false });
    const halves = [b.tensor('h0', [1, 4, 4, 1]), b.tensor('h1', [1, 4, 4, 1])];
    b.operators.push({ opcode: 'SPLIT', version: 1, inputs: [b.ints('axis', [3], []), sliced], outputs: halves, options: { numSplits: 2 } });
    const cat = b.op('CONCATENATION', [halves[1], halves[0], halves[1]], 'cat', [1, 4, 4, 3], { axis: -1, fusedActivationFunction: 'RELU' });
    const up = b.op('RESIZE_BILINEAR', [cat, b.ints('size', [8, 8])], 'up', [1, 8, 8, 3], { alignCorners: false, halfPixelCenters: true });
    const near = b.op('RESIZE_NEAREST_NEIGHBOR', [up, b.ints('size2', [16, 16])], 'near', [1, 16, 16, 3], { alignCorners: false, halfPixelCenters: false });
    const tr = b.op('TRANSPOSE', [near, b.ints('perm', [0, 3, 1, 2])], 'tr', [1, 3, 16, 16]);
    const row = b.op('STRIDED_SLICE', [tr, b.ints('rb', [0, 1]), b.ints('re', [1, 2]), b.ints('rs', [1, 1])], 'row', [1, 16, 16], { beginMask: 1, endMask: 1, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 2, offset: false });
    const q = b.op('QUANTIZE', [row], 'q', [1, 16, 16], null, 'int8');
    const dq = b.op('DEQUANTIZE', [q], 'dq', [1, 16, 16]);
    const emb = b.op('GATHER', [b.constant('table', [5, 7]), b.ints('idx', [4, 0, 2])], 'emb', [3, 7], { axis: 0, batchDims: 0 });
    const sq = b.op('SQUEEZE', [halves[0]], 'sq', [1, 4, 4], { squeezeDims: [3] });
    for (const t of [padded, sliced, ...halves, cat, up, near, tr, row, q, dq, sq]) sig(t, [-1, ...b.tensors[t].shape.slice(1)]);
    const model = b.model([x], [dq, emb, sq]);
    const expected: Record<string, { shape: number[]; macs: number }> = {
      padded: { shape: [1, 8, 8, 4], macs: 0 },
      sliced: { shape: [1, 4, 4, 2], macs: 0 },
      h0: { shape: [1, 4, 4, 1], macs: 0 },
      cat: { shape: [1, 4, 4, 3], macs: 48 }, // the fused RELU
      up: { shape: [1, 8, 8, 3], macs: 192 * 4 }, // bilinear: 4 per output
      near: { shape: [1, 16, 16, 3], macs: 0 },
      tr: { shape: [1, 3, 16, 16], macs: 0 },
      row: { shape: [1, 16, 16], macs: 0 },
      q: { shape: [1, 16, 16], macs: 0 }, // (de)quantize: free, as Cast
      dq: { shape: [1, 16, 16], macs: 0 },
      emb: { shape: [3, 7], macs: 0 },
      sq: { shape: [1, 4, 4], macs: 0 },
    };
    const fixed = analyzeTfliteModel(model, 0, { inputShapes: { x: [1, 6, 6, 4] } });
    for (const [name, e] of Object.entries(expected)) {
      const node = fixed.nodes.find((n) => n.name === name)!;
      assert.deepEqual(node.outputShapes[0], e.shape, name);
      assert.equal(node.macs, e.macs, name);
    }
    assert.equal(fixed.params, 35, 'the GATHER table is a weight; indices, paddings, sizes and axes are not');
    const two = analyzeTfliteModel(model, 0, { inputShapes: { x: [2, 6, 6, 4] } });
    assert.deepEqual(two.nodes.find((n) => n.name === 'row')!.outputShapes, [[2, 16, 16]]);
    assert.equal(two.macs, 2 * fixed.macs);
  });
});

/** QUANTIZE -> int8 CONV_2D (per-channel scales, int32 bias) -> int8 DEPTHWISE_CONV_2D -> int8 FULLY_CONNECTED -> DEQUANTIZE. */
function int8Net(): TfliteModel {
  const b = new Builder();
  const perChannel = (n: number, dim: number): TfliteQuantization => ({ scale: Array.from({ length: n }, (_, i) => 0.01 * (i + 1)), zeroPoint: Array(n).fill(0), quantizedDimension: dim });
  const act = { scale: [0.05], zeroPoint: [-128], quantizedDimension: 0 };
  const x = b.tensor('x', [1, 16, 16, 3]);
  const q = b.op('QUANTIZE', [x], 'xq', [1, 16, 16, 3], null, 'int8');
  const c = b.op('CONV_2D', [q, b.constant('conv.w', [8, 3, 3, 3], 'int8', perChannel(8, 0)), b.constant('conv.b', [8], 'int32', perChannel(8, 0))], 'conv', [1, 8, 8, 8], conv(2, 'SAME', 'RELU6'), 'int8');
  const d = b.op('DEPTHWISE_CONV_2D', [c, b.constant('dw.w', [1, 3, 3, 8], 'int8', perChannel(8, 3)), b.constant('dw.b', [8], 'int32', perChannel(8, 0))], 'dw', [1, 8, 8, 8], { ...conv(1, 'SAME'), depthMultiplier: 1 }, 'int8');
  const f = b.op('FULLY_CONNECTED', [d, b.constant('fc.w', [10, 512], 'int8', act), b.constant('fc.b', [10], 'int32', act)], 'fc', [1, 10], { ...none, weightsFormat: 'DEFAULT', keepNumDims: false, asymmetricQuantizeInputs: false }, 'int8');
  const y = b.op('DEQUANTIZE', [f], 'y', [1, 10]);
  for (const t of b.tensors) if (t.type === 'int8' && t.buffer === 0) t.quantization = act;
  return b.model([x], [y]);
}

describe('TFLite analysis: quantized models', () => {
  it('int8: params count elements, int32 biases included; stored bytes by type; MACs as float', () => {
    const bytes = writeTflite(int8Net());
    const a = analyzeTflite(bytes);
    const n = byName(a);
    const out = 8 * 8 * 8;
    assert.deepEqual(a.nodes.map((x) => [x.name, x.opType, x.params, x.macs]), [
      ['xq', 'QUANTIZE', 0, 0],
      ['conv', 'CONV_2D', 8 * 27 + 8, out * 27 + out + out * 2],
      ['dw', 'DEPTHWISE_CONV_2D', 9 * 8 + 8, out * 9 + out],
      ['fc', 'FULLY_CONNECTED', 10 * 512 + 10, 10 * 512 + 10],
      ['y', 'DEQUANTIZE', 0, 0],
    ]);
    const params = 8 * 27 + 8 + 9 * 8 + 8 + 5120 + 10;
    assert.equal(a.params, params);
    assert.equal(a.fp32Bytes, params * 4);
    assert.equal(a.sizeBytes, bytes.length);
    const int8 = 8 * 27 + 9 * 8 + 5120;
    const int32 = (8 + 8 + 10) * 4;
    assert.deepEqual(a.weightBytes, { total: int8 + int32, byType: { int8, int32 } });
    assert.deepEqual(a.outputs, [{ name: 'y', dtype: 'float32', shape: [1, 10] }]);
    assert.deepEqual(n.get('conv')!.outputShapes, [[1, 8, 8, 8]]);

    // the same net in float32 counts the same MACs and params, stored in 4 bytes each
    const float = int8Net();
    const g = float.subgraphs[0];
    g.operators = g.operators.filter((op) => op.opcode !== 'QUANTIZE' && op.opcode !== 'DEQUANTIZE');
    g.operators[0].inputs[0] = 0;
    g.outputs = [g.tensors.findIndex((t) => t.name === 'fc')];
    g.tensors = g.tensors.map((t) => ({ ...t, type: 'float32' as const, quantization: undefined }));
    float.buffers = float.buffers.map((buf) => new Uint8Array(buf.length * (buf.length && [8 * 27, 72, 5120].includes(buf.length) ? 4 : 1)));
    const f = analyzeTflite(writeTflite(float));
    assert.equal(f.macs, a.macs);
    assert.equal(f.params, a.params);
    assert.equal(f.weightBytes!.total, params * 4);
  });

  it('float16 weights behind DEQUANTIZE count once, at the DEQUANTIZE that reads them', () => {
    const b = new Builder();
    const x = b.tensor('x', [1, 4, 4, 2]);
    const w = b.op('DEQUANTIZE', [b.constant('w16', [3, 1, 1, 2], 'float16')], 'w', [3, 1, 1, 2]);
    const y = b.op('CONV_2D', [x, w, b.constant('b', [3])], 'y', [1, 4, 4, 3], conv(1, 'VALID'));
    const a = analyzeTfliteModel(b.model([x], [y]), 1);
    assert.deepEqual(a.nodes.map((n) => [n.name, n.params, n.macs]), [['w', 6, 0], ['y', 3, 48 * 2 + 48]]);
    assert.deepEqual(a.weightBytes, { total: 12 + 12, byType: { float16: 12, float32: 12 } });
  });
});

describe('TFLite analysis: unsupported ops and invalid files', () => {
  function withUnknownOps(dynamic: boolean): TfliteModel {
    const b = new Builder();
    const x = b.tensor('x', [1, 8, 8, 4], 'float32', dynamic ? { shapeSignature: [-1, 8, 8, 4] } : {});
    const n = b.op('L2_NORMALIZATION', [x], 'norm', [1, 8, 8, 4]);
    const c = b.op('CUSTOM:MySwish', [n], 'swish', [1, 8, 8, 4]);
    const r = b.op('RELU', [c], 'relu', [1, 8, 8, 4]);
    if (dynamic) for (const t of b.tensors) t.shapeSignature = [-1, ...t.shape.slice(1)];
    return b.model([x], [r]);
  }

  it('refuses unknown ops by name unless allowed; then lists them and counts the rest (stored shapes reach past them)', () => {
    rejects(() => analyzeTflite(writeTflite(withUnknownOps(false)), { file: 'm.tflite' }), 'UNKNOWN_OP',
      /^m\.tflite has 2 node\(s\) of ops the analysis cannot infer shapes for or count: node "norm" \(L2_NORMALIZATION\), node "swish" \(CUSTOM:MySwish\)\. .*pass --allow-unknown-ops/);
    const a = analyzeTflite(writeTflite(withUnknownOps(false)), { allowUnknownOps: true });
    assert.deepEqual([a.partial, a.unknownNodes], [true, [{ node: 'norm', opType: 'L2_NORMALIZATION' }, { node: 'swish', opType: 'CUSTOM:MySwish' }]]);
    assert.deepEqual(a.unsupported, [{ opType: 'L2_NORMALIZATION', nodes: ['norm'] }, { opType: 'CUSTOM:MySwish', nodes: ['swish'] }]);
    assert.deepEqual(a.nodes.map((n) => [n.name, n.macs, n.note ?? null]), [
      ['norm', null, 'unsupported op L2_NORMALIZATION'],
      ['swish', null, 'unsupported op CUSTOM:MySwish'],
      ['relu', 256, null],
    ]);
    assert.equal(a.macs, 256);
    assert.deepEqual(a.unresolved, []);
  });

  it('with dynamic shapes, what follows an unknown op has no shape and no MACs', () => {
    const a = analyzeTflite(writeTflite(withUnknownOps(true)), { inputShapes: { x: [2, 8, 8, 4] }, allowUnknownOps: true });
    assert.deepEqual(a.unresolved, [{ node: 'relu', reason: 'depends on unsupported CUSTOM:MySwish operator "swish"' }]);
    assert.deepEqual(a.outputs, [{ name: 'relu', dtype: 'float32', shape: null }]);
    assert.equal(a.macs, 0);
  });

  it('refuses empty, random, truncated and inconsistent files with INVALID_TFLITE and the reason', () => {
    const bytes = writeTflite(int8Net());
    rejects(() => analyzeTflite(new Uint8Array(0), { file: 'm.tflite' }), 'INVALID_TFLITE', /^m\.tflite is not a valid TFLite model: the file is empty/);
    const rng = new Rng(5);
    const random = Uint8Array.from({ length: 4096 }, () => Math.floor(rng.float() * 256));
    rejects(() => analyzeTflite(random, { file: 'm.tflite' }), 'INVALID_TFLITE', /m\.tflite is not a valid TFLite model: it carries file identifier/);
    random.set([0x54, 0x46, 0x4c, 0x33], 4); // random bytes behind a valid identifier
    rejects(() => analyzeTflite(random, { file: 'm.tflite' }), 'INVALID_TFLITE', /m\.tflite is not a valid TFLite model/);
    for (const cut of [0.1, 0.5, 0.9, 0.99])
      rejects(() => analyzeTflite(bytes.subarray(0, Math.floor(bytes.length * cut)), { file: 'm.tflite' }), 'INVALID_TFLITE', /m\.tflite is not a valid TFLite model: /);

    const short = int8Net();
    short.buffers[1] = short.buffers[1].subarray(0, 100);
    rejects(() => analyzeTflite(writeTflite(short)), 'INVALID_TFLITE', /constant tensor 2 "conv\.w" holds 100 bytes, but its shape \[8, 3, 3, 3\] of int8 needs 216/);
    const dangling = int8Net();
    dangling.subgraphs[0].operators.splice(0, 1); // nothing writes the quantized input any more
    rejects(() => analyzeTflite(writeTflite(dangling)), 'INVALID_TFLITE', /operator 0 "conv" \(CONV_2D\) reads tensor 1 "xq", which no earlier operator, input or constant provides/);
    const channels = dynamicBatch(int8Net());
    channels.subgraphs[0].tensors[1].shape = [1, 16, 16, 4];
    channels.subgraphs[0].tensors[1].shapeSignature = [-1, 16, 16, 4];
    channels.subgraphs[0].tensors[0].shape = [1, 16, 16, 4];
    channels.subgraphs[0].tensors[0].shapeSignature = [-1, 16, 16, 4];
    rejects(() => analyzeTflite(writeTflite(channels), { inputShapes: { x: [1, 16, 16, 4] } }), 'INVALID_TFLITE', /operator 1 "conv" \(CONV_2D\): input has 4 channels, which filter \[8, 3, 3, 3\] cannot split into groups/);
  });

  it('analyzeModel picks the format by content, not by name', () => {
    const tflite = writeTflite(int8Net());
    assert.equal(analyzeModel(tflite, { file: 'renamed.onnx' }).format, 'tflite');
    rejects(() => analyzeModel(new TextEncoder().encode('not a model at all'), { file: 'm.onnx' }), 'INVALID_ONNX', /m\.onnx is not a valid ONNX model/);
    rejects(() => analyzeModel(new TextEncoder().encode('not a model at all'), { file: 'm.tflite' }), 'INVALID_TFLITE', /m\.tflite is not a valid TFLite model: it carries file identifier/);
    rejects(() => analyzeModelFile('/nonexistent/m.tflite'), 'INVALID_TFLITE', /no such file/);
  });
});

describe('TFLite analysis of Tailor\'s own exports agrees with the ONNX analysis of the same subnet', () => {
  const w10 = getSpace('ofa-mbv3-w1.0');
  const archs = [maxArch(w10, 224), minArch(w10, 128), { ...sampleArch(w10, new Rng(3)), r: 176 }];

  it('params and MACs: equal for every conv and the linear layer; the totals differ only by the export\'s helpers', () => {
    for (const arch of archs) {
      const ir = buildIR(netFromArch(w10, arch));
      const onnxA = analyzeOnnx(exportOnnx(ir, { weights: seededWeights(2) }));
      const bytes = exportTflite(ir, { weights: seededWeights(2) });
      const a = analyzeTflite(bytes);
      assert.deepEqual([a.unsupported, a.unresolved], [[], []]);

      // Conv/Gemm MACs alike, once the TFLite export's zero bias (it gives every conv one) is set aside.
      const onnxNodes = byName(onnxA);
      const ops = readTflite(bytes).subgraphs[0].operators;
      const actCost: Record<string, number> = { NONE: 0, RELU: 1, RELU6: 2 };
      let onnxConvMacs = 0;
      let tfliteConvMacs = 0;
      let missingBiases = { params: 0, macs: 0 };
      let hsigmoids = { params: 0, macs: 0 };
      for (const node of allNodes(ir)) {
        if (node.op !== 'conv' && node.op !== 'linear') continue;
        onnxConvMacs += onnxNodes.get(node.name)!.macs!;
        const out = node.op === 'conv' ? volume(node.outShape) : node.outFeatures;
        if (!hasBias(node)) missingBiases = { params: missingBiases.params + (node as { outChannels: number }).outChannels, macs: missingBiases.macs + out };
        if (node.op === 'conv' && node.act === 'h_sigmoid') hsigmoids = { params: hsigmoids.params + 1, macs: hsigmoids.macs + out };
      }
      a.nodes.forEach((n, i) => {
        if (!['CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED'].includes(n.opType)) return;
        tfliteConvMacs += n.macs! - volume(n.outputShapes[0]!) * actCost[String(ops[i].options!.fusedActivationFunction)];
      });
      assert.equal(tfliteConvMacs, onnxConvMacs + missingBiases.macs);

      // Totals. The TFLite export writes h_sigmoid as relu6(conv + 3) x 1/6: the +3 folded into the
      // bias, RELU6 fused (2 per element), a MUL by a scalar 1/6 (1 per element, 1 param), where ONNX's
      // HardSigmoid costs 4 per element. Every other op costs the same on both sides (MEAN over H, W
      // as GlobalAveragePool, fused RELU/RELU6 as Relu/Clip, PAD and RESHAPE free).
      assert.equal(a.params, onnxA.params + missingBiases.params + hsigmoids.params);
      assert.equal(a.macs, onnxA.macs + missingBiases.macs - hsigmoids.macs);
      assert.equal(a.fp32Bytes, a.params * 4);
      assert.deepEqual(a.weightBytes, { total: a.params * 4, byType: { float32: a.params * 4 } });
    }
  });
});

describe('tailor inspect --model x.tflite', () => {
  const dir = tempDir();
  const file = path.join(dir, 'net.tflite');
  fs.writeFileSync(file, writeTflite(int8Net()));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prints the analysis as JSON and the stored weight bytes in the summary', () => {
    const json = cli(['inspect', '--model', file, '--json']);
    assert.equal(json.status, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), JSON.parse(JSON.stringify(analyzeModelFile(file))));
    const out = JSON.parse(json.stdout);
    assert.equal(out.format, 'tflite');
    assert.deepEqual(out.weightBytes, { total: 5512, byType: { int8: 5408, int32: 104 } });
    const text = cli(['inspect', '--model', file]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^model +.*net\.tflite \(TFLite schema 3, hand-built\)/);
    assert.match(text.stdout, /stored +weights 5\.4 KiB \(int8 5\.3 KiB, int32 104 B\)/);
    const missing = cli(['inspect', '--model', path.join(dir, 'missing.tflite')]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /missing\.tflite is not a valid TFLite model: no such file/);
  });
});
