/**
 * npm run bench:train
 * The full ofa-mbv3-tiny supernet (max subnet) at its largest resolution, batch 32: images/s of
 * inference and of a training step (forward + backward + SGD update) on the wasm engine (with
 * its default threads, and on one thread), and of a training step on the plain tfjs cpu backend
 * (tfjs's own gradients, none of ours), with the ratios. Each part runs in its own process, one
 * after the other, in this run. Goals: a wasm training step at least 30x the cpu backend's, and
 * at most 4x the wasm forward pass. Also prints where a training step's time goes (tf.profile).
 */
import { execFileSync } from 'node:child_process';
import type * as TF from '@tensorflow/tfjs';
import { maxArch } from '../src/core/arch';
import { median } from '../src/core/latency';
import { getSpace } from '../src/core/space';
import { defaultThreads, initEngine } from '../src/training/engine';
import { ElasticSupernet } from '../src/training/supernet';

const BATCH = 32;
const space = getSpace('ofa-mbv3-tiny');
const r = Math.max(...space.resolutions);

interface PartResult { threads: number; forward: number; step: number; kernels: string }

async function measure(part: 'wasm' | 'cpu', steps: number, rounds: number): Promise<PartResult> {
  let tf: typeof TF;
  let threads = 1;
  if (part === 'wasm') {
    const engine = await initEngine('wasm');
    tf = engine.tf;
    threads = engine.threads;
  } else {
    // Plain tfjs: the cpu backend with tfjs's own gradient kernels (ours are not registered).
    tf = require('@tensorflow/tfjs') as typeof TF;
    await tf.setBackend('cpu');
  }
  const net = new ElasticSupernet(tf, space, { inputChannels: 1, numClasses: 10 }, 1);
  net.setActiveSubnet(maxArch(space, r));
  const x = tf.randomNormal([BATCH, r, r, 1]) as TF.Tensor4D;
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 10), 'int32'), 10);
  const optimizer = tf.train.momentum(0.01, 0.9, true);
  const vars = net.trainableVariables();
  const forward = () => tf.tidy(() => void net.forward(x, { training: false }).dataSync());
  const step = () =>
    tf.tidy(() => {
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, net.forward(x, { training: true })) as TF.Scalar, false, vars);
      vars[0].dataSync();
    });
  const time = (fn: () => void, n: number) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    return Number(process.hrtime.bigint() - t0) / 1e9 / n;
  };
  forward(); // warm-up (kernel setup, XNNPACK operator creation)
  step();
  // Forward and step alternate over several rounds (the machine drifts); medians of each.
  const forwardS: number[] = [];
  const stepS: number[] = [];
  for (let round = 0; round < rounds; round++) {
    forwardS.push(time(forward, steps));
    stepS.push(time(step, steps));
  }
  let kernels = '';
  if (part === 'wasm') {
    // Where a training step's time goes, by kernel; depthwise split into forward / input / filter gradient.
    const profile = await tf.profile(() => step());
    const byKernel = new Map<string, number>();
    for (const k of profile.kernels) {
      let name = k.name;
      if (name === 'DepthwiseConv2dNative') {
        // The filter gradient folds the batch into channels (batch 1).
        name = (k.inputShapes[0] as number[])[0] === 1 ? 'depthwise (filter gradient)' : 'depthwise (forward + input gradient)';
      }
      byKernel.set(name, (byKernel.get(name) ?? 0) + (k.kernelTimeMs as number));
    }
    const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
    kernels = [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, ms]) => `${k} ${((100 * ms) / total).toFixed(0)}%`).join(', ');
  }
  return { threads, forward: BATCH / median(forwardS), step: BATCH / median(stepS), kernels };
}

function runPart(part: 'wasm' | 'cpu', threads?: number): PartResult {
  const env = { ...process.env, ...(threads ? { TAILOR_THREADS: String(threads) } : {}) };
  const out = execFileSync(process.execPath, [__filename, '--part', part], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').pop() as string) as PartResult;
}

async function main() {
  const partIndex = process.argv.indexOf('--part');
  if (partIndex > 0) {
    const part = process.argv[partIndex + 1] as 'wasm' | 'cpu';
    console.log(JSON.stringify(await measure(part, part === 'cpu' ? 1 : 3, part === 'cpu' ? 1 : 3)));
    process.exit(0);
  }
  console.log(`ofa-mbv3-tiny max subnet at ${r}x${r}, batch ${BATCH} ...`);
  const threads = defaultThreads();
  const wasm = runPart('wasm');
  const single = threads > 1 ? runPart('wasm', 1) : wasm;
  const cpu = runPart('cpu');
  console.log('\n--- bench:train ---');
  const line = (label: string, w: PartResult) => {
    console.log(`wasm, ${w.threads} thread${w.threads > 1 ? 's' : ' '} ${label}: inference ${w.forward.toFixed(1)} images/s, training step ${w.step.toFixed(1)} images/s`);
    console.log(`    step costs ${(w.forward / w.step).toFixed(2)} x the forward pass (goal <= 4); ${(w.step / cpu.step).toFixed(1)} x the cpu backend's step (goal >= 30)`);
  };
  line('(default)', wasm);
  if (single !== wasm) line('         ', single);
  console.log(`cpu backend (plain tfjs) training step: ${cpu.step.toFixed(2)} images/s, inference ${cpu.forward.toFixed(1)} images/s`);
  console.log(`training step time by kernel (wasm, ${wasm.threads} threads): ${wasm.kernels}`);
  if (single !== wasm) console.log(`training step time by kernel (wasm, 1 thread): ${single.kernels}`);
}

void main();
