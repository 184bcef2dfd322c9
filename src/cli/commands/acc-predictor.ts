import * as path from 'node:path';
import { archId, sampleArch } from '../../core/arch';
import { Rng, deriveSeed } from '../../core/rng';
import { workspace } from '../../core/workspace';
import { GlobalOptions } from '../context';
import { printJson } from '../format';
import { progressBar } from '../progress';

export interface AccPredictorCliOptions {
  supernet: string;
  samples: number;
  seed: number;
  bnImages: number;
  evalImages: number;
  epochs: number;
  json?: boolean;
}

export async function run(opts: AccPredictorCliOptions, global: GlobalOptions): Promise<void> {
  const { readRun, openRun } = await import('../../training/runs.js');
  const run = readRun(opts.supernet); // bad input fails before the engine loads
  const { initEngine } = await import('../../training/engine.js');
  const { appendMeasurement, checkProtocol, measureSubnet, readMeasurements } = await import('../../accuracy/measurements.js');
  const { savePredictor, trainAccuracyPredictor } = await import('../../accuracy/predictor.js');
  const engine = await initEngine();
  const { net, data } = await openRun(engine, opts.supernet, path.join(workspace(global.home).root, '.tailor', 'cache'));
  const protocol = { bnImages: opts.bnImages, evalImages: opts.evalImages };
  checkProtocol(data, protocol);

  // The sample is a function of the seed alone, so a rerun (or a larger --samples) reuses every cached measurement.
  const rng = new Rng(deriveSeed(opts.seed, 'acc-predictor-samples'));
  const archs = new Map<string, ReturnType<typeof sampleArch>>();
  for (let tries = 0; archs.size < opts.samples && tries < opts.samples * 20; tries++) {
    const arch = sampleArch(run.space, rng);
    archs.set(archId(run.space, arch), arch);
  }
  const cached = readMeasurements(opts.supernet, run.space, protocol);
  const todo = [...archs].filter(([id]) => !cached.has(id));
  process.stderr.write(`${archs.size} subnets: ${archs.size - todo.length} measured before, ${todo.length} to measure (BN on ${protocol.bnImages} validation images, top-1 on the next ${protocol.evalImages})\n`);
  const bar = progressBar('measure');
  try {
    for (const [i, [, arch]] of todo.entries()) {
      const m = await measureSubnet(engine, net, data, run.space, arch, protocol);
      appendMeasurement(opts.supernet, m);
      cached.set(m.id, m);
      bar.update(i + 1, todo.length, `top-1 ${(m.top1 * 100).toFixed(1)}%`);
    }
  } finally {
    bar.stop();
  }
  const measured = [...archs.keys()].map((id) => cached.get(id)!);
  const trainBar = progressBar('train predictor');
  const file = trainAccuracyPredictor(engine.tf, run.space, measured, {
    seed: opts.seed, protocol, epochs: opts.epochs,
    onEpoch: (epoch, epochs, loss) => trainBar.update(epoch + 1, epochs, `mse ${loss.toExponential(2)}`),
  });
  trainBar.stop();
  const saved = savePredictor(opts.supernet, file);
  const report = { file: saved, samples: file.samples, measuredNow: todo.length, protocol, heldOut: file.heldOut, seed: opts.seed };
  if (opts.json) return printJson(report);
  console.log(`accuracy predictor: ${file.samples.train} subnets to train, ${file.samples.heldOut} held out`);
  console.log(`held-out RMSE ${file.heldOut.rmsePoints.toFixed(2)} points of top-1 (max error ${file.heldOut.maxErrorPoints.toFixed(2)}), Kendall tau ${file.heldOut.kendallTau.toFixed(3)}`);
  console.log(`saved: ${saved}`);
}
