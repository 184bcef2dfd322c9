import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { validateXML } from 'xmllint-wasm';
import { TailorError } from '../../src/core/errors';
import { workspace } from '../../src/core/workspace';
import { Budget, Limit, fileModelResolver, findGateConfig, parseGateConfig } from '../../src/gate/config';
import { BudgetResult, Check, GateReport, Metric, applyBaseline, readBaseline, saveBaseline, toJsonReport } from '../../src/gate/report';
import { REPORTERS } from '../../src/gate/reporters';
import { parseCount, parseDuration, parseSize } from '../../src/gate/units';
import { analyzeTflite } from '../../src/analysis/tflite';
import { minArch } from '../../src/core/arch';
import { buildIR } from '../../src/core/ir';
import { netFromArch } from '../../src/core/net';
import { getSpace } from '../../src/core/space';
import { exportOnnx } from '../../src/export/onnx';
import { exportPiecesTflite } from '../../src/export/tflite';
import { seededWeights } from '../../src/export/weights';
import { GateService, resultFromReport } from '../../src/gate/gate';
import { DeviceService } from '../../src/runtime/device.service';
import { TfliteWasmBackend } from '../../src/runtime/tflite-wasm/backend';
import { tfliteVersion } from '../../src/runtime/tflite-wasm/version';
import { registerBackend } from '../../src/runtime/registry';
import { readTflite } from '../../src/tflite/reader';
import { writeTflite } from '../../src/tflite/writer';
import { tempFileWriter, unwritableReason } from '../../src/core/fs-atomic';
import { FIXTURES, REPO, tempDir } from '../helpers';

const value = (p: ReturnType<typeof parseSize>) => {
  assert.ok(p.ok, p.ok ? '' : p.reason);
  return p.value;
};
const reason = (p: ReturnType<typeof parseSize>) => {
  assert.ok(!p.ok, `expected an error, got ${JSON.stringify(p)}`);
  return p.reason;
};

const code = (c: string, message?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof TailorError, String(e));
  assert.equal(e.code, c, e.message);
  if (message) assert.match(e.message, message);
  return true;
};

describe('gate: units', () => {
  it('parses sizes with the bytes package (binary multiples) and refuses unknown units', () => {
    assert.equal(value(parseSize('5 MB')), 5 * 1024 ** 2);
    assert.equal(value(parseSize('5MB')), 5 * 1024 ** 2);
    assert.equal(value(parseSize('5 MiB')), 5 * 1024 ** 2);
    assert.equal(value(parseSize('1.5 kB')), 1536);
    assert.equal(value(parseSize('2 GB')), 2 * 1024 ** 3);
    assert.equal(value(parseSize('300 B')), 300);
    assert.equal(value(parseSize('300')), 300);
    assert.equal(value(parseSize(4096)), 4096);
    assert.match(reason(parseSize('5 XB')), /unknown size unit "XB" in "5 XB"/);
    assert.match(reason(parseSize('five MB')), /not a size/);
    assert.match(reason(parseSize('0 MB')), /more than 0/);
    assert.match(reason(parseSize(-3)), /positive/);
    assert.match(reason(parseSize(true)), /expected a size/);
  });

  it('parses counts such as 2.5M and 600M', () => {
    assert.equal(value(parseCount('2.5M')), 2_500_000);
    assert.equal(value(parseCount('600M')), 600_000_000);
    assert.equal(value(parseCount('600 m')), 600_000_000);
    assert.equal(value(parseCount('1.2B')), 1_200_000_000);
    assert.equal(value(parseCount('3G')), 3e9);
    assert.equal(value(parseCount('12k')), 12_000);
    assert.equal(value(parseCount('1500')), 1500);
    assert.equal(value(parseCount(2e6)), 2e6);
    assert.match(reason(parseCount('3 MB')), /unknown count unit "MB"/);
    assert.match(reason(parseCount('lots')), /not a count/);
    assert.match(reason(parseCount('0M')), /more than 0/);
  });

  it('parses durations with the ms package, milliseconds and seconds only', () => {
    assert.equal(value(parseDuration('15 ms')), 15);
    assert.equal(value(parseDuration('15ms')), 15);
    assert.equal(value(parseDuration('2.5 ms')), 2.5);
    assert.equal(value(parseDuration('1.5s')), 1500);
    assert.equal(value(parseDuration('1 second')), 1000);
    assert.equal(value(parseDuration('20')), 20);
    assert.equal(value(parseDuration(7.5)), 7.5);
    assert.match(reason(parseDuration('15 m')), /unknown duration unit "m"/);
    assert.match(reason(parseDuration('15 parsecs')), /unknown duration unit "parsecs"/);
    assert.match(reason(parseDuration('fast')), /not a duration/);
    assert.match(reason(parseDuration('0 ms')), /more than 0/);
  });
});

