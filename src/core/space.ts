import { TailorError } from './errors';

export type Activation = 'relu' | 'relu6' | 'h_swish' | 'h_sigmoid';

export interface StageDef {
  width: number;
  stride: number;
  act: Activation;
  se: boolean;
}

/** An OFA MobileNetV3-shaped elastic space: fixed stem and head, elastic kernel/expand/depth per stage. */
export interface SearchSpace {
  id: string;
  family: 'ofa-mbv3';
  description: string;
  widthMult: number;
  stem: { width: number; stride: number; act: Activation };
  firstBlock: { width: number; act: Activation };
  stages: StageDef[];
  finalExpandWidth: number;
  featureMixWidth: number;
  numClasses: number;
  inputChannels: number;
  kernelSizes: number[];
  expandRatios: number[];
  depths: number[];
  maxDepth: number;
  resolutions: number[];
}

/** OFA's make_divisible: round to the nearest multiple of divisor, never more than 10% below v. */
export function makeDivisible(v: number, divisor = 8, minValue = divisor): number {
  let rounded = Math.max(minValue, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (rounded < 0.9 * v) rounded += divisor;
  return rounded;
}

const range = (from: number, to: number, step: number) => {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
};

/** OFA MobileNetV3 (ofa/imagenet_classification/elastic_nn/networks/ofa_mbv3.py), base widths before width_mult. */
const MBV3_BASE_WIDTHS = [16, 16, 24, 40, 80, 112, 160, 960, 1280];
const MBV3_STAGES: Omit<StageDef, 'width'>[] = [
  { stride: 2, act: 'relu', se: false },
  { stride: 2, act: 'relu', se: true },
  { stride: 2, act: 'h_swish', se: false },
  { stride: 1, act: 'h_swish', se: true },
  { stride: 2, act: 'h_swish', se: true },
];

export function ofaMbv3Space(widthMult: number): SearchSpace {
  const w = MBV3_BASE_WIDTHS.map((c) => makeDivisible(c * widthMult));
  return {
    id: `ofa-mbv3-w${widthMult.toFixed(1)}`,
    family: 'ofa-mbv3',
    description: `Once-for-All MobileNetV3 space, width multiplier ${widthMult.toFixed(1)}, ImageNet head (1000 classes)`,
    widthMult,
    stem: { width: w[0], stride: 2, act: 'h_swish' },
    firstBlock: { width: w[1], act: 'relu' },
    stages: MBV3_STAGES.map((s, i) => ({ ...s, width: w[2 + i] })),
    finalExpandWidth: w[7],
    featureMixWidth: w[8],
    numClasses: 1000,
    inputChannels: 3,
    kernelSizes: [3, 5, 7],
    expandRatios: [3, 4, 6],
    depths: [2, 3, 4],
    maxDepth: 4,
    resolutions: range(128, 224, 4),
  };
}

/**
 * OFA MobileNetV3's shape (elastic kernel/expand/depth, SE and h-swish placement) scaled for
 * 20-32 px images: stride-1 stem, total stride 8, narrower widths. Inputs and classes follow the
 * dataset it is trained on (defaults: 3 channels, 10 classes).
 */
export function ofaMbv3TinySpace(): SearchSpace {
  return {
    id: 'ofa-mbv3-tiny',
    family: 'ofa-mbv3',
    description: 'Once-for-All MobileNetV3 shape for 20-32 px images (MNIST, Fashion-MNIST, small image folders)',
    widthMult: 1,
    stem: { width: 16, stride: 1, act: 'h_swish' },
    firstBlock: { width: 16, act: 'relu' },
    stages: [
      { width: 24, stride: 2, act: 'relu', se: false },
      { width: 32, stride: 2, act: 'relu', se: true },
      { width: 48, stride: 2, act: 'h_swish', se: false },
      { width: 64, stride: 1, act: 'h_swish', se: true },
      { width: 96, stride: 1, act: 'h_swish', se: true },
    ],
    finalExpandWidth: 384,
    featureMixWidth: 512,
    numClasses: 10,
    inputChannels: 3,
    kernelSizes: [3, 5, 7],
    expandRatios: [3, 4, 6],
    depths: [2, 3, 4],
    maxDepth: 4,
    resolutions: [20, 24, 28, 32],
  };
}

const SPACES = new Map<string, SearchSpace>();
export function registerSpace(space: SearchSpace): void {
  SPACES.set(space.id, space);
}
registerSpace(ofaMbv3Space(1.0));
registerSpace(ofaMbv3Space(1.2));
registerSpace(ofaMbv3TinySpace());

export function listSpaces(): SearchSpace[] {
  return [...SPACES.values()];
}

const IO_VARIANT = /^(.+)@in(\d+)-out(\d+)$/;

/**
 * The space for another number of input channels or classes (a dataset's, e.g. 1-channel
 * Fashion-MNIST): the same elastic choices, but a different stem and classifier, hence its own
 * latency tables. Its id is `<space>@in<channels>-out<classes>`; the space's own io gives the space itself.
 */
export function spaceWithIO(space: SearchSpace, io: { inputChannels?: number; numClasses?: number }): SearchSpace {
  const base = SPACES.get(space.id.replace(IO_VARIANT, '$1')) ?? space;
  const inputChannels = io.inputChannels ?? space.inputChannels;
  const numClasses = io.numClasses ?? space.numClasses;
  if (inputChannels === base.inputChannels && numClasses === base.numClasses) return base;
  return {
    ...base, id: `${base.id}@in${inputChannels}-out${numClasses}`, inputChannels, numClasses,
    description: `${base.description}; ${inputChannels} input channel(s), ${numClasses} classes`,
  };
}

export function getSpace(id: string): SearchSpace {
  const space = SPACES.get(id);
  if (space) return space;
  const variant = IO_VARIANT.exec(id);
  const base = variant && SPACES.get(variant[1]);
  const [channels, classes] = variant ? [Number(variant[2]), Number(variant[3])] : [0, 0];
  if (base && channels >= 1 && channels <= 64 && classes >= 1 && classes <= 100_000) return spaceWithIO(base, { inputChannels: channels, numClasses: classes });
  throw new TailorError('UNKNOWN_SPACE', { space: id, known: `${[...SPACES.keys()].join(', ')} (each also as <space>@in<channels>-out<classes>)` });
}

export function blockCount(space: SearchSpace): number {
  return space.stages.length * space.maxDepth;
}

export function checkResolutions(space: SearchSpace, resolutions: readonly number[], option: string): void {
  const bad = resolutions.filter((r) => !space.resolutions.includes(r));
  if (bad.length) throw new TailorError('INVALID_OPTION', { option, reason: `${bad.join(', ')} not in ${space.id} (${space.resolutions.join(', ')})` });
}

/** Spatial size after a conv with padding k//2: ceil(size / stride), as OFA computes it. */
export function convOut(size: number, stride: number): number {
  return Math.floor((size - 1) / stride) + 1;
}
