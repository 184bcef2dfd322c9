import { ArchConfig, sampleArch } from '../core/arch';
import { buildIR } from '../core/ir';
import { netFromArch } from '../core/net';
import { Rng, deriveSeed } from '../core/rng';
import { getSpace } from '../core/space';
import { exportModel } from '../export/model';
import { seededWeights } from '../export/weights';
import { TfliteNetBuilder, TfliteRef } from '../tflite/builder';
import { ConvAct, classifier, conv, fire, inceptionBlock, mbconv, mbv3Head, resBlock } from './tflite-nets';

/**
 * A varied set of float32 .tflite models for validating the TFLite op predictor, all written by
 * Tailor's own code (never committed): our exported OFA subnets (exportModel('tflite')) at several
 * resolutions, and ResNet-, MobileNet V1/V2/V3-, ProxylessNAS-, VGG-, Inception- and
 * SqueezeNet-style networks and an MLP from the TFLite builder. Seeded: the same seed gives the
 * same files. Their sizes differ from the profiling graphs' (whole networks of up to ~400 MMACs).
 */
export interface TfliteZooModel {
  name: string;
  kind: 'ofa-subnet' | 'cnn' | 'mlp';
  bytes: Uint8Array;
}

const round8 = (c: number) => Math.max(8, Math.round(c / 8) * 8);

function resnet(seed: number, r: number, width: number, depths: number[], bottleneck: boolean): Uint8Array {
  const g = new TfliteNetBuilder(seed, 'resnet');
  let x = conv(g, g.input([1, r, r, 3]), { cout: round8(64 * width), k: 7, stride: 2, act: 'RELU' });
  x = g.pool('MAX_POOL_2D', x, 3, 2, 'SAME');
  [64, 128, 256, 512].forEach((w, s) => {
    for (let i = 0; i < depths[s]; i++) x = resBlock(g, x, { width: round8(w * width), stride: s > 0 && i === 0 ? 2 : 1, bottleneck, explicitPad: false });
  });
  g.output(classifier(g, x, { classes: 1000, softmax: true }));
  return g.bytes({ model: 'resnet' });
}

function mobilenetV1(seed: number, r: number, width: number): Uint8Array {
  const g = new TfliteNetBuilder(seed, 'mobilenet-v1');
  let x = conv(g, g.input([1, r, r, 3]), { cout: round8(32 * width), k: 3, stride: 2, act: 'RELU6', explicitPad: false });
  const plan: [number, number][] = [[64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2], [512, 1], [512, 1], [512, 1], [512, 1], [512, 1], [1024, 2], [1024, 1]];
  for (const [c, stride] of plan) {
    x = conv(g, x, { k: 3, stride, act: 'RELU6', depthwise: true, explicitPad: false });
    x = conv(g, x, { cout: round8(c * width), k: 1, act: 'RELU6' });
  }
  g.output(classifier(g, x, { classes: 1000, softmax: true, keepDims: false }));
  return g.bytes({ model: 'mobilenet-v1' });
}

function mobilenetV2(seed: number, r: number, width: number): Uint8Array {
  const g = new TfliteNetBuilder(seed, 'mobilenet-v2');
  let x = conv(g, g.input([1, r, r, 3]), { cout: round8(32 * width), k: 3, stride: 2, act: 'RELU6', explicitPad: false });
  const plan: [number, number, number, number][] = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];
  for (const [t, c, n, s] of plan) for (let i = 0; i < n; i++) x = mbconv(g, x, { expand: t, k: 3, stride: i === 0 ? s : 1, cout: round8(c * width), act: 'RELU6', explicitPad: false });
  x = conv(g, x, { cout: 1280, k: 1, act: 'RELU6' });
  g.output(classifier(g, x, { classes: 1000 }));
  return g.bytes({ model: 'mobilenet-v2' });
}

