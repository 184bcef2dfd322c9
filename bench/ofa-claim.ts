/**
 * npm run bench:ofa-claim [-- --limit N --epochs-scale F --seed S --out DIR --bn-images N --test-images N]
 *
 * OFA's claim, checked on our own data: train the ofa-mbv3-tiny supernet on Fashion-MNIST with
 * progressive shrinking, take 5 subnets out of it (smallest, largest, 3 seeded random) with BN
 * recalibration only, and compare each against the same architecture trained from scratch for
 * as many epochs as the whole progressive-shrinking run took. Both sides are scored the same way
 * (BN recalibrated on the same validation images, top-1 on the same test images). Runs are kept
 * in --out, so an interrupted bench resumes where it stopped. Prints per-arch top-1 and the mean
 * difference, and writes them to <out>/result.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { ArchConfig, maxArch, minArch, sampleArch } from '../src/core/arch';
import { countModel } from '../src/core/counters';
import { writeJsonAtomic } from '../src/core/fs-atomic';
import { buildIR } from '../src/core/ir';
import { netFromArch } from '../src/core/net';
import { Rng } from '../src/core/rng';
import { getSpace } from '../src/core/space';
import { loadDataset } from '../src/training/datasets';
import { Engine, initEngine } from '../src/training/engine';
import { evaluateSubnet, openRun } from '../src/training/runs';
import { progressiveShrinking, scaledEpochs } from '../src/training/schedule';
import { CHECKPOINT_FILE, trainSupernet } from '../src/training/trainer';

const opts = new Command()
  .option('--limit <n>', 'training images', Number, 1000)
  .option('--epochs-scale <f>', "scale of OFA's epochs per phase (at least 1 each)", Number, 0.04)
  .option('--seed <n>', 'seed of everything', Number, 1)
  .option('--batch-size <n>', 'images per step', Number, 32)
  .option('--bn-images <n>', 'validation images for BN recalibration', Number, 1000)
  .option('--test-images <n>', 'test images scored per subnet', Number, 2000)
  .option('--out <dir>', 'where the runs are kept (resumable)', '.bench/ofa-claim')
  .option('--only <part>', 'train only "supernet" or "scratch" and stop (two processes can share the work); then run without it to report')
  .parse()
  .opts<{ limit: number; epochsScale: number; seed: number; batchSize: number; bnImages: number; testImages: number; out: string; only?: 'supernet' | 'scratch' }>();

const space = getSpace('ofa-mbv3-tiny');
const cacheDir = path.join('.tailor', 'cache');

function describeArch(arch: ArchConfig): string {
  const c = countModel(buildIR(netFromArch(space, arch, { inputChannels: 1, numClasses: 10 })));
  return `r${arch.r} d${arch.d.join('')} ${(c.macs / 1e6).toFixed(1)}M MACs`;
}

async function train(engine: Engine, outDir: string, scratchArch?: ArchConfig): Promise<number> {
  const dataset = await loadDataset('fashion-mnist', { seed: opts.seed, cacheDir, resolutions: space.resolutions });
  const started = Date.now();
  const resume = fs.existsSync(path.join(outDir, CHECKPOINT_FILE));
  let lastLine = 0;
  await trainSupernet(engine, {
    space, dataset, outDir, seed: opts.seed, epochsScale: opts.epochsScale, batchSize: opts.batchSize, resume, limit: opts.limit, evalImages: 500, scratchArch,
    onProgress: (p) => {
      if (Date.now() - lastLine < 30_000 && p.step !== p.steps) return;
      lastLine = Date.now();
      process.stderr.write(`  ${p.phase} epoch ${p.epoch + 1}/${p.epochs} step ${p.step}/${p.steps} loss ${p.loss.toFixed(3)}\n`);
    },
  });
  return (Date.now() - started) / 1000;
}

async function score(engine: Engine, runDir: string, arch: ArchConfig): Promise<number> {
  const { net, data } = await openRun(engine, runDir, cacheDir);
  const { result, subnet } = evaluateSubnet(engine, net, data, arch, opts.bnImages, opts.testImages);
  subnet.dispose();
  net.dispose();
  return result.top1;
}

async function main() {
  const engine = await initEngine();
  const rng = new Rng(opts.seed);
  const archs: { name: string; arch: ArchConfig }[] = [
    { name: 'smallest', arch: minArch(space) },
    { name: 'largest', arch: maxArch(space) },
    ...[1, 2, 3].map((i) => ({ name: `random ${i}`, arch: sampleArch(space, rng) })),
  ];
  const psEpochs = progressiveShrinking(space).reduce((sum, p) => sum + scaledEpochs(p, opts.epochsScale), 0);
  console.log(`ofa-mbv3-tiny on Fashion-MNIST: ${opts.limit} training images, ${psEpochs} epochs of progressive shrinking (scale ${opts.epochsScale}), seed ${opts.seed}, engine ${engine.backend}`);

  const supernetDir = path.resolve(opts.out, `supernet-${opts.seed}`);
  console.log(`training the supernet (progressive shrinking) in ${supernetDir} ...`);
  if (opts.only === 'scratch') {
    for (const [i, { name, arch }] of archs.entries()) {
      console.log(`training ${name} (${describeArch(arch)}) from scratch for ${psEpochs} epochs ...`);
      await train(engine, path.resolve(opts.out, `scratch-${opts.seed}-${i}`), arch);
    }
    return;
  }
  const psSeconds = await train(engine, supernetDir);
  if (opts.only === 'supernet') return;
  const rows = [];
  for (const [i, { name, arch }] of archs.entries()) {
    const fromSupernet = await score(engine, supernetDir, arch);
    const scratchDir = path.resolve(opts.out, `scratch-${opts.seed}-${i}`);
    console.log(`training ${name} (${describeArch(arch)}) from scratch for ${psEpochs} epochs ...`);
    const seconds = await train(engine, scratchDir, arch);
    const fromScratch = await score(engine, scratchDir, arch);
    rows.push({ name, arch, fromSupernet, fromScratch, difference: fromSupernet - fromScratch, scratchSeconds: Math.round(seconds) });
    console.log(`  ${name}: supernet ${(fromSupernet * 100).toFixed(2)}%  scratch ${(fromScratch * 100).toFixed(2)}%`);
  }
  const meanDifference = rows.reduce((s, r) => s + r.difference, 0) / rows.length;
  console.log('\n--- bench:ofa-claim ---');
  console.log(`arch        ${'description'.padEnd(28)} supernet   scratch   difference (points)`);
  for (const r of rows) {
    console.log(`${r.name.padEnd(11)} ${describeArch(r.arch).padEnd(28)} ${(r.fromSupernet * 100).toFixed(2).padStart(7)}%  ${(r.fromScratch * 100).toFixed(2).padStart(7)}%  ${(r.difference * 100 >= 0 ? '+' : '') + (r.difference * 100).toFixed(2)}`);
  }
  console.log(`mean difference (supernet - scratch): ${(meanDifference * 100 >= 0 ? '+' : '') + (meanDifference * 100).toFixed(2)} points; goal >= 0 (OFA reports subnets better than from scratch)`);
  console.log(`top-1 on ${opts.testImages} test images after BN recalibration on ${opts.bnImages} validation images; supernet trained in ${Math.round(psSeconds)} s this run`);
  writeJsonAtomic(path.join(opts.out, 'result.json'), { options: opts, psEpochs, rows, meanDifference });
}

void main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
