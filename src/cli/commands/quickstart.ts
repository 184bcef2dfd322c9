import * as fs from 'node:fs';
import * as path from 'node:path';
import { maxArch, minArch } from '../../core/arch';
import { countModel } from '../../core/counters';
import { TailorError } from '../../core/errors';
import { writeJsonAtomic } from '../../core/fs-atomic';
import { buildIR } from '../../core/ir';
import { netFromArch } from '../../core/net';
import { getSpace, spaceWithIO } from '../../core/space';
import { workspace } from '../../core/workspace';
import type { ParetoFile } from '../../specialize/specialize';
import type { Target } from '../../specialize/targets';
import { GlobalOptions, services } from '../context';
import { ms, pct } from '../format';
import { progressBar } from '../progress';
import { profile } from './profile';

/** The supernet the quickstart trains: the tiny OFA space on Fashion-MNIST (28 px, 1 channel, 10 classes). */
const SPACE = 'ofa-mbv3-tiny';
const DATASET = 'fashion-mnist';
const IO = { inputChannels: 1, numClasses: 10 };

export interface QuickstartOptions {
  out: string;
  device: string;
  seed: number;
  /** Training images (the rest of the split is kept for validation and test). */
  images: number;
  epochsScale: number;
  accSamples: number;
  /** Latency budgets in ms; default: 40% and 75% of the way from the smallest to the largest subnet. */
  budgets?: number[];
  // Knobs that make a short run (tests) possible; the defaults are the real main job.
  resolutions?: number[];
  rounds: number;
  passes: number;
  bnImages: number;
  evalImages: number;
  testImages: number;
  maxSubnets: number;
  rescore: number;
  generations?: number;
  population?: number;
}

function step(n: number, text: string): void {
  console.log(`\n${n}/6 ${text}`);
}

/**
 * The main job on embedded defaults, end to end: profile this CPU for the tiny space, train a
 * supernet with progressive shrinking on Fashion-MNIST, fit the accuracy predictor, search two
 * latency budgets with NSGA-II, emit the Pareto subnets (measured), and gate them. Every stage
 * resumes: rerunning after an interruption redoes only what is missing.
 */
