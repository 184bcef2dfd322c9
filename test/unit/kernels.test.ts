import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { TailorError } from '../../src/core/errors';
import { workspace } from '../../src/core/workspace';
import { OnnxGraph } from '../../src/export/onnx-graph';
import { eventKeys, optimizedKeys } from '../../src/kernels/attribute';
import { FEATURE_NAMES, kernelFeatures } from '../../src/kernels/features';
import { planKernels } from '../../src/kernels/fusion';
import { loadKernelGraph } from '../../src/kernels/graph';
import { fitPerEventMs, kernelLabels } from '../../src/kernels/profile';
import { MAX_TRAIN_SAMPLES, trainTypeModel, TypeRegressor } from '../../src/kernels/regressors';
import { sampleGraph } from '../../src/kernels/sampler';
import { KERNEL_PROFILE_SCHEMA, KernelProfile, parseKernelModel, parseKernelProfile } from '../../src/kernels/store';
import { KernelsService } from '../../src/kernels/kernels.service';
import { DeviceService } from '../../src/runtime/device.service';
import { tinyModel, writeRegressors } from '../gate-fixtures';
import { tempDir } from '../helpers';

/** conv-bn-relu, a residual block, depthwise + SE, a transformer-ish tail with GELU (Erf form), SiLU, folded shape ops. */
function mixedModel(): Uint8Array {
  const g = new OnnxGraph(1);
  let x = g.input('input', [1, 3, 32, 32]);
  x = g.convBnAct(x, { cout: 32, k: 3, stride: 2, act: 'relu', name: 'stem' });
  let y = g.convBnAct(x, { cout: 32, k: 3, act: 'relu', name: 'res1' });
  y = g.convBnAct(y, { cout: 32, k: 3, act: null, name: 'res2' });
  x = g.act(g.add(x, y), 'relu', 'res_relu');
  let d = g.convBnAct(x, { cout: 32, k: 3, groups: 32, act: 'hswish', name: 'dw' });
  d = g.se(d);
  x = g.act(g.convBnAct(d, { cout: 48, k: 1, act: null, name: 'pw' }), 'silu', 'swish');
  x = g.op('Identity', [x.name], x.shape, {}, 'noop');
  const t = g.transpose(g.reshape(x, [1, 48, 256]), [0, 2, 1]);
  const h = g.act(g.linear(t, 64), 'gelu', 'gelu');
  g.output(g.softmax(h));
  return g.bytes();
}

