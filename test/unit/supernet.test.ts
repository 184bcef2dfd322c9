import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import type * as TF from '@tensorflow/tfjs';
import type * as Ort from 'onnxruntime-node';
import { maxArch, sampleArch } from '../../src/core/arch';
import { countModel } from '../../src/core/counters';
import { buildIR } from '../../src/core/ir';
import { midChannels } from '../../src/core/net';
import { Rng } from '../../src/core/rng';
import { getSpace } from '../../src/core/space';
import { exportOnnx } from '../../src/export/onnx';
import { initEngine } from '../../src/training/engine';
import { ElasticSupernet } from '../../src/training/supernet';

const ort = require('onnxruntime-node') as typeof Ort;
const tiny = getSpace('ofa-mbv3-tiny');
let tf: typeof TF;

function images(n: number, r: number, c: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * r * r * c }, () => rng.float() * 2 - 1);
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('elastic supernet (tfjs)', () => {
  let net: ElasticSupernet;
  before(async () => {
    tf = (await initEngine('wasm')).tf;
    net = new ElasticSupernet(tf, tiny, { inputChannels: 1, numClasses: 10 }, 5);
    // Give batch norm non-trivial running statistics: a few forward passes in training mode.
    for (let i = 0; i < 3; i++) {
      net.sampleActiveSubnet(new Rng(i));
      tf.tidy(() => net.forward(tf.tensor4d(images(8, 28, 1, i), [8, 28, 28, 1]), { training: true }));
    }
  });

  it('runs every elastic choice and slices weights to the active subnet', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 6; i++) {
      const arch = net.sampleActiveSubnet(rng);
      const y = tf.tidy(() => net.forward(tf.tensor4d(images(2, arch.r, 1, i), [2, arch.r, arch.r, 1]), { training: false }).arraySync());
      assert.equal(y.length, 2);
      assert.equal(y[0].length, 10);
      assert.ok(y.flat().every(Number.isFinite));
    }
  });

  it('the extracted static subnet gives the same logits as the supernet with that subnet active', () => {
    const rng = new Rng(2);
    for (let i = 0; i < 3; i++) {
      const arch = net.sampleActiveSubnet(rng);
      const x = images(4, arch.r, 1, 10 + i);
      const fromSupernet = tf.tidy(() => net.forward(tf.tensor4d(x, [4, arch.r, arch.r, 1]), { training: false }).dataSync());
      const sub = net.getActiveSubnet();
      const fromStatic = tf.tidy(() => sub.forward(tf.tensor4d(x, [4, arch.r, arch.r, 1])).dataSync());
      assert.ok(maxAbsDiff(fromSupernet, fromStatic) < 1e-5, `diff ${maxAbsDiff(fromSupernet, fromStatic)}`);
      assert.equal(countModel(sub.ir).params, countModel(buildIR(net.activeNet())).params);
      sub.dispose();
    }
  });

  it('exports a subnet with inherited weights to ONNX that matches tfjs (onnxruntime-node)', async () => {
    const arch = sampleArch(tiny, new Rng(3));
    net.setActiveSubnet(arch);
    const sub = net.getActiveSubnet();
    const n = 4;
    const x = images(n, arch.r, 1, 99);
    const want = tf.tidy(() => sub.forward(tf.tensor4d(x, [n, arch.r, arch.r, 1])).dataSync());
    const session = await ort.InferenceSession.create(exportOnnx(sub.ir, { weights: sub.weightProvider('supernet test') }));
    const got: number[] = [];
    for (let b = 0; b < n; b++) {
      // NHWC -> NCHW (one channel: same order)
      const one = x.subarray(b * arch.r * arch.r, (b + 1) * arch.r * arch.r);
      const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(one), [1, 1, arch.r, arch.r]) });
      got.push(...(out[session.outputNames[0]].data as Float32Array));
    }
    await session.release();
    assert.ok(maxAbsDiff(got, want) < 1e-4, `max abs diff ${maxAbsDiff(got, want)}`);
    sub.dispose();
  });

  it("elastic kernel: a fresh supernet's 5x5 and 3x3 kernels are the centres of the 7x7 (identity transforms)", () => {
    const fresh = new ElasticSupernet(tf, tiny, { inputChannels: 1, numClasses: 10 }, 9);
    const base = { ...sampleArch(tiny, new Rng(4)), d: [4, 4, 4, 4, 4] };
    const weightOf = (k: number) => {
      fresh.setActiveSubnet({ ...base, ks: Array(20).fill(k) });
      const sub = fresh.getActiveSubnet();
      const w = sub.weights.get('blocks.1.depthwise')!.weight;
      const data = w.arraySync() as number[][][][];
      sub.dispose();
      return data;
    };
    const w7 = weightOf(7);
    const w3 = weightOf(3);
    for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) assert.ok(Math.abs(w3[y][x][0][0] - w7[y + 2][x + 2][0][0]) < 1e-6);
  });

  it('sorts middle and SE hidden channels by importance without changing the full network; stage 1 keeps the trained narrower set in front', () => {
    const sorted = new ElasticSupernet(tf, tiny, { inputChannels: 1, numClasses: 10 }, 9);
    sorted.setActiveSubnet(maxArch(tiny));
    const x = tf.tensor4d(images(4, 32, 1, 3), [4, 32, 32, 1]);
    const logits = () => tf.tidy(() => sorted.forward(x, { training: false }).dataSync());
    const importance = (name: string, axis: number[]) => tf.tidy(() => Array.from(tf.sum(tf.abs(sorted.layers.get(name)!.weight), axis).dataSync()));
    const columns = (pos: number, count: number) => {
      const w = sorted.layers.get(`b${pos}.expand`)!.weight; // [1, 1, in, mid]
      const t = tf.tidy(() => w.reshape([w.shape[2]!, w.shape[3]!]).transpose().arraySync() as number[][]);
      return new Set(t.slice(0, count).map((c) => c.join(',')));
    };
    const descending = (v: number[]) => v.every((a, i) => i === 0 || v[i - 1] >= a);
    const before = logits();
    // Stage 1: the first mid(e=4) channels stay the same set, sorted among themselves, and so do the rest.
    const pos = 4; // a block with SE
    const inChannels = sorted.layers.get(`b${pos}.expand`)!.weight.shape[2]!;
    const w4 = midChannels(inChannels, 4);
    const front = columns(pos, w4);
    sorted.sortChannels(1);
    assert.ok(maxAbsDiff(logits(), before) < 1e-4, 'the full network computes the same function');
    assert.deepEqual(columns(pos, w4), front);
    const stage1 = importance(`b${pos}.project`, [0, 1, 3]);
    assert.ok(descending(stage1.slice(0, w4)) && descending(stage1.slice(w4)));
    assert.ok(!descending(stage1), 'stage 1 must differ from a plain sort here, or this test shows nothing');
    // Stage 0: one descending order over all middle channels, and SE hidden channels sorted too.
    sorted.sortChannels(0);
    assert.ok(maxAbsDiff(logits(), before) < 1e-4);
    for (let b = 0; b < 6; b++) assert.ok(descending(importance(`b${b}.project`, [0, 1, 3])), `block ${b}`);
    assert.ok(descending(importance(`b${pos}.se.expand`, [0, 1, 3])));
    assert.notDeepEqual(columns(pos, w4), front);
    x.dispose();
    sorted.dispose();
  });

  it('a training step lowers the loss (real gradients through sliced, transformed weights)', () => {
    const arch = net.sampleActiveSubnet(new Rng(6));
    const x = tf.tensor4d(images(16, arch.r, 1, 7), [16, arch.r, arch.r, 1]);
    const labels = tf.oneHot(tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 10), 'int32'), 10);
    const optimizer = tf.train.momentum(0.05, 0.9, true);
    const loss = () => tf.losses.softmaxCrossEntropy(labels, net.forward(x, { training: true })) as TF.Scalar;
    const first = tf.tidy(() => loss().dataSync()[0]);
    for (let i = 0; i < 8; i++) tf.tidy(() => {
      optimizer.minimize(loss, false, net.trainableVariables());
    });
    const last = tf.tidy(() => loss().dataSync()[0]);
    assert.ok(last < first * 0.8, `loss ${first} -> ${last}`);
  });
});
