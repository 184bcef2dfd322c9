import { ArchConfig, isBlockActive } from './arch';
import { TailorError } from './errors';
import { Activation, SearchSpace, blockCount, listSpaces, makeDivisible } from './space';

/**
 * A static network, the shape OFA's net.config describes (and ResNets). Elastic archs, OFA's
 * published static nets and ResNets become a NetSpec; the IR builder only ever sees NetSpecs.
 */
export interface ConvSpec {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride: number;
  bn: boolean;
  act: Activation | null;
}

export interface BlockSpec {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride: number;
  expandRatio: number;
  /** Channels of the depthwise stage (OFA: make_divisible(round(in * e), 8); equals in when e = 1). */
  midChannels: number;
  act: Activation;
  se: boolean;
  residual: boolean;
}

/**
 * A ResNet block (torchvision's layout): basic = two k x k convs; bottleneck = 1x1 down to
 * midChannels, k x k (strided), 1x1 up to outChannels. BN after every conv, ReLU after each but
 * the last, and after the residual add. The shortcut is the identity, or a strided 1x1 conv + BN
 * (a projection) when the block changes the shape.
 */
export interface ResidualBlockSpec {
  type: 'basic' | 'bottleneck';
  inChannels: number;
  outChannels: number;
  /** A bottleneck's inner width; a basic block's is its outChannels. */
  midChannels: number;
  kernelSize: number;
  stride: number;
}

export type AnyBlockSpec = BlockSpec | ResidualBlockSpec;

export const isResidualBlock = (b: AnyBlockSpec): b is ResidualBlockSpec => 'type' in b;

export interface NetSpec {
  kind: 'MobileNetV3' | 'ProxylessNASNets' | 'ResNet';
  resolution: number;
  inputChannels: number;
  stem: ConvSpec;
  /** ResNet: the max pool after the stem conv (padding k // 2). */
  stemPool?: { kernelSize: number; stride: number } | null;
  blocks: AnyBlockSpec[];
  /** MobileNetV3 only: 1x1 conv before pooling. */
  finalExpand: ConvSpec | null;
  /** 1x1 conv: after pooling for MobileNetV3, before pooling for ProxylessNAS; none in a ResNet. */
  featureMix: ConvSpec | null;
  featureMixAfterPool: boolean;
  classifier: { inFeatures: number; outFeatures: number };
  /** Which space the net lives in, when it is a subnet of a known space. */
  space?: string;
}

export function midChannels(inChannels: number, expandRatio: number): number {
  return expandRatio === 1 ? inChannels : makeDivisible(Math.round(inChannels * expandRatio));
}

/** OFA's SE module: reduction 4, mid width make_divisible(C / 4, 8). */
export function seChannels(channels: number): number {
  return makeDivisible(Math.floor(channels / 4));
}

/** Input channels and classes of a concrete model, when they differ from the space's defaults (training on a dataset). */
export interface NetIO {
  inputChannels?: number;
  numClasses?: number;
}

export function netFromArch(space: SearchSpace, arch: ArchConfig, io: NetIO = {}): NetSpec {
  const inputChannels = io.inputChannels ?? space.inputChannels;
  const numClasses = io.numClasses ?? space.numClasses;
  const blocks: BlockSpec[] = [];
  const first = space.firstBlock;
  blocks.push({
    inChannels: space.stem.width, outChannels: first.width, kernelSize: 3, stride: 1, expandRatio: 1,
    midChannels: space.stem.width, act: first.act, se: false, residual: space.stem.width === first.width,
  });
  let inChannels = first.width;
  for (let i = 0; i < blockCount(space); i++) {
    if (!isBlockActive(space, arch, i)) continue;
    const stage = space.stages[Math.floor(i / space.maxDepth)];
    const stride = i % space.maxDepth === 0 ? stage.stride : 1;
    blocks.push({
      inChannels, outChannels: stage.width, kernelSize: arch.ks[i], stride, expandRatio: arch.e[i],
      midChannels: midChannels(inChannels, arch.e[i]), act: stage.act, se: stage.se,
      residual: stride === 1 && inChannels === stage.width,
    });
    inChannels = stage.width;
  }
  const finalExpandWidth = space.finalExpandWidth;
  return {
    kind: 'MobileNetV3',
    resolution: arch.r,
    inputChannels,
    stem: { inChannels: inputChannels, outChannels: space.stem.width, kernelSize: 3, stride: space.stem.stride, bn: true, act: space.stem.act },
    blocks,
    finalExpand: { inChannels, outChannels: finalExpandWidth, kernelSize: 1, stride: 1, bn: true, act: 'h_swish' },
    featureMix: { inChannels: finalExpandWidth, outChannels: space.featureMixWidth, kernelSize: 1, stride: 1, bn: false, act: 'h_swish' },
    featureMixAfterPool: true,
    classifier: { inFeatures: space.featureMixWidth, outFeatures: numClasses },
    space: space.id,
  };
}

