import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { analyzeTflite } from '../../src/analysis/tflite';
import { TailorError } from '../../src/core/errors';
import { workspace } from '../../src/core/workspace';
import { OnnxGraph } from '../../src/export/onnx-graph';
import { KernelsService } from '../../src/kernels/kernels.service';
import { KernelPredictor } from '../../src/kernels/predict';
import { KERNEL_MODEL_SCHEMA, KernelModelFile, parseKernelModel } from '../../src/kernels/store';
import { TFLITE_FEATURE_NAMES, TFLITE_OP_KINDS, TfliteOpKind, planTfliteOps } from '../../src/kernels/tflite-ops';
import { TfliteOpPredictor } from '../../src/kernels/tflite-predict';
import { TFLITE_MIN_OP_MS, trainTfliteModel } from '../../src/kernels/tflite-profile';
import { sampleTfliteGraph } from '../../src/kernels/tflite-sampler';
import { FEATURE_NAMES } from '../../src/kernels/features';
import { DeviceService } from '../../src/runtime/device.service';
import { TfliteNetBuilder } from '../../src/tflite/builder';
import { readTflite } from '../../src/tflite/reader';
import { writeTflite } from '../../src/tflite/writer';
import { tempDir } from '../helpers';

const code = (c: string, message?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof TailorError, String(e));
  assert.equal(e.code, c, e.message);
  if (message) assert.match(e.message, message);
  return true;
};
const feature = (x: number[], name: (typeof TFLITE_FEATURE_NAMES)[number]) => x[TFLITE_FEATURE_NAMES.indexOf(name)];

/** A graph with every fusion case: PAD into a conv, RELU into a conv's clamp, RELU after CONCATENATION (not fusable), RELU read twice. */
function fusionGraph(): Uint8Array {
  const g = new TfliteNetBuilder(1, 'fusion');
  const x = g.input([1, 16, 16, 8]);
  const padded = g.pad(x, [2, 2, 2, 2]);
  const a = g.conv2d(padded, 16, 5, 2, 'NONE', 'VALID'); // conv_0
  const relu = g.unary('RELU', a); // relu_0: fused into conv_0
  const c = g.concat([relu, relu]); // concat_0
  const r2 = g.unary('RELU6', c); // relu6_0: a concat has no clamp
  const d = g.depthwiseConv2d(r2, 3, 1, 'RELU6'); // dwconv_0
  const twice = g.unary('RELU', d); // relu_1: read by two ops, but only its input matters: dwconv_0's sole reader
  const sum = g.binary('ADD', twice, twice); // add_0
  const m = g.mean(sum, false); // mean_0
  const fc = g.fullyConnected(m, 10, 'RELU'); // fc_0
  g.output(g.softmax(fc), g.unary('TANH', m)); // softmax_0, tanh_0 (no kind)
  return g.bytes();
}

function plan(bytes: Uint8Array) {
  return planTfliteOps(readTflite(bytes), analyzeTflite(bytes));
}

/** Regressors without forests (a median ms per unit of work per kind): what the predictor does with a model file, without training. */
function medianModel(kinds: readonly TfliteOpKind[], msPerWork = 1e-6): KernelModelFile<string> {
  return {
    schema: KERNEL_MODEL_SCHEMA, format: 'tflite', device: { id: 'local-tflite', fingerprint: null }, backend: { name: 'tflite-wasm', version: 'test', threads: 1 },
    created: '', seed: 0, blockSize: 0, features: [...TFLITE_FEATURE_NAMES], target: 'log(ms/work)', overheadMs: 0.01, outputMsPerMiB: 0,
    reference: { graphs: [], ms: [] }, models: Object.fromEntries(kinds.map((k) => [k, { samples: 3, medianMsPerWork: msPerWork, forest: null, fitMapePct: 0 }])),
  };
}

