import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Builder, ByteBuffer } from 'flatbuffers';
import { onnx } from 'onnx-proto';
import { sampleArch } from '../../src/core/arch';
import { resolveArch } from '../../src/core/arch-source';
import { TailorError } from '../../src/core/errors';
import { ConvNode, IrNode, ModelIR, allNodes, buildIR } from '../../src/core/ir';
import { netFromArch, resnetNet } from '../../src/core/net';
import { Rng } from '../../src/core/rng';
import { getSpace } from '../../src/core/space';
import { exportOnnx } from '../../src/export/onnx';
import { exportPiecesTflite, exportTflite } from '../../src/export/tflite';
import { seededWeights } from '../../src/export/weights';
import { TfliteModel, TfliteSubgraph } from '../../src/tflite/model';
import { readTflite } from '../../src/tflite/reader';
import { writeTflite } from '../../src/tflite/writer';
import { OFA, cli, tempDir } from '../helpers';

const f32 = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);
const i32 = (...v: number[]) => new Uint8Array(Int32Array.from(v).buffer);
const activation = { fusedActivationFunction: 'NONE' };

/** A small model with most of what the format carries: options of several tables, int8 per-channel, metadata, a code > 127. */
function handBuilt(): TfliteModel {
  const graph: TfliteSubgraph = {
    name: 'main',
    tensors: [
      { name: 'input', shape: [1, 8, 8, 3], shapeSignature: [-1, 8, 8, 3], type: 'float32', buffer: 0 },
      { name: 'conv.weight', shape: [2, 3, 3, 3], type: 'int8', buffer: 1, quantization: { scale: [0.5, 0.25], zeroPoint: [0, -3], quantizedDimension: 0, min: [-1, -2], max: [1, 2] } },
      { name: 'conv.bias', shape: [2], type: 'int32', buffer: 2, quantization: { scale: [0.125, 0.0625], zeroPoint: [0, 0], quantizedDimension: 0 } },
      { name: 'conv', shape: [1, 8, 8, 2], type: 'float32', buffer: 0 },
      { name: 'dw.weight', shape: [1, 3, 3, 2], type: 'float32', buffer: 3 },
      { name: 'dw', shape: [1, 4, 4, 2], type: 'float32', buffer: 0 },
      { name: 'mean.axes', shape: [2], type: 'int32', buffer: 4 },
      { name: 'mean', shape: [1, 1, 1, 2], type: 'float32', buffer: 0 },
      { name: 'flat', shape: [1, 2], type: 'float32', buffer: 0 },
      { name: 'gelu', shape: [1, 2], type: 'float32', buffer: 0 },
      { name: 'state', shape: [1, 2], type: 'float32', buffer: 5, isVariable: true },
      { name: 'sum', shape: [1, 2], type: 'float32', buffer: 0 },
      { name: 'custom', shape: [1, 2], type: 'float32', buffer: 0 },
      { name: 'probs', shape: [1, 2], type: 'float32', buffer: 0 },
    ],
    inputs: [0],
    outputs: [13],
    operators: [
      {
        opcode: 'CONV_2D', version: 3, inputs: [0, 1, 2], outputs: [3],
        options: { padding: 'SAME', strideW: 1, strideH: 1, fusedActivationFunction: 'RELU6', dilationWFactor: 1, dilationHFactor: 1, quantizedBiasType: 'INT32' },
      },
      {
        opcode: 'DEPTHWISE_CONV_2D', version: 1, inputs: [3, 4, -1], outputs: [5],
        options: { padding: 'VALID', strideW: 2, strideH: 2, depthMultiplier: 1, fusedActivationFunction: 'RELU', dilationWFactor: 1, dilationHFactor: 1 },
      },
      { opcode: 'MEAN', version: 1, inputs: [5, 6], outputs: [7], options: { keepDims: true } },
      { opcode: 'RESHAPE', version: 1, inputs: [7], outputs: [8], options: { newShape: [1, 2] } },
      { opcode: 'GELU', version: 1, inputs: [8], outputs: [9], options: { approximate: true } },
      { opcode: 'ADD', version: 1, inputs: [9, 10], outputs: [11], options: { ...activation, potScaleInt16: false } },
      { opcode: 'CUSTOM:MyOp', version: 1, inputs: [11], outputs: [12], options: null },
      { opcode: 'HARD_SWISH', version: 1, inputs: [12], outputs: [12], options: null },
      { opcode: 'ADD', version: 2, inputs: [12, 12], outputs: [12], options: { ...activation, potScaleInt16: true } },
      { opcode: 'ADD', version: 1, inputs: [12, 12], outputs: [12], options: { fusedActivationFunction: 'TANH', potScaleInt16: true } },
      { opcode: 'SOFTMAX', version: 1, inputs: [12], outputs: [13], options: { beta: 0.5 } },
      { opcode: 'TRANSPOSE', version: 1, inputs: [13, 6], outputs: [13], options: {} },
      { opcode: 'STRIDED_SLICE', version: 1, inputs: [13, 6, 6, 6], outputs: [13], options: { beginMask: 1, endMask: 2, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 4, offset: false } },
      { opcode: 'RESIZE_BILINEAR', version: 1, inputs: [13, 6], outputs: [13], options: { alignCorners: false, halfPixelCenters: true } },
    ],
  };
  return {
    version: 3,
    description: 'hand-built',
    subgraphs: [graph, { name: 'second', tensors: [{ name: 'x', shape: [], type: 'float32', buffer: 0 }], inputs: [0], outputs: [0], operators: [] }],
    buffers: [new Uint8Array(0), new Uint8Array(54).fill(7), i32(1, -2), f32(...Array.from({ length: 18 }, (_, i) => i / 4)), i32(1, 2), f32(0, 0)],
    metadata: { weights: new TextEncoder().encode('random (seed 1)'), empty: new Uint8Array(0) },
  };
}