export interface ResNetOptions {
  resolution: number;
  /** Blocks per stage (ResNet-18: [2, 2, 2, 2], ResNet-50: [3, 4, 6, 3]). */
  depths: number[];
  bottleneck: boolean;
  /** Stem and first-stage width (64 in the paper); stage s is width x 2^s (x 4 out of a bottleneck). */
  width?: number;
  inputChannels?: number;
  numClasses?: number;
}

/** A ResNet as torchvision builds it: 7x7/2 conv + BN + ReLU, 3x3/2 max pool, stages (the first unstrided), global pool, linear. */
export function resnetNet(o: ResNetOptions): NetSpec {
  const width = o.width ?? 64;
  const inputChannels = o.inputChannels ?? 3;
  const expansion = o.bottleneck ? 4 : 1;
  const blocks: ResidualBlockSpec[] = [];
  let inChannels = width;
  o.depths.forEach((depth, s) => {
    const mid = width * 2 ** s;
    for (let i = 0; i < depth; i++) {
      const outChannels = mid * expansion;
      blocks.push({ type: o.bottleneck ? 'bottleneck' : 'basic', inChannels, outChannels, midChannels: mid, kernelSize: 3, stride: i === 0 && s > 0 ? 2 : 1 });
      inChannels = outChannels;
    }
  });
  return {
    kind: 'ResNet',
    resolution: o.resolution,
    inputChannels,
    stem: { inChannels: inputChannels, outChannels: width, kernelSize: 7, stride: 2, bn: true, act: 'relu' },
    stemPool: { kernelSize: 3, stride: 2 },
    blocks,
    finalExpand: null,
    featureMix: null,
    featureMixAfterPool: false,
    classifier: { inFeatures: inChannels, outFeatures: o.numClasses ?? 1000 },
  };
}

// ---- OFA net.config (static nets) ----

type Json = Record<string, any>;

const ACTS: Record<string, Activation | null> = { relu: 'relu', relu6: 'relu6', h_swish: 'h_swish', h_sigmoid: 'h_sigmoid', none: null };

function netConfigError(file: string, reason: string): never {
  throw new TailorError('INVALID_NET_CONFIG', { file, reason });
}

