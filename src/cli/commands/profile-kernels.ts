import { TailorError } from '../../core/errors';
import { KernelsService } from '../../kernels/kernels.service';
import { GlobalOptions, services } from '../context';
import { printJson } from '../format';
import { progressBar } from '../progress';
import type { ProfileCliOptions } from './profile';

export async function run(opts: ProfileCliOptions, global: GlobalOptions): Promise<void> {
  if (opts.space !== undefined) throw new TailorError('INVALID_OPTION', { option: '--kernels', reason: 'give either --space or --kernels, not both' });
  const { devices } = services(global);
  // a device whose runtime loads TFLite gets TFLite op regressors (src/kernels/tflite-profile.ts)
  const kernels = new KernelsService(devices);
  const bar = progressBar(`profile kernels ${opts.device}`);
  let result;
  try {
    result = await kernels.profile({
      device: opts.device, seed: opts.seed, samples: opts.samples, threads: opts.threads, passes: opts.passes, force: opts.force,
      onProgress: (p) => bar.update(p.done, p.total, p.message),
    });
  } finally {
    bar.stop();
  }
  const types = Object.entries(result.model.models).map(([t, m]) => ({ type: t, samples: m!.samples, forest: m!.forest !== null, fitMapePct: m!.fitMapePct }));
  if (opts.json) {
    return printJson({
      format: result.model.format ?? 'onnx', profile: result.profileFile, regressors: result.modelFile, graphs: result.profile.graphs.length, measuredGraphs: result.measuredGraphs,
      skippedGraphs: result.skippedGraphs, seconds: result.seconds, seed: result.profile.method.seed, blockSize: result.profile.blockSize,
      overheadMs: result.model.overheadMs, types,
    });
  }
  console.log(`kernel profile: ${result.profileFile} (${result.profile.graphs.length} graphs, seed ${result.profile.method.seed}; ${result.measuredGraphs} measured now, ${result.skippedGraphs} already there)`);
  console.log(`regressors: ${result.modelFile} (${result.model.format === 'tflite' ? 'TFLite ops' : `NCHWc block ${result.profile.blockSize || 'none'}`}, fixed cost ${result.model.overheadMs.toFixed(4)} ms)`);
  console.log(types.map((t) => `  ${t.type.padEnd(17)} ${String(t.samples).padStart(5)} kernels  ${t.forest ? 'random forest' : 'median ms/work'}`).join('\n'));
}