describe('TFLite op predictor: what XNNPACK runs (plan and features)', () => {
  it('folds a spatial PAD into the convolution after it and a RELU into the clamp of the op before', () => {
    const p = plan(fusionGraph());
    const by = new Map(p.ops.map((o) => [o.name, o]));
    assert.equal(by.get('pad_0')!.status, 'fused');
    assert.equal(by.get('pad_0')!.into, 'conv_0');
    assert.equal(by.get('relu_0')!.status, 'fused');
    assert.equal(by.get('relu_0')!.into, 'conv_0');
    assert.equal(by.get('relu6_0')!.status, 'kernel', 'CONCATENATION has no output clamp');
    assert.equal(by.get('relu_1')!.status, 'fused');
    assert.equal(by.get('tanh_0')!.status, 'unsupported');
    assert.match(by.get('tanh_0')!.reason!, /no regressor kind for TANH/);
    // features of the convolution: kernel, stride, the fused PAD and RELU, its MACs
    const conv = by.get('conv_0')!;
    assert.equal(conv.kind, 'CONV_2D');
    assert.equal(conv.act, 'RELU');
    assert.equal(feature(conv.features!.x, 'kernel'), 5);
    assert.equal(feature(conv.features!.x, 'stride'), 2);
    assert.equal(feature(conv.features!.x, 'padded'), 1);
    assert.equal(conv.features!.macs, 8 * 8 * 16 * 5 * 5 * 8);
    assert.equal(by.get('dwconv_0')!.features!.macs, 8 * 8 * 32 * 3 * 3);
    assert.equal(by.get('fc_0')!.features!.macs, 32 * 10);
    assert.equal(feature(by.get('add_0')!.features!.x, 'broadcast'), 0);
    assert.equal(feature(by.get('add_0')!.features!.x, 'inputs'), 2);
    // every op of the model is planned, in order
    assert.deepEqual(p.ops.map((o) => o.index), readTflite(fusionGraph()).subgraphs[0].operators.map((_, i) => i));
  });

  it('a PAD read by two ops, or before a strided SAME convolution, stays an op of its own; a RELU after a fused RELU ends in the same operator', () => {
    const g = new TfliteNetBuilder(2, 'pads');
    const x = g.input([1, 8, 8, 4]);
    const p = g.pad(x, [1, 1, 1, 1]); // pad_0: read twice
    const same = g.conv2d(g.pad(x, [1, 1, 1, 1]), 8, 3, 2, 'NONE', 'SAME'); // pad_1 before a stride-2 SAME conv_0
    g.output(g.conv2d(g.pad(x, [1, 1, 1, 1]), 8, 3, 1, 'NONE', 'SAME')); // pad_2 into a stride-1 SAME conv_1
    const clamps = g.unary('RELU', g.unary('RELU6', g.binary('MUL', same, same))); // relu6_0 into mul_0, relu_0 too
    g.output(g.conv2d(p, 8, 3, 1, 'NONE', 'VALID'), g.pool('MAX_POOL_2D', p, 2, 2), clamps);
    const ops = new Map(plan(g.bytes()).ops.map((o) => [o.name, o]));
    assert.equal(ops.get('pad_0')!.status, 'kernel');
    assert.equal(ops.get('pad_1')!.status, 'kernel');
    assert.equal(ops.get('pad_2')!.into, 'conv_1');
    assert.deepEqual([ops.get('relu6_0')!.into, ops.get('relu_0')!.into], ['mul_0', 'mul_0']);
    assert.equal(ops.get('mul_0')!.act, 'RELU6');
  });

  it('quantized ops are listed as unsupported: only float32 ops are profiled', () => {
    const g = new TfliteNetBuilder(3, 'q');
    g.output(g.conv2d(g.input([1, 8, 8, 4]), 8, 3));
    const model = g.model();
    const graph = model.subgraphs[0];
    const quant = { scale: [0.05], zeroPoint: [0], quantizedDimension: 0 };
    // int8 activations and weights, int32 bias: a fully quantized CONV_2D
    graph.tensors = graph.tensors.map((t, i) => {
      const data = model.buffers[t.buffer];
      if (t.type === 'float32' && t.name.endsWith('.bias')) {
        model.buffers[t.buffer] = new Uint8Array(data.length);
        return { ...t, type: 'int32' as const, quantization: quant };
      }
      if (t.type === 'float32' && data.length) model.buffers[t.buffer] = new Uint8Array(data.length / 4);
      return { ...t, type: 'int8' as const, quantization: quant };
    });
    const p = plan(writeTflite(model));
    assert.equal(p.ops[0].status, 'unsupported');
    assert.match(p.ops[0].reason!, /int8 tensor "input_0": only float32 ops are profiled/);
  });

  it('every sampled profiling graph is seeded, planned completely, and the first 40 cover every op kind', () => {
    assert.deepEqual(sampleTfliteGraph(7, 3).bytes, sampleTfliteGraph(7, 3).bytes);
    assert.notDeepEqual(sampleTfliteGraph(7, 3).bytes, sampleTfliteGraph(8, 3).bytes);
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const s = sampleTfliteGraph(0, i);
      const p = plan(s.bytes);
      assert.deepEqual(p.ops.filter((o) => o.status === 'unsupported').map((o) => o.name), [], s.id);
      for (const o of p.ops) if (o.kind) seen.add(o.kind);
    }
    assert.deepEqual(TFLITE_OP_KINDS.filter((k) => !seen.has(k)), []);
  });
});