function int(file: string, obj: Json, field: string, where: string): number {
  const v = obj?.[field];
  if (!Number.isInteger(v) || v < 1) netConfigError(file, `${where}.${field} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function act(file: string, value: unknown, where: string): Activation | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string' || !(value in ACTS)) netConfigError(file, `${where}.act_func "${String(value)}" is not supported (relu, relu6, h_swish)`);
  return ACTS[value];
}

function convLayer(file: string, obj: Json, where: string): ConvSpec {
  if (obj?.name !== 'ConvLayer') netConfigError(file, `${where} must be a ConvLayer, got ${JSON.stringify(obj?.name)}`);
  if ((obj.groups ?? 1) !== 1) netConfigError(file, `${where}: grouped ConvLayer is not supported`);
  return {
    inChannels: int(file, obj, 'in_channels', where),
    outChannels: int(file, obj, 'out_channels', where),
    kernelSize: int(file, obj, 'kernel_size', where),
    stride: int(file, obj, 'stride', where),
    bn: Boolean(obj.use_bn),
    act: act(file, obj.act_func, where),
  };
}

/** Parses an OFA net.config (MobileNetV3 or ProxylessNASNets) plus the run.config image size. */
export function netFromOfaConfig(config: unknown, imageSize: number, file = 'net.config'): NetSpec {
  if (typeof config !== 'object' || config === null) netConfigError(file, 'expected a JSON object');
  const c = config as Json;
  if (c.name !== 'MobileNetV3' && c.name !== 'ProxylessNASNets') {
    netConfigError(file, `network kind "${String(c.name)}" is not supported (MobileNetV3, ProxylessNASNets)`);
  }
  if (!Number.isInteger(imageSize) || imageSize < 8) netConfigError(file, `image size ${imageSize} is not a valid resolution`);
  if (!Array.isArray(c.blocks) || c.blocks.length === 0) netConfigError(file, 'blocks must be a non-empty array');
  const stem = convLayer(file, c.first_conv, 'first_conv');
  const blocks: BlockSpec[] = [];
  c.blocks.forEach((b: Json, i: number) => {
    const where = `blocks[${i}]`;
    const m = b?.mobile_inverted_conv ?? b?.conv;
    if (!m || m.name === 'ZeroLayer') return; // ProxylessNAS skip block: identity only
    if (m.name !== 'MBInvertedConvLayer') netConfigError(file, `${where}: layer "${String(m.name)}" is not supported`);
    const inChannels = int(file, m, 'in_channels', where);
    const expandRatio = m.expand_ratio;
    if (typeof expandRatio !== 'number' || expandRatio <= 0) netConfigError(file, `${where}.expand_ratio must be a positive number`);
    const mid = m.mid_channels === null || m.mid_channels === undefined ? midChannels(inChannels, expandRatio) : int(file, m, 'mid_channels', where);
    blocks.push({
      inChannels,
      outChannels: int(file, m, 'out_channels', where),
      kernelSize: int(file, m, 'kernel_size', where),
      stride: int(file, m, 'stride', where),
      expandRatio,
      midChannels: mid,
      act: act(file, m.act_func ?? 'relu6', where) ?? 'relu6',
      se: Boolean(m.use_se),
      residual: Boolean(b.shortcut),
    });
  });
  let channels = stem.outChannels;
  blocks.forEach((b, i) => {
    if (b.inChannels !== channels) netConfigError(file, `blocks[${i}] expects ${b.inChannels} input channels but receives ${channels}`);
    if (b.residual && (b.stride !== 1 || b.inChannels !== b.outChannels)) netConfigError(file, `blocks[${i}] has a shortcut but changes shape`);
    channels = b.outChannels;
  });
  const isV3 = c.name === 'MobileNetV3';
  const finalExpand = isV3 ? convLayer(file, c.final_expand_layer, 'final_expand_layer') : null;
  const featureMix = convLayer(file, c.feature_mix_layer, 'feature_mix_layer');
  const cls = c.classifier;
  if (cls?.name !== 'LinearLayer') netConfigError(file, 'classifier must be a LinearLayer');
  const classifier = { inFeatures: int(file, cls, 'in_features', 'classifier'), outFeatures: int(file, cls, 'out_features', 'classifier') };
  const headIn = finalExpand ?? featureMix;
  if (headIn.inChannels !== channels) netConfigError(file, `head expects ${headIn.inChannels} channels but blocks give ${channels}`);
  if (classifier.inFeatures !== featureMix.outChannels) netConfigError(file, 'classifier in_features does not match feature_mix_layer');
  const net: NetSpec = {
    kind: c.name,
    resolution: imageSize,
    inputChannels: stem.inChannels,
    stem,
    blocks,
    finalExpand,
    featureMix,
    featureMixAfterPool: isV3,
    classifier,
  };
  return net;
}

/**
 * The arch config of a static MobileNetV3 net when it is a subnet of a known space
 * (same widths, acts, SE placement, middle channels), else null.
 */
export function archFromNet(net: NetSpec): ArchConfig | null {
  for (const space of listSpaces()) {
    const arch = tryArch(space, net);
    if (arch) return arch;
  }
  return null;
}

function tryArch(space: SearchSpace, net: NetSpec): ArchConfig | null {
  if (net.kind !== 'MobileNetV3' || !space.resolutions.includes(net.resolution)) return null;
  if (net.stem.outChannels !== space.stem.width || net.classifier.outFeatures !== space.numClasses) return null;
  if (net.featureMix?.outChannels !== space.featureMixWidth || net.finalExpand?.outChannels !== space.finalExpandWidth) return null;
  if (net.blocks.some(isResidualBlock)) return null;
  const [first, ...rest] = net.blocks as BlockSpec[];
  if (!first || first.outChannels !== space.firstBlock.width || first.kernelSize !== 3 || first.expandRatio !== 1) return null;
  const n = blockCount(space);
  const ks = Array(n).fill(space.kernelSizes[0]);
  const e = Array(n).fill(space.expandRatios[0]);
  const d: number[] = [];
  let cursor = 0;
  for (let s = 0; s < space.stages.length; s++) {
    const stage = space.stages[s];
    let depth = 0;
    while (cursor < rest.length && rest[cursor].outChannels === stage.width && depth < space.maxDepth) {
      const b = rest[cursor];
      if (depth > 0 && b.inChannels !== stage.width) break;
      const stride = depth === 0 ? stage.stride : 1;
      if (b.stride !== stride || b.act !== stage.act || b.se !== stage.se) return null;
      if (!space.kernelSizes.includes(b.kernelSize) || !space.expandRatios.includes(b.expandRatio)) return null;
      if (b.midChannels !== midChannels(b.inChannels, b.expandRatio)) return null;
      ks[s * space.maxDepth + depth] = b.kernelSize;
      e[s * space.maxDepth + depth] = b.expandRatio;
      depth++;
      cursor++;
    }
    if (!space.depths.includes(depth)) return null;
    d.push(depth);
  }
  if (cursor !== rest.length) return null;
  return { space: space.id, ks, e, d, r: net.resolution };
}