/** Operator codes and buffer data positions as stored, read with flatbuffers' own accessors (not our reader). */
function rawLayout(bytes: Uint8Array): { codes: { deprecated: number; builtin: number; version: number }[]; dataStarts: number[] } {
  const bb = new ByteBuffer(bytes);
  const root = bb.readInt32(0);
  const vector = (table: number, slot: number) => {
    const o = bb.__offset(table, 4 + 2 * slot);
    return o ? { start: bb.__vector(table + o), length: bb.__vector_len(table + o) } : { start: 0, length: 0 };
  };
  const tables = (table: number, slot: number) => {
    const v = vector(table, slot);
    return Array.from({ length: v.length }, (_, i) => bb.__indirect(v.start + 4 * i));
  };
  const scalar = (table: number, slot: number, read: (at: number) => number, def: number) => {
    const o = bb.__offset(table, 4 + 2 * slot);
    return o ? read(table + o) : def;
  };
  return {
    codes: tables(root, 1).map((c) => ({
      deprecated: scalar(c, 0, (at) => bb.readInt8(at), 0),
      builtin: scalar(c, 3, (at) => bb.readInt32(at), 0),
      version: scalar(c, 2, (at) => bb.readInt32(at), 1),
    })),
    dataStarts: tables(root, 4).map((b) => vector(b, 0)).filter((v) => v.length > 0).map((v) => v.start),
  };
}

function assertInvalid(bytes: Uint8Array, reason?: RegExp): void {
  assert.throws(() => readTflite(bytes, 'bad.tflite'), (e: unknown) => {
    assert.ok(e instanceof TailorError, `expected a TailorError, got ${String(e)}`);
    assert.equal(e.code, 'INVALID_TFLITE', e.message);
    assert.match(e.message, /^bad\.tflite is not a valid TFLite model: /);
    if (reason) assert.match(e.message, reason);
    return true;
  });
}

