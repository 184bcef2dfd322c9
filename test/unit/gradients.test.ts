import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import type * as TF from '@tensorflow/tfjs';
import { Rng } from '../../src/core/rng';
import { initEngine } from '../../src/training/engine';
import { conv2dFilterGrad, depthwiseFilterGrad, depthwiseInputGrad } from '../../src/training/gradients';

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
    it(`conv2d filter gradient, kernel ${k}, stride ${s}`, async () => {
      const rng = new Rng(k * 10 + s);
      const [b, h, cin, cout] = [2, 9 + k, 3, 4];
      const pad = Math.floor(k / 2);
      const x = random([b, h, h, cin], rng);
      const ho = Math.floor((h + 2 * pad - k) / s) + 1;
      const dy = random([b, ho, ho, cout], rng);
      const attrs = { strides: s, pad, dilations: 1 };
      const want = await onCpu(() =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(x, [b, h, h, cin]), dy: tf.tensor4d(dy, [b, ho, ho, cout]) }, { ...attrs, filterShape: [k, k, cin, cout], dataFormat: 'NHWC' } as never) as TF.Tensor,
      );
      const got = await onWasm(() => conv2dFilterGrad(tf, tf.tensor4d(x, [b, h, h, cin]), tf.tensor4d(dy, [b, ho, ho, cout]), [k, k, cin, cout], attrs));
      assert.ok(relError(got, want) <= 1e-3, `relative error ${relError(got, want)}`);
    });

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