function mobilenetV3(seed: number, r: number): Uint8Array {
  const g = new TfliteNetBuilder(seed, 'mobilenet-v3-large');
  let x = conv(g, g.input([1, r, r, 3]), { cout: 16, k: 3, stride: 2, act: 'HARD_SWISH' });
  // [kernel, expanded, out, se, act, stride] as in the MobileNetV3-Large paper
  const plan: [number, number, number, boolean, ConvAct, number][] = [
    [3, 16, 16, false, 'RELU', 1], [3, 64, 24, false, 'RELU', 2], [3, 72, 24, false, 'RELU', 1], [5, 72, 40, true, 'RELU', 2], [5, 120, 40, true, 'RELU', 1],
    [5, 120, 40, true, 'RELU', 1], [3, 240, 80, false, 'HARD_SWISH', 2], [3, 200, 80, false, 'HARD_SWISH', 1], [3, 184, 80, false, 'HARD_SWISH', 1],
    [3, 184, 80, false, 'HARD_SWISH', 1], [3, 480, 112, true, 'HARD_SWISH', 1], [3, 672, 112, true, 'HARD_SWISH', 1], [5, 672, 160, true, 'HARD_SWISH', 2],
    [5, 960, 160, true, 'HARD_SWISH', 1], [5, 960, 160, true, 'HARD_SWISH', 1],
  ];
  for (const [k, exp, out, se, act, stride] of plan) x = mbconv(g, x, { expand: exp / x.shape[3], k, stride, cout: out, act, se });
  x = conv(g, x, { cout: 960, k: 1, act: 'HARD_SWISH' });
  g.output(mbv3Head(g, x, { features: 1280, classes: 1000 }));
  return g.bytes({ model: 'mobilenet-v3-large' });
}

function proxyless(seed: number, r: number): Uint8Array {
  const rng = new Rng(deriveSeed(seed, `proxyless-${r}`));
  const g = new TfliteNetBuilder(seed, 'proxylessnas');
  let x = conv(g, g.input([1, r, r, 3]), { cout: 32, k: 3, stride: 2, act: 'RELU6' });
  x = mbconv(g, x, { expand: 1, k: 3, stride: 1, cout: 16, act: 'RELU6' });
  for (const [c, n, s] of [[32, 4, 2], [56, 4, 2], [112, 4, 2], [128, 4, 1], [256, 4, 2], [432, 1, 1]] as const) {
    for (let i = 0; i < n; i++) x = mbconv(g, x, { expand: rng.pick([3, 6]), k: rng.pick([3, 5, 7]), stride: i === 0 ? s : 1, cout: c, act: 'RELU6' });
  }
  x = conv(g, x, { cout: 1728, k: 1, act: 'RELU6' });
  g.output(classifier(g, x, { classes: 1000 }));
  return g.bytes({ model: 'proxylessnas' });
}

function vgg(seed: number, r: number): Uint8Array {
  const g = new TfliteNetBuilder(seed, 'vgg');
  let x: TfliteRef = g.input([1, r, r, 3]);
  for (const [c, n] of [[32, 2], [64, 2], [128, 3], [256, 3]] as const) {
    for (let i = 0; i < n; i++) x = conv(g, x, { cout: c, k: 3, act: 'RELU' });
    x = g.pool('MAX_POOL_2D', x, 2, 2);
  }
  x = g.reshape(x, [1, x.shape[1] * x.shape[2] * x.shape[3]]);
  x = g.fullyConnected(g.fullyConnected(x, 512, 'RELU'), 100);
  g.output(g.softmax(x));
  return g.bytes({ model: 'vgg' });
}

function inception(seed: number, r: number): Uint8Array {
  const g = new TfliteNetBuilder(seed, 'inception');
  let x = conv(g, g.input([1, r, r, 3]), { cout: 32, k: 7, stride: 2, act: 'RELU', explicitPad: false });
  x = g.pool('MAX_POOL_2D', x, 3, 2, 'SAME');
  x = conv(g, conv(g, x, { cout: 32, k: 1, act: 'RELU' }), { cout: 96, k: 3, act: 'RELU' });
  x = g.pool('MAX_POOL_2D', x, 3, 2, 'SAME');
  x = inceptionBlock(g, x, [32, 64, 16, 16]);
  x = inceptionBlock(g, x, [64, 96, 32, 32], 'AVERAGE_POOL_2D');
  x = g.pool('MAX_POOL_2D', x, 3, 2, 'SAME');
  x = inceptionBlock(g, x, [96, 104, 24, 32]);
  x = inceptionBlock(g, x, [80, 112, 32, 32], 'AVERAGE_POOL_2D');
  g.output(classifier(g, x, { classes: 1000, softmax: true }));
  return g.bytes({ model: 'inception' });
}

