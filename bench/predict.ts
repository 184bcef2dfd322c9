/**
 * npm run bench:predict
 * 1. In-process predictions per second for random archs (goal: >= 1,000,000/s), compiled and
 *    key-by-key, against a baseline loop measured in the same run (a bare 20-element sum).
 * 2. The time to profile one resolution of ofa-mbv3-w1.0 on the local CPU, against the same run's time for 100 inferences of the space's first reference network.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ArchConfig, sampleArch } from '../src/core/arch';
import { buildIR } from '../src/core/ir';
import { netFromArch } from '../src/core/net';
import { Rng } from '../src/core/rng';
import { getSpace } from '../src/core/space';
import { workspace } from '../src/core/workspace';
import { exportOnnx } from '../src/export/onnx';
import { seededWeights } from '../src/export/weights';
import { LatencyPredictor } from '../src/latency/predictor';
import { referenceArchs } from '../src/profiling/reference';
import { ProfilingService } from '../src/profiling/profiling.service';
import { DeviceService } from '../src/runtime/device.service';
import '../src/runtime/registry';

const space = getSpace('ofa-mbv3-w1.0');
const RESOLUTION = 224;

function perSecond(fn: () => void, n: number): number {
  const t0 = process.hrtime.bigint();
  fn();
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** 100 inferences of a fixed network: the same-run baseline the profiling time is compared with. */
async function referenceSeconds(devices: DeviceService): Promise<number> {
  const backend = await devices.open(devices.get('local-cpu'), 'measure');
  const model = await backend.load(exportOnnx(buildIR(netFromArch(space, referenceArchs(space)[0])), { weights: seededWeights(0) }));
  await model.measure({ warmup: 10, runs: 0 });
  const t0 = Date.now();
  await model.measure({ warmup: 0, runs: 100 });
  await model.dispose();
  return (Date.now() - t0) / 1000;
}

async function main() {
  const ws = workspace(fs.mkdtempSync(path.join(os.tmpdir(), 'tailor-bench-')));
  const devices = new DeviceService(ws);
  const profiling = new ProfilingService(devices);

  console.log(`profiling ${space.id} at ${RESOLUTION} on local-cpu (1 thread) ...`);
  const started = Date.now();
  const result = await profiling.profile({ device: 'local-cpu', space: space.id, resolutions: [RESOLUTION] });
  const profileSeconds = (Date.now() - started) / 1000;

  const predictor = new LatencyPredictor(result.table);
  const compiled = predictor.compile(space);
  const rng = new Rng(1);
  const archs: ArchConfig[] = Array.from({ length: 10_000 }, () => sampleArch(space, rng, [RESOLUTION]));
  const N = 3_000_000;
  let sink = 0;
  const grid = new Float64Array(20).map((_, i) => i);
  const baseline = perSecond(() => {
    for (let i = 0; i < N; i++) {
      const a = archs[i % archs.length];
      let s = a.r;
      for (let j = 0; j < 20; j++) s += grid[j];
      sink += s;
    }
  }, N);
  const fast = perSecond(() => {
    for (let i = 0; i < N; i++) sink += compiled.predict(archs[i % archs.length]);
  }, N);
  const slow = perSecond(() => {
    for (let i = 0; i < 20_000; i++) sink += predictor.predictArch(space, archs[i % archs.length]).latencyMs;
  }, 20_000);

  const refSeconds = await referenceSeconds(devices);

  console.log('\n--- bench:predict ---');
  console.log(`compiled predictor:  ${(fast / 1e6).toFixed(2)} M predictions/s  (goal >= 1 M/s; ${(fast / baseline).toFixed(3)} x the bare 20-element-sum loop at ${(baseline / 1e6).toFixed(1)} M/s)`);
  console.log(`key-by-key predictor: ${(slow / 1e3).toFixed(1)} K predictions/s (with per-piece breakdown; ${(slow / fast).toFixed(4)} x compiled)`);
  console.log(`profile one resolution (${RESOLUTION}, ${result.networksMeasured} networks): ${profileSeconds.toFixed(1)} s` +
    ` = ${(profileSeconds / refSeconds).toFixed(1)} x the time of 100 inferences of the reference network (${refSeconds.toFixed(2)} s)`);
  if (sink === 42) console.log('');
  fs.rmSync(ws.root, { recursive: true, force: true });
}

void main();