function writeJson(file: string, v: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(v));
}

describe('gate: config discovery (like size-limit: --config, tailor.budgets.json, package.json "tailor")', () => {
  const budgets = (name: string) => ({ budgets: [{ name, model: 'm.onnx', limits: { size: '1 MB' } }] });

  it('prefers --config, then tailor.budgets.json, then the "tailor" key of package.json', () => {
    const dir = tempDir();
    writeJson(path.join(dir, 'package.json'), { name: 'app', tailor: budgets('from-package') });
    let found = findGateConfig({ cwd: dir });
    assert.equal(found.file, path.join(dir, 'package.json'));
    assert.equal(found.found, 'package.json');
    assert.deepEqual(found.raw, budgets('from-package'));

    writeJson(path.join(dir, 'tailor.budgets.json'), budgets('from-file'));
    found = findGateConfig({ cwd: dir });
    assert.equal(found.file, path.join(dir, 'tailor.budgets.json'));
    assert.deepEqual(found.raw, budgets('from-file'));

    writeJson(path.join(dir, 'ci', 'budgets.json'), budgets('from-option'));
    found = findGateConfig({ cwd: dir, config: 'ci/budgets.json' });
    assert.equal(found.file, path.join(dir, 'ci', 'budgets.json'));
    assert.equal(found.found, '--config');
    assert.deepEqual(found.raw, budgets('from-option'));
    // --config package.json reads its "tailor" key
    assert.deepEqual(findGateConfig({ cwd: dir, config: 'package.json' }).raw, budgets('from-package'));

    // a sub-directory finds its parent's, as size-limit does
    fs.mkdirSync(path.join(dir, 'sub'));
    assert.equal(findGateConfig({ cwd: path.join(dir, 'sub') }).file, path.join(dir, 'tailor.budgets.json'));
  });

  it('skips a package.json without a "tailor" key, also on the way up, and names the file of a broken config', () => {
    const dir = tempDir();
    writeJson(path.join(dir, 'package.json'), { name: 'app' });
    assert.throws(() => findGateConfig({ cwd: dir }), code('GATE_CONFIG_NOT_FOUND', /tailor\.budgets\.json.*"tailor" key in package\.json.*--config/));
    // budgets two levels up, past a nested package's package.json that has no "tailor" key
    writeJson(path.join(dir, 'packages', 'package.json'), { name: 'workspace' });
    writeJson(path.join(dir, 'packages', 'app', 'package.json'), { name: 'app' });
    fs.mkdirSync(path.join(dir, 'packages', 'app', 'src'));
    writeJson(path.join(dir, 'package.json'), { name: 'root', tailor: budgets('from-root') });
    const found = findGateConfig({ cwd: path.join(dir, 'packages', 'app', 'src') });
    assert.equal(found.file, path.join(dir, 'package.json'));
    assert.deepEqual(found.raw, budgets('from-root'));
    writeJson(path.join(dir, 'package.json'), { name: 'app' });
    assert.throws(() => findGateConfig({ cwd: dir, config: 'package.json' }), code('INVALID_GATE_CONFIG', /no "tailor" key/));
    fs.writeFileSync(path.join(dir, 'tailor.budgets.json'), '{ "budgets": [ ');
    assert.throws(() => findGateConfig({ cwd: dir }), code('INVALID_GATE_CONFIG', /tailor\.budgets\.json: not valid JSON/));
    fs.writeFileSync(path.join(dir, 'tailor.budgets.json'), '');
    assert.throws(() => findGateConfig({ cwd: dir }), code('INVALID_GATE_CONFIG', /empty/));
    assert.throws(() => findGateConfig({ cwd: dir, config: 'nope.json' }), code('INVALID_GATE_CONFIG', /nope\.json: no such file/));
  });
});