describe('TFLite writer and reader', () => {
  it('round-trips a hand-built model exactly', () => {
    const model = handBuilt();
    const bytes = writeTflite(model);
    assert.equal(new TextDecoder().decode(bytes.subarray(4, 8)), 'TFL3');
    assert.deepStrictEqual(readTflite(bytes), model);
    // writing what was read gives the same file
    assert.deepStrictEqual(writeTflite(readTflite(bytes)), bytes);
  });

  it('shares operator codes by opcode and version, sets both code fields, aligns buffer data to 16 bytes', () => {
    const { codes, dataStarts } = rawLayout(writeTflite(handBuilt()));
    // CONV_2D v3, DEPTHWISE v1, MEAN, RESHAPE, GELU, ADD v1, CUSTOM, HARD_SWISH, ADD v2, SOFTMAX, TRANSPOSE, STRIDED_SLICE, RESIZE_BILINEAR
    assert.equal(codes.length, 13);
    assert.deepEqual(codes[0], { deprecated: 3, builtin: 3, version: 3 });
    assert.deepEqual(codes[4], { deprecated: 127, builtin: 150, version: 1 }, 'GELU: deprecated_builtin_code is capped at PLACEHOLDER_FOR_GREATER_OP_CODES');
    assert.deepEqual(codes.filter((c) => c.builtin === 0).map((c) => c.version), [1, 2]);
    assert.ok(dataStarts.length >= 6);
    for (const start of dataStarts) assert.equal(start % 16, 0, `buffer data at ${start}`);
  });

  it('fills schema defaults on read and names ops without a known options table', () => {
    const model = handBuilt();
    model.subgraphs[0].operators = [
      { opcode: 'CONV_2D', version: 1, inputs: [0, 1, 2], outputs: [3], options: { padding: 'VALID', strideW: 2, strideH: 2 } },
      { opcode: 'FULLY_CONNECTED', version: 1, inputs: [8, 1, 2], outputs: [9], options: {} },
      { opcode: 'ADD', version: 1, inputs: [9, 9], outputs: [11], options: {} },
      { opcode: 'LOGISTIC', version: 1, inputs: [11], outputs: [12], options: null },
      { opcode: 'STABLEHLO_COMPOSITE', version: 1, inputs: [12], outputs: [13], options: null },
    ];
    const ops = readTflite(writeTflite(model)).subgraphs[0].operators;
    assert.deepEqual(ops[0].options, { padding: 'VALID', strideW: 2, strideH: 2, fusedActivationFunction: 'NONE', dilationWFactor: 1, dilationHFactor: 1, quantizedBiasType: 'FLOAT32' });
    assert.deepEqual(ops[1].options, { fusedActivationFunction: 'NONE', weightsFormat: 'DEFAULT', keepNumDims: false, asymmetricQuantizeInputs: false, quantizedBiasType: 'FLOAT32' });
    assert.deepEqual(ops[2].options, { fusedActivationFunction: 'NONE', potScaleInt16: true });
    assert.deepEqual(ops.slice(3).map((o) => [o.opcode, o.options]), [['LOGISTIC', null], ['STABLEHLO_COMPOSITE', null]]);
  });

  it('refuses to write unknown opcodes, option fields and bad values', () => {
    const cases: [(m: TfliteModel) => void, RegExp][] = [
      [(m) => { m.subgraphs[0].operators[0].opcode = 'CONV_4D'; }, /unknown builtin operator "CONV_4D"/],
      [(m) => { m.subgraphs[0].operators[0].options!.strideX = 1; }, /Conv2DOptions has no field "strideX"/],
      [(m) => { m.subgraphs[0].operators[0].options!.padding = 'FULL'; }, /padding must be one of SAME, VALID/],
      [(m) => { m.subgraphs[0].operators[6].options = { x: 1 }; }, /no builtin options table for CUSTOM:MyOp/],
      [(m) => { m.subgraphs[0].operators[0].inputs = [0, 1, 99]; }, /tensor index 99/],
      [(m) => { m.subgraphs[0].tensors[1].buffer = 42; }, /buffer 42/],
      [(m) => { m.buffers[0] = new Uint8Array(1); }, /buffers\[0\] must exist and be empty/],
    ];
    for (const [mutate, message] of cases) {
      const model = handBuilt();
      mutate(model);
      assert.throws(() => writeTflite(model), (e: unknown) => e instanceof TailorError && e.code === 'TFLITE_EXPORT' && message.test(e.message));
    }
  });
});