describe('kernel plan: what onnxruntime executes (pure)', () => {
  const g = loadKernelGraph(mixedModel(), { file: 'mixed' });
  const plan = planKernels(g, { blockSize: 16 });
  const kernel = (id: string) => plan.kernels.find((k) => k.id === id)!;

  it('fuses Conv + BN (+ residual Add) + activation, depthwise, MatMul + bias, GELU and SiLU into one kernel each', () => {
    assert.deepEqual(kernel('stem').nodes, ['stem', 'bn', 'relu']);
    assert.equal(kernel('stem').act, 'Relu');
    const res2 = kernel('res2');
    assert.equal(res2.fusedAdd, true);
    assert.deepEqual(res2.nodes.map((n) => g.nodes.find((x) => x.name === n)!.opType), ['Conv', 'BatchNormalization', 'Add', 'Relu']);
    assert.equal(kernel('dw').type, 'dwconv');
    assert.equal(kernel('dw').act, 'HardSwish');
    const linear = plan.kernels.find((k) => k.type === 'fc')!;
    assert.deepEqual(linear.nodes.map((n) => g.nodes.find((x) => x.name === n)!.opType), ['MatMul', 'Add']);
    const gelu = plan.kernels.find((k) => k.act === 'Gelu')!;
    assert.deepEqual(gelu.nodes.map((n) => g.nodes.find((x) => x.name === n)!.opType), ['Div', 'Erf', 'Add', 'Mul', 'Mul']);
    assert.equal(kernel('swish').act, 'Silu');
  });

  it('accounts for every node exactly once: a kernel, folded, or unsupported', () => {
    const seen = [...plan.kernels.flatMap((k) => k.nodes), ...plan.folded.map((f) => f.node), ...plan.unsupported.map((u) => u.node)];
    assert.deepEqual([...seen].sort(), g.nodes.map((n) => n.name).sort());
    assert.ok(plan.folded.some((f) => f.node === 'noop'), 'Identity is removed');
    assert.equal(plan.unsupported.length, 0);
  });

  it('places NCHWc reorders where the layout changes, and none without a blocked layout', () => {
    const reorders = plan.kernels.filter((k) => k.type === 'reorder');
    // the stem reads NCHW directly (3 < 16 channels); the SE gate Mul and the Reshape need NCHW back
    assert.ok(!reorders.some((r) => r.id === 'ReorderInput:input'));
    assert.ok(reorders.some((r) => r.direction === 'out' && r.tensor === kernel('dw').outputs[0]));
    assert.ok(reorders.every((r) => r.shape!.length === 4));
    assert.ok(kernel('stem').nchwc && kernel('res2').nchwc);
    const flat = planKernels(g, { blockSize: 0 });
    assert.equal(flat.kernels.filter((k) => k.type === 'reorder').length, 0);
    assert.ok(flat.kernels.every((k) => !k.nchwc));
  });

  it('extracts nn-Meter features (HW, Cin, Cout, kernel, stride, MACs, params) plus layout and fusion', () => {
    const macs = new Map(g.nodes.map((n) => [n.name, n.macs ?? 0]));
    const f = kernelFeatures(kernel('stem'), (n) => macs.get(n)!, g.analysis.params);
    const x = Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, f.x[i]]));
    assert.equal(x.kernel, 3);
    assert.equal(x.stride, 2);
    assert.equal(x.log2_cin, Math.log2(4));
    assert.equal(x.log2_cout, Math.log2(33));
    assert.equal(x.log2_in_hw, Math.log2(32 * 32 + 1));
    assert.equal(x.nchwc, 1);
    assert.ok(f.macs >= 16 * 16 * 32 * 27);
    assert.ok(f.work > f.macs);
    assert.equal(f.x.length, FEATURE_NAMES.length);
  });

  it('plans data movement: a zero Pad merged into the Conv reading it, an Expand to its own shape removed, other Pads, Split, Slice, Gather as memory kernels', () => {
    const m = new OnnxGraph(3);
    let x = m.convBnAct(m.input('input', [1, 3, 32, 32]), { cout: 32, k: 3, act: 'relu', name: 'stem' });
    const [a, b] = m.split(x, [16, 16]);
    const joined = m.concat([a, m.convBnAct(b, { cout: 16, k: 1, act: 'relu', name: 'branch' })]);
    const tfPad = m.pad(joined, [0, 0, 0, 0, 0, 0, 1, 1]); // TF's SAME before a strided conv
    x = m.convBnAct(tfPad, { cout: 32, k: 3, stride: 2, pad: 0, act: 'relu', name: 'down' });
    x = m.convBnAct(m.pad(x, [0, 0, 1, 1, 0, 0, 1, 1], 'reflect'), { cout: 32, k: 3, pad: 0, act: 'relu', name: 'valid' });
    const crop = m.slice(x, [2, 2], [-2, -2], [2, 3]);
    m.output(m.globalAvgPool(m.gather(m.expand(crop, crop.shape), [0, 2, 4, 6], 1)));
    const mg = loadKernelGraph(m.bytes(), { file: 'movement' });
    const mp = planKernels(mg, { blockSize: 16 });
    const folded = Object.fromEntries(mp.folded.map((f) => [f.opType, f.reason]));
    assert.match(folded.Pad, /merged into the padding of Conv "down"/);
    assert.match(folded.Expand, /expands to its own shape/);
    const memory = mp.kernels.filter((k) => k.type === 'memory');
    assert.deepEqual(memory.map((k) => k.main!.opType), ['Split', 'Pad', 'Slice', 'Gather']);
    // the strided conv reads the unpadded Concat output: that is the tensor reordered for it
    assert.ok(mp.kernels.some((k) => k.id === `ReorderInput:${joined.name}`) && !mp.kernels.some((k) => k.id === `ReorderInput:${tfPad.name}`));
    const f = (op: string): Record<string, number> => {
      const r = kernelFeatures(memory.find((k) => k.main!.opType === op)!, () => 0);
      return { ...Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, r.x[i]])), work: r.work };
    };
    const lg = (v: number) => Math.log2(v + 1);
    assert.deepEqual([f('Split').log2_out_elems, f('Split').kernel, f('Split').stride, f('Split').work], [lg(32 * 32 * 32), 1, 2, 2 * 32 * 32 * 32 + 1], 'a Split writes both outputs');
    assert.equal(f('Slice').work, 2 * 32 * 12 * 12 + 1, 'a Slice reads only what it copies');
    assert.equal(f('Slice').kernel, 3);
    assert.deepEqual([f('Gather').stride, f('Gather').work], [4, 2 * 4 * 12 * 12 + 1]);
    assert.equal(f('Pad').stride, 2, 'reflect');
    // Reshape runs in place in onnxruntime: its time does not grow with the tensor
    const reshape = plan.kernels.find((k) => k.type === 'reshape')!;
    assert.equal(kernelFeatures(reshape, () => 0).work, 1);
  });

  it('samples profiling graphs deterministically per seed, every one of them plannable', () => {
    assert.deepEqual(sampleGraph(3, 5).bytes, sampleGraph(3, 5).bytes);
    assert.notDeepEqual(sampleGraph(3, 5).bytes, sampleGraph(4, 5).bytes);
    const types = new Set<string>();
    for (let i = 0; i < 14; i++) {
      const s = sampleGraph(0, i);
      const p = planKernels(loadKernelGraph(s.bytes, { file: s.id }), { blockSize: 16 });
      assert.equal(p.unsupported.length, 0, `${s.id}: ${JSON.stringify(p.unsupported)}`);
      p.kernels.forEach((k) => types.add(k.type));
    }
    assert.equal(sampleGraph(0, 5).family, 'movement');
    assert.ok(types.has('memory') && types.has('transpose') && types.has('reshape'));
  });
});

