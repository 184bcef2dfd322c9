import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { TailorError } from '../../src/core/errors';
import { workspace } from '../../src/core/workspace';
import { OnnxGraph } from '../../src/export/onnx-graph';
import { attributeOptimized, optimizedKeys, readOptimizedGraph } from '../../src/kernels/attribute';
import { planKernels } from '../../src/kernels/fusion';
import { loadKernelGraph } from '../../src/kernels/graph';
import { KernelsService } from '../../src/kernels/kernels.service';
import { KernelPredictor } from '../../src/kernels/predict';
import { parseKernelModel, readKernelProfile } from '../../src/kernels/store';
import { KERNEL_SAMPLER_VERSION, sampleGraph } from '../../src/kernels/sampler';
import { modelZoo } from '../../src/kernels/zoo';
import { DeviceService } from '../../src/runtime/device.service';
import '../../src/runtime/registry';
import { cli, tempDir } from '../helpers';
import { tinyModel, writeExternalModel } from '../gate-fixtures';
import { Graph, floatTensor } from '../onnx-graphs';

/** A model with an op the kernel predictor has no type for (ConvTranspose), and data movement (a channel Split, a reflect Pad). */
function withUnsupported(): Uint8Array {
  const g = new OnnxGraph(5);
  let x = g.convBnAct(g.input('input', [1, 3, 32, 32]), { cout: 16, k: 3, stride: 2, act: 'relu' });
  const [a, b] = g.split(x, [8, 8]);
  x = g.concat([a, g.convBnAct(g.pad(b, [0, 0, 1, 1, 0, 0, 1, 1], 'reflect'), { cout: 8, k: 3, pad: 0, act: 'relu' })]);
  const w = g.weight('up.weight', [16, 8, 2, 2], 64);
  x = g.op('ConvTranspose', [x.name, w], [1, 8, 32, 32], { kernel_shape: [2, 2], strides: [2, 2] }, 'up');
  g.output(g.act(x, 'sigmoid'));
  return g.bytes();
}