describe('TFLite reader on bad input', () => {
  const good = writeTflite(handBuilt());

  it('refuses empty, short and foreign files with a specific reason', () => {
    assertInvalid(new Uint8Array(0), /the file is empty/);
    assertInvalid(new Uint8Array(5), /only 5 bytes/);
    const wrongId = good.slice();
    wrongId.set(new TextEncoder().encode('XXXX'), 4);
    assertInvalid(wrongId, /it carries file identifier "XXXX", not "TFL3"/);
    const ir = buildIR(netFromArch(getSpace('ofa-mbv3-tiny'), sampleArch(getSpace('ofa-mbv3-tiny'), new Rng(1))));
    assertInvalid(exportOnnx(ir, { weights: seededWeights(1) }), /file identifier/);
  });

  it('refuses random bytes, every truncation and corrupted bytes with INVALID_TFLITE only', () => {
    const rng = new Rng(7);
    for (let n = 0; n < 200; n++) {
      const bytes = Uint8Array.from({ length: 8 + Math.floor(rng.float() * 400) }, () => Math.floor(rng.float() * 256));
      if (n % 2 === 0) bytes.set(new TextEncoder().encode('TFL3'), 4); // get past the identifier check
      assertInvalid(bytes);
    }
    for (let length = 0; length < good.length; length++) assertInvalid(good.subarray(0, length));
    // Flipped bytes may still decode to some model; they must never escape as another error.
    for (let n = 0; n < 2000; n++) {
      const bytes = good.slice();
      for (let k = 0; k < 3; k++) bytes[8 + Math.floor(rng.float() * (bytes.length - 8))] = Math.floor(rng.float() * 256);
      try {
        readTflite(bytes, 'bad.tflite');
      } catch (e) {
        assert.ok(e instanceof TailorError && e.code === 'INVALID_TFLITE', `corruption ${n}: ${String(e)}`);
      }
    }
  });

  it('refuses models without subgraphs and indices outside the model', () => {
    // Built directly with flatbuffers, slots as in schema.fbs, so the writer's own checks do not stop them.
    const build = (p: { subgraphs: boolean; tensorBuffer: number; opInput: number; opcodeIndex: number; builtinCode?: number; leakyRelu?: boolean }) => {
      const b = new Builder(256);
      const ints = (v: number[]) => { b.startVector(4, v.length, 4); [...v].reverse().forEach((x) => b.addInt32(x)); return b.endVector(); };
      const refs = (v: number[]) => { b.startVector(4, v.length, 4); [...v].reverse().forEach((x) => b.addOffset(x)); return b.endVector(); };
      b.startObject(1);
      const buffer = b.endObject();
      b.startObject(4);
      b.addFieldInt32(3, p.builtinCode ?? 0, -1); // ADD unless told
      const code = b.endObject();
      b.startObject(1);
      b.addFieldFloat32(0, 0.25, 0); // LeakyReluOptions.alpha: a table Tailor does not describe
      const leaky = b.endObject();
      const shape = ints([1]);
      const name = b.createString('t');
      b.startObject(4);
      b.addFieldOffset(0, shape, 0);
      b.addFieldInt32(2, p.tensorBuffer, 0);
      b.addFieldOffset(3, name, 0);
      const tensor = b.endObject();
      const inputs = ints([p.opInput, 0]);
      const outputs = ints([0]);
      b.startObject(5);
      b.addFieldInt32(0, p.opcodeIndex, 0);
      b.addFieldOffset(1, inputs, 0);
      b.addFieldOffset(2, outputs, 0);
      if (p.leakyRelu) {
        b.addFieldInt8(3, 75, 0);
        b.addFieldOffset(4, leaky, 0);
      }
      const op = b.endObject();
      const tensors = refs([tensor]);
      const ops = refs([op]);
      const io = ints([0]);
      b.startObject(4);
      b.addFieldOffset(0, tensors, 0);
      b.addFieldOffset(1, io, 0);
      b.addFieldOffset(2, io, 0);
      b.addFieldOffset(3, ops, 0);
      const graph = b.endObject();
      const codes = refs([code]);
      const graphs = refs(p.subgraphs ? [graph] : []);
      const buffers = refs([buffer]);
      b.startObject(5);
      b.addFieldInt32(0, 3, 0);
      b.addFieldOffset(1, codes, 0);
      b.addFieldOffset(2, graphs, 0);
      b.addFieldOffset(4, buffers, 0);
      b.finish(b.endObject(), 'TFL3');
      return b.asUint8Array().slice();
    };
    const ok = { subgraphs: true, tensorBuffer: 0, opInput: 0, opcodeIndex: 0 };
    assert.equal(readTflite(build(ok)).subgraphs[0].operators[0].opcode, 'ADD');
    assert.deepEqual(readTflite(build({ ...ok, builtinCode: 98, leakyRelu: true })).subgraphs[0].operators[0], { opcode: 'LEAKY_RELU', version: 1, inputs: [0, 0], outputs: [0], options: null });
    assert.equal(readTflite(build({ ...ok, builtinCode: 321 })).subgraphs[0].operators[0].opcode, 'BUILTIN_321', 'an op newer than the schema is still named');
    assertInvalid(build({ ...ok, subgraphs: false }), /it has no subgraphs/);
    assertInvalid(build({ ...ok, tensorBuffer: 3 }), /refers to buffer 3, but the model has 1 buffers/);
    assertInvalid(build({ ...ok, opInput: 5 }), /refers to tensor 5, but the subgraph has 1 tensors/);
    assertInvalid(build({ ...ok, opInput: -2 }), /refers to tensor -2/);
    assertInvalid(build({ ...ok, opcodeIndex: 4 }), /uses operator code 4, but the model has 1/);
  });
});

