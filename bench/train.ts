/**
 * npm run bench:train
 * The full ofa-mbv3-tiny supernet (max subnet) at its largest resolution, batch 32: images/s of
 * inference and of a training step (forward + backward + SGD update) on the wasm engine, and of
 * a training step on the plain tfjs cpu backend, all in this run, with the ratios. Goals: a
 * wasm training step at least 30x the cpu backend's, and at most 4x the wasm forward pass.
 * Also prints where a training step's time goes (per kernel, from tf.profile).
 */
import type * as TF from '@tensorflow/tfjs';
import { maxArch } from '../src/core/arch';
import { median } from '../src/core/latency';
import { getSpace } from '../src/core/space';
import { EngineBackend, initEngine } from '../src/training/engine';
import { ElasticSupernet } from '../src/training/supernet';

const BATCH = 32;
const space = getSpace('ofa-mbv3-tiny');
const r = Math.max(...space.resolutions);

async function measure(backend: EngineBackend, steps: number, rounds = 1) {
  const { tf } = await initEngine(backend);
  await tf.setBackend(backend);
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
  for (let round = 0; round < (backend === 'cpu' ? 1 : rounds); round++) {
    if (backend !== 'cpu') forwardS.push(time(forward, steps));
    stepS.push(time(step, steps));
  }
  let kernels = '';
  if (backend !== 'cpu') {
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
  tf.dispose([x, labels]);
  return { forward: forwardS.length ? BATCH / median(forwardS) : NaN, step: BATCH / median(stepS), kernels };
}

async function main() {
  console.log(`ofa-mbv3-tiny max subnet at ${r}x${r}, batch ${BATCH} ...`);
  const wasm = await measure('wasm', 3, 3);
  const cpu = await measure('cpu', 1);
  console.log('\n--- bench:train ---');
  console.log(`wasm inference:     ${wasm.forward.toFixed(1)} images/s`);
  console.log(`wasm training step: ${wasm.step.toFixed(1)} images/s  (step costs ${(wasm.forward / wasm.step).toFixed(1)} x the forward pass; goal <= 4)`);
  console.log(`cpu training step:  ${cpu.step.toFixed(2)} images/s  (wasm is ${(wasm.step / cpu.step).toFixed(1)} x faster; goal >= 30)`);
  console.log(`training step time by kernel (wasm): ${wasm.kernels}`);
}

void main();
