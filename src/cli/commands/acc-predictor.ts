import * as path from 'node:path';
import { AccPredictorRequest } from '../../accuracy/build';
import { workspace } from '../../core/workspace';
import { GlobalOptions } from '../context';
import { printJson } from '../format';
import { progressBar } from '../progress';

export type AccPredictorCliOptions = AccPredictorRequest & { json?: boolean };

export async function run(opts: AccPredictorCliOptions, global: GlobalOptions): Promise<void> {
  const { buildAccuracyPredictor } = await import('../../accuracy/build.js');
  const bar = progressBar('acc-predictor');
  let report;
  try {
    report = await buildAccuracyPredictor(opts, path.join(workspace(global.home).root, '.tailor', 'cache'), {
      info: (m) => process.stderr.write(`${m}\n`),
      onProgress: (p) => bar.update(p.done, p.total, p.message),
    });
  } finally {
    bar.stop();
  }
  if (opts.json) return printJson(report);
  console.log(`accuracy predictor: ${report.samples.train} subnets to train, ${report.samples.heldOut} held out`);
  console.log(`held-out RMSE ${report.heldOut.rmsePoints.toFixed(2)} points of top-1 (max error ${report.heldOut.maxErrorPoints.toFixed(2)}), Kendall tau ${report.heldOut.kendallTau.toFixed(3)}`);
  console.log(`saved: ${report.file}`);
}
