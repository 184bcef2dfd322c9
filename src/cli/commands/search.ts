import * as path from 'node:path';
import { TailorError } from '../../core/errors';
import { workspace } from '../../core/workspace';
import type { SearchRequest } from '../../specialize/search-run';
import type { ParetoFile } from '../../specialize/specialize';
import { GlobalOptions, services } from '../context';
import { formatTable, printJson } from '../format';
import { progressBar } from '../progress';

export type SearchCliOptions = SearchRequest & { json?: boolean };

export async function run(opts: SearchCliOptions, global: GlobalOptions): Promise<void> {
  if (opts.out === undefined) throw new TailorError('INVALID_OPTION', { option: '--out', reason: 'the output folder is required (unless the search runs on a service: --server <url>)' });
  const { latency } = services(global);
  const { checkSearchRequest, searchRun } = await import('../../specialize/search-run.js');
  await checkSearchRequest(opts, latency); // bad input fails before tfjs loads
  const bar = progressBar('search');
  let results;
  try {
    results = await searchRun(opts, path.join(workspace(global.home).root, '.tailor', 'cache'), latency, {
      onProgress: (p) => bar.update(p.done, p.total, p.message),
      warn: (m) => process.stderr.write(`warning: ${m}\n`),
    });
  } finally {
    bar.stop();
  }
  if (opts.json) return printJson(results);
  printSearchResults(results, opts, (target) => `written: ${path.join(path.resolve(opts.out), target)}/{pareto.json, pareto.svg, pareto.png, subnet-*.onnx, subnet-*.tflite}`);
}

/** Each target's front as a table with its summary lines; `written` says where the target's files are (here, or on the service). */
export function printSearchResults(results: ParetoFile[], opts: { measure?: boolean }, written: (target: string) => string): void {
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
    if (r.rescored.candidates) console.log(`top-1 predicted: validation scores of ${r.rescored.candidates} front candidates (BN on ${r.rescored.bnImages} images, top-1 on ${r.rescored.evalImages}), the emitted front drawn from them`);
    const e = r.top1ErrorPoints;
    if (e) {
      console.log(`top-1: measured within 1.5 points of predicted for ${(100 * e.within1_5).toFixed(0)}% (mean error ${e.mean.toFixed(2)}, max ${e.max.toFixed(2)} points)` +
        (r.rescored.candidates ? `; the accuracy predictor alone: ${(100 * e.predictor.within1_5).toFixed(0)}% (mean error ${e.predictor.mean.toFixed(2)})` : ''));
    }
    console.log(written(r.target));
  }
  if (!results.length) throw new TailorError('INVALID_OPTION', { option: '--targets', reason: 'no targets' });
}