const nhwc = ([c, h, w]: [number, number, number]) => [1, h, w, c];

/** The ops Tailor's TFLite form should have, derived from the IR independently of the exporter. */
function expectedOps(nodes: IrNode[]): string[] {
  return nodes.flatMap((node): string[] => {
    switch (node.op) {
      case 'conv': {
        const padOp = node.stride === 2 && node.inShape[1] % 2 === 0 && node.kernelSize > 1 ? ['PAD'] : [];
        const act = node.act === 'h_swish' ? ['HARD_SWISH'] : node.act === 'h_sigmoid' ? ['MUL'] : [];
        return [...padOp, node.groups > 1 ? 'DEPTHWISE_CONV_2D' : 'CONV_2D', ...act];
      }
      case 'global_avg_pool': return ['MEAN'];
      case 'max_pool': return ['MAX_POOL_2D'];
      case 'add': return ['ADD'];
      case 'mul': return ['MUL'];
      case 'linear': return ['RESHAPE', 'FULLY_CONNECTED'];
    }
  });
}

function checkStructure(ir: ModelIR, label: string): void {
  const weights = seededWeights(5);
  const model = readTflite(exportTflite(ir, { weights, metadata: { seed: '5' } }), label);
  const [graph] = model.subgraphs;
  const tensor = (name: string) => graph.tensors.find((t) => t.name === name) ?? assert.fail(`${label}: no tensor "${name}"`);
  const nodes = allNodes(ir);
  assert.deepEqual(graph.operators.map((o) => o.opcode), expectedOps(nodes), label);
  assert.deepEqual(graph.tensors[graph.inputs[0]].shape, nhwc(ir.inShape));
  assert.deepEqual(graph.tensors[graph.outputs[0]].shape, [1, ir.net.classifier.outFeatures]);
  assert.equal(graph.tensors[graph.outputs[0]].name, ir.output);
  for (const node of nodes) assert.deepEqual(tensor(node.output).shape, node.op === 'linear' ? [1, node.outFeatures] : nhwc(node.outShape), `${label}: ${node.name}`);
  // Every op's output is an activation of the shape its producer promises: chain intact, names attributable.
  const ids = ir.pieces.map((p) => `${p.id}.`);
  for (const t of graph.tensors) if (t.name !== ir.input) assert.ok(ids.some((id) => t.name.startsWith(id)), `${label}: tensor "${t.name}" belongs to no piece`);
  const pads = graph.operators.flatMap((op, i) => (op.opcode === 'PAD' ? [i] : []));
  const evenStride2 = nodes.filter((n): n is ConvNode => n.op === 'conv' && n.stride === 2 && n.inShape[1] % 2 === 0 && n.kernelSize > 1);
  assert.equal(pads.length, evenStride2.length, `${label}: one PAD per stride-2 conv on an even size`);
  for (const [k, i] of pads.entries()) {
    const conv = graph.operators[i + 1];
    const node = evenStride2[k];
    const p = Math.floor(node.kernelSize / 2);
    assert.deepEqual(conv.options && [conv.options.padding, conv.options.strideH], ['VALID', 2]);
    assert.equal(graph.tensors[graph.operators[i].outputs[0]].name, `${node.name}.pad`);
    assert.deepEqual(Array.from(new Int32Array(model.buffers[graph.tensors[graph.operators[i].inputs[1]].buffer].slice().buffer)), [0, 0, p, p, p, p, 0, 0]);
  }
  graph.operators.forEach((op, i) => {
    if (op.opcode.endsWith('CONV_2D') && graph.operators[i - 1]?.opcode !== 'PAD') assert.equal(op.options?.padding, 'SAME', `${label}: operator ${i}`);
  });
  assert.deepEqual(Object.keys(model.metadata).sort(), ['seed', 'weights']);
  assert.equal(new TextDecoder().decode(model.metadata.weights), weights.description);
  assert.equal(model.description, 'tailor');
}

