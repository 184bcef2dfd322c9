import { Rng, deriveSeed } from '../core/rng';
import { ActKind, OnnxGraph, T } from '../export/onnx-graph';

/**
 * Seeded kernel-profiling graphs: small but realistic networks built from chains of sampled
 * kernels, so every kernel is timed in context (after and before the kinds of layers real
 * models put around it, with the layout conversions onnxruntime adds between them).
 * Families: CNN chains (k x k, 1x1, strided, grouped, depthwise convolutions with BN and
 * activations, MBConv / ResNet blocks with residual adds and SE, pooling, FC heads), whole small
 * MobileNet- and ResNet-style networks, U-Net /
 * FPN pieces (resize, concat, channels-last transposes), transformer blocks (linear layers,
 * batched attention MatMuls, softmax, layer norm, GELU, residuals), MLP heads, and data movement
 * as vision and transformer nets do it (channel Split / Slice, channel shuffles, explicit Pads,
 * strided and cropping Slices, Gathers, broadcasts by Expand / Tile).
 */

/**
 * Version of the graphs: bumped whenever the graph of some (seed, index) changes, so a profile is
 * only ever extended with graphs of its own version (v2: the data-movement family, one graph in ten).
 */
export const KERNEL_SAMPLER_VERSION = 2;

export interface SampledGraph {
  id: string;
  family: Family;
  bytes: Uint8Array;
}

export type Family = 'cnn' | 'net' | 'unet' | 'transformer' | 'mlp' | 'movement';
// (the drift references, graphs 1,000,000, 1,000,003 and 1,000,004, are a net, a transformer and a net)
const FAMILIES: Family[] = ['net', 'cnn', 'unet', 'transformer', 'net', 'movement', 'cnn', 'transformer', 'mlp', 'unet'];

/** Channel counts real nets use, block-aligned and not (onnxruntime runs the two differently). */
const CHANNELS = [8, 12, 16, 20, 24, 32, 36, 40, 48, 56, 64, 72, 80, 96, 112, 120, 128, 144, 160, 192, 200, 240, 256, 288, 320, 384, 480, 512, 576, 672, 720, 960];
const ACTS: (ActKind | null)[] = ['relu', 'relu', 'relu6', 'hswish', 'sigmoid', 'hsigmoid', 'leaky_relu', null, null];
/** Per-graph compute budget: keeps one graph well under ~15 ms on one core. */
const MAX_MACS = 150e6;

const convMacs = (t: T, cout: number, k: number, stride: number, groups: number) =>
  Math.ceil(t.shape[2] / stride) * Math.ceil(t.shape[3] / stride) * cout * (t.shape[1] / groups) * k * k;

function pickChannels(rng: Rng, near?: number): number {
  if (near !== undefined && rng.float() < 0.5) {
    const options = CHANNELS.filter((c) => c >= near / 2 && c <= near * 3);
    if (options.length) return rng.pick(options);
  }
  return rng.pick(CHANNELS);
}

/**
 * Graph outputs stay small: onnxruntime-node returns each output in fresh memory after every run
 * (page faults, a copy), a cost of the output's size that no kernel holds and that would blur the
 * labels of a graph's kernels. It is measured apart (outputProbes) and added per model.
 */
function finish(g: OnnxGraph, x: T, channelsLast = false): void {
  // (a channels-last output stays: onnxruntime turns that Transpose into its final reorder only when it is the output)
  if (x.shape.reduce((a, b) => a * b, 1) > 16384 && !channelsLast) {
    x = x.shape.length === 4 ? g.globalAvgPool(x) : g.op('ReduceMean', [x.name], [1, 1, ...x.shape.slice(2)], { axes: [1], keepdims: 1 });
  }
  g.output(x);
}