describe('gate: config schema', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'm.onnx'), 'x');
  fs.writeFileSync(path.join(dir, 'm.tflite'), 'x');
  const home = tempDir();
  writeJson(path.join(home, 'devices', 'note10.json'), { id: 'note10', name: 'Note10 (imported)', backend: 'table-only', options: {} });
  const devices = new DeviceService(workspace(home));
  const source = path.join(dir, 'tailor.budgets.json');
  const parse = (raw: unknown): Budget[] => parseGateConfig(raw, { source, devices, resolveModel: fileModelResolver(dir, source) });
  const one = (budget: Record<string, unknown>) => parse({ budgets: [{ name: 'b', model: 'm.onnx', limits: { size: '1 MB' }, ...budget }] });

  it('reads budgets with human units into numbers, keeping the text for reports', () => {
    const [b] = parse({
      budgets: [{
        name: 'mobile', model: 'm.onnx', inputShape: 'input:1x3x224x224', measure: true,
        limits: { size: '5 MB', params: '2.5M', macs: '600M', latency: { 'local-cpu': '15 ms' } },
      }],
    });
    assert.equal(b.name, 'mobile');
    assert.deepEqual(b.model, { display: 'm.onnx', file: path.join(dir, 'm.onnx') });
    assert.deepEqual(b.inputShapes, { input: [1, 3, 224, 224] });
    assert.equal(b.measure, true);
    assert.deepEqual(b.limits, {
      size: { value: 5 * 1024 ** 2, text: '5 MB' },
      params: { value: 2_500_000, text: '2.5M' },
      macs: { value: 600_000_000, text: '600M' },
      latency: { 'local-cpu': { value: 15, text: '15 ms' } },
    });
    assert.deepEqual(one({ inputShape: { input: [1, 3, 64, 64], mask: '1x64' } })[0].inputShapes, { input: [1, 3, 64, 64], mask: [1, 64] });
    assert.deepEqual(one({ inputShape: ['a:1x2', 'b:3'] })[0].inputShapes, { a: [1, 2], b: [3] });
    assert.equal(one({})[0].measure, false);
  });

  it('a report of another gate (gate --server): a limit without its figure there, or a verdict its figures contradict, is an error naming the budget', () => {
    const remote = { server: 'http://127.0.0.1:9', notes: ['from the service'], seconds: 2 };
    const figures = { sizeBytes: 100, params: 50, macs: 1000, latencyMs: { 'local-cpu': { predicted: 2 } } };
    const entry = (changed: object, passed = true) => ({ name: 'b', passed, metrics: { ...figures, ...changed }, failures: [] });
    const [b] = one({ limits: { params: '1K', latency: { 'local-cpu': '5 ms' } } });
    const r = resultFromReport(b, entry({}), remote);
    assert.deepEqual([r.passed, r.checks.map((c) => [c.id, c.passed, c.seconds]), r.notes], [true, [['params', true, 1], ['latency:local-cpu:predicted', true, 1]], ['from the service']]);
    // no latency figure for the device: never passed on the params check alone
    assert.throws(() => resultFromReport(b, entry({ latencyMs: {} }), remote), code('INCOMPLETE_FIGURE', /^Budget "b": cannot gate latency on "local-cpu" of m\.onnx: the report of the Tailor service at http:\/\/127\.0\.0\.1:9 has no metrics\.latencyMs\.local-cpu$/));
    assert.throws(() => resultFromReport(b, entry({ params: 'many' }), remote), code('INCOMPLETE_FIGURE', /cannot gate params of m\.onnx: .* has no metrics\.params$/));
    const [measured] = one({ measure: true, limits: { latency: { 'local-cpu': '5 ms' } } });
    assert.throws(() => resultFromReport(measured, entry({}), remote), code('INCOMPLETE_FIGURE', /has no metrics\.latencyMs\.local-cpu\.measured$/));
    assert.throws(() => resultFromReport(b, entry({}, false), remote), code('REMOTE_REQUEST_FAILED', /^POST \/gate \(budget "b"\) on the Tailor service at http:\/\/127\.0\.0\.1:9 failed \(HTTP 200\): its verdict \(fail\) disagrees with its figures against the budget's limits \(all within\)$/));
    assert.throws(() => resultFromReport(b, entry({ params: 2000 }), remote), code('REMOTE_REQUEST_FAILED', /its verdict \(pass\) disagrees .* \(over: params\)$/));
  });

  it('refuses bad configs with a message naming the field', () => {
    const bad = (raw: unknown, message: RegExp) => assert.throws(() => parse(raw), code('INVALID_GATE_CONFIG', message));
    const budget = (b: Record<string, unknown>) => ({ budgets: [{ name: 'b', model: 'm.onnx', limits: { size: '1 MB' }, ...b }] });
    bad({ budget: [] }, /unknown field "budget"/);
    bad({ budgets: [] }, /"budgets" is empty/);
    bad(budget({ modle: 'x' }), /budgets\[0\] \("b"\)\.modle: unknown field \(known: name, model, inputShape, limits, measure, allowUnknownOps\)/);
    bad(budget({ limits: { sise: '1 MB' } }), /budgets\[0\] \("b"\)\.limits\.sise: unknown field \(known: size, params, macs, latency\)/);
    bad(budget({ limits: { size: '5 XB' } }), /limits\.size: unknown size unit "XB" in "5 XB"/);
    bad(budget({ limits: { params: '2.5 MB' } }), /limits\.params: unknown count unit "MB"/);
    bad(budget({ limits: { latency: { 'local-cpu': '15 minutes' } } }), /limits\.latency\.local-cpu: unknown duration unit "minutes"/);
    bad(budget({ limits: { latency: { pixel9: '15 ms' } } }), /limits\.latency: unknown device "pixel9" \(known devices: .*local-cpu/);
    bad(budget({ limits: { latency: {} } }), /limits\.latency: must be an object .* at least one device/);
    bad(budget({ limits: {} }), /limits: is empty/);
    bad(budget({ model: 'missing.onnx' }), /budgets\[0\] \("b"\)\.model: model file "missing\.onnx" not found \(looked for .*missing\.onnx\)/);
    bad(budget({ measure: true }), /measure: true needs a latency limit/);
    bad(budget({ measure: 'yes' }), /measure: must be true or false/);
    bad(budget({ allowUnknownOps: 'yes' }), /allowUnknownOps: must be true or false/);
    bad(budget({ measure: true, limits: { latency: { note10: '30 ms' } } }), /measure: device "note10" is a table-only device/);
    bad(budget({ inputShape: 'input:1xAx3' }), /inputShape: "input:1xAx3": dims must be positive integers/);
    bad(budget({ name: '' }), /name: must be a non-empty string/);
    bad({ budgets: [{ name: 'b', model: 'm.onnx', limits: { size: '1 MB' } }, { name: 'b', model: 'm.onnx', limits: { size: '2 MB' } }] }, /budgets\[1\]\.name: "b" is used by an earlier budget/);
    // a table-only device can be gated on its predicted latency
    assert.equal(one({ limits: { latency: { note10: '30 ms' } } })[0].limits.latency!.note10.value, 30);
  });

  it('takes TFLite models like ONNX ones (the format is told by content when the gate reads them)', () => {
    assert.deepEqual(one({ model: 'm.tflite' })[0].model, { display: 'm.tflite', file: path.join(dir, 'm.tflite') });
  });
});

describe('gate: TFLite models', () => {
  const dir = tempDir();
  const space = getSpace('ofa-mbv3-w1.0');
  const ir = buildIR(netFromArch(space, minArch(space, 128)));
  const tflite = exportPiecesTflite(ir.pieces.slice(0, 1), { weights: seededWeights(1) });
  fs.writeFileSync(path.join(dir, 'net.tflite'), tflite);
  // the same with a dynamic batch: its inputShape is pinned into the model the device loads
  const dynamic = readTflite(tflite);
  for (const t of dynamic.subgraphs[0].tensors) if (t.buffer === 0) t.shapeSignature = [-1, ...t.shape.slice(1)];
  const input = dynamic.subgraphs[0].tensors[dynamic.subgraphs[0].inputs[0]];
  fs.writeFileSync(path.join(dir, 'dynamic.tflite'), writeTflite(dynamic));
  fs.writeFileSync(path.join(dir, 'net.onnx'), exportOnnx(ir, { weights: seededWeights(1) }));
  const home = tempDir();
  writeJson(path.join(home, 'devices', 'tfl.json'), { id: 'tfl', name: 'TFLite (wasm)', backend: 'tflite-wasm', options: {} });
  const devices = new DeviceService(workspace(home));
  const source = path.join(dir, 'tailor.budgets.json');
  const budgets = (...list: Record<string, unknown>[]) => parseGateConfig({ budgets: list }, { source, devices, resolveModel: fileModelResolver(dir, source) });
  const noKernels = () => assert.fail('the kernel regressors read ONNX only: never loaded for a TFLite model');
  const gate = new GateService(devices, noKernels);
  const a = analyzeTflite(tflite);

  // The real tflite-wasm backend, with a record of the model bytes the gate hands it.
  const loaded: Uint8Array[] = [];
  registerBackend('tflite-wasm', {
    local: true,
    runtimeVersion: tfliteVersion,
    create: async (options) => {
      const backend = new TfliteWasmBackend(options);
      const load = backend.load.bind(backend);
      backend.load = async (bytes: Uint8Array) => {
        loaded.push(bytes);
        return load(bytes);
      };
      return backend;
    },
  });

  it('gates size, params and MACs of a .tflite model as the analysis counts them', async () => {
    const report = await gate.run(budgets(
      { name: 'holds', model: 'net.tflite', limits: { size: tflite.length, params: a.params, macs: a.macs } },
      { name: 'exceeds', model: 'net.tflite', limits: { size: 2 * tflite.length, params: a.params - 1, macs: a.macs - 1 } },
    ));
    assert.deepEqual(report.results.map((r) => [r.name, r.passed, r.metrics]), [
      ['holds', true, { sizeBytes: tflite.length, params: a.params, macs: a.macs, latencyMs: {} }],
      ['exceeds', false, { sizeBytes: tflite.length, params: a.params, macs: a.macs, latencyMs: {} }],
    ]);
    assert.deepEqual(toJsonReport(report)[1].failures.map((f) => f.check), ['params', 'macs']);
  });

  it('latency: without table or TFLite op regressors no predicted figure for TFLite; measured on a tflite-wasm device only', async () => {
    const latency = (device: string, measure: boolean, model = 'net.tflite') => gate.run(budgets({ name: 'b', model, measure, limits: { latency: { [device]: '10 ms' } } }));
    await assert.rejects(latency('local-cpu', false), code('INCOMPLETE_FIGURE', /^Budget "b": cannot gate latency on "local-cpu" of net\.tflite: TFLite models get a predicted latency from a lookup table when Tailor exported them, or from the TFLite op regressors of a device whose runtime loads TFLite \(tailor profile --device local-tflite --kernels\); this device has neither for this model; set "measure": true with a device whose backend is tflite-wasm \(e\.g\. local-tflite\) to gate measured latency$/));
    await assert.rejects(latency('tfl', false), code('INCOMPLETE_FIGURE', /TFLite models get a predicted latency from a lookup table when Tailor exported them, or from the TFLite op regressors/));
    await assert.rejects(latency('local-cpu', true), code('INCOMPLETE_FIGURE', /cannot gate latency on "local-cpu" of net\.tflite: device "local-cpu" \(backend ort-cpu\) cannot run TFLite models/));
    await assert.rejects(latency('tfl', true, 'net.onnx'), code('INCOMPLETE_FIGURE', /device "tfl" \(backend tflite-wasm\) runs TFLite models only; measure this ONNX model on an onnxruntime device/));
    assert.ok(!loaded.length, 'nothing loaded before the checks pass');

    const report = await latency('tfl', true);
    assert.ok(loaded.length === 1 && Buffer.from(tflite).equals(loaded[0]), 'the model as it is on disk');
    const [r] = report.results;
    const ms = r.metrics.latencyMs.tfl.measured!;
    assert.ok(ms > 0 && ms < 10 && r.metrics.latencyMs.tfl.predicted === undefined);
    assert.deepEqual(r.checks.map((c) => [c.id, c.value, c.passed]), [['latency:tfl:measured', ms, true]]);
    const pinned = await gate.run(budgets({ name: 'b', model: 'dynamic.tflite', inputShape: `${input.name}:2x128x128x3`, measure: true, limits: { latency: { tfl: '0.001 ms' } } }));
    assert.equal(pinned.results[0].passed, false, 'measured against 1 µs (a batch of 2 at 128 px)');
    const g = readTflite(loaded[1]).subgraphs[0];
    assert.deepEqual(g.tensors[g.inputs[0]], { ...input, shape: [2, 128, 128, 3], shapeSignature: [2, 128, 128, 3] });
    // its JSON report is a valid baseline
    const file = path.join(dir, 'baseline.json');
    saveBaseline(file, report);
    assert.deepEqual(readBaseline(file)[0].metrics.latencyMs, { tfl: { measured: ms } });
  });

  it('latency: predicted op by op on a TFLite device that has TFLite op regressors', async () => {
    writeJson(path.join(home, 'devices', 'tfl-ops.json'), { id: 'tfl-ops', name: 'TFLite with op regressors', backend: 'tflite-wasm', options: {} });
    writeJson(path.join(home, 'latency-tables', 'tfl-ops', 'kernels', 'regressors.json'), { schema: 'stand-in: only its presence is checked before the predictor is asked' });
    const asked: string[] = [];
    let unsupportedCount = 0;
    const prediction = (file: string) => ({
      device: 'tfl-ops', model: file, latencyMs: 3.5, overheadMs: 0.01, kernels: 1, breakdown: [], nodes: [], warnings: [],
      unsupported: unsupportedCount ? [{ node: 'tanh_0', opType: 'TANH', reason: 'no regressor kind for TANH' }] : [], unsupportedCount,
    });
    const withOps = new GateService(devices, () => ({
      predictor: (device: string) => ({ predict: (_bytes: Uint8Array, o: { file?: string } = {}) => (asked.push(device), prediction(o.file!)) }),
      checkMeasuredOn: async () => [], // the stand-in regressors record no fingerprint
    }));
    const run = (limits: Record<string, string>) => withOps.run(budgets({ name: 'b', model: 'net.tflite', limits: { latency: limits } }));
    const [r] = (await run({ 'tfl-ops': '3 ms' })).results;
    assert.deepEqual(asked, ['tfl-ops']);
    assert.deepEqual(r.checks.map((c) => [c.id, c.value, c.passed]), [['latency:tfl-ops:predicted', 3.5, false]]);
    // a device without them keeps the clear message; an op without predictor is never a silent pass
    await assert.rejects(run({ tfl: '3 ms' }), code('INCOMPLETE_FIGURE', /this device has neither for this model/));
    unsupportedCount = 1;
    await assert.rejects(run({ 'tfl-ops': '3 ms' }), code('INCOMPLETE_FIGURE', /1 node\(s\) have no kernel predictor \(node "tanh_0" \(TANH\): no regressor kind for TANH\)/));
  });
});

// A report built by hand: reporters are pure, so their output is checked exactly.
function limit(text: string, v: number): Limit {
  return { value: v, text };
}
function check(metric: Metric, v: number, l: Limit, device?: string, source?: 'predicted' | 'measured'): Check {
  return { id: metric === 'latency' ? `latency:${device}:${source}` : metric, metric, ...(device ? { device, source } : {}), value: v, limit: l, passed: v <= l.value, seconds: 0.25 };
}
function result(name: string, model: string, checks: Check[], metrics: BudgetResult['metrics'], notes: string[] = []): BudgetResult {
  return { name, model, passed: checks.every((c) => c.passed), metrics, checks, notes };
}
function sampleReport(baseline?: { file: string; report: ReturnType<typeof toJsonReport> }): GateReport {
  const results = [
    result('mobile', 'models/mobile.onnx', [
      check('size', 4_718_592, limit('5 MB', 5_242_880)),
      check('params', 2_600_000, limit('2.5M', 2_500_000)),
      check('macs', 580_000_000, limit('600M', 600_000_000)),
      check('latency', 14.2, limit('15 ms', 15), 'local-cpu', 'predicted'),
      check('latency', 15.6, limit('15 ms', 15), 'local-cpu', 'measured'),
    ], { sizeBytes: 4_718_592, params: 2_600_000, macs: 580_000_000, latencyMs: { 'local-cpu': { predicted: 14.2, measured: 15.6 } } }),
    result('edge <v2> & "tiny"', 'models/tiny|v2.onnx', [
      check('size', 800_000, limit('1 MB', 1_048_576)),
      check('latency', 2.5, limit('3 ms', 3), 'note10', 'predicted'),
    ], { sizeBytes: 800_000, params: 190_000, macs: 21_000_000, latencyMs: { note10: { predicted: 2.5 } } }, ['note10: regressors made with another runtime']),
  ];
  if (baseline) applyBaseline(results, baseline.report);
  return { config: 'tailor.budgets.json', baseline: baseline?.file ?? null, results, passed: results.every((r) => r.passed) };
}
const BASELINE = [
  { name: 'mobile', passed: true, metrics: { sizeBytes: 4_600_000, params: 2_600_000, macs: 600_000_000, latencyMs: { 'local-cpu': { predicted: 13.1 } } }, failures: [] },
];

describe('gate: reporters', () => {
  it('json: exactly [{ name, passed, metrics, failures }], which is also the baseline format', () => {
    const json = JSON.parse(REPORTERS.json(sampleReport()));
    assert.deepEqual(json, [
      {
        name: 'mobile', passed: false,
        metrics: { sizeBytes: 4_718_592, params: 2_600_000, macs: 580_000_000, latencyMs: { 'local-cpu': { predicted: 14.2, measured: 15.6 } } },
        failures: [
          { check: 'params', value: 2_600_000, limit: 2_500_000, message: 'params 2.6M exceeds the limit 2.5M' },
          { check: 'latency:local-cpu:measured', value: 15.6, limit: 15, message: 'latency local-cpu (measured) 15.6 ms exceeds the limit 15 ms' },
        ],
      },
      { name: 'edge <v2> & "tiny"', passed: true, metrics: { sizeBytes: 800_000, params: 190_000, macs: 21_000_000, latencyMs: { note10: { predicted: 2.5 } } }, failures: [] },
    ]);
  });

  it('text: a table per budget with value, limit, pass/fail and the delta to the baseline', () => {
    const text = REPORTERS.text(sampleReport({ file: 'base.json', report: BASELINE }));
    assert.match(text, /^changes against the baseline base\.json\n\nmobile/);
    assert.match(text, /mobile \(models\/mobile\.onnx\): FAIL/);
    assert.match(text, /check +value +limit +result +Δ baseline/);
    assert.match(text, /size +4\.5 MB +5 MB +pass +\+115\.81 KB \(\+2\.6%\)/);
    assert.match(text, /params +2\.6M +2\.5M +FAIL +±0/);
    assert.match(text, /MACs +580M +600M +pass +−20M \(−3\.3%\)/);
    assert.match(text, /latency local-cpu \(predicted\) +14\.2 ms +15 ms +pass +\+1\.1 ms \(\+8\.4%\)/);
    assert.match(text, /latency local-cpu \(measured\) +15\.6 ms +15 ms +FAIL +new/);
    assert.match(text, /edge <v2> & "tiny" \(models\/tiny\|v2\.onnx\): PASS\n/);
    assert.match(text, /note: note10: regressors made with another runtime/);
    assert.match(text, /1 of 2 budget\(s\) exceeded\n$/);
    const plain = REPORTERS.text(sampleReport());
    assert.doesNotMatch(plain, /Δ baseline/);
  });

  it('markdown: a PR comment with ▲/▼ against the baseline (snapshot)', () => {
    const md = REPORTERS.markdown(sampleReport({ file: 'baselines/main.json', report: BASELINE }));
    const snapshot = path.join(FIXTURES, 'gate', 'report.md');
    if (process.env.UPDATE_SNAPSHOTS) fs.writeFileSync(snapshot, md); // UPDATE_SNAPSHOTS=1 npm test rewrites it
    assert.equal(md, fs.readFileSync(snapshot, 'utf8'));
    assert.match(md, /▲ \+115\.81 KB/);
    assert.match(md, /▼ −20M/);
    const noBaseline = REPORTERS.markdown(sampleReport());
    assert.doesNotMatch(noBaseline, /Δ vs baseline|▲|▼/);
  });

  it('junit: one testcase per check and limit, valid against the JUnit schema', async () => {
    const xsd = fs.readFileSync(path.join(FIXTURES, 'gate', 'junit.xsd'), 'utf8');
    const xml = REPORTERS.junit(sampleReport());
    const r = await validateXML({ xml: [{ fileName: 'report.xml', contents: xml }], schema: [{ fileName: 'junit.xsd', contents: xsd }] });
    assert.deepEqual(r.errors.map((e) => e.rawMessage), []);
    assert.ok(r.valid);
    assert.equal((xml.match(/<testcase /g) ?? []).length, 7);
    assert.equal((xml.match(/<failure /g) ?? []).length, 2);
    assert.match(xml, /<testsuites name="tailor gate" tests="7" failures="2" errors="0" time="1\.750">/);
    assert.match(xml, /<testsuite name="edge &lt;v2&gt; &amp; &quot;tiny&quot;" tests="2" failures="0"/);
    assert.match(xml, /<testcase classname="tailor\.gate\.mobile" name="params &lt;= 2\.5M" time="0\.250">\n\s+<failure message="params 2\.6M exceeds the limit 2\.5M" type="BudgetExceeded">/);
    // the schema check can fail: a testcase without a name is refused
    const broken = xml.replace(/<testcase classname="tailor\.gate\.mobile" name="[^"]*"/, '<testcase classname="tailor.gate.mobile"');
    const bad = await validateXML({ xml: [{ fileName: 'report.xml', contents: broken }], schema: [{ fileName: 'junit.xsd', contents: xsd }] });
    assert.equal(bad.valid, false);
    assert.match(bad.errors.map((e) => e.rawMessage).join('\n'), /name.*required/);
  });
});

describe('gate: baselines', () => {
  it('deltas match budgets by name and each figure by metric, device and source', () => {
    const report = sampleReport({ file: 'b.json', report: BASELINE });
    const byId = (name: string) => new Map(report.results.find((r) => r.name === name)!.checks.map((c) => [c.id, c.baseline]));
    assert.deepEqual([...byId('mobile')], [['size', 4_600_000], ['params', 2_600_000], ['macs', 600_000_000], ['latency:local-cpu:predicted', 13.1], ['latency:local-cpu:measured', null]]);
    assert.deepEqual([...byId('edge <v2> & "tiny"').values()], [null, null], 'a budget the baseline lacks is new');
  });

  it('saves the JSON report atomically and reads it back; refuses files that are not a report', () => {
    const dir = tempDir();
    const file = path.join(dir, 'baseline.json');
    saveBaseline(file, sampleReport());
    assert.deepEqual(fs.readdirSync(dir), ['baseline.json'], 'no temp file left behind');
    assert.deepEqual(readBaseline(file), toJsonReport(sampleReport()));
    const bad = (content: string, message: RegExp) => {
      fs.writeFileSync(file, content);
      assert.throws(() => readBaseline(file), code('INVALID_BASELINE', message));
    };
    bad('{"truncated', /not valid JSON/);
    bad('{}', /expected the JSON report: an array/);
    bad('[{"name": "a"}]', /entry 0 \("a"\) has no "metrics"/);
    bad('[{"name": "a", "metrics": {"sizeBytes": 1, "params": "x", "macs": 1, "latencyMs": {}}}]', /metrics\.params must be a number/);
    bad('[{"name": "a", "metrics": {"sizeBytes": 1, "params": 1, "macs": 1, "latencyMs": {"d": {}}}}]', /metrics\.latencyMs\.d must be \{ predicted\?, measured\? \} in ms, at least one of them/);
    bad('[{"name": "a", "metrics": {"sizeBytes": 1, "params": 1, "macs": 1, "latencyMs": {"d": {"measured": "fast"}}}}]', /metrics\.latencyMs\.d must be/);
    assert.throws(() => readBaseline(path.join(dir, 'nope.json')), code('INVALID_BASELINE', /no such file/));
  });

  it('a baseline that cannot be written is CANNOT_WRITE at once: under a file, or where mkdir answers ENOENT (/proc)', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'model.onnx'), 'x');
    assert.throws(() => saveBaseline(path.join(dir, 'model.onnx', 'b.json'), sampleReport()), code('CANNOT_WRITE', /Cannot write the baseline .*model\.onnx\/b\.json: ENOTDIR: .*model\.onnx is a file, not a directory/));
    // node's own recursive mkdir retries /proc/nope forever: run it in a child that a timeout can stop
    const report = JSON.stringify(path.join(REPO, '.test-build', 'src', 'gate', 'report.js'));
    const script = `try { require(${report}).saveBaseline('/proc/nope/b.json', { results: [] }); } catch (e) { console.log(e.code + ': ' + e.message); }`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.signal, null, 'finished, not killed by the timeout');
    assert.match(r.stdout, /^CANNOT_WRITE: Cannot write the baseline \/proc\/nope\/b\.json: ENOENT/);
    assert.deepEqual([unwritableReason('/proc/nope/b.json'), unwritableReason(path.join(dir, 'sub', 'b.json'))], ['nothing can be created in /proc (ENOENT)', null]);
    assert.deepEqual(fs.readdirSync(dir), ['model.onnx'], 'the check leaves nothing behind');
  });

  it('a full disk while saving a baseline is DISK_FULL (naming the free space), not CANNOT_WRITE; the previous baseline intact', () => {
    const dir = tempDir();
    const file = path.join(dir, 'baseline.json');
    saveBaseline(file, { results: [] });
    const write = tempFileWriter.write;
    // half the bytes land in the temp file, then the disk is full
    tempFileWriter.write = (fd, data) => {
      fs.writeSync(fd, String(data).slice(0, 10)); // a baseline is JSON text
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    try {
      assert.throws(() => saveBaseline(file, sampleReport()), code('DISK_FULL', /^Out of disk space writing the baseline .*baseline\.json \(ENOSPC: no space left on the device; .+ free there, .+ to write\): nothing was replaced/));
    } finally {
      tempFileWriter.write = write;
    }
    assert.deepEqual(readBaseline(file), []);
    assert.deepEqual(fs.readdirSync(dir), ['baseline.json'], 'no temp file left behind');
  });
});
