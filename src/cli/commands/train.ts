import * as path from 'node:path';
import { workspace } from '../../core/workspace';
import { TrainRunRequest, checkTrainRequest } from '../../training/train-run';
import { GlobalOptions } from '../context';
import { printJson } from '../format';
import { progressBar } from '../progress';

export type TrainCliOptions = TrainRunRequest & { json?: boolean };

export async function run(opts: TrainCliOptions, global: GlobalOptions): Promise<void> {
  checkTrainRequest(opts); // bad input fails before tfjs loads
  const { trainRun } = await import('../../training/train-run.js');
  // Decoding an image folder has its own bar: its rate says nothing of training's ETA.
  const decodeBar = progressBar('decode');
  const bar = progressBar('train');
  try {
    const result = await trainRun(opts, path.join(workspace(global.home).root, '.tailor', 'cache'), {
      info: (m) => process.stderr.write(`${m}\n`),
      onDecode: (p) => decodeBar.update(p.done, p.total, p.message),
      onProgress: (p) => {
        decodeBar.stop();
        bar.update(p.done, p.total, p.message);
      },
    });
    bar.stop();
    if (opts.json) return printJson(result);
    for (const e of result.log) console.log(`${e.phase.padEnd(9)} epoch ${e.epoch + 1}/${e.epochs}  loss ${e.loss.toFixed(3)}  ce ${e.ce.toFixed(3)}  val top-1 (${result.scratchArch ? 'this arch' : 'max subnet'}) ${(e.valTop1 * 100).toFixed(1)}%  ${e.seconds}s`);
    console.log(`run: ${result.outDir}${result.resumedFrom ? ` (resumed at ${result.resumedFrom.phase} epoch ${result.resumedFrom.epoch + 1})` : ''}`);
  } finally {
    decodeBar.stop();
    bar.stop();
  }
}