function cnn(g: OnnxGraph, rng: Rng): void {
  const hw = rng.pick([7, 14, 14, 28, 28, 56, 56, 112, 112, 160, 224]);
  let c = hw >= 112 ? rng.pick([3, 3, 8, 16, 24, 32]) : pickChannels(rng);
  let x = g.input('input', [1, c, hw, hw]);
  let macs = 0;
  const layers = rng.int(3, 10);
  for (let i = 0; i < layers; i++) {
    const kind = rng.pick(['conv', 'conv', 'pw', 'dw', 'dw', 'group', 'mbconv', 'mbconv', 'resblock', 'bottleneck', 'pool', 'act', 'bnact'] as const);
    const small = x.shape[2] <= 2;
    if (kind === 'conv' || kind === 'pw' || small) {
      const k = kind === 'pw' || small ? 1 : rng.pick([1, 3, 3, 5, 7]);
      const stride = small ? 1 : rng.pick([1, 1, 2]);
      const cout = pickChannels(rng, c);
      if (macs + convMacs(x, cout, k, stride, 1) > MAX_MACS) continue;
      macs += convMacs(x, cout, k, stride, 1);
      x = g.convBnAct(x, { cout, k, stride, act: rng.pick(ACTS), bn: rng.float() < 0.8 });
    } else if (kind === 'dw') {
      const k = rng.pick([3, 5, 7]);
      const stride = rng.pick([1, 1, 2]);
      macs += convMacs(x, c, k, stride, c);
      x = g.convBnAct(x, { cout: c, k, stride, groups: c, act: rng.pick(ACTS) });
    } else if (kind === 'group') {
      const options = [2, 4, 8].filter((gr) => c % gr === 0 && c / gr >= 2);
      if (!options.length) continue;
      const groups = rng.pick(options);
      const cout = groups * rng.pick([4, 8, 16, 24, 32]);
      const k = rng.pick([1, 3]);
      if (macs + convMacs(x, cout, k, 1, groups) > MAX_MACS) continue;
      macs += convMacs(x, cout, k, 1, groups);
      x = g.convBnAct(x, { cout, k, groups, act: rng.pick(ACTS) });
    } else if (kind === 'mbconv') {
      const e = rng.pick([1, 3, 4, 6]);
      const mid = e === 1 ? c : Math.max(8, Math.round((c * e) / 8) * 8);
      const k = rng.pick([3, 5, 7]);
      const stride = rng.pick([1, 1, 2]);
      const cout = stride === 1 && rng.float() < 0.6 ? c : pickChannels(rng, c);
      const cost = (e === 1 ? 0 : convMacs(x, mid, 1, 1, 1)) + convMacs(x, mid, k, stride, mid) + (x.shape[2] / stride) ** 2 * mid * cout;
      if (macs + cost > MAX_MACS) continue;
      macs += cost;
      const act = rng.pick(['relu', 'relu6', 'hswish'] as ActKind[]);
      let y = e === 1 ? x : g.convBnAct(x, { cout: mid, k: 1, act });
      y = g.convBnAct(y, { cout: mid, k, stride, groups: mid, act });
      if (rng.float() < 0.4) y = g.se(y);
      y = g.convBnAct(y, { cout, k: 1, act: null });
      x = stride === 1 && cout === c ? g.add(x, y) : y;
    } else if (kind === 'bottleneck') {
      const stride = rng.pick([1, 1, 2]);
      const cout = stride === 1 && rng.float() < 0.6 ? c : pickChannels(rng, c);
      const mid = Math.max(8, Math.round(cout / rng.pick([2, 4]) / 8) * 8);
      const cost = convMacs(x, mid, 1, 1, 1) + (x.shape[2] / stride) ** 2 * mid * (9 * mid + 2 * cout);
      if (macs + cost > MAX_MACS) continue;
      macs += cost;
      x = bottleneck(g, x, mid, cout, stride);
    } else if (kind === 'resblock') {
      const cost = 2 * convMacs(x, c, 3, 1, 1);
      if (macs + cost > MAX_MACS) continue;
      macs += cost;
      let y = g.convBnAct(x, { cout: c, k: 3, act: 'relu' });
      y = g.convBnAct(y, { cout: c, k: 3, act: null });
      x = g.act(g.add(x, y), 'relu');
    } else if (kind === 'pool') {
      x = rng.float() < 0.5 ? g.maxPool(x, rng.pick([2, 3]), 2, x.shape[2] % 2) : g.avgPool(x, rng.pick([2, 3]), rng.pick([1, 2]), 1);
    } else if (kind === 'act') {
      x = g.act(x, rng.pick(['relu', 'hswish', 'sigmoid', 'relu6', 'silu', 'tanh'] as ActKind[]));
    } else {
      x = g.act(g.batchNorm(x), rng.pick(['relu', 'hswish'] as ActKind[]));
    }
    c = x.shape[1];
  }
  const head = rng.pick(['gap-fc', 'gap', 'none', 'gmp', 'big', 'big']);
  if (head === 'big') {
    // MobileNetV3 / OFA head: GAP, 1x1 conv to 1024-1536 with h_swish, FC to 1000 classes (megabytes of weights)
    x = g.convBnAct(g.globalAvgPool(x), { cout: rng.pick([1024, 1280, 1536]), k: 1, act: 'hswish', bn: false, bias: true });
    x = g.gemm(g.flatten(x), 1000);
  } else if (head === 'gap-fc' || head === 'gap') {
    x = g.globalAvgPool(x);
    if (head === 'gap-fc') x = g.gemm(g.flatten(x), rng.pick([10, 100, 1000]));
  } else if (head === 'gmp') {
    x = g.globalMaxPool(x);
  }
  finish(g, x);
}

