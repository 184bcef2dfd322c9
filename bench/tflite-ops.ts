/**
 * npm run bench:tflite-ops
 * Op-level latency prediction for arbitrary .tflite models on this machine's TFLite runtime (local-tflite):
 * 1. profiles sampled TFLite ops in context (`tailor profile --device local-tflite --kernels`), or reuses
 *    the profile in .bench/tflite-ops when it is complete (TFLITE_OPS_FRESH=1 re-profiles;
 *    TFLITE_OPS_SAMPLES=N sets --samples, TFLITE_OPS_PASSES=N --passes);
 * 2. writes the validation set (src/kernels/tflite-zoo.ts: 18 models) into .bench/tflite-ops/models;
 * 3. validates (`tailor validate --models`) and prints within 5% / 10%, MAPE per model and per kind,
 *    the plan's agreement with what XNNPACK ran, and the machine's load.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../src/core/fs-atomic';
import { tfliteModelZoo } from '../src/kernels/tflite-zoo';
import { benchKernels, printModelValidation, savedProfileState, throttledProgress } from './saved-profile';
import '../src/runtime/registry';

const DEVICE = 'local-tflite';

async function main() {
  const { home, ws, kernels } = benchKernels('tflite-ops');
  const samples = Number(process.env.TFLITE_OPS_SAMPLES ?? 200);
  const passes = process.env.TFLITE_OPS_PASSES ? Number(process.env.TFLITE_OPS_PASSES) : undefined;
  const load0 = os.loadavg()[0];
  const { fresh, reuse } = savedProfileState(ws, DEVICE, samples, !!process.env.TFLITE_OPS_FRESH);
  const started = Date.now();
  const r = await kernels.profile({
    device: DEVICE, samples, passes, force: fresh, onProgress: throttledProgress(),
  });
  const profileSeconds = (Date.now() - started) / 1000;
  console.log(reuse ? `op profile reused: ${r.profileFile}` : `op profile: ${r.profile.graphs.length} graphs in ${profileSeconds.toFixed(0)} s (${r.measuredGraphs} measured now)`);
  const counts = Object.entries(r.model.models).map(([t, m]) => `${t} ${m!.samples}`).join(', ');
  console.log(`regressors (${fs.statSync(r.modelFile).size >> 10} KiB): ${counts}`);
  console.log(`fixed cost ${r.model.overheadMs.toFixed(4)} ms`);
  const ag = r.profile.graphs.map((g) => g.agreement).filter((a) => a !== null);
  const ops = r.profile.graphs.reduce((s, g) => s + g.kernels.length, 0);
  console.log(`plan vs XNNPACK: ${ops} planned ops, ${ag.reduce((s, a) => s + a!.missedReorders, 0)} without an operator in the profile, ${ag.reduce((s, a) => s + a!.extraReorders, 0)} operators of ops planned as fused; unattributed time ${ag.reduce((s, a) => s + a!.unattributedMs, 0).toFixed(3)} ms over ${ag.length} graphs`);

  const dir = path.join(home, 'models');
  fs.rmSync(dir, { recursive: true, force: true });
  const zoo = tfliteModelZoo(0);
  for (const m of zoo) writeFileAtomic(path.join(dir, `${m.name}.tflite`), m.bytes);
  const loadValidate = os.loadavg()[0];
  const report = await kernels.validate(DEVICE, dir, {
    onProgress: (p) => p.done === p.total && process.stderr.write(`validate: ${p.message}\n`),
  });
  const kindOf = new Map(zoo.map((m) => [`${m.name}.tflite`, m.kind]));
  console.log();
  console.log('model                          predicted ms  measured ms   error');
  printModelValidation(report, kindOf);
  console.log(`load average: ${load0.toFixed(2)} at start, ${loadValidate.toFixed(2)} before validating, ${os.loadavg()[0].toFixed(2)} at the end (2 cores; > 1 means another process competed)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
