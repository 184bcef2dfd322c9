import { RandomForestRegression } from 'ml-random-forest';
import { median } from '../core/latency';
import { Rng, deriveSeed } from '../core/rng';
import { KernelType } from './fusion';
import { KernelSample, TypeModel } from './store';

/** Below this many samples a type is predicted by its median ms/work instead of a forest. */
export const MIN_FOREST_SAMPLES = 8;

/**
 * Every tree sees every feature (as scikit-learn's regression forests do by default): with
 * feature bagging, trees that miss the kernel size mix 3x3 and 7x7 throughputs. Trees differ by
 * their bootstrap sample.
 */
export const FOREST_OPTIONS = { nEstimators: 30, maxFeatures: 1.0, replacement: false, useSampleBagging: true, noOOB: true, treeOptions: { maxDepth: 12, minNumSamples: 2 } };

/**
 * ml-cart searches splits in O(n^2) per feature: beyond this many samples a type trains on a
 * seeded random subset (the profile keeps them all).
 */
export const MAX_TRAIN_SAMPLES = 500;

/**
 * One random forest per kernel type (ml-random-forest's RandomForestRegression, seeded), trained
 * on in-context kernel times. The target is log(ms per unit of work) (work: MACs, or elements
 * moved), so a forest's piecewise-constant answer becomes a throughput, which carries to sizes
 * between and beyond the sampled ones better than raw milliseconds do.
 */
export function trainTypeModel(type: KernelType, samples: KernelSample[], seed: number): TypeModel {
  const ratios = samples.map((s) => s.ms / s.work);
  const medianMsPerWork = median(ratios);
  if (samples.length < MIN_FOREST_SAMPLES) {
    const fit = samples.map((s) => Math.abs((medianMsPerWork * s.work) / s.ms - 1));
    return { samples: samples.length, medianMsPerWork, forest: null, fitMapePct: (100 * fit.reduce((a, b) => a + b, 0)) / Math.max(fit.length, 1) };
  }
  const train = samples.length > MAX_TRAIN_SAMPLES ? new Rng(deriveSeed(seed, `subset-${type}`)).shuffle(samples).slice(0, MAX_TRAIN_SAMPLES) : samples;
  const rf = new RandomForestRegression({ ...FOREST_OPTIONS, seed: deriveSeed(seed, `forest-${type}`) >>> 1 });
  // log(ms/work): leaves average throughputs geometrically, so errors stay relative
  rf.train(train.map((s) => s.x), train.map((s) => Math.log(s.ms / s.work)));
  const predicted = rf.predict(samples.map((s) => s.x)).map(Math.exp);
  const fit = samples.map((s, i) => Math.abs((predicted[i] * s.work) / s.ms - 1));
  return { samples: samples.length, medianMsPerWork, forest: rf.toJSON(), fitMapePct: (100 * fit.reduce((a, b) => a + b, 0)) / fit.length };
}

/** A loaded type model: predicts ms for feature rows. */
export class TypeRegressor {
  private readonly rf: RandomForestRegression | null;

  constructor(readonly model: TypeModel) {
    this.rf = model.forest ? RandomForestRegression.load(model.forest as Parameters<typeof RandomForestRegression.load>[0]) : null;
  }

  predictMs(rows: { x: number[]; work: number }[]): number[] {
    if (rows.length === 0) return [];
    const ratios = this.rf ? this.rf.predict(rows.map((r) => r.x)).map(Math.exp) : rows.map(() => this.model.medianMsPerWork);
    return rows.map((r, i) => Math.max(ratios[i], 0) * r.work);
  }
}