describe('TFLite export of Tailor IR', () => {
  const tiny = getSpace('ofa-mbv3-tiny');
  const w10 = getSpace('ofa-mbv3-w1.0');

  it('ofa-mbv3-tiny: op sequence, NHWC shapes, PAD where stride 2 meets an even size', () => {
    for (const seed of [1, 2]) for (const r of [20, 28, 32]) checkStructure(buildIR(netFromArch(tiny, { ...sampleArch(tiny, new Rng(seed)), r })), `tiny seed ${seed} r ${r}`);
  });

  it('ofa-mbv3-w1.0 (even and odd resolutions) and the ProxylessNAS mobile net', () => {
    checkStructure(buildIR(netFromArch(w10, { ...sampleArch(w10, new Rng(3)), r: 128 })), 'w1.0 r128');
    checkStructure(buildIR(netFromArch(w10, { ...sampleArch(w10, new Rng(4)), r: 132 })), 'w1.0 r132');
    checkStructure(buildIR(resolveArch(path.join(OFA, 'specialized', '1080ti_gpu64-12ms_top1-72.6_finetune-25')).net), 'proxyless');
  });

  it('a ResNet: MAX_POOL_2D in SAME mode, the ReLU fused into the residual ADD; an uneven max pool is refused', () => {
    const ir = buildIR(resnetNet({ resolution: 33, width: 8, depths: [1, 1], bottleneck: false }));
    checkStructure(ir, 'resnet r33');
    const ops = readTflite(exportTflite(ir, { weights: seededWeights(5) })).subgraphs[0].operators;
    assert.deepEqual(ops.find((o) => o.opcode === 'MAX_POOL_2D')!.options, { padding: 'SAME', strideW: 2, strideH: 2, filterWidth: 3, filterHeight: 3, fusedActivationFunction: 'NONE' });
    assert.ok(ops.filter((o) => o.opcode === 'ADD').every((o) => o.options?.fusedActivationFunction === 'RELU'));
    const even = buildIR(resnetNet({ resolution: 32, width: 8, depths: [1], bottleneck: false }));
    assert.throws(() => exportTflite(even, { weights: seededWeights(5) }), (e: unknown) => e instanceof TailorError && e.code === 'TFLITE_EXPORT' && /max pool of 16x16 pads unevenly/.test(e.message));
  });

  it('writes the same seeded weights as ONNX, transposed to TFLite layouts', () => {
    const ir = buildIR(netFromArch(w10, { ...sampleArch(w10, new Rng(6)), r: 128 }));
    const weights = seededWeights(9);
    const initializers = new Map(onnx.ModelProto.decode(exportOnnx(ir, { weights })).graph!.initializer!.map((t) => [t.name!, t]));
    const model = readTflite(exportTflite(ir, { weights }));
    const constant = (name: string) => {
      const t = model.subgraphs[0].tensors.find((x) => x.name === name) ?? assert.fail(`no tensor ${name}`);
      return { shape: t.shape, values: new Float32Array(model.buffers[t.buffer].slice().buffer) };
    };
    const onnxValues = (name: string) => {
      const t = initializers.get(name) ?? assert.fail(`no initializer ${name}`);
      // onnx-proto hands out Buffer views (Buffer.slice does not copy): copy to an aligned Uint8Array
      return { dims: t.dims!.map(Number), values: new Float32Array(new Uint8Array(t.rawData!).buffer) };
    };
    let checked = 0;
    for (const node of allNodes(ir)) {
      if (node.op !== 'conv' && node.op !== 'linear') continue;
      const w = onnxValues(`${node.name}.weight`);
      const t = constant(`${node.name}.weight`);
      if (node.op === 'linear') {
        assert.deepEqual(t.shape, w.dims);
        assert.deepEqual(t.values, w.values);
      } else {
        const [o, i, k] = w.dims;
        const depthwise = node.groups > 1;
        assert.deepEqual(t.shape, depthwise ? [1, k, k, o] : [o, k, k, i]);
        for (let a = 0; a < o; a++)
          for (let b = 0; b < i; b++)
            for (let y = 0; y < k; y++)
              for (let x = 0; x < k; x++) {
                const at = depthwise ? (y * k + x) * o + a : ((a * k + y) * k + x) * i + b;
                assert.equal(t.values[at], w.values[((a * i + b) * k + y) * k + x]);
              }
      }
      const outChannels = node.op === 'conv' ? node.outChannels : node.outFeatures;
      const bias = initializers.has(`${node.name}.bias`) ? onnxValues(`${node.name}.bias`).values : new Float32Array(outChannels);
      // h_sigmoid's +3 lives in the bias (relu6(x + 3) / 6 with relu6 fused)
      const shift = node.op === 'conv' && node.act === 'h_sigmoid' ? 3 : 0;
      assert.deepEqual(constant(`${node.name}.bias`).values, bias.map((v) => Math.fround(v + shift)), node.name);
      checked++;
    }
    assert.ok(checked > 30 && allNodes(ir).some((n) => n.op === 'conv' && n.act === 'h_sigmoid'));
  });

  it('exports pieces alone: NHWC in and out, named after the piece', () => {
    const ir = buildIR(netFromArch(w10, { ...sampleArch(w10, new Rng(2)), r: 160 }));
    const block = ir.pieces.find((p) => p.kind === 'block' && p.nodes.some((n) => n.op === 'mul'))!;
    const model = readTflite(exportPiecesTflite([block], { weights: seededWeights(1) }));
    const [graph] = model.subgraphs;
    assert.equal(graph.name, block.id);
    assert.deepEqual(graph.tensors[graph.inputs[0]].shape, nhwc(block.inShape));
    assert.deepEqual(graph.tensors[graph.outputs[0]].shape, nhwc(block.outShape));
    const head = readTflite(exportPiecesTflite(ir.pieces.slice(-2), { weights: seededWeights(1) })).subgraphs[0];
    assert.deepEqual(head.tensors[head.outputs[0]].shape, [1, 1000]);
    // a piece whose input is not there is an export error, not a broken file
    assert.throws(() => exportPiecesTflite([{ ...block, input: 'elsewhere' }], { weights: seededWeights(1) }), (e: unknown) => e instanceof TailorError && e.code === 'TFLITE_EXPORT');
  });
});

describe('tailor export --format tflite', () => {
  it('writes a readable .tflite and refuses an extension that contradicts --format', () => {
    const home = tempDir();
    const out = path.join(home, 'net.tflite');
    const r = cli(['export', '--space', 'ofa-mbv3-tiny', '--arch', 'random:3', '--format', 'tflite', '--out', out, '--seed', '2']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /wrote .*net\.tflite \(.* MiB, \d+ params, \d+ MACs, seed 2\)/);
    const model = readTflite(fs.readFileSync(out), out);
    assert.equal(new TextDecoder().decode(model.metadata.seed), '2');
    assert.equal(new TextDecoder().decode(model.metadata.space), 'ofa-mbv3-tiny');
    for (const args of [['--format', 'tflite', '--out', path.join(home, 'm.onnx')], ['--out', path.join(home, 'm.tflite')]]) {
      const bad = cli(['export', '--space', 'ofa-mbv3-tiny', '--arch', 'max', ...args]);
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, /Invalid value for --out: .* is named as a (onnx|tflite) file, but --format is/);
    }
    assert.deepEqual(fs.readdirSync(home), ['net.tflite']);
  });
});
