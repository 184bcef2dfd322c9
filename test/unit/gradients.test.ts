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

type Pad = 'same' | 'valid' | number;

interface GradCase {
  k: number;
  s: number;
  pad: Pad;
  b: number;
  h: number;
  w: number;
  /** Regular conv: in and out channels (both orders, so both matMul operands get transposed). */
  cin: number;
  cout: number;
  /** Depthwise conv: channels. */
  c: number;
  seed: number;
}

/**
 * Every kernel size and stride with 'same' (TF's asymmetric padding at stride 2), 'valid' and a
 * numeric pad, on seeded-random shapes: batch 1-3, heights and widths 8-17 with every parity
 * combination of the two across the cases (even sizes make 'same' at stride 2 pad unevenly).
 */
function gradCases(): GradCase[] {
  const out: GradCase[] = [];
  [1, 3, 5, 7].forEach((k, ki) => [1, 2].forEach((s, si) => (['same', 'valid', 'numeric'] as const).forEach((padKind, pi) => {
    const seed = 1000 * k + 100 * s + pi;
    const rng = new Rng(seed);
    // For each stride and padding, the four kernel sizes take the four (height, width) parities.
    const [hOdd, wOdd] = [(ki + si + pi) % 2, (Math.floor(ki / 2) + pi) % 2];
    const narrow = rng.int(1, 3);
    const wide = rng.int(4, 6);
    const [cin, cout] = (ki + pi) % 2 ? [wide, narrow] : [narrow, wide];
    out.push({
      k, s, seed, cin, cout,
      pad: padKind === 'numeric' ? rng.int(0, k - 1) : padKind,
      b: rng.int(1, 3),
      h: 8 + 2 * rng.int(0, 4) + hOdd,
      w: 8 + 2 * rng.int(0, 4) + wOdd,
      c: rng.int(1, 6),
    });
  })));
  return out;
}

const CASES = gradCases();

describe('gradient kernels for the wasm backend (checked against tfjs on cpu)', () => {
  before(async () => {
    tf = (await initEngine('wasm')).tf;
  });

  it('the cases cover even and odd heights and widths, both channel orders and every padding', () => {
    for (const pad of ['same', 'valid', 'number']) assert.ok(CASES.some((c) => (typeof c.pad === 'number' ? 'number' : c.pad) === pad), pad);
    for (const [hOdd, wOdd] of [[0, 0], [0, 1], [1, 0], [1, 1]]) assert.ok(CASES.some((c) => c.h % 2 === hOdd && c.w % 2 === wOdd && c.s === 2 && c.pad === 'same'), `h%2=${hOdd} w%2=${wOdd}`);
    assert.ok(CASES.some((c) => c.cin < c.cout) && CASES.some((c) => c.cin > c.cout));
  });

  for (const { k, s, pad, b, h, w, cin, cout, c, seed } of CASES) {
    const attrs = { strides: s, pad, dilations: 1 };
    it(`conv2d filter and input gradients, kernel ${k}, stride ${s}, pad ${pad}, x ${b}x${h}x${w}x${cin} -> ${cout} channels`, async () => {
      const rng = new Rng(seed);
      const info = tf.backend_util.computeConv2DInfo([b, h, w, cin], [k, k, cin, cout], [s, s], [1, 1], pad as never);
      const xShape: [number, number, number, number] = [b, h, w, cin];
      const dyShape: [number, number, number, number] = [b, info.outHeight, info.outWidth, cout];
      const x = random(xShape, rng);
      const filter = random([k, k, cin, cout], rng);
      const dy = random(dyShape, rng);
      const wantFilter = await onCpu(() =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(x, xShape), dy: tf.tensor4d(dy, dyShape) }, { ...attrs, filterShape: [k, k, cin, cout], dataFormat: 'NHWC' } as never) as TF.Tensor,
      );
      const wantInput = await onCpu(() =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor4d(dy, dyShape), filter: tf.tensor4d(filter, [k, k, cin, cout]) }, { ...attrs, inputShape: xShape, dataFormat: 'NHWC' } as never) as TF.Tensor,
      );
      const gotFilter = await onWasm(() => conv2dFilterGrad(tf, tf.tensor4d(x, xShape), tf.tensor4d(dy, dyShape), [k, k, cin, cout], attrs));
      const gotInput = await onWasm(() => conv2dInputGrad(tf, xShape, tf.tensor4d(dy, dyShape), tf.tensor4d(filter, [k, k, cin, cout]), attrs));
      assert.ok(relError(gotFilter, wantFilter) <= 1e-3, `filter: relative error ${relError(gotFilter, wantFilter)}`);
      assert.ok(relError(gotInput, wantInput) <= 1e-3, `input: relative error ${relError(gotInput, wantInput)}`);
    });

    it(`depthwise input and filter gradients, kernel ${k}, stride ${s}, pad ${pad}, x ${b}x${h}x${w}x${c}`, async () => {
      const rng = new Rng(seed + 1);
      const info = tf.backend_util.computeConv2DInfo([b, h, w, c], [k, k, c, 1], [s, s], [1, 1], pad as never, undefined, true);
      const xShape: [number, number, number, number] = [b, h, w, c];
      const dyShape: [number, number, number, number] = [b, info.outHeight, info.outWidth, c];
      const x = random(xShape, rng);
      const filter = random([k, k, c, 1], rng);
      const dy = random(dyShape, rng);
      const wantFilter = await onCpu(() =>
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: tf.tensor4d(x, xShape), dy: tf.tensor4d(dy, dyShape) }, { ...attrs, filterShape: [k, k, c, 1] } as never) as TF.Tensor,
      );
      const wantInput = await onCpu(() =>
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: tf.tensor4d(dy, dyShape), filter: tf.tensor4d(filter, [k, k, c, 1]) }, { ...attrs, inputShape: xShape } as never) as TF.Tensor,
      );
      const gotFilter = await onWasm(() => depthwiseFilterGrad(tf, tf.tensor4d(x, xShape), tf.tensor4d(dy, dyShape), [k, k, c, 1], attrs));
      const gotInput = await onWasm(() => depthwiseInputGrad(tf, xShape, tf.tensor4d(dy, dyShape), tf.tensor4d(filter, [k, k, c, 1]), attrs));
      assert.ok(relError(gotFilter, wantFilter) <= 1e-3, `filter: relative error ${relError(gotFilter, wantFilter)}`);
      assert.ok(relError(gotInput, wantInput) <= 1e-3, `input: relative error ${relError(gotInput, wantInput)}`);
    });
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
