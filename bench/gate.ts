/**
 * npm run bench:gate
 * How long `tailor gate` takes to analyse a ~25 MB ONNX model and predict its latency (goal:
 * under 2 s), against a baseline measured in the same run: reading the model file.
 * 1. Exports a large ofa-mbv3-w1.2 subnet at 224 (seeded: the arch whose fp32 size is closest to 25 MiB).
 * 2. Kernel regressors for local-cpu: the ones `npm run bench:kernels` made (.bench/kernels) when
 *    present, else forests of the same shape trained on synthetic samples (their predictions mean
 *    nothing, their speed is what is timed; GATE_BENCH_SYNTHETIC=1 forces them).
 * 3. Times, in this process and as the CLI: the file read, the analysis, the prediction, the whole gate.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyzeOnnx } from '../src/analysis/analyze';
import { ArchConfig, sampleArch } from '../src/core/arch';
import { countModel } from '../src/core/counters';
import { median } from '../src/core/latency';
import { buildIR } from '../src/core/ir';
import { netFromArch } from '../src/core/net';
import { Rng } from '../src/core/rng';
import { getSpace } from '../src/core/space';
import { workspace } from '../src/core/workspace';
import { exportOnnx } from '../src/export/onnx';
import { seededWeights } from '../src/export/weights';
import { fileModelResolver, parseGateConfig } from '../src/gate/config';
import { GateService } from '../src/gate/gate';
import { FEATURE_NAMES } from '../src/kernels/features';
import { KERNEL_TYPES } from '../src/kernels/fusion';
import { KernelsService } from '../src/kernels/kernels.service';
import { trainTypeModel } from '../src/kernels/regressors';
import { KERNEL_MODEL_SCHEMA, KernelModelFile, KernelSample, modelPath } from '../src/kernels/store';
import { DeviceService } from '../src/runtime/device.service';
import '../src/runtime/registry';

const DEVICE = 'local-cpu';
const TARGET_BYTES = 25 * 2 ** 20;
const REPEATS = 5;

function seconds<T>(fn: () => T): [T, number] {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return [r, Number(process.hrtime.bigint() - t0) / 1e9];
}

async function secondsAsync<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return [r, Number(process.hrtime.bigint() - t0) / 1e9];
}

/** The seeded subnet of ofa-mbv3-w1.2 at 224 whose fp32 size is closest to 25 MiB. */
function largeArch(): { arch: ArchConfig; sizeBytes: number } {
  const space = getSpace('ofa-mbv3-w1.2');
  const rng = new Rng(25);
  let best: { arch: ArchConfig; sizeBytes: number } | null = null;
  for (let i = 0; i < 300; i++) {
    const arch = sampleArch(space, rng, [224]);
    const { sizeBytes } = countModel(buildIR(netFromArch(space, arch)));
    if (!best || Math.abs(sizeBytes - TARGET_BYTES) < Math.abs(best.sizeBytes - TARGET_BYTES)) best = { arch, sizeBytes };
  }
  return best!;
}