export async function run(opts: QuickstartOptions, global: GlobalOptions): Promise<void> {
  const started = Date.now();
  if (opts.budgets && (opts.budgets.length === 0 || opts.budgets.some((b) => !Number.isFinite(b) || b <= 0))) {
    throw new TailorError('INVALID_OPTION', { option: '--budgets', reason: 'a comma-separated list of positive latencies in ms, e.g. 0.4,0.7' });
  }
  const { ws, devices, latency } = services(global);
  const device = devices.get(opts.device);
  const out = path.resolve(ws.root, opts.out);
  const runDir = path.join(out, 'supernet');
  const cacheDir = path.join(workspace(global.home).root, '.tailor', 'cache');
  const space = getSpace(SPACE);
  const tableSpace = spaceWithIO(space, IO);
  const fp = await devices.fingerprint(device);
  console.log(`Tailor quickstart: specialize ${SPACE} on ${DATASET} for ${device.name}`);
  if (fp) console.log(`hardware: ${fp.cpu}, ${fp.cores} cores, ${fp.memoryGb} GB, ${fp.runtime} [${fp.hash}]`);
  console.log(`output: ${out} (seed ${opts.seed}; rerun to resume)`);

  step(1, `profile ${device.id} for ${tableSpace.id} (kernels timed inside whole networks)`);
  const request = { device: device.id, space: tableSpace.id, resolutions: opts.resolutions ?? space.resolutions, seed: opts.seed, rounds: opts.rounds, passes: opts.passes };
  let table;
  try {
    table = await profile(request, global);
  } catch (e) {
    // A table from another machine (a copied workspace): this machine gets its own, the old one is kept as .bak.
    if (!(e instanceof TailorError && e.code === 'FINGERPRINT_MISMATCH')) throw e;
    console.log(`note: ${e.message} Starting a new table; the old one is kept as a .bak file.`);
    table = await profile({ ...request, force: true }, global);
  }
  console.log(`table: ${table.file} (resolutions ${table.table.resolutions.join(', ')})`);

  step(2, `train the supernet with progressive shrinking (${opts.images} training images, epochs x${opts.epochsScale})`);
  const { trainRun } = await import('../../training/train-run.js');
  // Stage 4 times the emitted subnets in this process: the engine trains on one thread (see oneThreadForLatency).
  (await import('../../training/engine.js')).oneThreadForLatency();
  const resume = fs.existsSync(path.join(runDir, 'run.json'));
  let bar = progressBar('train');
  try {
    const trained = await trainRun(
      { space: SPACE, dataset: DATASET, out: runDir, epochsScale: opts.epochsScale, seed: opts.seed, batchSize: 32, limit: opts.images, resume },
      cacheDir,
      { info: (m) => process.stderr.write(`${m}\n`), onProgress: (p) => bar.update(p.done, p.total, p.message) },
    );
    bar.stop();
    const last = trained.log.at(-1);
    if (last) console.log(`supernet: ${runDir} (largest subnet ${pct(last.valTop1)} top-1 on validation after ${trained.log.length} epochs)`);
  } finally {
    bar.stop();
  }

  step(3, `accuracy predictor: ${opts.accSamples} subnets measured (BN recalibration + held-out top-1)`);
  const { buildAccuracyPredictor, ACC_PREDICTOR_DEFAULTS } = await import('../../accuracy/build.js');
  bar = progressBar('acc-predictor');
  let acc;
  try {
    acc = await buildAccuracyPredictor(
      { supernet: runDir, samples: opts.accSamples, seed: opts.seed, bnImages: opts.bnImages, evalImages: opts.evalImages, epochs: ACC_PREDICTOR_DEFAULTS.epochs },
      cacheDir,
      { info: (m) => process.stderr.write(`${m}\n`), onProgress: (p) => bar.update(p.done, p.total, p.message) },
    );
  } finally {
    bar.stop();
  }
  console.log(`held-out RMSE ${acc.heldOut.rmsePoints.toFixed(2)} points of top-1, Kendall tau ${acc.heldOut.kendallTau.toFixed(3)} (${acc.samples.train} train / ${acc.samples.heldOut} held out)`);

  const budgets = opts.budgets ?? (await defaultBudgets(latency, device.id, tableSpace.id, table.table.resolutions));
  const targets: Target[] = budgets.map((b) => ({ name: `${device.id}-${b}ms`, devices: { [device.id]: { latencyMs: b } } }));
  step(4, `NSGA-II search for ${budgets.map((b) => `${b} ms`).join(' and ')} on ${device.id}; the Pareto subnets exported and measured`);
  const { searchRun } = await import('../../specialize/search-run.js');
  const searchDir = path.join(out, 'search');
  bar = progressBar('search');
  let fronts: ParetoFile[];
  try {
    fronts = await searchRun(
      {
        supernet: runDir, targets, out: searchDir, algorithm: 'nsga2', seed: opts.seed, measure: true, maxSubnets: opts.maxSubnets,
        generations: opts.generations, population: opts.population, reward: 'soft', rescore: opts.rescore, bnImages: opts.bnImages, testImages: opts.testImages,
      },
      cacheDir, latency,
      { onProgress: (p) => bar.update(p.done, p.total, p.message), warn: (m) => process.stderr.write(`warning: ${m}\n`) },
    );
  } finally {
    bar.stop();
  }
  for (const f of fronts) {
    const m = f.measured?.[device.id];
    console.log(`${f.target}: ${f.evaluations} evaluated, ${f.frontSize} on the front, ${f.subnets.length} emitted` +
      (m ? `; latency within ±10% of predicted: ${pct(m.within10)} (MAPE ${m.mape.toFixed(1)}%)` : '') +
      (f.top1ErrorPoints ? `; top-1 within 1.5 points: ${pct(f.top1ErrorPoints.within1_5)} (mean error ${f.top1ErrorPoints.mean.toFixed(2)})` : ''));
  }

  step(5, 'gate the emitted models on their target budgets (size, params, MACs, latency)');
  const passed = await gateEmitted(out, searchDir, fronts, device.id, global);

  step(6, 'summary');
  for (const f of fronts) {
    const dir = path.join(searchDir, f.target);
    const best = f.subnets.reduce((a, b) => (b.predictedTop1 > a.predictedTop1 ? b : a));
    console.log(`${f.target}: Pareto plot ${path.join(dir, 'pareto.png')}; ${f.subnets.length} models in ${dir}; most accurate ${best.file} ` +
      `(top-1 ${pct(best.measuredTop1 ?? best.predictedTop1)}, ${ms(best.latencyMs[device.id].measured ?? best.latencyMs[device.id].predicted)})`);
  }
  console.log(`gate: ${passed ? 'every emitted model within its budgets' : 'some emitted models exceed their budgets (see above)'}; config ${path.join(out, 'tailor.budgets.json')}`);
  console.log(`done in ${((Date.now() - started) / 60000).toFixed(1)} min`);
}