/** ResNet bottleneck: 1x1 reduce, 3x3 (strided), 1x1 expand with the residual add and ReLU fused in, 1x1 projection when the shape changes. */
function bottleneck(g: OnnxGraph, x: T, mid: number, cout: number, stride: number): T {
  let y = g.convBnAct(x, { cout: mid, k: 1, act: 'relu' });
  y = g.convBnAct(y, { cout: mid, k: 3, stride, act: 'relu' });
  y = g.convBnAct(y, { cout, k: 1, act: null });
  const sc = stride !== 1 || x.shape[1] !== cout ? g.convBnAct(x, { cout, k: 1, stride, act: null }) : x;
  return g.act(g.add(y, sc), 'relu');
}

/**
 * A whole small network (stem, stages of MBConv or ResNet basic/bottleneck blocks, head), so kernels are also timed
 * amid as many neighbours and as much weight traffic as in real models.
 */
function net(g: OnnxGraph, rng: Rng): void {
  // wide nets at low resolution too: models whose weights (up to ~40 MB) overflow the caches; and
  // deep ones at high resolution, streaming tens of MB of weights and activations per inference
  // (OFA / MobileNet at 160-224), where even a head's weights come back from memory every run
  const width = rng.pick([0.5, 0.75, 1, 1.25, 1.5, 2]);
  const r = rng.pick(width >= 1.5 ? [64, 96, 128] : [96, 128, 160, 192, 224]);
  const ch = (c: number) => Math.max(8, Math.round((c * width) / 8) * 8);
  const resnetStyle = rng.float() < 0.4;
  const bottlenecks = resnetStyle && rng.float() < 0.5;
  const act = rng.pick(['relu', 'relu6', 'hswish', 'silu'] as ActKind[]);
  let x = g.convBnAct(g.input('input', [1, 3, r, r]), { cout: ch(resnetStyle ? 32 : 16), k: resnetStyle ? 7 : 3, stride: 2, act: resnetStyle ? 'relu' : act });
  if (resnetStyle) x = g.maxPool(x, 3, 2, 1);
  const stages = resnetStyle ? [[64, 1], [128, 2], [256, 2], [512, 2]] : [[24, 2], [40, 2], [80, 2], [112, 1], [160, 2]];
  let macs = 0;
  for (const [c, stride] of stages) {
    const depth = rng.int(1, resnetStyle && !bottlenecks ? 2 : resnetStyle ? 3 : 4);
    for (let i = 0; i < depth; i++) {
      const s = i === 0 ? stride : 1;
      const cout = ch(c);
      if (bottlenecks) {
        // ResNet-50 style: c / 4 channels inside, c out (c = 64-512 x width: 1x1 convs with many channels at low resolution)
        const mid = ch(c / 4);
        const cost = convMacs(x, mid, 1, 1, 1) + (x.shape[2] / s) ** 2 * mid * (9 * mid + 2 * cout);
        if (macs + cost > 2 * MAX_MACS) break;
        macs += cost;
        x = bottleneck(g, x, mid, cout, s);
      } else if (resnetStyle) {
        const cost = convMacs(x, cout, 3, s, 1) + (x.shape[2] / s) ** 2 * cout * cout * 9;
        if (macs + cost > 2 * MAX_MACS) break;
        macs += cost;
        let y = g.convBnAct(x, { cout, k: 3, stride: s, act: 'relu' });
        y = g.convBnAct(y, { cout, k: 3, act: null });
        const sc = s !== 1 || x.shape[1] !== cout ? g.convBnAct(x, { cout, k: 1, stride: s, act: null }) : x;
        x = g.act(g.add(y, sc), 'relu');
      } else {
        const e = rng.pick([3, 4, 6]);
        const mid = Math.round((x.shape[1] * e) / 8) * 8;
        const k = rng.pick([3, 5, 7]);
        let y = g.convBnAct(x, { cout: mid, k: 1, act });
        y = g.convBnAct(y, { cout: mid, k, stride: s, groups: mid, act });
        if (rng.float() < 0.4) y = g.se(y);
        y = g.convBnAct(y, { cout, k: 1, act: null });
        x = s === 1 && x.shape[1] === cout ? g.add(x, y) : y;
      }
    }
  }
  if (resnetStyle || rng.float() < 0.5) {
    x = g.gemm(g.flatten(g.globalAvgPool(x)), 1000);
  } else {
    x = g.convBnAct(x, { cout: ch(960), k: 1, act });
    x = g.convBnAct(g.globalAvgPool(x), { cout: rng.pick([1280, 1536, 2048]), k: 1, act: 'hswish', bn: false, bias: true });
    x = g.gemm(g.flatten(x), 1000);
  }
  finish(g, x);
}