/** Forests shaped like real ones (ml-random-forest, the project's options) on synthetic samples. */
function syntheticRegressors(): KernelModelFile {
  const rng = new Rng(7);
  const models: KernelModelFile['models'] = {};
  for (const type of KERNEL_TYPES) {
    const samples: KernelSample[] = Array.from({ length: 120 }, (_, i) => {
      const x = FEATURE_NAMES.map(() => Math.floor(rng.float() * 20));
      const work = 1e3 + rng.float() * 1e7;
      return { id: `${type}-${i}`, type, x, work, ms: (work * (0.5 + rng.float())) / 5e7 };
    });
    models[type] = trainTypeModel(type, samples, 1);
  }
  return {
    schema: KERNEL_MODEL_SCHEMA, device: { id: DEVICE, fingerprint: null }, backend: { name: 'ort-cpu', version: 'synthetic', threads: 1 },
    created: new Date().toISOString(), seed: 1, blockSize: 16, features: [...FEATURE_NAMES], target: 'log(ms/work)', overheadMs: 0.05,
    reference: { graphs: [], ms: [] }, models,
  };
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tailor-bench-gate-'));
  const ws = workspace(dir);
  const space = getSpace('ofa-mbv3-w1.2');
  const { arch, sizeBytes } = largeArch();
  const modelFile = path.join(dir, 'large.onnx');
  fs.writeFileSync(modelFile, exportOnnx(buildIR(netFromArch(space, arch)), { weights: seededWeights(0) }));
  const fileBytes = fs.statSync(modelFile).size;
  console.log(`model: ofa-mbv3-w1.2 subnet at 224, ${(fileBytes / 2 ** 20).toFixed(2)} MiB on disk (fp32 weights ${(sizeBytes / 2 ** 20).toFixed(2)} MiB)`);
  console.log(`  arch ${JSON.stringify({ ks: arch.ks, e: arch.e, d: arch.d })}`);

  const fromKernelsBench = path.resolve(__dirname, '..', '..', '.bench', 'kernels', 'latency-tables', DEVICE, 'kernels', 'regressors.json');
  const target = modelPath(ws, DEVICE);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  if (fs.existsSync(fromKernelsBench) && !process.env.GATE_BENCH_SYNTHETIC) {
    fs.copyFileSync(fromKernelsBench, target);
    console.log(`regressors: measured ones from npm run bench:kernels (${(fs.statSync(target).size / 2 ** 20).toFixed(1)} MiB)`);
  } else {
    fs.writeFileSync(target, JSON.stringify(syntheticRegressors()));
    console.log(`regressors: synthetic forests of the real shape (${(fs.statSync(target).size / 2 ** 20).toFixed(1)} MiB; run npm run bench:kernels for measured ones)`);
  }

  const devices = new DeviceService(ws);
  const kernels = new KernelsService(devices);
  const configFile = path.join(dir, 'tailor.budgets.json');
  const config = { budgets: [{ name: 'large', model: 'large.onnx', limits: { size: '30 MB', params: '10M', macs: '1G', latency: { [DEVICE]: '100 ms' } } }] };
  fs.writeFileSync(configFile, JSON.stringify(config));

  // Cold: the first gate of a process loads the regressors (JSON + forests) as well.
  const gate = new GateService(devices, () => kernels);
  const budgets = parseGateConfig(config, { source: configFile, devices, resolveModel: fileModelResolver(dir, configFile) });
  const [coldReport, cold] = await secondsAsync(() => gate.run(budgets));
  const read: number[] = [];
  const analysis: number[] = [];
  const prediction: number[] = [];
  const whole: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const [bytes, r] = seconds(() => fs.readFileSync(modelFile));
    read.push(r);
    analysis.push(seconds(() => analyzeOnnx(bytes, { file: 'large.onnx' }))[1]);
    prediction.push(seconds(() => kernels.predictor(DEVICE).predict(bytes, { file: 'large.onnx' }))[1]);
    whole.push((await secondsAsync(() => gate.run(budgets)))[1]);
  }
  const cli: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [path.resolve(__dirname, '..', 'src', 'cli.js'), '--home', dir, 'gate', '--format', 'json'], { cwd: dir, encoding: 'utf8' });
    cli.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (r.status !== 0) throw new Error(`tailor gate exited ${r.status}: ${r.stderr}`);
  }

  const base = median(read);
  const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
  const ratio = (s: number) => `${(s / base).toFixed(1)}x the read`;
  const m = coldReport.results[0].metrics;
  console.log(`figures: ${m.params} params, ${m.macs} MACs, predicted ${m.latencyMs[DEVICE].predicted!.toFixed(2)} ms on ${DEVICE}`);
  console.log();
  console.log(`baseline, reading the file (median of ${REPEATS}): ${ms(base)}`);
  console.log(`analysis (shapes, params, MACs)  median ${ms(median(analysis))}  (${ratio(median(analysis))})`);
  console.log(`prediction (kernel regressors)   median ${ms(median(prediction))}  (${ratio(median(prediction))})`);
  console.log(`whole gate in process, warm      median ${ms(median(whole))}  (${ratio(median(whole))})`);
  console.log(`whole gate in process, cold      ${ms(cold)}  (${ratio(cold)}; includes loading the regressors)`);
  console.log(`tailor gate CLI, end to end      median ${ms(median(cli))} of 3  (${ratio(median(cli))}; node start-up included)`);
  const worst = Math.max(cold, median(cli));
  console.log(`goal < 2 s for analysing and predicting a 25 MB model: ${worst < 2 ? 'met' : 'NOT met'} (slowest figure ${ms(worst)})`);
  console.log(`load average ${os.loadavg()[0].toFixed(2)} (2 cores; above 1 another process competed)`);
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