describe('TFLite op predictor: predictions', () => {
  it('lists every op: kernels with their fused ops, unsupported ones counted and left out, never as 0', () => {
    const bytes = fusionGraph();
    const kinds = TFLITE_OP_KINDS.filter((k) => k !== 'SOFTMAX'); // a kind never profiled
    const r = new TfliteOpPredictor(medianModel(kinds)).predict(bytes, { file: 'fusion.tflite' });
    const ops = readTflite(bytes).subgraphs[0].operators.length;
    assert.equal(r.nodes.length, ops);
    assert.deepEqual(r.unsupported.map((u) => [u.node, u.opType]).sort(), [['softmax_0', 'SOFTMAX'], ['tanh_0', 'TANH']]);
    assert.match(r.unsupported.find((u) => u.node === 'softmax_0')!.reason, /op kind SOFTMAX was never profiled on this device/);
    assert.equal(r.unsupportedCount, 2);
    assert.match(r.warnings.join('\n'), /2 op\(s\) have no predictor \(.*TANH.*\); latencyMs leaves them out/);
    for (const n of r.nodes) {
      if (n.status === 'unsupported') assert.equal(n.ms, null, n.node);
      else assert.ok(Number.isFinite(n.ms), n.node);
    }
    assert.deepEqual(r.breakdown.find((b) => b.kernel === 'conv_0')!.nodes.sort(), ['conv_0', 'pad_0', 'relu_0']);
    const sum = r.breakdown.reduce((s, b) => s + b.ms, 0);
    assert.ok(Math.abs(r.latencyMs - (0.01 + sum)) < 1e-12);
    assert.equal(r.kernels, r.nodes.filter((n) => n.status === 'kernel').length);
    assert.ok(r.breakdown.every((b) => b.ms > 0));
  });

  it('refuses a model in the other format, in the predictors and before the regressors are looked for', () => {
    const g = new OnnxGraph(0, undefined, 'm');
    g.output(g.globalAvgPool(g.input('input', [1, 8, 4, 4])));
    const onnx = g.bytes();
    const tflite = fusionGraph();
    assert.throws(() => new TfliteOpPredictor(medianModel(TFLITE_OP_KINDS)).predict(onnx, { file: 'm.onnx' }), code('UNSUPPORTED_MODEL_FORMAT', /m\.onnx is an ONNX \(not TFLite\) model: device "local-tflite" runs TFLite models/));
    const onnxFile = { ...medianModel([]), format: undefined, features: [...FEATURE_NAMES] } as unknown as KernelModelFile;
    assert.throws(() => new KernelPredictor(onnxFile).predict(tflite, { file: 'f.tflite' }), code('UNSUPPORTED_MODEL_FORMAT', /f\.tflite is a TFLite model: device "local-tflite" runs ONNX models/));
    const home = tempDir();
    const kernels = new KernelsService(new DeviceService(workspace(home)));
    fs.writeFileSync(path.join(home, 'm.onnx'), onnx);
    fs.writeFileSync(path.join(home, 'f.tflite'), tflite);
    // neither device has regressors here: the format is what is refused (exit code 2)
    assert.throws(() => kernels.predict('local-tflite', path.join(home, 'm.onnx')), (e) => code('UNSUPPORTED_MODEL_FORMAT', /is an ONNX model: device "local-tflite" \(backend tflite-wasm\) runs TFLite models/)(e) && (e as TailorError).exitCode === 2);
    assert.throws(() => kernels.predict('local-cpu', path.join(home, 'f.tflite')), code('UNSUPPORTED_MODEL_FORMAT', /is a TFLite model: device "local-cpu" \(backend ort-cpu\) runs ONNX models/));
    assert.throws(() => kernels.predict('local-tflite', path.join(home, 'f.tflite')), code('KERNELS_NOT_FOUND', /Run: tailor profile --device local-tflite --kernels/));
  });
});

