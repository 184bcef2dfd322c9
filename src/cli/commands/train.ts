import * as path from 'node:path';
import { ArchConfig } from '../../core/arch';
import { resolveArch } from '../../core/arch-source';
import { TailorError } from '../../core/errors';
import { getSpace } from '../../core/space';
import { workspace } from '../../core/workspace';
import { GlobalOptions } from '../context';
import { printJson } from '../format';
import { progressBar } from '../progress';

export interface TrainCliOptions {
  space: string;
  dataset: string;
  out: string;
  epochsScale: number;
  seed: number;
  batchSize: number;
  limit?: number;
  resume?: boolean;
  arch?: string;
  engine?: 'wasm' | 'cpu' | 'tensorflow';
  json?: boolean;
}

export async function run(opts: TrainCliOptions, global: GlobalOptions): Promise<void> {
  const space = getSpace(opts.space);
  if (!Number.isFinite(opts.epochsScale) || opts.epochsScale <= 0) throw new TailorError('INVALID_OPTION', { option: '--epochs-scale', reason: 'must be a positive number' });
  const ws = workspace(global.home);
  let scratchArch: ArchConfig | undefined;
  if (opts.arch) {
    const resolved = resolveArch(opts.arch, space.id);
    if (!resolved.arch || resolved.space?.id !== space.id) throw new TailorError('INVALID_ARCH', { space: space.id, reason: `${opts.arch} is not an architecture of this space` });
    scratchArch = resolved.arch;
  }
  const { initEngine } = await import('../../training/engine.js');
  const { loadDataset } = await import('../../training/datasets.js');
  const { trainSupernet } = await import('../../training/trainer.js');
  const engine = await initEngine(opts.engine);
  const dataset = await loadDataset(opts.dataset, { seed: opts.seed, size: Math.max(...space.resolutions), cacheDir: path.join(ws.root, '.tailor', 'cache') });
  for (const s of dataset.skipped) process.stderr.write(`warning: skipped unreadable image ${s}\n`);
  process.stderr.write(`training ${space.id} on ${dataset.name} (${dataset.train.count} train / ${dataset.val.count} val / ${dataset.test.count} test) with tfjs ${engine.backend} (${engine.note})\n`);
  const bar = progressBar('train');
  try {
    const result = await trainSupernet(engine, {
      space, dataset, outDir: path.resolve(opts.out), seed: opts.seed, epochsScale: opts.epochsScale, batchSize: opts.batchSize,
      resume: Boolean(opts.resume), limit: opts.limit, evalImages: 1000, scratchArch,
      onProgress: (p) => bar.update(p.step, p.steps, `${p.phase} epoch ${p.epoch + 1}/${p.epochs} loss ${p.loss.toFixed(3)}`),
    });
    bar.stop();
    if (opts.json) return printJson(result);
    for (const e of result.log) console.log(`${e.phase.padEnd(9)} epoch ${e.epoch + 1}/${e.epochs}  loss ${e.loss.toFixed(3)}  ce ${e.ce.toFixed(3)}  val top-1 (${scratchArch ? 'this arch' : 'max subnet'}) ${(e.valTop1 * 100).toFixed(1)}%  ${e.seconds}s`);
    console.log(`run: ${result.outDir}${result.resumedFrom ? ` (resumed at ${result.resumedFrom.phase} epoch ${result.resumedFrom.epoch + 1})` : ''}`);
  } finally {
    bar.stop();
  }
}
