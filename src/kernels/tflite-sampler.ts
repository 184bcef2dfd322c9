import { Rng, deriveSeed } from '../core/rng';
import { TfliteNetBuilder, TfliteRef } from '../tflite/builder';
import { ConvAct, classifier, conv, fire, inceptionBlock, mbconv, mbv3Head, resBlock, squeezeExcite } from './tflite-nets';

/**
 * Seeded TFLite op-profiling graphs, written with Tailor's TFLite writer: chains and small
 * networks in which every sampled op runs in context, among the ops real models put around it.
 * Families: MobileNet/OFA-style inverted-residual chains (as our exporter writes them: explicit
 * PAD before stride-2 convolutions, h-swish ops, SE with h-sigmoid and broadcast MUL), CNN chains
 * of single ops (k 1/3/5/7 convolutions, stride 1/2, fused RELU/RELU6/none, stand-alone
 * activations, pooling, PAD, element-wise ADD/MUL, CONCATENATION), whole ResNet / MobileNet /
 * Inception / SqueezeNet-style networks, and classifier heads (MEAN, RESHAPE, FULLY_CONNECTED,
 * SOFTMAX, wide 1x1 convolutions on 1x1 inputs).
 */

export type TfliteFamily = 'mbconv' | 'cnn' | 'net' | 'branch' | 'head';
const FAMILIES: TfliteFamily[] = ['mbconv', 'cnn', 'mbconv', 'net', 'cnn', 'head', 'mbconv', 'branch', 'cnn', 'net'];

export interface SampledTflite {
  id: string;
  family: TfliteFamily;
  bytes: Uint8Array;
}

const CHANNELS = [8, 12, 16, 20, 24, 32, 40, 48, 56, 64, 72, 80, 96, 112, 120, 128, 144, 160, 192, 200, 240, 256, 288, 320, 384, 480, 512, 576, 672, 720, 960];
/** Per-graph compute budget: one graph stays around 10-20 ms in the wasm runtime. */
const MAX_MACS = 60e6;
const ACTS: ConvAct[] = ['NONE', 'RELU', 'RELU', 'RELU6', 'RELU6', 'HARD_SWISH', 'HARD_SWISH', 'LOGISTIC', 'RELU_OP', 'H_SIGMOID'];

function channels(rng: Rng, near?: number): number {
  if (near !== undefined && rng.float() < 0.6) {
    const options = CHANNELS.filter((c) => c >= near / 2 && c <= near * 3);
    if (options.length) return rng.pick(options);
  }
  return rng.pick(CHANNELS);
}

/** Input channels as networks have them at that size (at most ~300k activations): whole blocks fit the compute budget. */
function fitting(rng: Rng, hw: number): number {
  return rng.pick(CHANNELS.filter((c) => hw * hw * c <= 300_000));
}

const outHw = (x: TfliteRef, stride: number) => Math.ceil(x.shape[1] / stride) * Math.ceil(x.shape[2] / stride);
const convMacs = (x: TfliteRef, cout: number, k: number, stride: number, depthwise = false) => outHw(x, stride) * cout * (depthwise ? 1 : x.shape[3]) * k * k;

/** Outputs stay small (a global mean when large): the graph's own ops are what is measured. */
function finish(g: TfliteNetBuilder, rng: Rng, x: TfliteRef): void {
  if (x.shape.reduce((a, b) => a * b, 1) > 16384) x = g.mean(x, rng.float() < 0.7);
  g.output(x);
}

function mbconvChain(g: TfliteNetBuilder, rng: Rng): void {
  const hw = rng.pick([7, 14, 14, 28, 28, 56, 56, 112]);
  let x = g.input([1, hw, hw, fitting(rng, hw)]);
  let macs = 0;
  const blocks = rng.int(2, 6);
  for (let i = 0; i < blocks; i++) {
    const c = x.shape[3];
    const expand = rng.pick([1, 3, 4, 6]);
    const k = rng.pick([3, 5, 7]);
    const stride = x.shape[1] > 4 && rng.float() < 0.3 ? 2 : 1;
    const cout = stride === 1 && rng.float() < 0.6 ? c : channels(rng, c);
    const mid = expand === 1 ? c : Math.max(8, Math.round((c * expand) / 8) * 8);
    const cost = (expand === 1 ? 0 : convMacs(x, mid, 1, 1)) + convMacs(x, mid, k, stride, true) + outHw(x, stride) * mid * cout;
    if (macs + cost > MAX_MACS) continue;
    macs += cost;
    x = mbconv(g, x, { expand, k, stride, cout, act: rng.pick(['RELU', 'RELU6', 'HARD_SWISH', 'HARD_SWISH'] as ConvAct[]), se: rng.float() < 0.5, explicitPad: rng.float() < 0.8 });
  }
  if (rng.float() < 0.3) {
    g.output(mbv3Head(g, x, { features: rng.pick([1024, 1280, 1536]), classes: rng.pick([10, 1000]) }));
  } else finish(g, rng, x);
}

