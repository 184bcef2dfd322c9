import { ArchConfig, sampleArch } from '../core/arch';
import { buildIR } from '../core/ir';
import { BlockSpec, NetSpec, midChannels, netFromArch, resnetNet } from '../core/net';
import { Rng, deriveSeed } from '../core/rng';
import { getSpace } from '../core/space';
import { exportOnnx } from '../export/onnx';
import { ActKind, OnnxGraph, T } from '../export/onnx-graph';
import { seededWeights } from '../export/weights';

/**
 * A varied set of real ONNX models for validating the kernel predictor, generated (never
 * committed): our exported OFA subnets at several resolutions, ProxylessNAS- and ResNet-style nets
 * built with the IR (src/core/ir, as every Tailor export), MobileNetV2- and VGG-style CNNs, a
 * ShuffleNet v2 and a CIFAR ResNet (data movement: channel Split, channel shuffle, Concat, strided
 * Slice, channel Pad), a U-Net and an FPN with Resize/Concat/Transpose, transformer encoders
 * (attention + MLP), a ViT, a conv/transformer hybrid and an MLP. Nets the IR does not describe
 * are written with OnnxGraph. Seeded: the same seed gives the same files.
 */
export interface ZooModel {
  name: string;
  kind: 'ofa-subnet' | 'cnn' | 'data-movement' | 'unet-fpn' | 'transformer' | 'mlp';
  bytes: Uint8Array;
}

function mbconv(g: OnnxGraph, x: T, o: { cout: number; k: number; stride: number; e: number; act: ActKind; se?: boolean }): T {
  const cin = x.shape[1];
  const mid = o.e === 1 ? cin : Math.round((cin * o.e) / 8) * 8;
  let y = o.e === 1 ? x : g.convBnAct(x, { cout: mid, k: 1, act: o.act });
  y = g.convBnAct(y, { cout: mid, k: o.k, stride: o.stride, groups: mid, act: o.act });
  if (o.se) y = g.se(y);
  y = g.convBnAct(y, { cout: o.cout, k: 1, act: null });
  return o.stride === 1 && cin === o.cout ? g.add(x, y) : y;
}

function head(g: OnnxGraph, x: T, classes = 1000): T {
  return g.gemm(g.flatten(g.globalAvgPool(x)), classes);
}

/** ProxylessNAS-style (MBConv blocks with drawn kernel sizes and expand ratios, ReLU6, 1x1 feature mix before the pool). */
function proxyless(seed: number, r: number): Uint8Array {
  const rng = new Rng(deriveSeed(seed, `proxyless-${r}`));
  const blocks: BlockSpec[] = [{ inChannels: 32, outChannels: 16, kernelSize: 3, stride: 1, expandRatio: 1, midChannels: 32, act: 'relu6', se: false, residual: false }];
  const stages: [number, number, number][] = [[24, 2, 4], [40, 2, 4], [80, 2, 4], [96, 1, 4], [192, 2, 4], [320, 1, 1]];
  let cin = 16;
  for (const [c, s, n] of stages) {
    for (let i = 0; i < n; i++) {
      const k = rng.pick([3, 5, 7]);
      const e = rng.pick([3, 6]);
      const stride = i === 0 ? s : 1;
      blocks.push({ inChannels: cin, outChannels: c, kernelSize: k, stride, expandRatio: e, midChannels: midChannels(cin, e), act: 'relu6', se: false, residual: stride === 1 && cin === c });
      cin = c;
    }
  }
  const net: NetSpec = {
    kind: 'ProxylessNASNets', resolution: r, inputChannels: 3,
    stem: { inChannels: 3, outChannels: 32, kernelSize: 3, stride: 2, bn: true, act: 'relu6' },
    blocks, finalExpand: null,
    featureMix: { inChannels: cin, outChannels: 1280, kernelSize: 1, stride: 1, bn: true, act: 'relu6' }, featureMixAfterPool: false,
    classifier: { inFeatures: 1280, outFeatures: 1000 },
  };
  return exportOnnx(buildIR(net), { weights: seededWeights(seed), metadata: { model: `proxylessnas-style r${r}` } });
}

function mobilenetV2(seed: number, r: number): Uint8Array {
  const g = new OnnxGraph(seed);
  let x = g.convBnAct(g.input('input', [1, 3, r, r]), { cout: 32, k: 3, stride: 2, act: 'relu6' });
  const cfg: [number, number, number, number][] = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];
  for (const [e, c, n, s] of cfg) for (let i = 0; i < n; i++) x = mbconv(g, x, { cout: c, k: 3, stride: i === 0 ? s : 1, e, act: 'relu6' });
  x = g.convBnAct(x, { cout: 1280, k: 1, act: 'relu6' });
  g.output(head(g, x));
  return g.bytes({ model: `mobilenetv2-style r${r}` });
}

