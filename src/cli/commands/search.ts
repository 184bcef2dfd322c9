import * as path from 'node:path';
import { TailorError } from '../../core/errors';
import { workspace } from '../../core/workspace';
import { AlgorithmName } from '../../search/archive';
import { GlobalOptions, services } from '../context';
import { formatTable, printJson } from '../format';
import { progressBar } from '../progress';

export interface SearchCliOptions {
  supernet: string;
  targets: string;
  out: string;
  algorithm: AlgorithmName;
  seed: number;
  measure?: boolean;
  maxSubnets: number;
  generations?: number;
  population?: number;
  reward: 'soft' | 'hard';
  bnImages: number;
  resolutions?: number[];
  strict?: boolean;
  json?: boolean;
}

export async function run(opts: SearchCliOptions, global: GlobalOptions): Promise<void> {
  const { readTargets } = await import('../../specialize/targets.js');
  const { checkRunFinished, readRun, openRun } = await import('../../training/runs.js');
  const { loadPredictorFile, AccuracyPredictor } = await import('../../accuracy/predictor.js');
  // Every input is checked before the engine loads.
  const targets = readTargets(opts.targets);
  const run = readRun(opts.supernet);
  checkRunFinished(opts.supernet);
  const predictorFile = loadPredictorFile(opts.supernet, run.space);
  const { latency } = services(global);
  for (const t of targets) for (const device of Object.keys(t.devices)) latency.devices.get(device);
  if (opts.measure === undefined) opts.measure = false;
  const { initEngine } = await import('../../training/engine.js');
  const { specialize } = await import('../../specialize/specialize.js');
  const engine = await initEngine();
  const { net, data } = await openRun(engine, opts.supernet, path.join(workspace(global.home).root, '.tailor', 'cache'));
  const accuracy = new AccuracyPredictor(engine.tf, predictorFile);
  const bar = progressBar('search');
  let results;
  try {
    results = await specialize(
      { engine, run, runDir: opts.supernet, net, data, accuracy, latency },
      {
        targets, outDir: path.resolve(opts.out), algorithm: opts.algorithm, seed: opts.seed, measure: opts.measure, maxSubnets: opts.maxSubnets,
        generations: opts.generations, population: opts.population, reward: opts.reward, bnImages: opts.bnImages, strict: opts.strict, resolutions: opts.resolutions,
        onProgress: (p) => bar.update(p.done, p.total, `${p.target}: ${p.stage}`),
        warn: (m) => process.stderr.write(`warning: ${m}\n`),
      },
    );
  } finally {
    bar.stop();
    accuracy.dispose();
  }
  if (opts.json) return printJson(results);
  for (const r of results) {
    const devices = Object.keys(r.budgets.latencyMs ?? {});
    console.log(`\n${r.target}: ${r.algorithm} (seed ${r.seed}), ${r.evaluations} subnets evaluated, ${r.frontSize} on the Pareto front, hypervolume ${r.hypervolume.toFixed(4)}`);
    console.log(formatTable(
      ['file', 'top-1 predicted', ...(opts.measure ? ['top-1 measured'] : []), ...devices.flatMap((d) => [`${d} predicted ms`, ...(opts.measure ? [`${d} measured ms`] : [])]), 'MMACs', 'params'],
      r.subnets.map((s) => [
        s.file, (100 * s.predictedTop1).toFixed(2), ...(opts.measure ? [s.measuredTop1 === null ? '-' : (100 * s.measuredTop1).toFixed(2)] : []),
        ...devices.flatMap((d) => [s.latencyMs[d].predicted.toFixed(3), ...(opts.measure ? [s.latencyMs[d].measured === null ? '-' : s.latencyMs[d].measured!.toFixed(3)] : [])]),
        (s.macs / 1e6).toFixed(1), s.params,
      ]),
    ));
    if (r.measured) for (const [d, m] of Object.entries(r.measured)) console.log(`${d}: ${(100 * m.within10).toFixed(0)}% of emitted subnets within ±10% of the prediction (${(100 * m.within10AtCurrentSpeed).toFixed(0)}% at the device's current speed x${m.speedFactor.toFixed(3)}), MAPE ${m.mape.toFixed(2)}%`);
    if (r.top1ErrorPoints) console.log(`top-1: measured within 1.5 points of predicted for ${(100 * r.top1ErrorPoints.within1_5).toFixed(0)}% (mean error ${r.top1ErrorPoints.mean.toFixed(2)}, max ${r.top1ErrorPoints.max.toFixed(2)} points)`);
    console.log(`written: ${path.join(path.resolve(opts.out), r.target)}/{pareto.json, pareto.svg, pareto.png, subnet-*.onnx}`);
  }
  if (!results.length) throw new TailorError('INVALID_OPTION', { option: '--targets', reason: 'no targets' });
}