function cnnChain(g: TfliteNetBuilder, rng: Rng): void {
  const hw = rng.pick([7, 14, 14, 28, 28, 56, 56, 112, 112, 160, 224]);
  let x = g.input([1, hw, hw, hw >= 112 ? rng.pick([3, 3, 8, 16, 24, 32]) : fitting(rng, hw)]);
  let macs = 0;
  const layers = rng.int(3, 9);
  for (let i = 0; i < layers; i++) {
    const c = x.shape[3];
    const small = x.shape[1] <= 2;
    const kind = small ? 'pw' : rng.pick(['conv', 'conv', 'pw', 'dw', 'dw', 'pool', 'act', 'act', 'pad', 'eltwise', 'se', 'concat'] as const);
    if (kind === 'conv' || kind === 'pw') {
      const k = kind === 'pw' ? 1 : rng.pick([1, 3, 3, 5, 7]);
      const stride = small || x.shape[1] < 4 ? 1 : rng.pick([1, 1, 2]);
      const cout = channels(rng, c);
      if (macs + convMacs(x, cout, k, stride) > MAX_MACS) continue;
      macs += convMacs(x, cout, k, stride);
      x = conv(g, x, { cout, k, stride, act: rng.pick(ACTS), explicitPad: rng.float() < 0.6 });
    } else if (kind === 'dw') {
      const k = rng.pick([3, 5, 7]);
      const stride = x.shape[1] < 4 ? 1 : rng.pick([1, 1, 2]);
      macs += convMacs(x, c, k, stride, true);
      x = conv(g, x, { k, stride, act: rng.pick(ACTS), depthwise: true, explicitPad: rng.float() < 0.6 });
    } else if (kind === 'pool') {
      const k = rng.pick([2, 3]);
      if (x.shape[1] < k) continue;
      x = g.pool(rng.float() < 0.5 ? 'MAX_POOL_2D' : 'AVERAGE_POOL_2D', x, k, rng.pick([1, 2, 2]), rng.pick(['SAME', 'VALID'] as const));
    } else if (kind === 'act') {
      // stand-alone activations: RELU / RELU6 after ops without an output clamp (else XNNPACK fuses them)
      const op = rng.pick(['RELU', 'RELU', 'RELU6', 'HARD_SWISH', 'LOGISTIC'] as const);
      const y = op !== 'RELU' && op !== 'RELU6' ? x : c <= 256 ? g.concat([x, x]) : g.pad(x, [1, 1, 1, 1]);
      x = g.unary(op, y);
    } else if (kind === 'pad') {
      const p = rng.pick([1, 1, 2, 3]);
      x = g.pad(x, [p, p, p, p]);
      if (rng.float() < 0.5) x = g.unary('RELU6', x);
    } else if (kind === 'eltwise') {
      const cout = c;
      if (macs + convMacs(x, cout, 1, 1) > MAX_MACS) continue;
      macs += convMacs(x, cout, 1, 1);
      const y = conv(g, x, { cout, k: 1, act: rng.pick(ACTS) });
      x = g.binary(rng.pick(['ADD', 'ADD', 'MUL'] as const), x, y, rng.pick(['NONE', 'NONE', 'RELU', 'RELU6'] as const));
    } else if (kind === 'se') {
      x = squeezeExcite(g, x);
    } else {
      const cout = channels(rng, c);
      if (macs + 2 * convMacs(x, cout, 1, 1) > MAX_MACS) continue;
      macs += 2 * convMacs(x, cout, 1, 1);
      x = g.concat([conv(g, x, { cout, k: 1, act: 'RELU' }), rng.float() < 0.5 ? x : conv(g, x, { cout, k: 1, act: 'RELU6' })]);
    }
  }
  finish(g, rng, x);
}

