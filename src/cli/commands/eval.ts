import * as path from 'node:path';
import { workspace } from '../../core/workspace';
import { GlobalOptions } from '../context';
import { printJson } from '../format';

export async function run(opts: { supernet: string; arch: string; images: number; json?: boolean }, global: GlobalOptions): Promise<void> {
  const { initEngine } = await import('../../training/engine.js');
  const { evaluateSubnet, openRun, runArch, readRun } = await import('../../training/runs.js');
  const arch = runArch(readRun(opts.supernet), opts.arch); // bad input fails before the engine loads
  const engine = await initEngine();
  const { net, data } = await openRun(engine, opts.supernet, path.join(workspace(global.home).root, '.tailor', 'cache'));
  const { result, subnet } = evaluateSubnet(engine, net, data, arch, opts.images);
  subnet.dispose();
  // The JSON keys are exactly those documented: top1 is a fraction in [0, 1] of `images` test images.
  if (opts.json) return printJson({ arch: result.arch, top1: result.top1, images: result.images });
  console.log(`top-1 ${(result.top1 * 100).toFixed(2)}% on ${result.images} test images (BN recalibrated on ${result.bnImages} validation images)`);
}
