import { ArchConfig } from '../core/arch';
import { SearchSpace } from '../core/space';

/** One progressive-shrinking phase: which choices are elastic, for how long, how fast. */
export interface Phase {
  name: 'teacher' | 'kernel' | 'depth-1' | 'depth-2' | 'expand-1' | 'expand-2' | 'scratch';
  kernelSizes: number[];
  expandRatios: number[];
  depths: number[];
  /** OFA's epoch count on ImageNet; scaled by --epochs-scale. */
  epochs: number;
  lr: number;
  /** Subnets sampled per step; their gradients are accumulated before one optimizer step. */
  subnetsPerStep: number;
  /**
   * Before this phase, middle channels are sorted by importance (OFA does it before each expand
   * phase); the stage keeps channels earlier expand phases trained in front (see sortChannels).
   */
  sortStage: number | null;
  /** Knowledge distillation from the full net trained in the first phase. */
  distill: boolean;
  /** A fixed subnet (at its own resolution) instead of sampled ones: training from scratch. */
  arch?: ArchConfig;
}

/**
 * OFA's schedule (ARCHITECTURE.md §5.2): the full net first (it is the teacher of every later
 * phase), then kernel, depth in two steps, expand in two steps.
 */
export function progressiveShrinking(space: SearchSpace): Phase[] {
  const ks = [...space.kernelSizes].sort((a, b) => a - b);
  const es = [...space.expandRatios].sort((a, b) => a - b);
  const ds = [...space.depths].sort((a, b) => a - b);
  const maxK = ks[ks.length - 1];
  const maxE = es[es.length - 1];
  const maxD = ds[ds.length - 1];
  return [
    { name: 'teacher', kernelSizes: [maxK], expandRatios: [maxE], depths: [maxD], epochs: 120, lr: 0.1, subnetsPerStep: 1, sortStage: null, distill: false },
    { name: 'kernel', kernelSizes: ks, expandRatios: [maxE], depths: [maxD], epochs: 120, lr: 3e-2, subnetsPerStep: 1, sortStage: null, distill: true },
    { name: 'depth-1', kernelSizes: ks, expandRatios: [maxE], depths: ds.slice(-2), epochs: 25, lr: 2.5e-3, subnetsPerStep: 2, sortStage: null, distill: true },
    { name: 'depth-2', kernelSizes: ks, expandRatios: [maxE], depths: ds, epochs: 120, lr: 7.5e-3, subnetsPerStep: 2, sortStage: null, distill: true },
    { name: 'expand-1', kernelSizes: ks, expandRatios: es.slice(-2), depths: ds, epochs: 25, lr: 2.5e-3, subnetsPerStep: 4, sortStage: 0, distill: true },
    { name: 'expand-2', kernelSizes: ks, expandRatios: es, depths: ds, epochs: 120, lr: 7.5e-3, subnetsPerStep: 4, sortStage: 1, distill: true },
  ];
}

/**
 * One architecture trained from scratch (the baseline OFA compares its subnets against): the
 * teacher phase's recipe, no distillation, for as many epochs as progressive shrinking takes in
 * all at the same scale, so both get the same number of passes over the data.
 */
export function fromScratch(space: SearchSpace, arch: ArchConfig, epochsScale: number): Phase[] {
  const epochs = progressiveShrinking(space).reduce((sum, p) => sum + scaledEpochs(p, epochsScale), 0);
  const teacher = progressiveShrinking(space)[0];
  // epochs is already scaled: expressed so that scaledEpochs(phase, epochsScale) returns it.
  return [{ ...teacher, name: 'scratch', epochs: epochs / epochsScale, distill: false, arch }];
}

/** OFA's epochs times the scale, at least one epoch per phase. */
export function scaledEpochs(phase: Phase, scale: number): number {
  return Math.max(1, Math.round(phase.epochs * scale));
}

/**
 * Training images a whole run sees with the default --epochs-scale, whatever the dataset's size:
 * ten epochs of Fashion-MNIST's 55,000 training images (what a scale of 0.02 gives there).
 */
export const DEFAULT_RUN_IMAGES = 550_000;
/** The default scale's range: at most OFA's own epochs; at the floor every phase has one epoch already. */
export const DEFAULT_EPOCHS_SCALE_RANGE = { min: 0.001, max: 1 } as const;

/**
 * The default --epochs-scale for `trainImages` training images: OFA's schedule kept in proportion,
 * scaled so the whole run sees about DEFAULT_RUN_IMAGES images (2 significant digits), clamped
 * to DEFAULT_EPOCHS_SCALE_RANGE; with the reason, as recorded in run.json.
 */
export function defaultEpochsScale(space: SearchSpace, trainImages: number): { scale: number; reason: string } {
  const phases = progressiveShrinking(space);
  const ofaEpochs = phases.reduce((sum, p) => sum + p.epochs, 0);
  const wanted = Number((DEFAULT_RUN_IMAGES / (ofaEpochs * Math.max(1, trainImages))).toPrecision(2));
  const { min, max } = DEFAULT_EPOCHS_SCALE_RANGE;
  const scale = Math.min(max, Math.max(min, wanted));
  const epochs = phases.reduce((sum, p) => sum + scaledEpochs(p, scale), 0);
  const clamped = scale === max && wanted > max ? `, capped at ${max} (OFA's own epochs)` : scale === min && wanted < min ? `, floored at ${min}` : '';
  return {
    scale,
    reason: `default for ${trainImages} training images: ${DEFAULT_RUN_IMAGES} images / (OFA's ${ofaEpochs} epochs x ${trainImages}) = ${wanted}${clamped}; ${epochs} epochs, ${epochs * trainImages} images`,
  };
}

/** Cosine decay over the steps of a phase. */
export function cosineLr(base: number, step: number, totalSteps: number): number {
  return 0.5 * base * (1 + Math.cos((Math.PI * step) / Math.max(1, totalSteps)));
}