function unet(g: OnnxGraph, rng: Rng): void {
  const hw = rng.pick([32, 48, 64, 96, 128]);
  const c0 = rng.pick([3, 16, 32]);
  let x = g.input('input', [1, c0, hw, hw]);
  const levels = rng.int(1, hw >= 64 ? 3 : 2);
  let c = rng.pick(hw >= 96 ? [8, 12, 16, 24, 32] : [16, 24, 32, 48, 64]);
  const skips: T[] = [];
  for (let l = 0; l < levels; l++) {
    x = g.convBnAct(x, { cout: c, k: 3, act: 'relu' });
    skips.push(x);
    x = rng.float() < 0.6 ? g.maxPool(x, 2, 2) : g.convBnAct(x, { cout: c, k: 3, stride: 2, act: 'relu' });
    c = Math.min(2 * c, 128);
  }
  x = g.convBnAct(x, { cout: c, k: rng.pick([1, 3]), act: 'relu' });
  const mode = rng.pick(['nearest', 'nearest', 'linear'] as const);
  while (skips.length) {
    const skip = skips.pop()!;
    // a 1x1 conv before the upsampling (FPN style), after it (U-Net's up-convolution) or none
    const order = rng.pick(['conv-up', 'up-conv', 'up'] as const);
    const pre = order === 'conv-up' ? g.convBnAct(x, { cout: skip.shape[1], k: 1, act: 'relu' }) : x;
    let up = g.resize(pre, 2, mode);
    if (order === 'up-conv') up = g.convBnAct(up, { cout: skip.shape[1], k: 1, act: 'relu' });
    x = rng.float() < 0.8 ? g.concat(rng.float() < 0.5 ? [up, skip] : [skip, up]) : g.add(up, g.convBnAct(skip, { cout: up.shape[1], k: 1, act: null }));
    x = g.convBnAct(x, { cout: skip.shape[1], k: rng.pick([1, 3]), act: rng.pick(['relu', 'hswish', null] as (ActKind | null)[]) });
  }
  const tail = rng.pick(['conv', 'transpose', 'softmax', 'softmax-conv']);
  if (tail === 'transpose') x = g.transpose(x, [0, 2, 3, 1]);
  else if (tail === 'softmax') x = g.softmax(x, 1);
  else if (tail === 'softmax-conv') x = g.softmax(g.conv(x, { cout: rng.pick([2, 4, 8]), k: 1 }), 1);
  finish(g, x, tail === 'transpose');
}