describe('kernel regressors and files', () => {
  it('trains a seeded random forest per type that round-trips through JSON', () => {
    const samples = Array.from({ length: 30 }, (_, i) => ({ id: `k${i}`, type: 'conv' as const, x: FEATURE_NAMES.map((_, j) => (i * (j + 1)) % 7), work: 1000 + 100 * i, ms: 0.01 + 0.001 * i }));
    const a = trainTypeModel('conv', samples, 1);
    const b = trainTypeModel('conv', samples, 1);
    assert.deepEqual(a, b, 'same seed, same forest');
    const loaded = new TypeRegressor(JSON.parse(JSON.stringify(a)));
    const direct = new TypeRegressor(a);
    const rows = samples.slice(0, 5);
    assert.deepEqual(loaded.predictMs(rows), direct.predictMs(rows));
    assert.ok(loaded.predictMs(rows).every((v) => Number.isFinite(v) && v > 0));
    const few = trainTypeModel('pool', samples.slice(0, 3), 1);
    assert.equal(few.forest, null, 'too few samples: median ms/work');
  });

  it('deals a large sample set into parts, each training its share of the trees, so every sample is used', () => {
    const n = 2 * MAX_TRAIN_SAMPLES + 10;
    const samples = Array.from({ length: n }, (_, i) => ({ id: `k${i}`, type: 'fc' as const, x: FEATURE_NAMES.map((_, j) => (j === 3 ? i % 50 : 0)), work: 1000, ms: 0.001 * (1 + (i % 50)) }));
    const m = trainTypeModel('fc', samples, 2);
    assert.ok(Array.isArray(m.forest) && m.forest.length === 3, 'three parts');
    const r = new TypeRegressor(JSON.parse(JSON.stringify(m)));
    const [lo, hi] = r.predictMs([samples[0], samples[49]]);
    assert.ok(hi > 10 * lo, `learns from every part: ${lo} vs ${hi}`);
    assert.ok(m.fitMapePct < 20, `fit ${m.fitMapePct}%`);
  });

  it('refuses damaged profile and regressor files with a specific error', () => {
    const file = path.join(tempDir(), 'regressors.json');
    fs.writeFileSync(file, '{"schema": "tailor.kernel-regressors/v1", "device": {"id": "x"}, "blockSiz');
    const isCorrupt = (e: unknown) => e instanceof TailorError && e.code === 'CORRUPT_KERNELS' && e.message.includes(file);
    assert.throws(() => parseKernelModel(file, fs.readFileSync(file, 'utf8')), isCorrupt);
    assert.throws(() => parseKernelModel(file, JSON.stringify({ schema: 'tailor.kernel-regressors/v1', device: { id: 'x' }, blockSize: 16, overheadMs: 0.01, features: ['a'], models: {} })), isCorrupt);
    assert.throws(() => parseKernelProfile(file, JSON.stringify({ schema: 'nope' })), isCorrupt);
  });

  it('validate --models refuses a model of ops the analysis does not know with a way out validate has (it takes no --allow-unknown-ops)', async () => {
    const home = tempDir();
    writeRegressors(home);
    const dir = path.join(home, 'models');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'custom.onnx'), tinyModel({ op: 'Swish' }));
    await assert.rejects(new KernelsService(new DeviceService(workspace(home))).validate('local-cpu', dir, { passes: 1 }), (e: unknown) => {
      assert.ok(e instanceof TailorError && e.code === 'UNKNOWN_OP', String(e));
      assert.match(e.message, /custom\.onnx has 1 node\(s\) of ops .*: node "act" \(com\.example\.Swish\)\. .*, predict it on its own \(tailor predict --model <file> --allow-unknown-ops\); validation compares whole models, so move it out of the directory to validate the others\.$/);
      return true;
    });
  });
});