/** Whole small networks: ResNet (basic / bottleneck), MobileNetV2 / V3, at 64-192 px and reduced widths. */
function net(g: TfliteNetBuilder, rng: Rng): void {
  const kind = rng.pick(['resnet', 'resnet-bottleneck', 'mbv2', 'mbv3'] as const);
  const r = rng.pick([64, 96, 112, 128, 160]);
  let x = g.input([1, r, r, 3]);
  const w = rng.pick([0.25, 0.35, 0.5]);
  const ch = (c: number) => Math.max(8, Math.round((c * w) / 8) * 8);
  if (kind.startsWith('resnet')) {
    x = conv(g, x, { cout: ch(64), k: 7, stride: 2, act: 'RELU', explicitPad: rng.float() < 0.5 });
    x = g.pool('MAX_POOL_2D', x, 3, 2, 'SAME');
    const bottleneck = kind === 'resnet-bottleneck';
    [64, 128, 256, 512].forEach((width, s) => {
      const n = rng.int(1, 2);
      for (let i = 0; i < n; i++) x = resBlock(g, x, { width: ch(width), stride: s > 0 && i === 0 ? 2 : 1, bottleneck });
    });
    g.output(classifier(g, x, { classes: rng.pick([10, 100, 1000]), softmax: rng.float() < 0.5 }));
    return;
  }
  const v3 = kind === 'mbv3';
  x = conv(g, x, { cout: ch(v3 ? 16 : 32), k: 3, stride: 2, act: v3 ? 'HARD_SWISH' : 'RELU6' });
  const stages: [number, number, number][] = [[24, 2, 2], [40, 2, 3], [80, 2, 3], [112, 1, 2], [160, 2, 3]];
  for (const [c, stride, n] of stages) {
    const depth = rng.int(1, n);
    for (let i = 0; i < depth; i++) {
      const k = v3 ? rng.pick([3, 5, 7]) : 3;
      x = mbconv(g, x, { expand: rng.pick(v3 ? [3, 4, 6] : [6]), k, stride: i === 0 ? stride : 1, cout: ch(c * 2), act: v3 ? 'HARD_SWISH' : 'RELU6', se: v3 && c >= 40 && c !== 80 });
    }
  }
  if (v3) g.output(mbv3Head(g, conv(g, x, { cout: ch(960), k: 1, act: 'HARD_SWISH' }), { features: 1280, classes: 1000 }));
  else g.output(classifier(g, conv(g, x, { cout: ch(1280), k: 1, act: 'RELU6' }), { classes: 1000 }));
}

/** Concatenating networks: Inception- and SqueezeNet-style blocks, max / average pooling. */
function branch(g: TfliteNetBuilder, rng: Rng): void {
  const r = rng.pick([28, 56, 56, 112]);
  let x = g.input([1, r, r, rng.pick([16, 32, 64])]);
  if (r >= 112) x = g.pool('MAX_POOL_2D', conv(g, x, { cout: 32, k: 3, stride: 2, act: 'RELU' }), 3, 2, 'SAME');
  const blocks = rng.int(1, 3);
  for (let i = 0; i < blocks; i++) {
    const c = x.shape[3];
    if (rng.float() < 0.5) x = inceptionBlock(g, x, [0, 0, 0, 0].map(() => channels(rng, c / 3)), rng.pick(['MAX_POOL_2D', 'AVERAGE_POOL_2D'] as const));
    else x = fire(g, x, Math.max(8, channels(rng, c / 6)), channels(rng, c / 2));
    if (x.shape[1] > 7 && rng.float() < 0.5) x = g.pool('MAX_POOL_2D', x, rng.pick([2, 3]), 2, 'VALID');
  }
  finish(g, rng, x);
}

/** Classifier heads: MLPs, softmax, wide 1x1 convolutions on a 1x1 map (megabytes of weights streamed per run). */
function head(g: TfliteNetBuilder, rng: Rng): void {
  if (rng.float() < 0.5) {
    let x = g.input([1, rng.pick([64, 128, 256, 512, 784, 1024])]);
    const layers = rng.int(1, 4);
    for (let i = 0; i < layers; i++) x = g.fullyConnected(x, rng.pick([64, 128, 256, 512, 1024, 2048]), rng.pick(['NONE', 'RELU', 'RELU6'] as const));
    x = g.fullyConnected(x, rng.pick([10, 100, 1000]));
    g.output(rng.float() < 0.5 ? g.softmax(x) : x);
    return;
  }
  const hw = rng.pick([1, 4, 7, 7, 14]);
  let x = g.input([1, hw, hw, rng.pick([96, 160, 320, 576, 960])]);
  if (rng.float() < 0.6) g.output(mbv3Head(g, x, { features: rng.pick([1024, 1280, 1536]), classes: rng.pick([10, 100, 1000]) }));
  else g.output(classifier(g, x, { classes: rng.pick([10, 100, 1000]), hidden: rng.float() < 0.5 ? rng.pick([256, 1024]) : undefined, softmax: rng.float() < 0.5, keepDims: rng.float() < 0.5 }));
}

/** Profiling graph `index` of a seed (the same seed and index give the same bytes). */
export function sampleTfliteGraph(seed: number, index: number): SampledTflite {
  const rng = new Rng(deriveSeed(seed, `tflite-graph-${index}`));
  const family = FAMILIES[index % FAMILIES.length];
  const g = new TfliteNetBuilder(deriveSeed(seed, `tflite-weights-${index}`), `${family}-${index}`);
  ({ mbconv: mbconvChain, cnn: cnnChain, net, branch, head })[family](g, rng);
  return { id: `${family}-${index}`, family, bytes: g.bytes() };
}

/** A one-op model: its wall time is the fixed per-inference cost (Infer() call, delegate entry). */
export function tfliteOverheadProbe(): Uint8Array {
  const g = new TfliteNetBuilder(0, 'probe');
  g.output(g.mean(g.input([1, 4, 4, 8]), true));
  return g.bytes();
}