function transformer(g: OnnxGraph, rng: Rng): void {
  const s = rng.pick([16, 32, 49, 64, 64, 128, 196, 256]);
  const d = rng.pick([64, 96, 128, 192, 256, 384]);
  const heads = rng.pick([2, 4, 8].filter((h) => d % h === 0));
  const dh = d / heads;
  let h: T;
  if (rng.float() < 0.3) {
    // ViT-style patch embedding: conv, NCHW -> [1, S, D]
    const side = Math.round(Math.sqrt(s));
    const patch = rng.pick([4, 8]);
    const img = g.input('input', [1, 3, side * patch, side * patch]);
    const e = g.conv(img, { cout: d, k: patch, stride: patch, pad: 0 });
    h = g.transpose(g.reshape(e, [1, d, side * side]), [0, 2, 1]);
  } else {
    h = g.input('input', [1, s, d]);
  }
  const seq = h.shape[1];
  const layers = rng.int(1, 2);
  for (let l = 0; l < layers; l++) {
    const ln = g.layerNorm(h);
    const split = (t: T, perm: number[]) => g.transpose(g.reshape(t, [1, seq, heads, dh]), perm);
    const q = split(g.linear(ln, d), [0, 2, 1, 3]);
    const k = split(g.linear(ln, d), [0, 2, 3, 1]);
    const v = split(g.linear(ln, d), [0, 2, 1, 3]);
    let att = g.scalar(g.matmul(q, k), rng.float() < 0.5 ? 'Mul' : 'Div', rng.float() < 0.5 ? 1 / Math.sqrt(dh) : Math.sqrt(dh));
    att = g.softmax(att);
    let o = g.matmul(att, v);
    o = g.reshape(g.transpose(o, [0, 2, 1, 3]), [1, seq, d]);
    h = g.add(h, g.linear(o, d));
    let m = g.layerNorm(h);
    m = g.act(g.linear(m, d * rng.pick([2, 4])), rng.pick(['gelu', 'gelu', 'relu'] as ActKind[]));
    h = g.add(h, g.linear(m, d));
  }
  if (rng.float() < 0.5) h = g.gemm(g.reshape(g.op('ReduceMean', [h.name], [1, 1, d], { axes: [1], keepdims: 1 }), [1, d]), rng.pick([10, 1000]));
  finish(g, h);
}

function mlp(g: OnnxGraph, rng: Rng): void {
  // wide layers too: matrix-vector products stream megabytes of weights (up to ~40 MB per model)
  let x = g.input('input', [1, rng.pick([64, 128, 256, 512, 784, 1024, 1280, 2048])]);
  const layers = rng.int(2, 5);
  for (let i = 0; i < layers; i++) {
    x = rng.float() < 0.5 ? g.gemm(x, rng.pick([64, 128, 256, 512, 1000, 1024, 2048])) : g.linear(x, rng.pick([64, 128, 256, 512, 1024, 2048]));
    const act = rng.pick(['relu', 'sigmoid', 'tanh', 'hswish', null] as (ActKind | null)[]);
    if (act) x = g.act(x, act);
  }
  if (rng.float() < 0.5) x = g.softmax(x);
  finish(g, x);
}

/**
 * Data movement in context (memory-bound kernels onnxruntime runs in NCHW, with the reorders
 * around them): ShuffleNet v2 units (the channel split as a Split or two Slices, the channel
 * shuffle as Reshape-Transpose-Reshape, Concat) and their strided form, explicit Pads (TF-style
 * before a strided conv, which onnxruntime merges into the conv; reflect or edge padding before a
 * 'valid' conv), the CIFAR ResNet shortcut (a strided Slice, a channel Pad), YOLO's Focus (four
 * strided Slices), center crops beside 'valid' convs, Gathers of channels or rows, the image-pool
 * branch of DeepLab broadcast back (Expand or Tile), multi-way channel splits, and a token head
 * (the class-token Gather or a Slice of the tokens).
 */