describe('kernel profile -> regressors -> predict and validate any ONNX model (integration, onnxruntime)', () => {
  const home = tempDir();
  const ws = workspace(home);
  const devices = new DeviceService(ws);
  const kernels = new KernelsService(devices);
  const zoo = modelZoo(0);

  it('the pure plan matches the graph onnxruntime runs: every executed kernel attributed, reorders as planned', async () => {
    const backend = await devices.open(devices.get('local-cpu'), 'inspect');
    const movement = [5, 15].map((i) => sampleGraph(0, i)).map((s) => ({ name: s.id, bytes: s.bytes }));
    const picked = zoo.filter((z) => ['unet-r128', 'fpn-r160', 'ofa-w1.0-r160', 'vit-r224-p16-d192', 'hybrid-r128', 'shufflenetv2-r160', 'resnet20-cifar', 'resnet18-w32-r160'].includes(z.name));
    for (const m of [...picked, ...movement]) {
      const g = loadKernelGraph(m.bytes, { file: m.name });
      const blockSize = 16; // this machine's MLAS kernels (AVX-512); the profiler detects it
      const a = attributeOptimized(g, planKernels(g, { blockSize }), readOptimizedGraph(await backend.optimizedModel!(m.bytes)));
      const optimized = readOptimizedGraph(await backend.optimizedModel!(m.bytes));
      assert.deepEqual(optimizedKeys(optimized).filter((k) => !a.byNode.has(k)), [], `${m.name}: unattributed kernels`);
      assert.ok(a.missedReorders.length + a.extraReorders.length <= 1, `${m.name}: ${JSON.stringify(a)}`);
    }
  });

  it('profiles a few kernel graphs, resumes, and stores files that round-trip', async () => {
    const abort = new AbortController();
    const small = { device: 'local-cpu', samples: 6, batchSize: 3, passes: 1, warmup: 1 };
    await assert.rejects(
      kernels.profile({ ...small, signal: abort.signal, onProgress: (p) => p.message.startsWith('graphs 4-6') && abort.abort() }),
      (e: Error) => e.name === 'AbortError',
    );
    const partial = readKernelProfile(path.join(home, 'latency-tables', 'local-cpu', 'kernels', 'profile.json'));
    assert.deepEqual(partial.graphs.map((g) => g.index), [0, 1, 2]);
    assert.equal(partial.complete, false);
    const r = await kernels.profile({ ...small, samples: 8 });
    assert.equal(r.skippedGraphs, 3);
    assert.equal(r.measuredGraphs, 5);
    assert.deepEqual(r.profile.graphs.slice(0, 3), partial.graphs, 'measured graphs are kept as they were');
    assert.equal(r.profile.complete, true);
    assert.equal(r.profile.method.seed, 0);
    assert.ok(r.profile.blockSize === 8 || r.profile.blockSize === 16 || r.profile.blockSize === 0);
    assert.deepEqual(readKernelProfile(r.profileFile), r.profile);
    const stored = parseKernelModel(r.modelFile, fs.readFileSync(r.modelFile, 'utf8'));
    assert.deepEqual(stored, JSON.parse(JSON.stringify(r.model)));
    assert.ok(Object.values(stored.models).some((m) => m!.forest !== null), 'at least one type has a forest');
    assert.equal(r.profile.method.sampler, KERNEL_SAMPLER_VERSION);
    assert.ok(stored.models.memory!.samples > 0, 'graph 5 (data movement) trains the memory regressor');
    assert.ok(stored.overheadMs > 0);
    // predictions from the loaded file equal those of the freshly trained model
    const bytes = zoo.find((z) => z.name === 'unet-r128')!.bytes;
    assert.equal(new KernelPredictor(stored).predict(bytes).latencyMs, new KernelPredictor(r.model).predict(bytes).latencyMs);
    // a profile of graphs another sampler version drew is never extended
    const oldHome = tempDir();
    const oldFile = path.join(oldHome, 'latency-tables', 'local-cpu', 'kernels', 'profile.json');
    fs.mkdirSync(path.dirname(oldFile), { recursive: true });
    const { sampler: _, ...method } = r.profile.method;
    fs.writeFileSync(oldFile, JSON.stringify({ ...r.profile, method }));
    await assert.rejects(new KernelsService(new DeviceService(workspace(oldHome))).profile({ ...small, samples: 9 }),
      (e: TailorError) => e.code === 'KERNEL_PROFILE_OUTDATED' && /holds graphs of sampler v1; this Tailor samples v2/.test(e.message));
  });

  it('predicts a model: finite total, every node accounted for, nodes without a predictor listed and counted', () => {
    const dir = tempDir();
    const file = path.join(dir, 'up.onnx');
    fs.writeFileSync(file, withUnsupported());
    const p = kernels.predict('local-cpu', file);
    assert.ok(Number.isFinite(p.latencyMs) && p.latencyMs > p.overheadMs);
    const g = loadKernelGraph(fs.readFileSync(file));
    assert.deepEqual(p.nodes.map((n) => n.node).sort(), g.nodes.map((n) => n.name).sort());
    assert.deepEqual(p.unsupported.map((u) => u.node), ['up']);
    // data movement is predicted by the memory regressor
    for (const op of ['Split', 'Pad']) {
      const node = p.nodes.find((n) => n.opType === op)!;
      assert.equal(node.status, 'kernel', op);
      assert.equal(p.breakdown.find((k) => k.kernel === node.kernel)!.type, 'memory');
      assert.ok(node.ms! > 0);
    }
    assert.equal(p.unsupportedCount, 1);
    assert.equal(p.nodes.find((n) => n.node === 'up')!.ms, null);
    assert.match(p.warnings[0], /1 node\(s\) have no predictor \(ConvTranspose\)/);
    const sum = p.overheadMs + p.breakdown.reduce((s, b) => s + b.ms, 0);
    assert.ok(Math.abs(sum - p.latencyMs) < 1e-9);
    for (const m of zoo.filter((z) => z.kind !== 'ofa-subnet')) {
      const q = new KernelPredictor(kernels.predictor('local-cpu').file).predict(m.bytes, { file: m.name });
      assert.ok(Number.isFinite(q.latencyMs) && q.breakdown.every((b) => Number.isFinite(b.ms) && b.ms >= 0), m.name);
      assert.ok(q.nodes.every((n) => n.status !== 'unsupported' || q.unsupported.some((u) => u.node === n.node)), m.name);
      if (m.kind === 'data-movement') assert.equal(q.unsupportedCount, 0, `${m.name}: ${JSON.stringify(q.unsupported)}`);
    }
  });

  it('validates a directory of models end to end (the JSON of validate --space, rows per model)', async () => {
    const dir = tempDir();
    for (const m of zoo.filter((z) => ['mlp-784', 'unet-r128'].includes(z.name))) fs.writeFileSync(path.join(dir, `${m.name}.onnx`), m.bytes);
    writeExternalModel(dir, 'ext'); // weights beside it: loaded through its path
    fs.writeFileSync(path.join(dir, 'dynamic.onnx'), tinyModel({ dynamic: true }));
    const files = ['dynamic.onnx', 'ext.onnx', 'mlp-784.onnx', 'unet-r128.onnx'];
    await assert.rejects(kernels.validate('local-cpu', dir, { passes: 1, warmup: 1, runsPerPass: 2 }), /Input "input" of .*dynamic\.onnx has a dynamic shape/);
    await assert.rejects(kernels.validate('local-cpu', dir, { passes: 1, inputShapes: { images: [1, 3, 8, 8] } }), /Invalid --input-shape "images:1x3x8x8": no model of the directory has a dynamic input "images"/);
    const r = await kernels.validate('local-cpu', dir, { passes: 1, warmup: 1, runsPerPass: 2, inputShapes: { input: [1, 3, 16, 16] } });
    // the keys of validate --space (ValidationReport, then its warnings) in order, space and seed null; "models" added
    assert.deepEqual(Object.keys(r), ['device', 'space', 'seed', 'samples', 'within5', 'within10', 'mape', 'rmseMs', 'spearman', 'speedFactor', 'uncalibrated', 'rows', 'warnings', 'models']);
    assert.deepEqual([r.space, r.seed, r.warnings, r.samples], [null, null, [], files.length]);
    assert.deepEqual(Object.keys(r.rows[0]), ['arch', 'predictedMs', 'measuredMs', 'tableMs', 'errorPct', 'model', 'unsupportedNodes']);
    assert.deepEqual(r.rows.map((row) => [row.model, row.arch]), files.map((f) => [f, null]));
    for (const key of ['within5', 'within10', 'mape', 'rmseMs', 'speedFactor']) assert.ok(Number.isFinite((r as any)[key]), key);
    assert.ok(r.rows.every((row) => row.measuredMs > 0 && Math.abs(row.predictedMs - row.tableMs * r.speedFactor) < 1e-9));
    assert.ok(r.uncalibrated.samples === files.length);
  });

  it('CLI: predict --model / validate --models, exit code 2 on bad input', () => {
    const dir = tempDir();
    const model = path.join(dir, 'mlp.onnx');
    fs.writeFileSync(model, zoo.find((z) => z.name === 'mlp-784')!.bytes);
    const ok = cli(['predict', '--device', 'local-cpu', '--model', model, '--json'], home);
    assert.equal(ok.status, 0, ok.stderr);
    const json = JSON.parse(ok.stdout);
    assert.ok(json.latencyMs > 0 && Array.isArray(json.breakdown) && Array.isArray(json.nodes) && json.unsupportedCount === 0);
    // the text names the nodes folded at load
    const g = new Graph(13).input('input', [1, 3, 16, 16]);
    g.init(floatTensor('w', [8, 3, 3, 3]));
    const conv = g.op('Conv', ['input', 'w'], { pads: [1, 1, 1, 1] }, { name: 'conv' });
    g.output(g.op('Relu', [g.op('Dropout', [g.op('Identity', [conv], {}, { name: 'same' })], {}, { name: 'drop' })], {}, { name: 'relu' }));
    const withFolded = path.join(dir, 'folded.onnx');
    fs.writeFileSync(withFolded, g.bytes());
    const text = cli(['predict', '--device', 'local-cpu', '--model', withFolded], home);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^folded at load: same, drop$/m);
    assert.match(text.stdout, /2 node\(s\) folded at load\)/);
    // an unknown op is refused unless allowed; then its nodes are listed without a prediction
    const custom = path.join(dir, 'custom.onnx');
    fs.writeFileSync(custom, tinyModel({ op: 'Swish' }));
    const allowed = cli(['predict', '--device', 'local-cpu', '--model', custom, '--allow-unknown-ops'], home);
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.match(allowed.stdout, /no predictor for \d+ node\(s\):\n {2}act \(com\.example\.Swish\)/);
    const ext = writeExternalModel(dir, 'ext');
    assert.equal(cli(['predict', '--device', 'local-cpu', '--model', ext.model], home).status, 0, 'external data read beside the model');
    fs.rmSync(ext.data);
    // a dynamic input without --input-shape, a file that is not ONNX, an ONNX file cut short
    const dynamic = path.join(dir, 'dynamic.onnx');
    fs.writeFileSync(dynamic, tinyModel({ dynamic: true }));
    const notOnnx = path.join(dir, 'notes.onnx');
    fs.writeFileSync(notOnnx, 'these are not the weights you are looking for\n');
    const truncated = path.join(dir, 'truncated.onnx');
    const whole = tinyModel();
    fs.writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
    const empty = tempDir();
    const corruptHome = tempDir();
    fs.mkdirSync(path.join(corruptHome, 'latency-tables', 'local-cpu', 'kernels'), { recursive: true });
    fs.writeFileSync(path.join(corruptHome, 'latency-tables', 'local-cpu', 'kernels', 'regressors.json'), '{"schema": "tailor.kernel-regressors/v1", "dev');
    const cases: [string[], string, RegExp][] = [
      [['predict', '--device', 'local-cpu', '--model', model], empty, /No kernel regressors for device "local-cpu"/],
      [['predict', '--device', 'local-cpu', '--model', model], corruptHome, /regressors.json is corrupt or truncated/],
      [['predict', '--device', 'local-cpu', '--model', path.join(dir, 'missing.onnx')], home, /Model file .*missing\.onnx does not exist/],
      [['predict', '--device', 'local-cpu', '--model', model, '--arch', 'max'], home, /either --arch or --model/],
      [['predict', '--device', 'local-cpu', '--model', custom], home, /custom\.onnx has 1 node\(s\) of ops the analysis cannot infer shapes for or count: node "act" \(com\.example\.Swish\)\. .*pass --allow-unknown-ops/],
      [['predict', '--device', 'local-cpu', '--model', ext.model], home, /ext\.onnx is not a valid ONNX model: tensor "conv\.w" is stored in the external data file "ext\.data", which is missing/],
      [['predict', '--device', 'local-cpu', '--model', dynamic], home, /Input "input" of .*dynamic\.onnx has a dynamic shape \(batchx3xhxw\); pass its size with --input-shape input:<batch>x3x<h>x<w>/],
      [['predict', '--device', 'local-cpu', '--model', notOnnx], home, /notes\.onnx is not a valid ONNX model: it cannot be decoded .*the file is truncated or not ONNX/],
      [['predict', '--device', 'local-cpu', '--model', truncated], home, /truncated\.onnx is not a valid ONNX model: it cannot be decoded .*the file is truncated or not ONNX/],
      [['validate', '--device', 'local-cpu', '--space', 'ofa-mbv3-w1.0', '--input-shape', 'x:1'], home, /--input-shape: it applies to --models only/],
      [['predict', '--device', 'local-cpu'], home, /needs --arch <arch> \(lookup table\) or --model/],
      [['validate', '--device', 'local-cpu', '--models', empty], home, /holds no \.onnx file/],
      [['validate', '--device', 'local-cpu'], home, /needs --space <id> \(lookup table\) or --models/],
      [['profile', '--device', 'local-cpu', '--kernels', '--space', 'ofa-mbv3-w1.0'], home, /either --space or --kernels/],
      [['profile', '--device', 'local-cpu', '--kernels', '--samples', '0'], home, /expected a positive integer/],
    ];
    for (const [args, h, message] of cases) {
      const r = cli(args, h);
      assert.equal(r.status, 2, `${args.join(' ')} -> ${r.status} ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
