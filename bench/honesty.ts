/**
 * npm run bench:honesty -- --supernet <run> [--home <dir>] [--devices local-cpu,local-tflite] [--samples 200] [--max-subnets 6] [--rescore 24]
 *
 * Are the emitted subnets honest? On a trained supernet and the local devices: the devices'
 * tables for the run's space (profiled here when missing), the accuracy predictor (its
 * measurements cached in the run), then `tailor search --measure` for a tight latency budget on
 * each device and one target with a mid budget on every device. Every emitted subnet is
 * scored on the whole test split and timed on its devices; the figures printed are the share of
 * emitted subnets whose measured latency is within ±10% of the prediction (raw, and at the
 * device's speed of the moment from the reference networks) and whose measured top-1 is within
 * 1.5 points of predictedTop1 (the validation score of the rescored front) and of the accuracy
 * predictor's raw value. Latency on a shared machine depends on its load: it is printed with them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { maxArch, minArch } from '../src/core/arch';
import { spaceWithIO } from '../src/core/space';
import { workspace } from '../src/core/workspace';
import { LatencyService } from '../src/latency/latency.service';
import { ProfilingService } from '../src/profiling/profiling.service';
import { DeviceService } from '../src/runtime/device.service';
import '../src/runtime/registry';
import { buildAccuracyPredictor, ACC_PREDICTOR_DEFAULTS } from '../src/accuracy/build';
import { SEARCH_DEFAULTS, searchRun } from '../src/specialize/search-run';
import { oneThreadForLatency } from '../src/training/engine';
import { Target } from '../src/specialize/targets';
import { readRun } from '../src/training/runs';

const o = new Command()
  .requiredOption('--supernet <run>', 'a finished training run (e.g. from npm run bench:ofa-claim)')
  .option('--home <dir>', 'workspace for the tables and the search output', '.bench/honesty')
  .option('--devices <list>', 'local devices', (v: string) => v.split(','), ['local-cpu', 'local-tflite'])
  .option('--samples <n>', 'accuracy-predictor samples', Number, ACC_PREDICTOR_DEFAULTS.samples)
  .option('--max-subnets <n>', 'subnets emitted per target', Number, 6)
  .option('--rescore <n>', 'front candidates scored on the validation split per target', Number, SEARCH_DEFAULTS.rescore)
  .option('--test-images <n>', 'test images scoring each emitted subnet (default: the whole test split)', Number)
  .option('--seed <n>', 'search seed', Number, 0)
  .parse()
  .opts<{ supernet: string; home: string; devices: string[]; samples: number; maxSubnets: number; rescore: number; testImages?: number; seed: number }>();

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

async function main(): Promise<void> {
  const home = path.resolve(o.home);
  fs.mkdirSync(home, { recursive: true });
  const ws = workspace(home);
  const devices = new DeviceService(ws);
  const latency = new LatencyService(ws, devices);
  const run = readRun(o.supernet);
  const tableSpace = spaceWithIO(run.space, { inputChannels: run.channels, numClasses: run.classes.length });
  const cacheDir = path.join(home, '.tailor', 'cache');
  console.log(`honesty of emitted subnets: ${o.supernet} (${run.space.id} on ${run.dataset}), devices ${o.devices.join(', ')}; load ${load()}`);

  for (const device of o.devices) {
    const started = Date.now();
    const r = await new ProfilingService(devices).profile({ device, space: tableSpace.id });
    if (r.measuredResolutions.length) console.log(`profiled ${device} for ${tableSpace.id} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  // The search below times subnets in this process: the engine runs on one thread (see oneThreadForLatency).
  oneThreadForLatency();
  const acc = await buildAccuracyPredictor({ supernet: o.supernet, samples: o.samples, seed: 0, bnImages: ACC_PREDICTOR_DEFAULTS.bnImages, epochs: ACC_PREDICTOR_DEFAULTS.epochs }, cacheDir, {
    info: (m) => console.log(m),
    onProgress: (p) => p.done % 20 === 0 && console.log(`  acc-predictor ${p.done}/${p.total} ${p.message}`),
  });
  console.log(`accuracy predictor: held-out RMSE ${acc.heldOut.rmsePoints.toFixed(2)} points, Kendall tau ${acc.heldOut.kendallTau.toFixed(3)} (${acc.samples.train} + ${acc.samples.heldOut} subnets; BN ${acc.protocol.bnImages}, top-1 on ${acc.protocol.evalImages} validation images)`);

  // Budgets from each table: 35% and 65% of the way from the smallest to the largest subnet.
  const budgets = new Map<string, number[]>();
  for (const device of o.devices) {
    const predictor = latency.predictor(device, tableSpace.id);
    const rs = predictor.table.resolutions;
    const lo = predictor.predictArch(tableSpace, minArch(tableSpace, Math.min(...rs))).latencyMs;
    const hi = predictor.predictArch(tableSpace, maxArch(tableSpace, Math.max(...rs))).latencyMs;
    budgets.set(device, [0.35, 0.65].map((f) => Number((lo + f * (hi - lo)).toPrecision(2))));
  }
  const targets: Target[] = [
    ...o.devices.map((d) => ({ name: `${d}-tight`, devices: { [d]: { latencyMs: budgets.get(d)![0] } } })),
    { name: 'all-mid', devices: Object.fromEntries(o.devices.map((d) => [d, { latencyMs: budgets.get(d)![1] }])) },
  ];
  const started = Date.now();
  const fronts = await searchRun(
    {
      supernet: o.supernet, targets, out: path.join(home, 'search'), algorithm: 'nsga2', seed: o.seed, measure: true, maxSubnets: o.maxSubnets,
      reward: 'soft', rescore: o.rescore, testImages: o.testImages,
    },
    cacheDir, latency,
    { warn: (m) => console.log(`warning: ${m}`), onProgress: (p) => console.log(`  search ${p.done.toFixed(2)}/${p.total}: ${p.message}`) },
  );
  console.log(`\nsearch with --measure: ${((Date.now() - started) / 1000).toFixed(0)} s; load ${load()}\n`);

  const rows: string[][] = [];
  const latencyHits = { raw: 0, current: 0, total: 0 };
  const top1Hits = { rescored: 0, predictor: 0, total: 0 };
  for (const f of fronts) {
    for (const s of f.subnets) {
      for (const [d, l] of Object.entries(s.latencyMs)) {
        if (l.measured === null) continue;
        const speed = f.measured?.[d]?.speedFactor ?? 1;
        latencyHits.total++;
        if (Math.abs(l.measured / l.predicted - 1) <= 0.1) latencyHits.raw++;
        if (Math.abs(l.measured / (l.predicted * speed) - 1) <= 0.1) latencyHits.current++;
      }
      top1Hits.total++;
      if (Math.abs(s.measuredTop1! - s.predictedTop1) <= 0.015) top1Hits.rescored++;
      if (Math.abs(s.measuredTop1! - s.predictorTop1) <= 0.015) top1Hits.predictor++;
    }
    rows.push([
      f.target,
      Object.entries(f.measured ?? {}).map(([d, m]) => `${d} ${(100 * m.within10).toFixed(0)}% / ${(100 * m.within10AtCurrentSpeed).toFixed(0)}% (MAPE ${m.mape.toFixed(1)}%, speed x${m.speedFactor.toFixed(3)})`).join('; '),
      `${(100 * f.top1ErrorPoints!.within1_5).toFixed(0)}% (mean |error| ${f.top1ErrorPoints!.mean.toFixed(2)})`,
      `${(100 * f.top1ErrorPoints!.predictor.within1_5).toFixed(0)}% (mean |error| ${f.top1ErrorPoints!.predictor.mean.toFixed(2)})`,
    ]);
  }
  console.log('| target | latency within ±10% (raw / at current speed) | top-1 within 1.5 points: predictedTop1 | the predictor alone |');
  console.log('| --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  const pct = (a: number, b: number) => `${((100 * a) / Math.max(1, b)).toFixed(0)}% (${a}/${b})`;
  console.log(`\nall emitted subnets: latency within ±10% ${pct(latencyHits.raw, latencyHits.total)} raw, ${pct(latencyHits.current, latencyHits.total)} at current speed (goal 90%)`);
  console.log(`top-1 within 1.5 points of predictedTop1 ${pct(top1Hits.rescored, top1Hits.total)}; of the predictor alone ${pct(top1Hits.predictor, top1Hits.total)} (goal 90%)`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