/** Two budgets between the smallest and the largest subnet's predicted latency, so both fronts are non-trivial. */
async function defaultBudgets(latency: ReturnType<typeof services>['latency'], device: string, spaceId: string, resolutions: number[]): Promise<number[]> {
  const space = getSpace(spaceId);
  const predict = async (arch: ReturnType<typeof maxArch>) => (await latency.predict({ device, arch: { source: 'quickstart', arch, space, net: netFromArch(space, arch) } })).latencyMs;
  const lo = await predict(minArch(space, Math.min(...resolutions)));
  const hi = await predict(maxArch(space, Math.max(...resolutions)));
  return [0.4, 0.75].map((f) => Number((lo + f * (hi - lo)).toPrecision(2)));
}

/** Writes a gate config for the emitted models (latency budget of their target, size and params of the largest subnet) and runs it. */
async function gateEmitted(out: string, searchDir: string, fronts: ParetoFile[], device: string, global: GlobalOptions): Promise<boolean> {
  const { GateService, tableLatency } = await import('../../gate/gate.js');
  const { parseGateConfig, fileModelResolver } = await import('../../gate/config.js');
  const { REPORTERS } = await import('../../gate/reporters/index.js');
  const largest = countModel(buildIR(netFromArch(spaceWithIO(getSpace(SPACE), IO), maxArch(getSpace(SPACE)))));
  const config = {
    budgets: fronts.flatMap((f) => f.subnets.map((s) => ({
      name: `${f.target}/${s.file}`,
      model: path.relative(out, path.join(searchDir, f.target, s.file)),
      limits: {
        size: `${Math.ceil((4 * largest.params) / 1e5) / 10} MB`,
        params: `${Math.ceil(largest.params / 1e4) / 100}M`,
        latency: { [device]: `${f.budgets.latencyMs?.[device]} ms` },
      },
    }))),
  };
  const file = path.join(out, 'tailor.budgets.json');
  writeJsonAtomic(file, config);
  const { devices, latency } = services(global);
  const budgets = parseGateConfig(config, { source: file, devices, resolveModel: fileModelResolver(out, file) });
  // Emitted subnets carry their arch: the gate predicts them from the table just profiled, no kernel regressors needed.
  const gate = new GateService(devices, async () => new (await import('../../kernels/kernels.service.js')).KernelsService(devices), tableLatency(latency));
  const report = await gate.run(budgets, { config: file, onProgress: process.stderr.isTTY ? (m) => process.stderr.write(`\r\x1b[K${m}`) : undefined });
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  process.stdout.write(REPORTERS.text(report));
  return report.passed;
}
