import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import type * as TF from '@tensorflow/tfjs';
import { Rng } from '../../src/core/rng';
import { initEngine } from '../../src/training/engine';
import { BN_EPS, batchNormTraining } from '../../src/training/executor';
import { conv2dFilterGrad, conv2dInputGrad, depthwiseFilterGrad, depthwiseInputGrad } from '../../src/training/gradients';

let tf: typeof TF;

function random(shape: number[], rng: Rng): Float32Array {
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.float() * 2 - 1);
}

function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / Math.max(scale, 1e-12);
}

/** Runs fn on a backend and returns its values: 'cpu' runs tfjs's own gradient kernels, our reference. */
async function on(backend: 'cpu' | 'wasm', fn: () => TF.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  const t = fn();
  const data = (await t.data()) as Float32Array;
  t.dispose();
  return data;
}
const onCpu = (fn: () => TF.Tensor) => on('cpu', fn);
const onWasm = (fn: () => TF.Tensor) => on('wasm', fn);

const CASES = [1, 3, 5, 7].flatMap((k) => [1, 2].map((s) => ({ k, s })));

describe('gradient kernels for the wasm backend (checked against tfjs on cpu)', () => {
  before(async () => {
    tf = (await initEngine('wasm')).tf;
  });

  for (const { k, s } of CASES) {
    // Both channel orders: the filter gradient transposes whichever operand is narrower.
    for (const [cin, cout] of [[3, 4], [6, 2]]) {
      it(`conv2d filter and input gradients, kernel ${k}, stride ${s}, ${cin}->${cout} channels`, async () => {
        const rng = new Rng(k * 10 + s + cin);
        const [b, h] = [2, 9 + k];
        const pad = Math.floor(k / 2);
        const x = random([b, h, h, cin], rng);
        const filter = random([k, k, cin, cout], rng);
        const ho = Math.floor((h + 2 * pad - k) / s) + 1;
        const dy = random([b, ho, ho, cout], rng);
        const attrs = { strides: s, pad, dilations: 1 };
        const wantFilter = await onCpu(() =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(x, [b, h, h, cin]), dy: tf.tensor4d(dy, [b, ho, ho, cout]) }, { ...attrs, filterShape: [k, k, cin, cout], dataFormat: 'NHWC' } as never) as TF.Tensor,
        );
        const wantInput = await onCpu(() =>
          tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor4d(dy, [b, ho, ho, cout]), filter: tf.tensor4d(filter, [k, k, cin, cout]) }, { ...attrs, inputShape: [b, h, h, cin], dataFormat: 'NHWC' } as never) as TF.Tensor,
        );
        const gotFilter = await onWasm(() => conv2dFilterGrad(tf, tf.tensor4d(x, [b, h, h, cin]), tf.tensor4d(dy, [b, ho, ho, cout]), [k, k, cin, cout], attrs));
        const gotInput = await onWasm(() => conv2dInputGrad(tf, [b, h, h, cin], tf.tensor4d(dy, [b, ho, ho, cout]), tf.tensor4d(filter, [k, k, cin, cout]), attrs));
        assert.ok(relError(gotFilter, wantFilter) <= 1e-3, `filter: relative error ${relError(gotFilter, wantFilter)}`);
        assert.ok(relError(gotInput, wantInput) <= 1e-3, `input: relative error ${relError(gotInput, wantInput)}`);
      });
    }

    for (const pad of [Math.floor(k / 2), 'same'] as const) {
      it(`depthwise input and filter gradients, kernel ${k}, stride ${s}, pad ${pad}`, async () => {
        const rng = new Rng(k * 100 + s);
        const [b, h, c] = [3, 8 + k, 5];
        const x = random([b, h, h, c], rng);
        const filter = random([k, k, c, 1], rng);
        const info = tf.backend_util.computeConv2DInfo([b, h, h, c], [k, k, c, 1], [s, s], [1, 1], pad as never, undefined, true);
        const dy = random([b, info.outHeight, info.outWidth, c], rng);
        const dyShape: [number, number, number, number] = [b, info.outHeight, info.outWidth, c];
        const attrs = { strides: s, pad, dilations: 1 };
        const wantFilter = await onCpu(() =>
          tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: tf.tensor4d(x, [b, h, h, c]), dy: tf.tensor4d(dy, dyShape) }, { ...attrs, filterShape: [k, k, c, 1] } as never) as TF.Tensor,
        );
        const wantInput = await onCpu(() =>
          tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: tf.tensor4d(dy, dyShape), filter: tf.tensor4d(filter, [k, k, c, 1]) }, { ...attrs, inputShape: [b, h, h, c] } as never) as TF.Tensor,
        );
        const gotFilter = await onWasm(() => depthwiseFilterGrad(tf, tf.tensor4d(x, [b, h, h, c]), tf.tensor4d(dy, dyShape), [k, k, c, 1], attrs));
        const gotInput = await onWasm(() => depthwiseInputGrad(tf, [b, h, h, c], tf.tensor4d(dy, dyShape), tf.tensor4d(filter, [k, k, c, 1]), attrs));
        assert.ok(relError(gotFilter, wantFilter) <= 1e-3, `filter: relative error ${relError(gotFilter, wantFilter)}`);
        assert.ok(relError(gotInput, wantInput) <= 1e-3, `input: relative error ${relError(gotInput, wantInput)}`);
      });
    }
  }

  it('tf.grads through conv and depthwise layers (our gradient configs) agree on wasm and cpu', async () => {
    const rng = new Rng(77);
    const x = random([2, 12, 12, 3], rng);
    const w1 = random([3, 3, 3, 8], rng);
    const w2 = random([5, 5, 8, 1], rng);
    const loss = (input: TF.Tensor4D, a: TF.Tensor4D, b: TF.Tensor4D) =>
      tf.depthwiseConv2d(tf.relu(tf.conv2d(input, a, 2, 1)), b, 2, 2).square().mean() as TF.Scalar;
    const grads = async (backend: string) => {
      await tf.setBackend(backend);
      const g = tf.grads((a: TF.Tensor, b: TF.Tensor) => loss(tf.tensor4d(x, [2, 12, 12, 3]), a as TF.Tensor4D, b as TF.Tensor4D))([
        tf.tensor4d(w1, [3, 3, 3, 8]), tf.tensor4d(w2, [5, 5, 8, 1]),
      ]);
      return Promise.all(g.map((t) => t.data()));
    };
    const cpu = await grads('cpu');
    const wasm = await grads('wasm');
    for (let i = 0; i < 2; i++) assert.ok(relError(wasm[i], cpu[i]) <= 1e-3, `grad ${i}: ${relError(wasm[i], cpu[i])}`);
  });
});