describe('TFLite op predictor: store and training', () => {
  it('keeps one store format: the format and the TFLite feature row are recorded and checked', () => {
    const m = medianModel(['CONV_2D']);
    assert.equal(parseKernelModel('r.json', JSON.stringify(m)).format, 'tflite');
    assert.throws(() => parseKernelModel('r.json', JSON.stringify({ ...m, features: [...FEATURE_NAMES] })), code('CORRUPT_KERNELS', /features must be \[op, log2_in_elems/));
    assert.throws(() => parseKernelModel('r.json', JSON.stringify({ ...m, models: { conv: m.models.CONV_2D } })), code('CORRUPT_KERNELS', /unknown kernel type "conv"/));
    assert.throws(() => parseKernelModel('r.json', JSON.stringify({ ...m, format: 'tf' })), code('CORRUPT_KERNELS', /format is "tf"/));
  });

  it('trains one forest per op kind with the ONNX predictor\'s regressor library; ops the profile rounded to 0 keep a tiny label', () => {
    const graphs = Array.from({ length: 12 }, (_, i) => {
      const s = sampleTfliteGraph(0, i * 10 + 1); // cnn chains
      const p = plan(s.bytes);
      const kernels = p.ops.filter((o) => o.status === 'kernel').map((o) => ({ id: o.name, type: o.kind!, x: o.features!.x, work: o.features!.work, ms: o.kind === 'RESHAPE' ? 0 : o.features!.work * 2e-7, events: 1 }));
      return { index: i, id: s.id, family: s.family, batch: 0, wallMs: 0.001 + kernels.reduce((a, k) => a + Math.max(k.ms, TFLITE_MIN_OP_MS), 0), outputBytes: 0, kernels, agreement: null };
    });
    const model = trainTfliteModel({
      schema: 'tailor.kernel-profile/v2', format: 'tflite', device: { id: 'local-tflite', fingerprint: null }, backend: { name: 'tflite-wasm', version: 'test', threads: 1 },
      created: '', updated: '', method: { seed: 0, samples: 12, batchSize: 12, warmup: 1, passes: 1, wallRunsPerPass: 1, profileRunsPerPass: 1 },
      blockSize: 0, overheadMs: [{ count: 1, mean: 0.001, std: 0, p50: 0.001, p90: 0.001, min: 0.001 } as never], outputMsPerMiB: [0], reference: { graphs: ['a'], msByBatch: [[1]] }, graphs, complete: true,
    });
    assert.equal(model.format, 'tflite');
    assert.ok(Math.abs(model.overheadMs - 0.001) < 1e-9);
    const conv = model.models.CONV_2D!;
    assert.ok(conv.forest !== null && conv.samples >= 8, 'a random forest for CONV_2D');
    assert.ok(conv.fitMapePct < 15, `fit ${conv.fitMapePct}%`);
    assert.ok(parseKernelModel<TfliteOpKind>('r.json', JSON.stringify(model)).models.CONV_2D);
  });
});