/** ResNet-18 / ResNet-50 layout (basic or bottleneck blocks, projection shortcuts) at a reduced width. */
function resnet(seed: number, r: number, width: number, bottleneck: boolean): Uint8Array {
  const net = resnetNet({ resolution: r, width, depths: bottleneck ? [3, 4, 6, 3] : [2, 2, 2, 2], bottleneck });
  return exportOnnx(buildIR(net), { weights: seededWeights(seed), metadata: { model: `resnet-style r${r}` } });
}

/**
 * ShuffleNet v2 1.0x as torchvision exports it: stride-1 units split the channels in two (Split),
 * convolve one half and concatenate; strided units convolve both branches; every unit ends with
 * the channel shuffle (Reshape, 5-D Transpose, Reshape).
 */
function shufflenetV2(seed: number, r: number): Uint8Array {
  const g = new OnnxGraph(seed);
  let x = g.maxPool(g.convBnAct(g.input('input', [1, 3, r, r]), { cout: 24, k: 3, stride: 2, act: 'relu' }), 3, 2, 1);
  for (const [out, repeats] of [[116, 4], [232, 8], [464, 4]] as const) {
    const half = out / 2;
    for (let i = 0; i < repeats; i++) {
      if (i === 0) {
        const left = g.convBnAct(g.convBnAct(x, { cout: x.shape[1], k: 3, stride: 2, groups: x.shape[1], act: null }), { cout: half, k: 1, act: 'relu' });
        let right = g.convBnAct(x, { cout: half, k: 1, act: 'relu' });
        right = g.convBnAct(g.convBnAct(right, { cout: half, k: 3, stride: 2, groups: half, act: null }), { cout: half, k: 1, act: 'relu' });
        x = g.channelShuffle(g.concat([left, right]), 2);
      } else {
        const [a, b] = g.split(x, [half, half]);
        let y = g.convBnAct(b, { cout: half, k: 1, act: 'relu' });
        y = g.convBnAct(g.convBnAct(y, { cout: half, k: 3, groups: half, act: null }), { cout: half, k: 1, act: 'relu' });
        x = g.channelShuffle(g.concat([a, y]), 2);
      }
    }
  }
  x = g.convBnAct(x, { cout: 1024, k: 1, act: 'relu' });
  g.output(head(g, x));
  return g.bytes({ model: `shufflenetv2-style r${r}` });
}

/**
 * ResNet-20 for CIFAR (He et al.'s option A): the strided blocks' shortcut takes every other pixel
 * (a strided Slice) and zero-pads the new channels (a channel Pad, which no convolution absorbs).
 */
function resnetCifar(seed: number, depthPerStage: number): Uint8Array {
  const g = new OnnxGraph(seed);
  let x = g.convBnAct(g.input('input', [1, 3, 32, 32]), { cout: 16, k: 3, act: 'relu' });
  for (const [c, stride] of [[16, 1], [32, 2], [64, 2]] as const) {
    for (let i = 0; i < depthPerStage; i++) {
      const s = i === 0 ? stride : 1;
      let y = g.convBnAct(x, { cout: c, k: 3, stride: s, act: 'relu' });
      y = g.convBnAct(y, { cout: c, k: 3, act: null });
      let shortcut = x;
      if (s !== 1) {
        const [, cin, h, w] = x.shape;
        const extra = (c - cin) / 2;
        shortcut = g.pad(g.slice(x, [0, 0], [h, w], [2, 3], [2, 2]), [0, extra, 0, 0, 0, extra, 0, 0]);
      }
      x = g.act(g.add(y, shortcut), 'relu');
    }
  }
  g.output(head(g, x, 10));
  return g.bytes({ model: `resnet-cifar option A, ${6 * depthPerStage + 2} layers` });
}

function vgg(seed: number, r: number): Uint8Array {
  const g = new OnnxGraph(seed);
  let x = g.input('input', [1, 3, r, r]);
  for (const [c, n] of [[32, 2], [64, 2], [128, 3], [256, 3]] as const) {
    for (let i = 0; i < n; i++) x = g.convBnAct(x, { cout: c, k: 3, act: 'relu', bn: false });
    x = g.maxPool(x, 2, 2);
  }
  x = g.act(g.gemm(g.flatten(x), 512), 'relu');
  g.output(g.gemm(x, 100));
  return g.bytes({ model: `vgg-style r${r}` });
}

