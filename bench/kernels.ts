/**
 * npm run bench:kernels
 * Kernel-level latency prediction for arbitrary ONNX models on this machine's CPU (local-cpu):
 * 1. profiles sampled kernels in context (`tailor profile --kernels`), or reuses the profile in
 *    .bench/kernels when it is complete and of the current sampler version (KERNELS_FRESH=1
 *    re-profiles; KERNELS_SAMPLES=N sets --samples, 400 by default);
 * 2. generates the validation model set (src/kernels/zoo.ts: 20 models) into .bench/kernels/models;
 * 3. validates (`tailor validate --models`) and prints within 5% / 10%, MAPE, per model and per kind,
 *    the plan's agreement with the graph onnxruntime ran, and the machine's load.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../src/core/fs-atomic';
import { KERNEL_SAMPLER_VERSION } from '../src/kernels/sampler';
import { modelZoo } from '../src/kernels/zoo';
import { benchKernels, printModelValidation, savedProfileState, throttledProgress } from './saved-profile';
import '../src/runtime/registry';

const DEVICE = 'local-cpu';

async function main() {
  const { home, ws, kernels } = benchKernels('kernels');
  // 400: 40 graphs per family slot of the sampler, as the 360 of its nine-slot version gave
  const samples = Number(process.env.KERNELS_SAMPLES ?? 400);
  const load0 = os.loadavg()[0];
  const { fresh, reuse } = savedProfileState(ws, DEVICE, samples, !!process.env.KERNELS_FRESH, KERNEL_SAMPLER_VERSION);
  const started = Date.now();
  const r = await kernels.profile({
    device: DEVICE, samples, force: fresh, onProgress: throttledProgress(),
  });
  const profileSeconds = (Date.now() - started) / 1000;
  console.log(reuse ? `kernel profile reused: ${r.profileFile}` : `kernel profile: ${r.profile.graphs.length} graphs in ${profileSeconds.toFixed(0)} s (${r.measuredGraphs} measured now)`);
  const counts = Object.entries(r.model.models).map(([t, m]) => `${t} ${m!.samples}`).join(', ');
  console.log(`regressors (${fs.statSync(r.modelFile).size >> 10} KiB): ${counts}`);
  console.log(`fixed cost ${r.model.overheadMs.toFixed(4)} ms + ${(r.model.outputMsPerMiB ?? 0).toFixed(3)} ms per MiB of outputs`);
  const ag = r.profile.graphs.map((g) => g.agreement).filter((a) => a !== null);
  const reorders = r.profile.graphs.reduce((s, g) => s + g.kernels.filter((k) => k.type === 'reorder').length, 0);
  console.log(`plan vs onnxruntime: ${reorders} planned reorders, ${ag.reduce((s, a) => s + a!.missedReorders, 0)} not inserted by onnxruntime, ${ag.reduce((s, a) => s + a!.extraReorders, 0)} unplanned; unattributed kernel time ${ag.reduce((s, a) => s + a!.unattributedMs, 0).toFixed(3)} ms over ${ag.length} graphs`);

  const dir = path.join(home, 'models');
  fs.rmSync(dir, { recursive: true, force: true });
  const zoo = modelZoo(0);
  for (const m of zoo) writeFileAtomic(path.join(dir, `${m.name}.onnx`), m.bytes);
  const report = await kernels.validate(DEVICE, dir, {
    onProgress: (p) => p.done === p.total && process.stderr.write(`validate: ${p.message}\n`),
  });
  const kindOf = new Map(zoo.map((m) => [`${m.name}.onnx`, m.kind]));
  console.log();
  console.log('model                          predicted ms  measured ms   error');
  printModelValidation(report, kindOf);
  console.log(`load average: ${load0.toFixed(2)} at start, ${os.loadavg()[0].toFixed(2)} at the end (2 cores; > 1 means another process competed)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
