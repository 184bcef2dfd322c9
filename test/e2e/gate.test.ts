import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { analyzeTflite } from '../../src/analysis/tflite';
import { minArch } from '../../src/core/arch';
import { buildIR } from '../../src/core/ir';
import { netFromArch } from '../../src/core/net';
import { getSpace } from '../../src/core/space';
import { exportPiecesTflite } from '../../src/export/tflite';
import { seededWeights } from '../../src/export/weights';
import { validateXML } from 'xmllint-wasm';
import { FIXTURES, REPO, cliAsync, tempDir } from '../helpers';
import { listing, tinyModel, writeExternalModel, writeRegressors } from '../gate-fixtures';

const CLI = path.join(REPO, '.test-build', 'src', 'cli.js');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `tailor gate` spawned in `cwd` (config discovery starts in the current directory). */
function gate(cwd: string, args: string[], opts: { home?: string; preload?: string; timeoutMs?: number } = {}): Run {
  const env = { ...process.env };
  delete env.TAILOR_HOME;
  const r = spawnSync(process.execPath, [...(opts.preload ? ['--require', opts.preload] : []), CLI, ...(opts.home ? ['--home', opts.home] : []), 'gate', ...args], {
    cwd, env, encoding: 'utf8', timeout: opts.timeoutMs ?? 600_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A project: models/ with a few tiny models, and a workspace with kernel regressors for local-cpu. */
function project(): { dir: string; home: string; models: string } {
  const dir = tempDir('tailor-gate-');
  const models = path.join(dir, 'models');
  fs.mkdirSync(models);
  fs.writeFileSync(path.join(models, 'tiny.onnx'), tinyModel());
  const home = tempDir('tailor-gate-home-');
  writeRegressors(home);
  return { dir, home, models };
}

const budgetsFile = (dir: string, budgets: unknown[], file = 'tailor.budgets.json') => fs.writeFileSync(path.join(dir, file), JSON.stringify({ budgets }, null, 2));

/** The schema errors of a JUnit report (Jenkins' junit-10.xsd, which GitLab and GitHub reporters read too). */
async function junitErrors(xml: string): Promise<string[]> {
  const xsd = fs.readFileSync(path.join(FIXTURES, 'gate', 'junit.xsd'), 'utf8');
  const r = await validateXML({ xml: [{ fileName: 'gate.xml', contents: xml }], schema: [{ fileName: 'junit.xsd', contents: xsd }] });
  return r.valid ? [] : r.errors.map((e) => e.rawMessage);
}

describe('tailor gate (CLI)', () => {
  it('exits 0 when every budget holds and 1 when one is exceeded, naming the config it used', async () => {
    const { dir, home } = project();
    budgetsFile(dir, [{ name: 'tiny', model: 'models/tiny.onnx', limits: { size: '10 kB', params: '1K', macs: '1M', latency: { 'local-cpu': '5 ms' } } }]);
    const ok = gate(dir, [], { home });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /budgets from tailor\.budgets\.json/);
    assert.match(ok.stdout, /tiny \(models\/tiny\.onnx\): PASS/);
    // The predicted figure is the kernel regressors' (checked in the kernel tests); here: the one the JSON report gives.
    const predicted = JSON.parse(gate(dir, ['--format', 'json'], { home }).stdout)[0].metrics.latencyMs['local-cpu'].predicted as number;
    const shown = /latency local-cpu \(predicted\) +([\d.]+) ms +5 ms +pass/.exec(ok.stdout);
    assert.ok(shown && Math.abs(Number(shown[1]) - predicted) <= 0.006, ok.stdout);

    // the "tailor" key of package.json, when there is no tailor.budgets.json
    fs.rmSync(path.join(dir, 'tailor.budgets.json'));
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', tailor: { budgets: [{ name: 'tiny', model: 'models/tiny.onnx', limits: { params: '100', macs: '1M' } }] } }));
    const over = gate(dir, ['--format', 'json'], { home });
    assert.equal(over.status, 1, over.stderr);
    assert.match(over.stderr, /budgets from package\.json \("tailor" key\)/);
    const report = JSON.parse(over.stdout);
    assert.deepEqual(report, [{
      name: 'tiny', passed: false,
      metrics: { sizeBytes: fs.statSync(path.join(dir, 'models', 'tiny.onnx')).size, params: 314, macs: 61_562, latencyMs: {} },
      failures: [{ check: 'params', value: 314, limit: 100, message: 'params 314 exceeds the limit 100' }],
    }]);

    // --config wins over both
    budgetsFile(dir, [{ name: 'other', model: 'models/tiny.onnx', limits: { size: '1 MB' } }], 'ci.json');
    const option = gate(dir, ['--config', 'ci.json', '--format', 'junit'], { home });
    assert.equal(option.status, 0, option.stderr);
    assert.match(option.stderr, /budgets from ci\.json/);
    assert.match(option.stdout, /<testcase classname="tailor\.gate\.other" name="size &lt;= 1 MB"/);
    assert.deepEqual(await junitErrors(option.stdout), [], 'the real output is valid JUnit');
  });

  it('finds the config in a directory above, past a package.json without a "tailor" key, and stops at the home directory', async () => {
    const { dir, home } = project();
    budgetsFile(dir, [{ name: 'tiny', model: 'models/tiny.onnx', limits: { params: '1K' } }]);
    const app = path.join(dir, 'packages', 'app');
    fs.mkdirSync(path.join(app, 'src'), { recursive: true });
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app' }));
    const env = { ...process.env };
    delete env.TAILOR_HOME;
    const nested = await cliAsync(['--home', home, 'gate'], { cwd: path.join(app, 'src'), env });
    assert.equal(nested.status, 0, nested.stderr);
    assert.ok(nested.stderr.includes(`budgets from ${path.join(dir, 'tailor.budgets.json')}\n`), nested.stderr);
    // the model path is relative to the config's directory, not to the current one
    assert.match(nested.stdout, /tiny \(models\/tiny\.onnx\): PASS/);

    const stopped = await cliAsync(['--home', home, 'gate'], { cwd: path.join(app, 'src'), env: { ...env, HOME: app } });
    assert.equal(stopped.status, 2, stopped.stderr);
    assert.ok(stopped.stderr.includes(`No gate config in ${path.join(app, 'src')} or a directory above it up to ${app}: looked for`), stopped.stderr);
  });

  it('exits 2 with a specific message on usage and input errors', () => {
    const { dir, home, models } = project();
    const truncated = tinyModel();
    fs.writeFileSync(path.join(models, 'truncated.onnx'), truncated.subarray(0, Math.floor(truncated.length / 2)));
    fs.writeFileSync(path.join(models, 'notes.onnx'), 'these are not the weights you are looking for\n');
    fs.writeFileSync(path.join(models, 'dynamic.onnx'), tinyModel({ dynamic: true }));
    fs.writeFileSync(path.join(models, 'custom.onnx'), tinyModel({ op: 'Swish' }));
    fs.writeFileSync(path.join(models, 'model.tflite'), Buffer.from('\x1c\x00\x00\x00TFL3\x00\x00\x00\x00'));
    fs.writeFileSync(path.join(models, 'renamed.onnx'), Buffer.from('\x1c\x00\x00\x00TFL3\x00\x00\x00\x00'));
    const ext = writeExternalModel(models, 'ext');
    fs.rmSync(ext.data);
    const size = { size: '1 MB' };
    const cases: [unknown[] | null, string[], RegExp][] = [
      [null, [], /No gate config in .*: looked for tailor\.budgets\.json and a "tailor" key in package\.json/],
      [[{ name: 'a', model: 'models/tiny.onnx', limits: size }], ['--format', 'yaml'], /argument 'yaml' is invalid\. Allowed choices are text, json, junit, markdown/],
      [[{ name: 'a', model: 'models/tiny.onnx', limits: { size: '5 XB' } }], [], /budgets\[0\] \("a"\)\.limits\.size: unknown size unit "XB"/],
      [[{ name: 'a', model: 'models/tiny.onnx', limits: { latency: { pixel9: '15 ms' } } }], [], /limits\.latency: unknown device "pixel9"/],
      [[{ name: 'a', model: 'models/missing.onnx', limits: size }], [], /model file "models\/missing\.onnx" not found/],
      [[{ name: 'a', model: 'models/model.tflite', limits: size }], [], /models\/model\.tflite is not a valid TFLite model: /],
      [[{ name: 'a', model: 'models/renamed.onnx', limits: size }], [], /models\/renamed\.onnx is not a valid TFLite model: /],
      [[{ name: 'a', model: 'models/truncated.onnx', limits: size }], [], /models\/truncated\.onnx is not a valid ONNX model: .*truncated/],
      [[{ name: 'a', model: 'models/notes.onnx', limits: size }], [], /models\/notes\.onnx is not a valid ONNX model/],
      [[{ name: 'a', model: 'models/dynamic.onnx', limits: size }], [], /Budget "a": cannot gate the figures of models\/dynamic\.onnx: input "input" has a dynamic shape \(batchx3xhxw\); give its size in the budget: "inputShape": "input:<batch>x3x<h>x<w>"/],
      [[{ name: 'a', model: 'models/dynamic.onnx', inputShape: 'input:1x3x16', limits: size }], [], /inputShape "input:1x3x16": input "input" has rank 4/],
      // an unknown op: refused whatever the limits, unless the budget allows a partial analysis (then MACs and latency still cannot be gated)
      [[{ name: 'a', model: 'models/custom.onnx', limits: size }], [], /models\/custom\.onnx has 1 node\(s\) of ops the analysis cannot infer shapes for or count: node "act" \(com\.example\.Swish\)\. .*set "allowUnknownOps": true in the budget/],
      [[{ name: 'a', model: 'models/custom.onnx', allowUnknownOps: true, limits: { macs: '1M' } }], [], /Budget "a": cannot gate MACs of models\/custom\.onnx: 4 node\(s\) have no MAC count \(node "act" \(com\.example\.Swish\): unsupported op/],
      [[{ name: 'a', model: 'models/custom.onnx', allowUnknownOps: true, limits: { latency: { 'local-cpu': '1 ms' } } }], [], /cannot gate latency on "local-cpu" of models\/custom\.onnx: 4 node\(s\) have no kernel predictor \(node "act"/],
      [[{ name: 'a', model: 'models/ext.onnx', limits: size }], [], /models\/ext\.onnx is not a valid ONNX model: tensor "conv\.w" is stored in the external data file "ext\.data", which is missing/],
      [[{ name: 'a', model: 'models/tiny.onnx', limits: size }], ['--baseline', 'nope.json'], /Baseline .*nope\.json cannot be used: no such file/],
      // checked before any work, and quickly (node's recursive mkdir spins forever under /proc)
      [[{ name: 'a', model: 'models/tiny.onnx', limits: size }], ['--save-baseline', 'models/tiny.onnx/b.json'], /Invalid value for --save-baseline: cannot write models\/tiny\.onnx\/b\.json: .*models\/tiny\.onnx is a file, not a directory/],
      [[{ name: 'a', model: 'models/tiny.onnx', limits: size }], ['--save-baseline', '/proc/nope/b.json'], /Invalid value for --save-baseline: cannot write \/proc\/nope\/b\.json: nothing can be created in \/proc \(ENOENT\)/],
      [[{ name: 'a', model: 'models/tiny.onnx', limits: size }], ['--save-baseline', 'models'], /Invalid value for --save-baseline: cannot write models: it is a directory/],
    ];
    for (const [budgets, args, message] of cases) {
      fs.rmSync(path.join(dir, 'tailor.budgets.json'), { force: true });
      if (budgets) budgetsFile(dir, budgets);
      const r = gate(dir, args, { home, timeoutMs: 60_000 });
      assert.equal(r.status, 2, `${JSON.stringify(budgets)} ${args.join(' ')} -> ${r.status}\n${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '', 'no report on input errors');
    }
    // a device without kernel regressors: the message says how to make them
    const bare = tempDir();
    budgetsFile(dir, [{ name: 'a', model: 'models/tiny.onnx', limits: { latency: { 'local-cpu': '1 ms' } } }]);
    const r = gate(dir, [], { home: bare });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /No kernel regressors for device "local-cpu".*tailor profile --device local-cpu --kernels/);

    // an unexpected failure inside the gate is exit 2 with its message (and stack), never 1 ("over budget")
    const preload = path.join(dir, 'broken-clock.js');
    fs.writeFileSync(preload, "process.hrtime.bigint = () => { throw new Error('the clock is broken'); };\n");
    budgetsFile(dir, [{ name: 'a', model: 'models/tiny.onnx', limits: size }]);
    const broken = gate(dir, [], { home, preload, timeoutMs: 60_000 });
    assert.equal(broken.status, 2, broken.stderr);
    assert.match(broken.stderr, /Error: the clock is broken\n\s+at /);
    assert.match(broken.stderr, /error: The gate stopped on an unexpected error, so no budget was judged: the clock is broken/);
    assert.equal(broken.stdout, '');
  });

  it('allowUnknownOps: a partial analysis, marked in the JSON report, gated on size and params', async () => {
    const { dir, home, models } = project();
    fs.writeFileSync(path.join(models, 'custom.onnx'), tinyModel({ op: 'Swish' }));
    budgetsFile(dir, [{ name: 'custom', model: 'models/custom.onnx', allowUnknownOps: true, limits: { size: '1 MB', params: '1K' } }]);
    const r = gate(dir, ['--format', 'json'], { home });
    assert.equal(r.status, 0, r.stderr);
    const [report] = JSON.parse(r.stdout);
    assert.deepEqual([report.passed, report.metrics.params, report.partial, report.unknownNodes], [true, 314, true, [{ node: 'act', opType: 'com.example.Swish' }]]);
    assert.equal(report.metrics.macs, 3 * 3 * 3 * 8 * 256 + 8 * 256, 'only the conv before the unknown op is counted');
    const text = gate(dir, [], { home });
    assert.match(text.stdout, /note: MACs leave out 4 of 5 node\(s\) whose shapes are unknown \(node "act" \(com\.example\.Swish\)\)/);
    // JUnit with a failure and the notes, as the CLI writes it, is valid too
    budgetsFile(dir, [{ name: 'custom <v2>', model: 'models/custom.onnx', allowUnknownOps: true, limits: { size: '1 MB', params: '100' } }]);
    const junit = gate(dir, ['--format', 'junit'], { home });
    assert.equal(junit.status, 1, junit.stderr);
    assert.match(junit.stdout, /<failure message="params 314 exceeds the limit 100" type="BudgetExceeded">/);
    assert.match(junit.stdout, /<system-out>MACs leave out/);
    assert.deepEqual(await junitErrors(junit.stdout), []);
  });

  it('gates .tflite models on size, params and MACs; their latency only when measured on a tflite-wasm device', () => {
    const { dir, home, models } = project();
    const space = getSpace('ofa-mbv3-w1.0');
    const stem = exportPiecesTflite(buildIR(netFromArch(space, minArch(space, 128))).pieces.slice(0, 1), { weights: seededWeights(1) });
    fs.writeFileSync(path.join(models, 'stem.tflite'), stem);
    const a = analyzeTflite(stem);
    budgetsFile(dir, [{ name: 'stem', model: 'models/stem.tflite', limits: { size: '1 MB', params: a.params, macs: a.macs } }]);
    const ok = gate(dir, ['--format', 'json'], { home });
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), [{ name: 'stem', passed: true, metrics: { sizeBytes: stem.length, params: a.params, macs: a.macs, latencyMs: {} }, failures: [] }]);
    budgetsFile(dir, [{ name: 'stem', model: 'models/stem.tflite', limits: { params: a.params - 1 } }]);
    const over = gate(dir, [], { home });
    assert.equal(over.status, 1, over.stderr);
    assert.match(over.stdout, new RegExp(`params +${a.params} +${a.params - 1} +FAIL`));
    budgetsFile(dir, [{ name: 'stem', model: 'models/stem.tflite', limits: { latency: { 'local-cpu': '5 ms' } } }]);
    const latency = gate(dir, [], { home });
    assert.equal(latency.status, 2);
    assert.match(latency.stderr, /Budget "stem": cannot gate latency on "local-cpu" of models\/stem\.tflite: TFLite models get a predicted latency from a lookup table when Tailor exported them, or from the TFLite op regressors of a device whose runtime loads TFLite \(tailor profile --device local-tflite --kernels\); this device has neither for this model; set "measure": true with a device whose backend is tflite-wasm/);
  });

  it('saves a baseline and reports deltas against it (▲/▼ in markdown)', () => {
    const { dir, home, models } = project();
    budgetsFile(dir, [{ name: 'tiny', model: 'models/tiny.onnx', limits: { size: '1 MB', params: '1M', latency: { 'local-cpu': '5 ms' } } }]);
    const saved = gate(dir, ['--save-baseline', 'baseline/main.json', '--format', 'json'], { home });
    assert.equal(saved.status, 0, saved.stderr);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'baseline', 'main.json'), 'utf8')), JSON.parse(saved.stdout), 'the baseline is the JSON report');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'baseline')), ['main.json']);

    fs.writeFileSync(path.join(models, 'tiny.onnx'), tinyModel({ channels: 16 })); // the PR grows the model
    const md = gate(dir, ['--baseline', 'baseline/main.json', '--format', 'markdown'], { home });
    assert.equal(md.status, 0, md.stderr);
    assert.match(md.stdout, /^<!-- tailor-gate -->\n### ✅ Tailor gate: all 1 budget\(s\) within their limits/);
    assert.match(md.stdout, /\| `tiny` \| params \| 618 \| 1M \| ▲ \+304 \(\+96\.8%\) \| ✅ \|/);
    const before = JSON.parse(fs.readFileSync(path.join(dir, 'baseline', 'main.json'), 'utf8'))[0].metrics.latencyMs['local-cpu'].predicted as number;
    const after = JSON.parse(gate(dir, ['--format', 'json'], { home }).stdout)[0].metrics.latencyMs['local-cpu'].predicted as number;
    const row = /\| `tiny` \| latency local-cpu \(predicted\) \| ([\d.]+) ms \| 5 ms \| ▲ \+([\d.]+) ms \(\+([\d.]+)%\) \| ✅ \|/.exec(md.stdout);
    assert.ok(row, md.stdout);
    assert.ok(Math.abs(Number(row[1]) - after) <= 0.0006 && Math.abs(Number(row[2]) - (after - before)) <= 0.0006, md.stdout);
    assert.ok(Math.abs(Number(row[3]) - 100 * (after / before - 1)) <= 0.06, md.stdout);
    const text = gate(dir, ['--baseline', 'baseline/main.json'], { home });
    assert.match(text.stdout, /params +618 +1M +pass +\+304 \(\+96\.8%\)/);

    fs.writeFileSync(path.join(models, 'tiny.onnx'), tinyModel({ channels: 4 }));
    const smaller = gate(dir, ['--baseline', 'baseline/main.json', '--format', 'markdown'], { home });
    assert.match(smaller.stdout, /\| `tiny` \| params \| 162 \| 1M \| ▼ −152 \(−48\.4%\) \| ✅ \|/);
  });

  it('measure: true times each model on the real local-cpu device and gates on it; nothing is written beside the models', () => {
    const { dir, home, models } = project();
    fs.writeFileSync(path.join(models, 'dynamic.onnx'), tinyModel({ dynamic: true }));
    const ext = writeExternalModel(models, 'ext');
    const latency = { 'local-cpu': '2 s' };
    budgetsFile(dir, [
      { name: 'tiny', model: 'models/tiny.onnx', measure: true, limits: { latency } },
      { name: 'dynamic', model: 'models/dynamic.onnx', inputShape: 'input:1x3x16x16', measure: true, limits: { latency } },
      { name: 'external', model: 'models/ext.onnx', measure: true, limits: { size: '1 MB', latency } },
    ]);
    const before = listing(dir);
    const r = gate(dir, ['--format', 'json'], { home });
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { name: string; passed: boolean; metrics: { sizeBytes: number; latencyMs: Record<string, { predicted: number; measured: number }> } }[];
    assert.deepEqual(report.map((b) => [b.name, b.passed]), [['tiny', true], ['dynamic', true], ['external', true]]);
    for (const b of report) {
      const l = b.metrics.latencyMs['local-cpu'];
      assert.ok(Number.isFinite(l.measured) && l.measured > 0, JSON.stringify(b));
      assert.ok(Number.isFinite(l.predicted) && l.predicted > 0, JSON.stringify(b));
    }
    assert.equal(report[2].metrics.sizeBytes, fs.statSync(ext.model).size + fs.statSync(ext.data).size, 'size covers the external data');
    assert.deepEqual(listing(dir), before, 'nothing written beside the models');

    // the measured figure is gated too: no model runs in a microsecond
    budgetsFile(dir, [{ name: 'tiny', model: 'models/tiny.onnx', measure: true, limits: { latency: { 'local-cpu': '0.001 ms' } } }]);
    const over = gate(dir, ['--format', 'json'], { home });
    assert.equal(over.status, 1, over.stderr);
    const failed = JSON.parse(over.stdout)[0].failures.map((f: { check: string }) => f.check);
    assert.ok(failed.includes('latency:local-cpu:measured'), failed.join());
  });

  it('starts fast: onnxruntime loads only for measure: true, the kernel regressors only for latency limits', () => {
    const { dir, home } = project();
    const record = path.join(dir, 'modules.json');
    const preload = path.join(dir, 'record-modules.js');
    fs.writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(record)}, JSON.stringify(Object.keys(require.cache))));\n`);
    const loaded = (budget: Record<string, unknown>) => {
      budgetsFile(dir, [{ name: 'tiny', model: 'models/tiny.onnx', ...budget }]);
      const r = gate(dir, [], { home, preload });
      assert.equal(r.status, 0, r.stderr);
      const modules = JSON.parse(fs.readFileSync(record, 'utf8')) as string[];
      return { ort: modules.some((m) => m.includes(`${path.sep}onnxruntime-node${path.sep}`)), forest: modules.some((m) => m.includes(`${path.sep}ml-random-forest${path.sep}`)) };
    };
    assert.deepEqual(loaded({ limits: { size: '1 MB', params: '1M', macs: '1G' } }), { ort: false, forest: false });
    assert.deepEqual(loaded({ limits: { latency: { 'local-cpu': '1 s' } } }), { ort: false, forest: true });
    assert.deepEqual(loaded({ measure: true, limits: { latency: { 'local-cpu': '1 s' } } }), { ort: true, forest: true });
  });
});