function unet(seed: number, r: number): Uint8Array {
  const g = new OnnxGraph(seed);
  let x = g.input('input', [1, 3, r, r]);
  const skips: T[] = [];
  for (const c of [16, 32, 64]) {
    x = g.convBnAct(x, { cout: c, k: 3, act: 'relu' });
    x = g.convBnAct(x, { cout: c, k: 3, act: 'relu' });
    skips.push(x);
    x = g.maxPool(x, 2, 2);
  }
  x = g.convBnAct(x, { cout: 128, k: 3, act: 'relu' });
  for (const c of [64, 32, 16]) {
    x = g.convBnAct(g.resize(x, 2, 'nearest'), { cout: c, k: 1, act: 'relu' });
    x = g.concat([x, skips.pop()!]);
    x = g.convBnAct(x, { cout: c, k: 3, act: 'relu' });
  }
  x = g.conv(x, { cout: 4, k: 1 });
  g.output(g.softmax(x, 1));
  return g.bytes({ model: `unet r${r}` });
}

function fpn(seed: number, r: number): Uint8Array {
  const g = new OnnxGraph(seed);
  let x = g.convBnAct(g.input('input', [1, 3, r, r]), { cout: 24, k: 3, stride: 2, act: 'hswish' });
  const feats: T[] = [];
  for (const [c, s] of [[32, 2], [64, 2], [128, 2]] as const) {
    x = mbconv(g, x, { cout: c, k: 3, stride: s, e: 4, act: 'hswish' });
    x = mbconv(g, x, { cout: c, k: 5, stride: 1, e: 4, act: 'hswish', se: c === 64 });
    feats.push(x);
  }
  let top = g.convBnAct(feats[2], { cout: 64, k: 1, act: null });
  const outs: T[] = [top];
  for (const f of [feats[1], feats[0]]) {
    top = g.add(g.resize(top, 2, 'linear'), g.convBnAct(f, { cout: 64, k: 1, act: null }));
    outs.push(g.convBnAct(top, { cout: 64, k: 3, act: 'relu' }));
  }
  const merged = g.concat([g.resize(outs[0], 4, 'nearest'), g.resize(outs[1], 2, 'nearest'), outs[2]]);
  const y = g.convBnAct(merged, { cout: 32, k: 3, act: 'relu' });
  g.output(g.transpose(y, [0, 2, 3, 1]));
  return g.bytes({ model: `fpn r${r}` });
}

function encoder(g: OnnxGraph, h: T, layers: number, heads: number, mlpRatio: number, act: ActKind): T {
  const [, s, d] = h.shape;
  const dh = d / heads;
  for (let l = 0; l < layers; l++) {
    const ln = g.layerNorm(h);
    const split = (t: T, perm: number[]) => g.transpose(g.reshape(t, [1, s, heads, dh]), perm);
    const q = split(g.linear(ln, d), [0, 2, 1, 3]);
    const k = split(g.linear(ln, d), [0, 2, 3, 1]);
    const v = split(g.linear(ln, d), [0, 2, 1, 3]);
    const att = g.softmax(g.scalar(g.matmul(q, k), 'Mul', 1 / Math.sqrt(dh)));
    const o = g.reshape(g.transpose(g.matmul(att, v), [0, 2, 1, 3]), [1, s, d]);
    h = g.add(h, g.linear(o, d));
    const m = g.linear(g.act(g.linear(g.layerNorm(h), d * mlpRatio), act), d);
    h = g.add(h, m);
  }
  return g.layerNorm(h);
}

function transformer(seed: number, s: number, d: number, layers: number, heads: number): Uint8Array {
  const g = new OnnxGraph(seed);
  const h = encoder(g, g.input('input', [1, s, d]), layers, heads, 4, 'gelu');
  g.output(h);
  return g.bytes({ model: `transformer s${s} d${d} l${layers}` });
}

function vit(seed: number, r: number, patch: number, d: number, layers: number, heads: number): Uint8Array {
  const g = new OnnxGraph(seed);
  const side = r / patch;
  const e = g.conv(g.input('input', [1, 3, r, r]), { cout: d, k: patch, stride: patch, pad: 0 });
  let h = g.transpose(g.reshape(e, [1, d, side * side]), [0, 2, 1]);
  h = encoder(g, h, layers, heads, 4, 'gelu');
  const pooled = g.reshape(g.op('ReduceMean', [h.name], [1, 1, d], { axes: [1], keepdims: 1 }), [1, d]);
  g.output(g.gemm(pooled, 1000));
  return g.bytes({ model: `vit r${r} p${patch} d${d}` });
}

