import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { TailorError } from '../../src/core/errors';
import { OnnxGraph } from '../../src/export/onnx-graph';
import { FEATURE_NAMES, kernelFeatures } from '../../src/kernels/features';
import { planKernels } from '../../src/kernels/fusion';
import { loadKernelGraph } from '../../src/kernels/graph';
import { trainTypeModel, TypeRegressor } from '../../src/kernels/regressors';
import { sampleGraph } from '../../src/kernels/sampler';
import { parseKernelModel, parseKernelProfile } from '../../src/kernels/store';
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

  it('samples profiling graphs deterministically per seed, every one of them plannable', () => {
    assert.deepEqual(sampleGraph(3, 5).bytes, sampleGraph(3, 5).bytes);
    assert.notDeepEqual(sampleGraph(3, 5).bytes, sampleGraph(4, 5).bytes);
    for (let i = 0; i < 14; i++) {
      const s = sampleGraph(0, i);
      const p = planKernels(loadKernelGraph(s.bytes, { file: s.id }), { blockSize: 16 });
      assert.equal(p.unsupported.length, 0, `${s.id}: ${JSON.stringify(p.unsupported)}`);
    }
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

  it('refuses damaged profile and regressor files with a specific error', () => {
    const file = path.join(tempDir(), 'regressors.json');
    fs.writeFileSync(file, '{"schema": "tailor.kernel-regressors/v1", "device": {"id": "x"}, "blockSiz');
    const isCorrupt = (e: unknown) => e instanceof TailorError && e.code === 'CORRUPT_KERNELS' && e.message.includes(file);
    assert.throws(() => parseKernelModel(file, fs.readFileSync(file, 'utf8')), isCorrupt);
    assert.throws(() => parseKernelModel(file, JSON.stringify({ schema: 'tailor.kernel-regressors/v1', device: { id: 'x' }, blockSize: 16, overheadMs: 0.01, features: ['a'], models: {} })), isCorrupt);
    assert.throws(() => parseKernelProfile(file, JSON.stringify({ schema: 'nope' })), isCorrupt);
  });
});
