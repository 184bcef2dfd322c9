import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type * as Ort from 'onnxruntime-node';
import { sampleArch } from '../../src/core/arch';
import { ConvNode, LinearNode, buildIR } from '../../src/core/ir';
import { netFromArch, resnetNet } from '../../src/core/net';
import { Rng } from '../../src/core/rng';
import { getSpace } from '../../src/core/space';
import { exportOnnx, exportPiecesOnnx } from '../../src/export/onnx';
import { seededWeights } from '../../src/export/weights';

const ort = require('onnxruntime-node') as typeof Ort;
const w10 = getSpace('ofa-mbv3-w1.0');
const weights = seededWeights(3);

async function run(model: Uint8Array, input: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, dims) });
  await session.release();
  return out[session.outputNames[0]].data as Float32Array;
}

function randomInput(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.float() * 2 - 1);
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('ONNX export (loaded back in onnxruntime-node)', () => {
  it('the stem conv + h_swish matches a direct convolution', async () => {
    const ir = buildIR(netFromArch(w10, { ...sampleArch(w10, new Rng(1)), r: 128 }));
    const stem = ir.pieces[0];
    const node = stem.nodes[0] as ConvNode;
    const [c, h, w] = stem.inShape;
    const x = randomInput(c * h * w, 1);
    const got = await run(exportPiecesOnnx([stem], { weights }), x, [1, c, h, w]);
    const { weight, bias } = weights.weights(node);
    const [oc, oh, ow] = stem.outShape;
    const k = node.kernelSize;
    const pad = Math.floor(k / 2);
    const want = new Float32Array(oc * oh * ow);
    for (let o = 0; o < oc; o++)
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          let s = bias![o];
          for (let i = 0; i < c; i++)
            for (let ky = 0; ky < k; ky++)
              for (let kx = 0; kx < k; kx++) {
                const iy = y * node.stride - pad + ky;
                const ix = xx * node.stride - pad + kx;
                if (iy >= 0 && iy < h && ix >= 0 && ix < w) s += weight[((o * c + i) * k + ky) * k + kx] * x[(i * h + iy) * w + ix];
              }
          want[(o * oh + y) * ow + xx] = (s * Math.min(Math.max(s + 3, 0), 6)) / 6; // h_swish
        }
    assert.ok(maxAbsDiff(got, want) < 1e-4, `max diff ${maxAbsDiff(got, want)}`);
  });

  it('the classifier matches W x + b', async () => {
    const ir = buildIR(netFromArch(w10, sampleArch(w10, new Rng(2))));
    const logits = ir.pieces.at(-1)!;
    const node = logits.nodes[0] as LinearNode;
    const x = randomInput(node.inFeatures, 2);
    const got = await run(exportPiecesOnnx([logits], { weights }), x, [1, node.inFeatures, 1, 1]);
    const { weight, bias } = weights.weights(node);
    const want = Float32Array.from({ length: node.outFeatures }, (_, o) => x.reduce((s, v, i) => s + v * weight[o * node.inFeatures + i], bias![o]));
    assert.equal(got.length, 1000);
    assert.ok(maxAbsDiff(got, want) < 1e-4);
  });

  it('a whole subnet equals its pieces run one after another', async () => {
    const arch = { ...sampleArch(w10, new Rng(4)), r: 128 };
    const ir = buildIR(netFromArch(w10, arch));
    const x = randomInput(3 * 128 * 128, 3);
    const whole = await run(exportOnnx(ir, { weights }), x, [1, 3, 128, 128]);
    let y = x;
    for (const p of ir.pieces) y = await run(exportPiecesOnnx([p], { weights }), y, [1, ...p.inShape]);
    assert.equal(whole.length, 1000);
    assert.ok(whole.every(Number.isFinite));
    assert.ok(maxAbsDiff(whole, y) < 1e-3 * Math.max(1, ...Array.from(y, Math.abs)), `max diff ${maxAbsDiff(whole, y)}`);
  });

  it('a ResNet: the stem pool is a 3x3/2 max of the stem conv (padded cells never win), the net equals its pieces', async () => {
    const net = resnetNet({ resolution: 32, width: 8, depths: [1, 2], bottleneck: true });
    const ir = buildIR(net);
    const x = randomInput(3 * 32 * 32, 6);
    const conv = await run(exportPiecesOnnx([buildIR({ ...net, stemPool: null }).pieces[0]], { weights }), x, [1, 3, 32, 32]);
    const pooled = await run(exportPiecesOnnx([ir.pieces[0]], { weights }), x, [1, 3, 32, 32]);
    const [c, h] = [8, 16];
    const want = new Float32Array(c * 8 * 8);
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < 8; y++)
        for (let xx = 0; xx < 8; xx++) {
          let m = -Infinity;
          for (let dy = -1; dy <= 1; dy++)
            for (let dx = -1; dx <= 1; dx++) {
              const iy = 2 * y + dy;
              const ix = 2 * xx + dx;
              if (iy >= 0 && iy < h && ix >= 0 && ix < h) m = Math.max(m, conv[(ch * h + iy) * h + ix]);
            }
          want[(ch * 8 + y) * 8 + xx] = m;
        }
    assert.ok(maxAbsDiff(pooled, want) < 1e-6, `max diff ${maxAbsDiff(pooled, want)}`);
    const whole = await run(exportOnnx(ir, { weights }), x, [1, 3, 32, 32]);
    let y = x;
    for (const p of ir.pieces) y = await run(exportPiecesOnnx([p], { weights }), y, [1, ...p.inShape]);
    assert.ok(maxAbsDiff(whole, y) < 1e-3 * Math.max(1, ...Array.from(y, Math.abs)), `max diff ${maxAbsDiff(whole, y)}`);
  });

  it('same arch and seed give identical bytes; another seed changes the weights', () => {
    const ir = buildIR(netFromArch(w10, sampleArch(w10, new Rng(5))));
    assert.deepEqual(exportOnnx(ir, { weights: seededWeights(1) }), exportOnnx(ir, { weights: seededWeights(1) }));
    assert.notDeepEqual(exportOnnx(ir, { weights: seededWeights(1) }), exportOnnx(ir, { weights: seededWeights(2) }));
  });
});