function hybrid(seed: number, r: number): Uint8Array {
  const g = new OnnxGraph(seed);
  let x = g.convBnAct(g.input('input', [1, 3, r, r]), { cout: 16, k: 3, stride: 2, act: 'hswish' });
  x = mbconv(g, x, { cout: 24, k: 3, stride: 2, e: 4, act: 'silu' });
  x = mbconv(g, x, { cout: 48, k: 3, stride: 2, e: 4, act: 'silu' });
  x = mbconv(g, x, { cout: 64, k: 3, stride: 2, e: 4, act: 'silu' });
  const [, c, hh, ww] = x.shape;
  let t = g.transpose(g.reshape(x, [1, c, hh * ww]), [0, 2, 1]);
  t = encoder(g, t, 2, 4, 2, 'silu');
  x = g.reshape(g.transpose(t, [0, 2, 1]), [1, c, hh, ww]);
  x = g.convBnAct(x, { cout: 320, k: 1, act: 'silu' });
  g.output(head(g, x));
  return g.bytes({ model: `conv-transformer hybrid r${r}` });
}

function mlp(seed: number): Uint8Array {
  const g = new OnnxGraph(seed);
  let x = g.input('input', [1, 784]);
  for (const w of [1024, 1024, 512, 256]) x = g.act(g.gemm(x, w), 'relu');
  g.output(g.softmax(g.gemm(x, 10)));
  return g.bytes({ model: 'mlp' });
}

export function modelZoo(seed = 0): ZooModel[] {
  const out: ZooModel[] = [];
  const rng = new Rng(deriveSeed(seed, 'zoo'));
  for (const [space, r] of [['ofa-mbv3-w1.0', 128], ['ofa-mbv3-w1.0', 160], ['ofa-mbv3-w1.0', 192], ['ofa-mbv3-w1.0', 224], ['ofa-mbv3-w1.2', 176]] as const) {
    const s = getSpace(space);
    const arch: ArchConfig = sampleArch(s, rng, [r]);
    out.push({ name: `ofa-${space.slice(9)}-r${r}`, kind: 'ofa-subnet', bytes: exportOnnx(buildIR(netFromArch(s, arch)), { weights: seededWeights(seed), metadata: { arch: JSON.stringify(arch) } }) });
  }
  out.push({ name: 'proxylessnas-r224', kind: 'cnn', bytes: proxyless(seed, 224) });
  out.push({ name: 'proxylessnas-r160', kind: 'cnn', bytes: proxyless(seed + 1, 160) });
  out.push({ name: 'mobilenetv2-r192', kind: 'cnn', bytes: mobilenetV2(seed, 192) });
  out.push({ name: 'resnet18-w32-r160', kind: 'cnn', bytes: resnet(seed, 160, 32, false) });
  out.push({ name: 'resnet50-w16-r128', kind: 'cnn', bytes: resnet(seed, 128, 16, true) });
  out.push({ name: 'vgg-r64', kind: 'cnn', bytes: vgg(seed, 64) });
  out.push({ name: 'shufflenetv2-r160', kind: 'data-movement', bytes: shufflenetV2(seed, 160) });
  out.push({ name: 'resnet20-cifar', kind: 'data-movement', bytes: resnetCifar(seed, 3) });
  out.push({ name: 'unet-r128', kind: 'unet-fpn', bytes: unet(seed, 128) });
  out.push({ name: 'fpn-r160', kind: 'unet-fpn', bytes: fpn(seed, 160) });
  out.push({ name: 'transformer-s64-d256', kind: 'transformer', bytes: transformer(seed, 64, 256, 4, 4) });
  out.push({ name: 'transformer-s128-d192', kind: 'transformer', bytes: transformer(seed, 128, 192, 3, 3) });
  out.push({ name: 'vit-r224-p16-d192', kind: 'transformer', bytes: vit(seed, 224, 16, 192, 4, 3) });
  out.push({ name: 'hybrid-r128', kind: 'transformer', bytes: hybrid(seed, 128) });
  out.push({ name: 'mlp-784', kind: 'mlp', bytes: mlp(seed) });
  return out;
}