function movement(g: OnnxGraph, rng: Rng): void {
  let hw = rng.pick([14, 28, 28, 56, 56, 112]);
  let x: T;
  let macs = 0;
  if (hw <= 56 && rng.float() < 0.25) {
    // Focus: space-to-depth by strided Slices of the image, then a conv
    const img = g.input('input', [1, 3, 2 * hw, 2 * hw]);
    const parts = [[0, 0], [1, 0], [0, 1], [1, 1]].map(([a, b]) => g.slice(img, [a, b], [2 * hw, 2 * hw], [2, 3], [2, 2]));
    const cout = rng.pick([16, 24, 32, 48]);
    macs += 4 * convMacs(parts[0], cout, 3, 1, 1);
    x = g.convBnAct(g.concat(parts), { cout, k: 3, act: 'silu' });
  } else {
    x = g.input('input', [1, hw >= 112 ? rng.pick([16, 24, 32]) : rng.pick([24, 32, 48, 58, 64, 96, 116, 128, 176, 232]), hw, hw]);
  }
  const layers = rng.int(3, 7);
  for (let i = 0; i < layers; i++) {
    const c = x.shape[1];
    hw = x.shape[2];
    const kind = rng.pick(['shuffle', 'shuffle', 'shuffle-down', 'tf-pad', 'reflect', 'shortcut-a', 'crop', 'gather', 'image-pool', 'split-n'] as const);
    if (kind === 'shuffle' && c % 2 === 0) {
      const half = c / 2;
      const [a, b] = rng.float() < 0.6 ? g.split(x, [half, half]) : [g.slice(x, [0], [half], [1]), g.slice(x, [half], [c], [1])];
      const cost = 2 * convMacs(b, half, 1, 1, 1) + convMacs(b, half, 3, 1, half);
      if (macs + cost > MAX_MACS) continue;
      macs += cost;
      let y = g.convBnAct(b, { cout: half, k: 1, act: 'relu' });
      y = g.convBnAct(y, { cout: half, k: 3, groups: half, act: null });
      y = g.convBnAct(y, { cout: half, k: 1, act: 'relu' });
      x = g.channelShuffle(g.concat([a, y]), 2);
    } else if (kind === 'shuffle-down' && hw >= 4) {
      const cost = convMacs(x, c, 3, 2, c) * 2 + convMacs(x, c, 1, 1, 1) + 2 * (hw / 2) ** 2 * c * c;
      if (macs + cost > MAX_MACS) continue;
      macs += cost;
      const left = g.convBnAct(g.convBnAct(x, { cout: c, k: 3, stride: 2, groups: c, act: null }), { cout: c, k: 1, act: 'relu' });
      let right = g.convBnAct(x, { cout: c, k: 1, act: 'relu' });
      right = g.convBnAct(g.convBnAct(right, { cout: c, k: 3, stride: 2, groups: c, act: null }), { cout: c, k: 1, act: 'relu' });
      x = g.channelShuffle(g.concat([left, right]), 2);
    } else if (kind === 'tf-pad' && hw >= 4) {
      // TF's 'SAME' for a strided conv, as converters write it: Pad the bottom/right (or all sides), conv without padding
      const depthwise = rng.float() < 0.5;
      const cout = depthwise ? c : pickChannels(rng, c);
      const cost = convMacs(x, cout, 3, 2, depthwise ? c : 1);
      if (macs + cost > MAX_MACS) continue;
      macs += cost;
      const padded = g.pad(x, rng.float() < 0.7 ? [0, 0, 0, 0, 0, 0, 1, 1] : [0, 0, 1, 1, 0, 0, 1, 1]);
      x = g.convBnAct(padded, { cout, k: 3, stride: 2, pad: 0, groups: depthwise ? c : 1, act: rng.pick(['relu6', 'relu', 'hswish'] as ActKind[]) });
    } else if (kind === 'reflect') {
      // style-transfer / GAN generators: reflect (or replicate) padding, then a 'valid' conv
      const k = rng.pick([3, 3, 7]);
      const cost = convMacs(x, c, k, 1, 1);
      if (macs + cost > MAX_MACS || hw < k) continue;
      macs += cost;
      const p = (k - 1) / 2;
      const padded = g.pad(x, [0, 0, p, p, 0, 0, p, p], rng.float() < 0.75 ? 'reflect' : 'edge');
      x = g.convBnAct(padded, { cout: c, k, pad: 0, act: 'relu' });
    } else if (kind === 'shortcut-a' && hw >= 4 && c <= 256) {
      // CIFAR ResNets' parameter-free shortcut: every other pixel (a strided Slice), zero channels padded on
      const cost = convMacs(x, 2 * c, 3, 2, 1) + (hw / 2) ** 2 * 2 * c * 2 * c * 9;
      if (macs + cost > MAX_MACS) continue;
      macs += cost;
      let y = g.convBnAct(x, { cout: 2 * c, k: 3, stride: 2, act: 'relu' });
      y = g.convBnAct(y, { cout: 2 * c, k: 3, act: null });
      const lo = Math.floor(c / 2);
      const sc = g.pad(g.slice(x, [0, 0], [hw, hw], [2, 3], [2, 2]), [0, lo, 0, 0, 0, c - lo, 0, 0]);
      x = g.act(g.add(y, sc), 'relu');
    } else if (kind === 'crop' && hw >= 6) {
      // a 'valid' conv beside a center crop of its input (U-Net's cropped skips, valid-padding residuals)
      const cost = convMacs(x, c, 3, 1, 1);
      if (macs + cost > MAX_MACS) continue;
      macs += cost;
      const y = g.convBnAct(x, { cout: c, k: 3, pad: 0, act: 'relu' });
      const crop = g.slice(x, [1, 1], [-1, -1], [2, 3]);
      x = rng.float() < 0.5 ? g.add(y, crop) : g.concat([crop, y]);
    } else if (kind === 'gather') {
      // channel selection (pruned or reordered channels), or subsampling by index (every other row, then column)
      if (rng.float() < 0.7 || hw < 4) {
        const keep = Math.max(8, Math.round((c * rng.pick([0.5, 0.75])) / 8) * 8);
        const picked = rng.shuffle(Array.from({ length: c }, (_, j) => j)).slice(0, Math.min(keep, c)).sort((a, b) => a - b);
        x = g.gather(x, picked, 1);
      } else {
        const every = Array.from({ length: Math.ceil(hw / 2) }, (_, j) => 2 * j);
        x = g.gather(g.gather(x, every, 2), every, 3);
      }
      if (macs + convMacs(x, c, 1, 1, 1) > MAX_MACS) continue;
      macs += convMacs(x, c, 1, 1, 1);
      x = g.convBnAct(x, { cout: c, k: 1, act: 'relu' });
    } else if (kind === 'image-pool') {
      // DeepLab's image-level branch: GAP, 1x1 conv, broadcast back to H x W, concatenated with the features
      const mid = rng.pick([16, 32, 64, 128]);
      const cost = c * mid + convMacs(x, c, 1, 1, 1) + hw * hw * mid * c;
      if (macs + cost > MAX_MACS) continue;
      macs += cost;
      const p = g.convBnAct(g.globalAvgPool(x), { cout: mid, k: 1, act: 'relu', bn: false, bias: true });
      const wide = rng.float() < 0.6 ? g.expand(p, [1, mid, hw, hw]) : g.tile(p, [1, 1, hw, hw]);
      x = g.convBnAct(g.concat([x, wide]), { cout: c, k: 1, act: 'relu' });
    } else if (kind === 'split-n' && c % 4 === 0) {
      // Res2Net / CSP-style: split the channels in 2 or 4 parts, convolve some, concatenate all
      const n = rng.pick([2, 4]);
      const parts = g.split(x, Array(n).fill(c / n));
      const cost = (n - 1) * convMacs(parts[0], c / n, 3, 1, 1);
      if (macs + cost > MAX_MACS) continue;
      macs += cost;
      x = g.concat(parts.map((part, j) => (j === 0 ? part : g.convBnAct(part, { cout: c / n, k: 3, act: 'relu' }))));
    }
  }
  if (rng.float() < 0.3) {
    // token head: [1, C, H, W] -> [1, HW, C], the class token (a Gather) or the mean of the other tokens (a Slice)
    const [, c, h, w] = x.shape;
    const tokens = g.transpose(g.reshape(x, [1, c, h * w]), [0, 2, 1]);
    const pooled = rng.float() < 0.5 || h * w < 2
      ? g.gather(tokens, 0, 1)
      : g.reshape(g.op('ReduceMean', [g.slice(tokens, [1], [h * w], [1]).name], [1, 1, c], { axes: [1], keepdims: 1 }), [1, c]);
    finish(g, g.gemm(pooled, rng.pick([10, 100, 1000])));
    return;
  }
  finish(g, x);
}

const BUILDERS: Record<Family, (g: OnnxGraph, rng: Rng) => void> = { cnn, net, unet, transformer, mlp, movement };

/** The i-th profiling graph of a seed: the same (seed, i) always gives the same bytes. */
export function sampleGraph(seed: number, i: number): SampledGraph {
  const rng = new Rng(deriveSeed(seed, `kernel-graph-${i}`));
  const family = FAMILIES[i % FAMILIES.length];
  const g = new OnnxGraph(deriveSeed(seed, `weights-${i}`), undefined, `kernels-${i}`);
  BUILDERS[family](g, rng);
  return { id: `g${i}-${family}`, family, bytes: g.bytes({ family, seed: String(seed), index: String(i) }) };
}