describe('kernel labels: what the profiler saw, turned into in-context times (pure)', () => {
  const kernel = (id: string, ms: number, events = 1) => ({ id, type: 'conv' as const, x: FEATURE_NAMES.map(() => 0), work: 1000, ms, events });
  const profile = (graphs: { wallMs: number; kernels: ReturnType<typeof kernel>[] }[]): KernelProfile => ({
    schema: KERNEL_PROFILE_SCHEMA, device: { id: 'd', fingerprint: null }, backend: { name: 'b', version: 'v', threads: 1 }, created: '', updated: '',
    method: { seed: 0, samples: graphs.length, batchSize: graphs.length, warmup: 1, passes: 1, wallRunsPerPass: 1, profileRunsPerPass: 1 },
    blockSize: 16, overheadMs: [{ count: 1, mean: 0.01, std: 0, p50: 0.01, p90: 0.01, min: 0.01 }], outputMsPerMiB: [0.1],
    reference: { graphs: ['r'], msByBatch: [[1]] }, complete: true,
    graphs: graphs.map((g, i) => ({ index: i, id: `g${i}`, family: 'cnn', batch: 0, outputBytes: 0, agreement: null, ...g })),
  });

  it('fits the per-kernel difference between profiled and unprofiled runs, robust to a disturbed graph', () => {
    const rows = Array.from({ length: 20 }, (_, i) => ({ events: 5 + i, wall: 1 + i / 10, y: -0.0012 * (5 + i) }));
    rows.push({ events: 10, wall: 1, y: 0.5 }); // another process ran during this graph's plain runs
    assert.ok(Math.abs(fitPerEventMs(rows) + 0.0012) < 1e-6);
  });

  it('shares a graph\'s mismatch with its wall time in proportion, never as a constant that swamps small kernels', () => {
    // profiled: a big and a tiny kernel, together 20% over the unprofiled wall time (minus the fixed cost)
    // (the other graphs match their wall times: no per-kernel difference to fit)
    const p = profile([
      { wallMs: 0.01 + 1.0, kernels: [kernel('big', 1.19, 1), kernel('tiny', 0.01, 1)] },
      ...[0.5, 0.7, 0.9, 1.1, 1.3].map((ms, i) => ({ wallMs: 0.01 + ms, kernels: [kernel(`k${i}`, ms / 2), kernel(`j${i}`, ms / 2)] })),
    ]);
    const { samples, overheadMs, perEventMs, skippedGraphs } = kernelLabels(p);
    assert.equal(overheadMs, 0.01);
    assert.equal(perEventMs, 0);
    assert.equal(skippedGraphs, 0);
    const ms = Object.fromEntries(samples.map((s) => [s.id, s.ms]));
    assert.ok(Math.abs(ms.big + ms.tiny - 1.0) < 1e-9, 'kernels add up to the wall time minus the fixed cost');
    assert.ok(Math.abs(ms.tiny / ms.big - 0.01 / 1.19) < 0.002, `the tiny kernel keeps its share: ${ms.tiny}`);
  });

  it('leaves out a graph whose kernels would need scaling by more than 2x', () => {
    const p = profile([{ wallMs: 0.01 + 3, kernels: [kernel('k', 1)] }, { wallMs: 0.01 + 1, kernels: [kernel('j', 1)] }]);
    const { samples, skippedGraphs } = kernelLabels(p);
    assert.equal(skippedGraphs, 1);
    assert.deepEqual(samples.map((s) => s.id), ['j']);
  });

  it('keys unnamed nodes (an inlined function) by op type and order, as the profiler reports them', () => {
    const optimized = [
      { name: 'conv_nchwc', opType: 'Conv', domain: 'com.microsoft.nchwc', inputs: [], outputs: [] },
      { name: '', opType: 'HardSigmoid', domain: '', inputs: [], outputs: [] },
      { name: '', opType: 'Mul', domain: '', inputs: [], outputs: [] },
      { name: '', opType: 'HardSigmoid', domain: '', inputs: [], outputs: [] },
    ];
    const keys = optimizedKeys(optimized);
    assert.deepEqual(keys, ['conv_nchwc', 'HardSigmoid#0', 'Mul#0', 'HardSigmoid#1']);
    const run = [{ name: 'conv_nchwc', opType: 'Conv' }, { name: 'HardSigmoid_12', opType: 'HardSigmoid' }, { name: 'Mul_13', opType: 'Mul' }, { name: 'HardSigmoid_16', opType: 'HardSigmoid' }];
    assert.deepEqual(eventKeys(run, new Map(keys.map((k) => [k, 'x']))), keys);
  });

  it('plans a blocked BatchNormalization with the activation after it as one kernel, and tells resize modes apart', () => {
    const g = new OnnxGraph(2);
    let x = g.convBnAct(g.input('input', [1, 3, 16, 16]), { cout: 32, k: 3, act: 'relu' });
    x = g.act(g.batchNorm(x, 'lone_bn'), 'relu', 'bn_relu');
    const near = g.resize(x, 2, 'nearest');
    g.output(g.add(near, g.resize(x, 2, 'linear')));
    const kg = loadKernelGraph(g.bytes(), { file: 'bn-act' });
    const plan = planKernels(kg, { blockSize: 16 });
    const bn = plan.kernels.find((k) => k.id === 'lone_bn')!;
    assert.deepEqual(bn.nodes, ['lone_bn', 'bn_relu']);
    assert.equal(bn.act, 'Relu');
    assert.ok(!plan.kernels.some((k) => k.id === 'bn_relu'));
    const mode = (id: string) => kernelFeatures(plan.kernels.find((k) => k.id === id)!, () => 0).x[FEATURE_NAMES.indexOf('kernel')];
    const resizes = plan.kernels.filter((k) => k.type === 'resize');
    assert.deepEqual(resizes.map((k) => mode(k.id)), [1, 2], 'nearest 1, linear 2');
  });
});