describe('batch norm with batch statistics (closed-form gradient)', () => {
  before(async () => {
    tf = (await initEngine('wasm')).tf;
  });

  it('matches autodiff of the textbook formula on cpu: output, dx, dgamma, dbeta and the reported statistics', async () => {
    const rng = new Rng(5);
    const shape = [3, 5, 4, 6];
    const x = random(shape, rng).map((v) => v * 3 + 2); // off-centre, so the running-mean shift matters
    const gamma = random([6], rng);
    const beta = random([6], rng);
    const runningMean = random([6], rng);
    const upstream = random(shape, rng);
    const run = async (backend: 'cpu' | 'wasm', custom: boolean) => {
      await tf.setBackend(backend);
      const stats: Float32Array[] = [];
      const f = (xs: TF.Tensor, g: TF.Tensor, bt: TF.Tensor) => {
        if (custom) {
          const bn = { gamma: g, beta: bt, mean: tf.tensor1d(runningMean), variance: tf.ones([6]), update: (m: TF.Tensor, v: TF.Tensor) => stats.push(m.dataSync() as Float32Array, v.dataSync() as Float32Array) };
          return batchNormTraining(tf, xs, bn);
        }
        const { mean, variance } = tf.moments(xs, [0, 1, 2]);
        stats.push(mean.dataSync() as Float32Array, variance.dataSync() as Float32Array);
        return tf.add(tf.mul(tf.div(tf.sub(xs, mean), tf.sqrt(tf.add(variance, BN_EPS))), g), bt);
      };
      const loss = (xs: TF.Tensor, g: TF.Tensor, bt: TF.Tensor) => tf.sum(tf.mul(f(xs, g, bt), tf.tensor(upstream, shape))) as TF.Scalar;
      const inputs = [tf.tensor(x, shape), tf.tensor1d(gamma), tf.tensor1d(beta)];
      const value = (await f(inputs[0], inputs[1], inputs[2]).data()) as Float32Array;
      const grads = await Promise.all(tf.grads(loss)(inputs).map((t) => t.data() as Promise<Float32Array>));
      return { value, grads, stats: stats.slice(0, 2) };
    };
    const want = await run('cpu', false);
    for (const backend of ['cpu', 'wasm'] as const) {
      const got = await run(backend, true);
      assert.ok(relError(got.value, want.value) <= 1e-4, `${backend} output: ${relError(got.value, want.value)}`);
      ['dx', 'dgamma', 'dbeta'].forEach((name, i) => assert.ok(relError(got.grads[i], want.grads[i]) <= 1e-3, `${backend} ${name}: ${relError(got.grads[i], want.grads[i])}`));
      assert.ok(relError(got.stats[0], want.stats[0]) <= 1e-5, `${backend} batch mean`);
      assert.ok(relError(got.stats[1], want.stats[1]) <= 1e-4, `${backend} batch variance`);
    }
  });
});