function squeezenet(seed: number, r: number): Uint8Array {
  const g = new TfliteNetBuilder(seed, 'squeezenet');
  let x = conv(g, g.input([1, r, r, 3]), { cout: 64, k: 3, stride: 2, act: 'RELU', explicitPad: false });
  x = g.pool('MAX_POOL_2D', x, 3, 2, 'VALID');
  x = fire(g, fire(g, x, 16, 64), 16, 64);
  x = g.pool('MAX_POOL_2D', x, 3, 2, 'VALID');
  x = fire(g, fire(g, x, 32, 128), 32, 128);
  x = g.pool('MAX_POOL_2D', x, 3, 2, 'VALID');
  x = fire(g, fire(g, fire(g, fire(g, x, 48, 192), 48, 192), 64, 256), 64, 256);
  x = conv(g, x, { cout: 1000, k: 1, act: 'RELU' });
  x = g.reshape(g.mean(x, true), [1, 1000]);
  g.output(g.softmax(x));
  return g.bytes({ model: 'squeezenet' });
}

function mlp(seed: number): Uint8Array {
  const g = new TfliteNetBuilder(seed, 'mlp');
  let x = g.input([1, 784]);
  for (const w of [1024, 1024, 512, 256]) x = g.fullyConnected(x, w, 'RELU');
  g.output(g.softmax(g.fullyConnected(x, 10)));
  return g.bytes({ model: 'mlp' });
}

export function tfliteModelZoo(seed = 0): TfliteZooModel[] {
  const out: TfliteZooModel[] = [];
  const rng = new Rng(deriveSeed(seed, 'tflite-zoo'));
  const ofa = [['ofa-mbv3-w1.0', 128], ['ofa-mbv3-w1.0', 160], ['ofa-mbv3-w1.0', 192], ['ofa-mbv3-w1.0', 224], ['ofa-mbv3-w1.2', 176], ['ofa-mbv3-w1.2', 208]] as const;
  for (const [space, r] of ofa) {
    const s = getSpace(space);
    const arch: ArchConfig = sampleArch(s, rng, [r]);
    out.push({ name: `ofa-${space.slice(9)}-r${r}`, kind: 'ofa-subnet', bytes: exportModel('tflite', buildIR(netFromArch(s, arch)), { weights: seededWeights(seed), metadata: { arch: JSON.stringify(arch) } }) });
  }
  out.push({ name: 'resnet18-w0.5-r160', kind: 'cnn', bytes: resnet(seed, 160, 0.5, [2, 2, 2, 2], false) });
  out.push({ name: 'resnet34-w0.25-r192', kind: 'cnn', bytes: resnet(seed, 192, 0.25, [3, 4, 6, 3], false) });
  out.push({ name: 'resnet50-w0.25-r128', kind: 'cnn', bytes: resnet(seed, 128, 0.25, [3, 4, 6, 3], true) });
  out.push({ name: 'mobilenetv1-w0.5-r160', kind: 'cnn', bytes: mobilenetV1(seed, 160, 0.5) });
  out.push({ name: 'mobilenetv2-r192', kind: 'cnn', bytes: mobilenetV2(seed, 192, 1) });
  out.push({ name: 'mobilenetv2-w0.5-r128', kind: 'cnn', bytes: mobilenetV2(seed, 128, 0.5) });
  out.push({ name: 'mobilenetv3-large-r224', kind: 'cnn', bytes: mobilenetV3(seed, 224) });
  out.push({ name: 'proxylessnas-r160', kind: 'cnn', bytes: proxyless(seed, 160) });
  out.push({ name: 'vgg-r64', kind: 'cnn', bytes: vgg(seed, 64) });
  out.push({ name: 'inception-r128', kind: 'cnn', bytes: inception(seed, 128) });
  out.push({ name: 'squeezenet-r160', kind: 'cnn', bytes: squeezenet(seed, 160) });
  out.push({ name: 'mlp-784', kind: 'mlp', bytes: mlp(seed) });
  return out;
}
